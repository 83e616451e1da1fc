"""The simulated scheduler: resource fit, taints, selectors, PVC gating and FailedScheduling wording."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from digit_tui.sandbox import resources as R

from tests.sandbox.simcluster import SimCluster as Cluster, start_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = await start_cluster(nodes=3, node_cpu="4", node_memory="8Gi")
    yield c
    await c.mgr.stop()


def pod(name: str, cpu: str = "100m", memory: str = "128Mi", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "egov"},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                                     "resources": {"requests": {"cpu": cpu, "memory": memory}}}], **spec}}


async def test_insufficient_memory_until_a_bigger_node_joins(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod("es-data", memory="12Gi"))
    msgs = await cluster.wait(lambda: cluster.failed_scheduling("es-data"), what="FailedScheduling")
    assert msgs == ["0/3 nodes are available: 3 Insufficient memory."]
    p = cluster.store.get(R.PODS, "egov", "es-data")
    sched = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (sched["status"], sched["reason"]) == ("False", "Unschedulable")
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    cluster.store.create(R.NODES, {"metadata": {"name": "big-1", "annotations": {
        "sandbox.digit-tui.io/memory": "32Gi", "sandbox.digit-tui.io/cpu": "8"}}})
    await cluster.wait(lambda: cluster.store.get(R.PODS, "egov", "es-data")["spec"].get("nodeName") == "big-1",
                       what="scheduled on the new node")
    await cluster.wait(lambda: cluster.store.get(R.PODS, "egov", "es-data")["status"]["phase"] == "Running",
                       what="running")


async def test_combined_reasons_are_counted_and_sorted(cluster: Cluster) -> None:
    node = cluster.store.get(R.NODES, None, "node-1")
    node["spec"]["taints"] = [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    cluster.store.update(R.NODES, node)
    cluster.store.create(R.PODS, pod("hungry", cpu="6"))
    msgs = await cluster.wait(lambda: cluster.failed_scheduling("hungry"), what="FailedScheduling")
    assert msgs[-1] == ("0/3 nodes are available: 1 node(s) had untolerated taint "
                        "{node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu.")


async def test_requests_are_accounted_per_node(cluster: Cluster) -> None:
    # 3 nodes x 4 cpu: six 2-cpu pods fit exactly, the seventh does not
    for i in range(7):
        cluster.store.create(R.PODS, pod(f"w{i}", cpu="2"))
    await cluster.wait(lambda: cluster.failed_scheduling("w6") or cluster.failed_scheduling("w5"), what="one left out")
    pods = cluster.store.list(R.PODS, "egov")[0]
    placed = [p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName")]
    assert len(placed) == 6 and all(placed.count(n) == 2 for n in set(placed))
    # deleting a pod frees room: the pending one gets scheduled
    victim = next(p for p in pods if p["spec"].get("nodeName"))
    cluster.store.delete(R.PODS, "egov", victim["metadata"]["name"])
    await cluster.wait(lambda: all(p["spec"].get("nodeName") for p in cluster.store.list(R.PODS, "egov")[0]),
                       what="pending pod scheduled after a deletion")


async def test_init_container_max_rule(cluster: Cluster) -> None:
    # app containers ask 1 cpu, the init container 5: the effective request is 5 > 4 allocatable
    p = pod("init-heavy", cpu="1")
    p["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1.36",
                                    "resources": {"requests": {"cpu": "5"}}}]
    cluster.store.create(R.PODS, p)
    msgs = await cluster.wait(lambda: cluster.failed_scheduling("init-heavy"), what="FailedScheduling")
    assert msgs == ["0/3 nodes are available: 3 Insufficient cpu."]


async def test_node_selector_and_toleration(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod("picky", nodeSelector={"disktype": "ssd"}))
    msgs = await cluster.wait(lambda: cluster.failed_scheduling("picky"), what="FailedScheduling")
    assert msgs == ["0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."]
    node = cluster.store.get(R.NODES, None, "node-2")
    node["metadata"]["labels"]["disktype"] = "ssd"
    node["spec"]["taints"] = [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]
    cluster.store.update(R.NODES, node)
    msgs = await cluster.wait(lambda: [m for m in cluster.failed_scheduling("picky") if "taint" in m],
                              what="taint message")
    assert msgs[-1] == ("0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, "
                        "2 node(s) didn't match Pod's node affinity/selector.")
    cluster.store.create(R.PODS, pod("tolerant", nodeSelector={"disktype": "ssd"},
                                     tolerations=[{"key": "dedicated", "operator": "Equal", "value": "db",
                                                   "effect": "NoSchedule"}]))
    await cluster.wait(lambda: cluster.store.get(R.PODS, "egov", "tolerant")["spec"].get("nodeName") == "node-2",
                       what="tolerant pod on node-2")


async def test_unbound_claim_blocks_scheduling(cluster: Cluster) -> None:
    cluster.store.create(R.PODS, pod("needs-disk", volumes=[{"name": "d", "persistentVolumeClaim": {
        "claimName": "data-x"}}]))
    msgs = await cluster.wait(lambda: cluster.failed_scheduling("needs-disk"), what="claim missing")
    assert msgs == ['0/3 nodes are available: persistentvolumeclaim "data-x" not found.']
    cluster.store.create(R.PVCS, {"metadata": {"name": "data-x", "namespace": "egov"}, "spec": {
        "storageClassName": "manual", "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    await cluster.wait(lambda: "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims." in
                       cluster.failed_scheduling("needs-disk"), what="unbound claim message")
    cluster.store.create(R.PVS, {"metadata": {"name": "pv-x"}, "spec": {
        "storageClassName": "manual", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
        "hostPath": {"path": "/x"}}})
    await cluster.wait(lambda: cluster.store.get(R.PODS, "egov", "needs-disk")["spec"].get("nodeName"),
                       what="scheduled once bound")
