"""The simulated kubelet: container states, kubelet events, config errors, crash loops, logs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from digit_tui.sandbox import resources as R
from digit_tui.sandbox.simconfig import CrashRule
from digit_tui.sandbox.store import ApiError

from tests.sandbox.simcluster import SimCluster as Cluster, start_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = await start_cluster(crash_rules=[
        CrashRule(image_pattern="egov-crashy", exit_code=137, after=0.5,
                  log="org.postgresql.util.PSQLException: Connection to db:5432 refused.")])
    yield c
    await c.mgr.stop()


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "egov"}, "spec": {"containers": containers, **spec}}


def state(p: dict[str, Any], idx: int = 0, key: str = "containerStatuses") -> dict[str, Any]:
    statuses = (p.get("status") or {}).get(key) or []
    return statuses[idx] if len(statuses) > idx else {}


async def test_pod_goes_through_creating_to_ready_with_kubelet_events(cluster: Cluster) -> None:
    seen: list[str] = []

    def watch(event_type: str, rt: Any, obj: dict[str, Any]) -> None:
        if rt.key == R.PODS.key and obj["metadata"]["name"] == "web":
            st = state(obj)
            s = st.get("state") or {}
            label = (s.get("waiting") or {}).get("reason") or ("Running" if "running" in s else "")
            if st.get("ready"):
                label = "Ready"
            if label and (not seen or seen[-1] != label):
                seen.append(label)

    cluster.store.add_listener(watch)
    cluster.store.create(R.PODS, pod("web", [{"name": "nginx", "image": "nginx:1.25",
                                              "readinessProbe": {"httpGet": {"port": 80}}}]))
    p = await cluster.wait(lambda: (lambda p: p if state(p).get("ready") else None)(cluster.pod("web")),
                           what="pod ready")
    assert seen == ["ContainerCreating", "Running", "Ready"], seen
    assert p["status"]["phase"] == "Running"
    assert p["status"]["podIP"].startswith("10.244.") and p["status"]["hostIP"].startswith("172.18.0.")
    assert state(p)["containerID"].startswith("containerd://")
    msgs = [(r, m) for _, r, m in cluster.messages("web")]
    node = p["spec"]["nodeName"]
    assert ("Scheduled", f"Successfully assigned egov/web to {node}") in msgs
    assert ("Pulling", 'Pulling image "nginx:1.25"') in msgs
    assert any(r == "Pulled" and m.startswith('Successfully pulled image "nginx:1.25" in ') for r, m in msgs)
    assert ("Created", "Created container nginx") in msgs and ("Started", "Started container nginx") in msgs
    # a second pod on the same node finds the image already there
    cluster.store.create(R.PODS, pod("web2", [{"name": "nginx", "image": "nginx:1.25"}], nodeName=node))
    await cluster.wait(lambda: state(cluster.pod("web2")).get("ready"), what="web2 ready")
    assert ("Normal", "Pulled", 'Container image "nginx:1.25" already present on machine') in cluster.messages("web2")


async def test_init_container_runs_to_completion_first_and_logs_flyway(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod(
        "egov-user-0", [{"name": "egov-user", "image": "egovio/egov-user:v1.3.0-6cfa52c1f9-2"}],
        initContainers=[{"name": "db-migration", "image": "egovio/egov-user-db:v1.3.0-6cfa52c1f9-2"}]))
    init_running_while_main_waits = await cluster.wait(
        lambda: (lambda p: p if "running" in (state(p, 0, "initContainerStatuses").get("state") or {}) else None)(
            cluster.pod("egov-user-0")), what="init running")
    assert state(init_running_while_main_waits)["state"]["waiting"]["reason"] == "PodInitializing"
    assert init_running_while_main_waits["status"]["phase"] == "Pending"
    p = await cluster.wait(lambda: (lambda p: p if state(p).get("ready") else None)(cluster.pod("egov-user-0")),
                           what="main ready")
    init = state(p, 0, "initContainerStatuses")["state"]["terminated"]
    assert init["reason"] == "Completed" and init["exitCode"] == 0
    assert state(p)["state"]["running"]["startedAt"] >= init["finishedAt"]
    flyway = cluster.mgr.pod_log("egov", "egov-user-0", "db-migration")
    assert "Successfully applied" in flyway and 'Migrating schema "public"' in flyway
    app = await cluster.wait(lambda: (lambda t: t if "Started UserApplication" in t else None)(
        cluster.mgr.pod_log("egov", "egov-user-0", None)), what="spring boot started line")
    assert "Tomcat started on port(s): 8080" in app
    assert len(cluster.mgr.pod_log("egov", "egov-user-0", None, tail_lines=2).splitlines()) == 2
    assert cluster.mgr.pod_log("egov", "egov-user-0", "nope") is None
    assert cluster.mgr.pod_log("egov", "missing", None) is None


async def test_unavailable_image_backs_off(cluster: Cluster) -> None:
    image = "egovio/egov-user:v0.0.0-missing"
    cluster.store.create(R.PODS, pod("bad", [{"name": "app", "image": image}]))
    await cluster.wait(lambda: (state(cluster.pod("bad")).get("state") or {}).get("waiting", {}).get(
        "reason") == "ErrImagePull", what="ErrImagePull")
    p = await cluster.wait(lambda: (lambda p: p if (state(p).get("state") or {}).get("waiting", {}).get(
        "reason") == "ImagePullBackOff" else None)(cluster.pod("bad")), what="ImagePullBackOff")
    assert p["status"]["phase"] == "Pending"
    assert state(p)["state"]["waiting"]["message"] == f'Back-off pulling image "{image}"'
    msgs = cluster.messages("bad")
    assert any(t == "Warning" and r == "Failed" and m.startswith(f'Failed to pull image "{image}": ')
               for t, r, m in msgs)
    assert ("Warning", "Failed", "Error: ErrImagePull") in msgs
    assert ("Normal", "BackOff", f'Back-off pulling image "{image}"') in msgs
    with pytest.raises(ApiError) as err:
        cluster.mgr.pod_log("egov", "bad", None)
    assert err.value.code == 400 and "is waiting to start" in err.value.message


async def test_missing_secret_then_created_recovers(cluster: Cluster) -> None:
    env = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]
    env_from = [{"configMapRef": {"name": "egov-config"}}]
    cluster.store.create(R.PODS, pod("svc", [{"name": "app", "image": "egovio/egov-mdms-service:v1", "env": env,
                                              "envFrom": env_from}]))

    def waiting() -> dict[str, Any]:
        return (state(cluster.pod("svc")).get("state") or {}).get("waiting") or {}

    await cluster.wait(lambda: waiting().get("reason") == "CreateContainerConfigError", what="config error")
    assert waiting()["message"] == 'configmap "egov-config" not found'
    cluster.store.create(R.CONFIGMAPS, {"metadata": {"name": "egov-config", "namespace": "egov"},
                                        "data": {"db-host": "db"}})
    await cluster.wait(lambda: waiting().get("message") == 'secret "db" not found', what="secret error")
    assert ("Warning", "Failed", 'Error: secret "db" not found') in cluster.messages("svc")
    cluster.store.create(R.SECRETS, {"metadata": {"name": "db", "namespace": "egov"},
                                     "stringData": {"username": "egov"}})
    await cluster.wait(lambda: waiting().get("message") == "couldn't find key password in Secret egov/db",
                       what="missing key")
    s = cluster.store.get(R.SECRETS, "egov", "db")
    s["data"]["password"] = "c2VjcmV0"
    cluster.store.update(R.SECRETS, s)
    await cluster.wait(lambda: state(cluster.pod("svc")).get("ready"), what="recovered")


async def test_missing_configmap_volume_fails_mount(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod("mounty", [{"name": "app", "image": "nginx:1.25"}],
                                     volumes=[{"name": "cfg", "configMap": {"name": "nginx-conf"}},
                                              {"name": "opt", "secret": {"secretName": "absent", "optional": True}}]))
    await cluster.wait(lambda: any(r == "FailedMount" for _, r, _ in cluster.messages("mounty")), what="FailedMount")
    assert ("Warning", "FailedMount", 'MountVolume.SetUp failed for volume "cfg" : configmap "nginx-conf" not found') \
        in cluster.messages("mounty")
    assert state(cluster.pod("mounty"))["state"]["waiting"]["reason"] == "ContainerCreating"
    cluster.store.create(R.CONFIGMAPS, {"metadata": {"name": "nginx-conf", "namespace": "egov"}, "data": {}})
    await cluster.wait(lambda: state(cluster.pod("mounty")).get("ready"), what="mounted and running")


async def test_crash_rule_gives_crashloopbackoff(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod("crashy", [{"name": "app", "image": "egovio/egov-crashy:v1"}]))

    def st() -> dict[str, Any]:
        return state(cluster.pod("crashy"))

    await cluster.wait(lambda: (st().get("state") or {}).get("waiting", {}).get("reason") == "CrashLoopBackOff",
                       what="CrashLoopBackOff")
    s = st()
    assert s["restartCount"] >= 1
    assert s["lastState"]["terminated"]["exitCode"] == 137
    assert s["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=app pod=crashy_egov(")
    await cluster.wait(lambda: st().get("restartCount", 0) >= 3, timeout=15, what="restarts growing")
    # the back-off grows between restarts
    await cluster.wait(lambda: "back-off 20s" in ((st().get("state") or {}).get("waiting") or {}).get("message", "")
                       or "back-off 40s" in ((st().get("state") or {}).get("waiting") or {}).get("message", ""),
                       timeout=15, what="longer back-off")
    assert any(t == "Warning" and r == "BackOff" and m.startswith("Back-off restarting failed container app in pod crashy_egov")
               for t, r, m in cluster.messages("crashy"))
    prev = cluster.mgr.pod_log("egov", "crashy", "app", previous=True)
    assert "PSQLException: Connection to db:5432 refused." in prev
    assert cluster.pod("crashy")["status"]["phase"] == "Running"


async def test_previous_log_of_a_container_that_never_restarted_is_an_error(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod("calm", [{"name": "app", "image": "redis:3.2"}]))
    await cluster.wait(lambda: state(cluster.pod("calm")).get("ready"), what="ready")
    with pytest.raises(ApiError) as err:
        cluster.mgr.pod_log("egov", "calm", "app", previous=True)
    assert err.value.message == 'previous terminated container "app" in pod "calm" not found'
