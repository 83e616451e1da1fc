"""Volumes, endpoints, garbage collection, namespace finalization and node lifecycle, in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from digit_tui.sandbox import resources as R

from tests.sandbox.simcluster import SimCluster as Cluster, start_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = await start_cluster()
    yield c
    await c.mgr.stop()


def claim(name: str, size: str = "10Gi", cls: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"metadata": {"name": name, "namespace": "egov"}, "spec": spec}


def pv(name: str, size: str, cls: str = "", claim_ref: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                            "storageClassName": cls, "iscsi": {"targetPortal": "10.0.0.5:3260",
                                                               "iqn": f"iqn.2024-01.sdc:{name}", "lun": 0}}
    if claim_ref:
        spec["claimRef"] = claim_ref
    return {"metadata": {"name": name}, "spec": spec}


async def test_static_pv_bound_by_claim_ref(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.PVS, pv("kafka-0", "50Gi", claim_ref={"namespace": "egov", "name": "data-kafka-v2-0"}))
    s.create(R.PVS, pv("decoy", "50Gi"))
    await cluster.wait(lambda: s.get(R.PVS, None, "kafka-0")["status"]["phase"] == "Available", what="available")
    s.create(R.PVCS, claim("data-kafka-v2-0", "50Gi", cls=""))
    await cluster.wait(lambda: s.get(R.PVCS, "egov", "data-kafka-v2-0")["status"].get("phase") == "Bound",
                       what="claim bound")
    c = s.get(R.PVCS, "egov", "data-kafka-v2-0")
    assert c["spec"]["volumeName"] == "kafka-0"
    assert c["status"]["capacity"] == {"storage": "50Gi"}
    v = s.get(R.PVS, None, "kafka-0")
    assert v["status"]["phase"] == "Bound" and v["spec"]["claimRef"]["uid"] == c["metadata"]["uid"]
    assert s.get(R.PVS, None, "decoy")["status"]["phase"] == "Available"
    # Retain: deleting the claim releases the volume but keeps it
    s.delete(R.PVCS, "egov", "data-kafka-v2-0")
    await cluster.wait(lambda: s.get(R.PVS, None, "kafka-0")["status"]["phase"] == "Released", what="released")


async def test_matching_pv_by_class_capacity_and_modes(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.PVS, pv("small", "5Gi", cls="iscsi"))
    s.create(R.PVS, pv("right", "20Gi", cls="iscsi"))
    s.create(R.PVS, pv("huge", "100Gi", cls="iscsi"))
    s.create(R.PVS, pv("other-class", "20Gi", cls="gp2"))
    s.create(R.PVCS, claim("es-data", "10Gi", cls="iscsi"))
    await cluster.wait(lambda: s.get(R.PVCS, "egov", "es-data")["status"].get("phase") == "Bound", what="bound")
    assert s.get(R.PVCS, "egov", "es-data")["spec"]["volumeName"] == "right"


async def test_dynamic_provisioning_through_default_class(cluster: Cluster) -> None:
    s = cluster.store
    sc = s.get(R.STORAGECLASSES, None, "standard")
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    s.create(R.PVCS, claim("filestore", "50Gi"))
    await cluster.wait(lambda: s.get(R.PVCS, "egov", "filestore")["status"].get("phase") == "Bound", what="bound")
    c = s.get(R.PVCS, "egov", "filestore")
    name = f"pvc-{c['metadata']['uid']}"
    assert c["spec"]["volumeName"] == name and c["spec"]["storageClassName"] == "standard"
    v = s.get(R.PVS, None, name)
    assert v["status"]["phase"] == "Bound" and v["spec"]["capacity"]["storage"] == "50Gi"
    assert v["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    reasons = [e["reason"] for e in s.list(R.EVENTS, "egov")[0] if e["involvedObject"]["name"] == "filestore"]
    assert "ProvisioningSucceeded" in reasons
    # reclaim policy Delete: the volume goes with its claim
    s.delete(R.PVCS, "egov", "filestore")
    await cluster.wait(lambda: s.get(R.PVS, None, name) is None, what="provisioned volume deleted")


async def test_missing_storage_class_is_reported(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.PVCS, claim("nowhere", cls="gp3"))
    await cluster.wait(lambda: [e for e in s.list(R.EVENTS, "egov")[0] if e["reason"] == "ProvisioningFailed"],
                       what="ProvisioningFailed")
    ev = next(e for e in s.list(R.EVENTS, "egov")[0] if e["reason"] == "ProvisioningFailed")
    assert ev["message"] == 'storageclass.storage.k8s.io "gp3" not found' and ev["type"] == "Warning"
    assert s.get(R.PVCS, "egov", "nowhere")["status"]["phase"] == "Pending"


def deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "egov"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "egovio/egov-user:v1",
                                                           "ports": [{"name": "http", "containerPort": 8080}]}]}}}}


def ready_ips(ep: dict[str, Any] | None) -> list[str]:
    return sorted(a["ip"] for s in (ep or {}).get("subsets") or () for a in s.get("addresses") or ())


async def test_endpoints_follow_ready_pods(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.SERVICES, {"metadata": {"name": "egov-user", "namespace": "egov"}, "spec": {
        "selector": {"app": "egov-user"}, "ports": [{"name": "http", "port": 8080, "targetPort": "http"}]}})
    s.create(R.DEPLOYMENTS, deployment("egov-user", 2))
    await cluster.wait(lambda: len(ready_ips(s.get(R.ENDPOINTS, "egov", "egov-user"))) == 2, what="2 endpoints")
    ep = s.get(R.ENDPOINTS, "egov", "egov-user")
    pods = s.list(R.PODS, "egov", label_selector="app=egov-user")[0]
    assert ready_ips(ep) == sorted(p["status"]["podIP"] for p in pods)
    assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert {a["targetRef"]["name"] for a in ep["subsets"][0]["addresses"]} == {p["metadata"]["name"] for p in pods}
    d = s.get(R.DEPLOYMENTS, "egov", "egov-user")
    d["spec"]["replicas"] = 0
    s.update(R.DEPLOYMENTS, d)
    await cluster.wait(lambda: not (s.get(R.ENDPOINTS, "egov", "egov-user") or {}).get("subsets"), what="empty")
    # a Service without selector keeps the Endpoints its owner wrote (DIGIT's external db)
    s.create(R.SERVICES, {"metadata": {"name": "db", "namespace": "egov"}, "spec": {"ports": [{"port": 5432}]}})
    s.create(R.ENDPOINTS, {"metadata": {"name": "db", "namespace": "egov"}, "subsets": [
        {"addresses": [{"ip": "10.0.0.20"}], "ports": [{"port": 5432}]}]})
    # Proof that the controller has been through the db objects: a Service created after them gets
    # its Endpoints (the controller works through its events in order), then nothing is left queued.
    s.create(R.SERVICES, {"metadata": {"name": "after-db", "namespace": "egov"}, "spec": {
        "selector": {"app": "nothing"}, "ports": [{"port": 80}]}})
    await cluster.wait(lambda: s.get(R.ENDPOINTS, "egov", "after-db"), what="the Endpoints of a later Service", timeout=20)
    assert await cluster.mgr.settle(timeout=10), "the controllers never went idle"
    assert ready_ips(s.get(R.ENDPOINTS, "egov", "db")) == ["10.0.0.20"]


async def test_garbage_collection_through_owner_references(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.DEPLOYMENTS, deployment("audit-service", 3))
    await cluster.wait(lambda: len(s.list(R.PODS, "egov")[0]) == 3, what="3 pods")
    assert len(s.list(R.REPLICASETS, "egov")[0]) == 1
    s.delete(R.DEPLOYMENTS, "egov", "audit-service")
    await cluster.wait(lambda: not s.list(R.REPLICASETS, "egov")[0] and not s.list(R.PODS, "egov")[0],
                       what="replicaset and pods collected")
    # an object whose owner never existed is collected too
    cm = {"metadata": {"name": "orphan", "namespace": "egov", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "0000-dead"}]}}
    s.create(R.CONFIGMAPS, cm)
    await cluster.wait(lambda: s.get(R.CONFIGMAPS, "egov", "orphan") is None, what="dangling dependent collected")


async def test_namespace_deletion_removes_everything(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.NAMESPACES, {"metadata": {"name": "playground"}})
    s.create(R.CONFIGMAPS, {"metadata": {"name": "c", "namespace": "playground"}, "data": {}})
    s.create(R.SECRETS, {"metadata": {"name": "s", "namespace": "playground"}, "data": {}})
    s.create(R.SERVICES, {"metadata": {"name": "svc", "namespace": "playground"}, "spec": {
        "selector": {"app": "x"}, "ports": [{"port": 80}]}})
    d = deployment("x", 2)
    d["metadata"]["namespace"] = "playground"
    s.create(R.DEPLOYMENTS, d)
    await cluster.wait(lambda: len(s.list(R.PODS, "playground")[0]) == 2, what="pods")
    s.delete(R.NAMESPACES, None, "playground")
    await cluster.wait(lambda: s.get(R.NAMESPACES, None, "playground") is None, what="namespace removed")
    for rt in (R.PODS, R.DEPLOYMENTS, R.REPLICASETS, R.SERVICES, R.ENDPOINTS, R.CONFIGMAPS, R.SECRETS, R.EVENTS):
        assert s.list(rt, "playground")[0] == [], rt.plural


async def test_node_not_ready_fault_and_heal(cluster: Cluster) -> None:
    s = cluster.store
    s.create(R.SERVICES, {"metadata": {"name": "egov-user", "namespace": "egov"}, "spec": {
        "selector": {"app": "egov-user"}, "ports": [{"port": 8080}]}})
    s.create(R.DEPLOYMENTS, deployment("egov-user", 3))
    await cluster.wait(lambda: len(ready_ips(s.get(R.ENDPOINTS, "egov", "egov-user"))) == 3, what="3 ready")
    node = s.get(R.NODES, None, "node-1")
    assert next(c for c in node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    victims = [p for p in s.list(R.PODS, "egov")[0] if p["spec"]["nodeName"] == "node-1"]
    assert victims
    node["metadata"].setdefault("annotations", {})["sandbox.digit-tui.io/not-ready"] = "true"
    s.update(R.NODES, node)

    def ready_cond() -> dict[str, Any]:
        return next(c for c in s.get(R.NODES, None, "node-1")["status"]["conditions"] if c["type"] == "Ready")

    await cluster.wait(lambda: ready_cond()["status"] == "False", what="node NotReady")
    assert ready_cond()["reason"] == "NodeStatusUnknown"
    assert ready_cond()["message"] == "Kubelet stopped posting node status."
    taints = s.get(R.NODES, None, "node-1")["spec"]["taints"]
    assert {(t["key"], t["effect"]) for t in taints} == {("node.kubernetes.io/unreachable", "NoSchedule"),
                                                        ("node.kubernetes.io/unreachable", "NoExecute")}
    await cluster.wait(lambda: len(ready_ips(s.get(R.ENDPOINTS, "egov", "egov-user"))) == 3 - len(victims),
                       what="endpoints of the node's pods removed")
    for v in victims:
        p = s.get(R.PODS, "egov", v["metadata"]["name"])
        assert next(c for c in p["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"
    node = s.get(R.NODES, None, "node-1")
    del node["metadata"]["annotations"]["sandbox.digit-tui.io/not-ready"]
    s.update(R.NODES, node)
    await cluster.wait(lambda: ready_cond()["status"] == "True", what="healed")
    assert not s.get(R.NODES, None, "node-1")["spec"].get("taints")
    await cluster.wait(lambda: len(ready_ips(s.get(R.ENDPOINTS, "egov", "egov-user"))) == 3, what="3 ready again")
