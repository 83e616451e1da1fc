"""Workload controllers driven in-process: Store + ControllerManager on one loop, delays / 50."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from digit_tui.sandbox import resources as R
from digit_tui.sandbox.simconfig import CrashRule

from tests.sandbox.simcluster import SimCluster as Cluster, start_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = await start_cluster(crash_rules=[CrashRule(image_pattern="crashy", exit_code=3, after=0.5)])
    yield c
    await c.mgr.stop()


def deployment(name: str, replicas: int = 3, image: str = "egovio/egov-user:v1.0.0", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "egov"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image,
                                                           "readinessProbe": {"httpGet": {"port": 8080}}}]}},
                     **spec}}


def cond(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or () if c["type"] == ctype), {})


async def test_deployment_rolls_out_with_real_status(cluster: Cluster) -> None:
    cluster.store.create(R.DEPLOYMENTS, deployment("egov-user"))

    def done() -> dict[str, Any] | None:
        d = cluster.store.get(R.DEPLOYMENTS, "egov", "egov-user")
        st = d.get("status") or {}
        ok = (st.get("availableReplicas") == 3 and st.get("updatedReplicas") == 3
              and cond(d, "Progressing").get("reason") == "NewReplicaSetAvailable")
        return d if ok else None

    d = await cluster.wait(done, what="deployment available")
    assert d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert cond(d, "Available")["status"] == "True"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = cluster.pods("egov", app="egov-user")
    assert len(pods) == 3
    hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in pods}
    assert len(hashes) == 1
    rs_name = f"egov-user-{hashes.pop()}"
    assert all(p["metadata"]["ownerReferences"][0]["name"] == rs_name for p in pods)
    assert all(p["spec"]["nodeName"].startswith("node-") for p in pods)
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    scaled = cluster.events("egov", "ScalingReplicaSet")
    assert any(f"Scaled up replica set {rs_name} from 0 to 3" == e["message"] for e in scaled)


async def test_rolling_update_honours_surge_and_unavailable(cluster: Cluster) -> None:
    cluster.store.create(R.DEPLOYMENTS, deployment(
        "pgr", replicas=4, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}))
    await cluster.wait(lambda: (cluster.store.get(R.DEPLOYMENTS, "egov", "pgr").get("status") or {}).get(
        "availableReplicas") == 4, what="first rollout")
    peak = {"pods": 0, "min_ready": 99}

    def watch(event_type: str, rt: Any, obj: dict[str, Any]) -> None:
        if rt.key != R.PODS.key or obj["metadata"].get("namespace") != "egov":
            return
        pods = [p for p in cluster.store.list_refs(R.PODS, "egov", label_selector="app=pgr")[0]]
        peak["pods"] = max(peak["pods"], len(pods))
        ready = sum(1 for p in pods if cond(p, "Ready").get("status") == "True")
        peak["min_ready"] = min(peak["min_ready"], ready)

    cluster.store.add_listener(watch)
    d = cluster.store.get(R.DEPLOYMENTS, "egov", "pgr")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "egovio/pgr-services:v1.1.7"
    cluster.store.update(R.DEPLOYMENTS, d)

    def complete() -> bool:
        d = cluster.store.get(R.DEPLOYMENTS, "egov", "pgr")
        st = d.get("status") or {}
        return (st.get("observedGeneration") == 2 and st.get("updatedReplicas") == 4 and st.get("replicas") == 4
                and st.get("availableReplicas") == 4
                and cond(d, "Progressing").get("reason") == "NewReplicaSetAvailable")

    await cluster.wait(complete, what="rolling update complete")
    cluster.store.remove_listener(watch)
    assert peak["pods"] <= 5, peak  # replicas + maxSurge
    assert peak["min_ready"] >= 4, peak  # maxUnavailable 0: never fewer than 4 ready
    rss = cluster.store.list(R.REPLICASETS, "egov", label_selector="app=pgr")[0]
    by_rev = {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in rss}
    assert by_rev["1"]["spec"]["replicas"] == 0 and by_rev["2"]["spec"]["replicas"] == 4
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods("egov", app="pgr")} == {
        "egovio/pgr-services:v1.1.7"}


async def test_recreate_strategy_stops_old_pods_first(cluster: Cluster) -> None:
    cluster.store.create(R.DEPLOYMENTS, deployment("zuul", replicas=2, strategy={"type": "Recreate"}))
    await cluster.wait(lambda: (cluster.store.get(R.DEPLOYMENTS, "egov", "zuul").get("status") or {}).get(
        "availableReplicas") == 2, what="first rollout")
    mixed = {"seen": False}

    def watch(event_type: str, rt: Any, obj: dict[str, Any]) -> None:
        if rt.key == R.PODS.key:
            images = {p["spec"]["containers"][0]["image"]
                      for p in cluster.store.list_refs(R.PODS, "egov", label_selector="app=zuul")[0]}
            mixed["seen"] = mixed["seen"] or len(images) > 1

    cluster.store.add_listener(watch)
    d = cluster.store.get(R.DEPLOYMENTS, "egov", "zuul")
    d["spec"]["template"]["spec"]["containers"][0]["image"] = "egovio/zuul:v2"
    cluster.store.update(R.DEPLOYMENTS, d)
    await cluster.wait(lambda: (cluster.store.get(R.DEPLOYMENTS, "egov", "zuul").get("status") or {}).get(
        "updatedReplicas") == 2 and cluster.store.get(R.DEPLOYMENTS, "egov", "zuul")["status"].get(
        "availableReplicas") == 2, what="recreate rollout")
    cluster.store.remove_listener(watch)
    assert not mixed["seen"], "old and new pods ran at the same time under Recreate"


async def test_scale_down_removes_pods(cluster: Cluster) -> None:
    cluster.store.create(R.DEPLOYMENTS, deployment("idgen", replicas=3))
    await cluster.wait(lambda: len(cluster.pods("egov", app="idgen")) == 3, what="3 pods")
    d = cluster.store.get(R.DEPLOYMENTS, "egov", "idgen")
    d["spec"]["replicas"] = 1
    cluster.store.update(R.DEPLOYMENTS, d)
    await cluster.wait(lambda: len(cluster.pods("egov", app="idgen")) == 1, what="1 pod")
    await cluster.wait(lambda: (cluster.store.get(R.DEPLOYMENTS, "egov", "idgen")["status"]).get("replicas") == 1,
                       what="status replicas 1")


def statefulset(name: str, replicas: int = 3, policy: str = "OrderedReady") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "egov"},
            "spec": {"replicas": replicas, "serviceName": name, "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "kafka", "image": "confluentinc/cp-kafka:5.5.0",
                                                           "readinessProbe": {"tcpSocket": {"port": 9092}}}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                         "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "50Gi"}}}}]}}


async def test_statefulset_starts_in_order_with_claims(cluster: Cluster) -> None:
    order: list[tuple[str, int]] = []

    def watch(event_type: str, rt: Any, obj: dict[str, Any]) -> None:
        if rt.key == R.PODS.key and event_type == "ADDED" and obj["metadata"]["name"].startswith("kafka-v2-"):
            ready = sum(1 for p in cluster.store.list_refs(R.PODS, "egov", label_selector="app=kafka-v2")[0]
                        if cond(p, "Ready").get("status") == "True")
            order.append((obj["metadata"]["name"], ready))

    cluster.store.add_listener(watch)
    cluster.store.create(R.STATEFULSETS, statefulset("kafka-v2"))

    def done() -> dict[str, Any] | None:
        s = cluster.store.get(R.STATEFULSETS, "egov", "kafka-v2")
        st = s.get("status") or {}
        return s if st.get("readyReplicas") == 3 and st.get("currentRevision") == st.get("updateRevision") else None

    sts = await cluster.wait(done, what="statefulset ready")
    cluster.store.remove_listener(watch)
    # kafka-v2-1 was created only once kafka-v2-0 was ready, and so on
    assert order == [("kafka-v2-0", 0), ("kafka-v2-1", 1), ("kafka-v2-2", 2)], order
    assert sts["status"]["updateRevision"].startswith("kafka-v2-")
    assert sts["status"]["observedGeneration"] == 1
    for i in range(3):
        pvc = cluster.store.get(R.PVCS, "egov", f"data-kafka-v2-{i}")
        assert pvc["status"]["phase"] == "Bound"
        pod = cluster.store.get(R.PODS, "egov", f"kafka-v2-{i}")
        assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-kafka-v2-{i}"}} in pod["spec"]["volumes"]
        assert pod["spec"]["hostname"] == f"kafka-v2-{i}" and pod["spec"]["subdomain"] == "kafka-v2"
        assert pod["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"]


async def test_statefulset_rolling_update_replaces_from_the_top(cluster: Cluster) -> None:
    cluster.store.create(R.STATEFULSETS, statefulset("zk", policy="Parallel"))
    first = await cluster.wait(lambda: (lambda s: s if (s.get("status") or {}).get("readyReplicas") == 3 else None)(
        cluster.store.get(R.STATEFULSETS, "egov", "zk")), what="zk ready")
    deleted: list[str] = []

    def watch(event_type: str, rt: Any, obj: dict[str, Any]) -> None:
        if rt.key == R.PODS.key and event_type == "DELETED":
            deleted.append(obj["metadata"]["name"])

    cluster.store.add_listener(watch)
    s = cluster.store.get(R.STATEFULSETS, "egov", "zk")
    s["spec"]["template"]["spec"]["containers"][0]["image"] = "confluentinc/cp-kafka:5.5.1"
    cluster.store.update(R.STATEFULSETS, s)

    def done() -> dict[str, Any] | None:
        s = cluster.store.get(R.STATEFULSETS, "egov", "zk")
        st = s.get("status") or {}
        ok = (st.get("observedGeneration") == 2 and st.get("updatedReplicas") == 3 and st.get("readyReplicas") == 3
              and st.get("currentRevision") == st.get("updateRevision"))
        return s if ok else None

    s = await cluster.wait(done, what="sts update")
    cluster.store.remove_listener(watch)
    assert deleted == ["zk-2", "zk-1", "zk-0"]
    assert s["status"]["updateRevision"] != first["status"]["updateRevision"]
    # the claims survived the pod replacement
    assert len(cluster.store.list(R.PVCS, "egov", label_selector="app=zk")[0]) == 3


async def test_daemonset_one_pod_per_schedulable_node(cluster: Cluster) -> None:
    node = cluster.store.get(R.NODES, None, "node-3")
    node["spec"]["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    cluster.store.update(R.NODES, node)
    ds = {"metadata": {"name": "fluent-bit", "namespace": "egov"},
          "spec": {"selector": {"matchLabels": {"app": "fluent-bit"}},
                   "template": {"metadata": {"labels": {"app": "fluent-bit"}},
                                "spec": {"containers": [{"name": "fb", "image": "fluent/fluent-bit:1.9"}]}}}}
    cluster.store.create(R.DAEMONSETS, ds)

    def status() -> dict[str, Any]:
        return cluster.store.get(R.DAEMONSETS, "egov", "fluent-bit").get("status") or {}

    await cluster.wait(lambda: status().get("numberReady") == 2, what="2 ready")
    assert status()["desiredNumberScheduled"] == 2
    assert sorted(p["spec"]["nodeName"] for p in cluster.pods("egov", app="fluent-bit")) == ["node-1", "node-2"]
    # tolerating the taint brings the third node in
    ds = cluster.store.get(R.DAEMONSETS, "egov", "fluent-bit")
    ds["spec"]["template"]["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
    cluster.store.update(R.DAEMONSETS, ds)
    await cluster.wait(lambda: status().get("numberReady") == 3 and status().get("updatedNumberScheduled") == 3,
                       what="3 ready after toleration")
    assert sorted(p["spec"]["nodeName"] for p in cluster.pods("egov", app="fluent-bit")) == [
        "node-1", "node-2", "node-3"]
    # a node selector narrows it again
    ds = cluster.store.get(R.DAEMONSETS, "egov", "fluent-bit")
    ds["spec"]["template"]["spec"]["nodeSelector"] = {"kubernetes.io/hostname": "node-2"}
    cluster.store.update(R.DAEMONSETS, ds)
    await cluster.wait(lambda: [p["spec"].get("nodeName") for p in cluster.pods("egov", app="fluent-bit")] == [
        "node-2"] and status().get("desiredNumberScheduled") == 1, what="only node-2")


def job(name: str, image: str = "egovio/egov-idgen-db:v1", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "egov"},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "migrate", "image": image}]}}, **spec}}


async def test_job_completes_with_parallelism(cluster: Cluster) -> None:
    created: list[int] = []

    def watch(event_type: str, rt: Any, obj: dict[str, Any]) -> None:
        if rt.key == R.PODS.key and obj["metadata"]["name"].startswith("seed-"):
            active = [p for p in cluster.store.list_refs(R.PODS, "egov")[0] if p["metadata"]["name"].startswith(
                "seed-") and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
            created.append(len(active))

    cluster.store.add_listener(watch)
    cluster.store.create(R.JOBS, job("seed", completions=3, parallelism=2))

    def complete() -> dict[str, Any] | None:
        j = cluster.store.get(R.JOBS, "egov", "seed")
        return j if cond(j, "Complete").get("status") == "True" else None

    j = await cluster.wait(complete, what="job complete")
    cluster.store.remove_listener(watch)
    assert j["status"]["succeeded"] == 3 and "completionTime" in j["status"]
    assert max(created) == 2  # never more than parallelism at once
    assert {p["status"]["phase"] for p in cluster.pods("egov", **{"job-name": "seed"})} == {"Succeeded"}
    assert any(e["message"] == "Job completed" for e in cluster.events("egov", "Completed"))


async def test_job_fails_after_backoff_limit(cluster: Cluster) -> None:
    cluster.store.create(R.JOBS, job("broken", image="egovio/crashy:v1", backoffLimit=1))

    def failed() -> dict[str, Any] | None:
        j = cluster.store.get(R.JOBS, "egov", "broken")
        return j if cond(j, "Failed").get("status") == "True" else None

    j = await cluster.wait(failed, timeout=15, what="job failed")
    assert cond(j, "Failed")["reason"] == "BackoffLimitExceeded"
    assert j["status"]["failed"] == 2
    pods = cluster.pods("egov", **{"job-name": "broken"})
    assert all(p["status"]["phase"] == "Failed" for p in pods)
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"


def test_cron_schedule_parsing() -> None:
    import datetime as dt

    from digit_tui.sandbox.controllers.cronjob import last_and_next, parse_schedule

    fields = parse_schedule("*/15 2 * * mon-fri")
    now = dt.datetime(2024, 5, 3, 2, 20, tzinfo=dt.timezone.utc)  # a Friday
    last, nxt = last_and_next(fields, now, now - dt.timedelta(hours=1))
    assert last == dt.datetime(2024, 5, 3, 2, 15, tzinfo=dt.timezone.utc)
    assert nxt == dt.datetime(2024, 5, 3, 2, 30, tzinfo=dt.timezone.utc)
    _, nxt = last_and_next(fields, dt.datetime(2024, 5, 3, 2, 50, tzinfo=dt.timezone.utc), now)
    assert nxt == dt.datetime(2024, 5, 6, 2, 0, tzinfo=dt.timezone.utc)  # next Monday
    with pytest.raises(ValueError):
        parse_schedule("61 * * * *")


async def test_cronjob_creates_a_job_for_a_due_schedule(cluster: Cluster) -> None:
    cj = {"metadata": {"name": "pgr-escalation", "namespace": "egov"},
          "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {
              "restartPolicy": "Never", "containers": [{"name": "c", "image": "egovio/pgr-escalation:v1"}]}}}}}}
    cluster.store.create(R.CRONJOBS, cj)
    # pretend the previous run was two minutes ago: the current minute is due
    obj = cluster.store.get(R.CRONJOBS, "egov", "pgr-escalation")
    past = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
    obj["status"] = {"lastScheduleTime": past}
    cluster.store.update(R.CRONJOBS, obj, subresource="status")
    jobs = await cluster.wait(lambda: cluster.store.list(R.JOBS, "egov")[0], what="a job")
    assert jobs[0]["metadata"]["name"].startswith("pgr-escalation-")
    assert jobs[0]["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    await cluster.wait(lambda: cond(cluster.store.get(R.JOBS, "egov", jobs[0]["metadata"]["name"]),
                                    "Complete").get("status") == "True", what="job complete")
    st = await cluster.wait(lambda: (cluster.store.get(R.CRONJOBS, "egov", "pgr-escalation").get("status") or {})
                            if (cluster.store.get(R.CRONJOBS, "egov", "pgr-escalation").get("status") or {}).get(
                                "lastSuccessfulTime") else None, what="lastSuccessfulTime")
    assert st["lastScheduleTime"] > past and not st.get("active")
