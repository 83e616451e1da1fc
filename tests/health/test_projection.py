"""`health --once` decodes pods and events into only the fields it reads (health/projection.py):
the report an operator reads from projected objects is the one the whole objects give, the fields
nobody reads are gone, and a page msgspec refuses is still read (json, then the Python slimming)."""

from __future__ import annotations

import copy
import json
from typing import Any

from digit_tui.health.model import slim_event, slim_pod
from digit_tui.health.projection import page_decoders
from digit_tui.health.report import build_report
from digit_tui.health.snapshot import ClusterObjects
from digit_tui.infra.podrequests import pod_requests
from tests.health.test_checks import NOW, T0, deployment, node, pod

Obj = dict[str, Any]


def bulky(p: Obj) -> Obj:
    """``p`` with what a real API server sends besides: managed fields, volumes, env, probes."""
    p = copy.deepcopy(p)
    p["metadata"].update(uid="u-" + p["metadata"]["name"], resourceVersion="42", generateName="x-",
                         ownerReferences=[{"kind": "ReplicaSet", "name": "rs"}],
                         managedFields=[{"manager": "kubelet", "fieldsV1": {"f:status": {"f:phase": {}}}}] * 3)
    for c in p["spec"]["containers"]:
        c.update(env=[{"name": "A", "value": "1"}], resources={"requests": {"cpu": "10m", "memory": "16Mi"}},
                 readinessProbe={"httpGet": {"path": "/", "port": 80}})
    p["spec"].update(volumes=[{"name": "v", "configMap": {"name": "cm"}}], tolerations=[{"key": "k"}])
    p["status"].update(podIP="10.0.0.1", hostIP="10.0.1.1", qosClass="Burstable")
    for cs in p["status"]["containerStatuses"]:
        cs.update(imageID="sha256:abc", containerID="cri://1", started=False)
    return p


def pods() -> list[Obj]:
    crashing = pod("egov-user-2", "egov-user")
    cs = crashing["status"]["containerStatuses"][0]
    cs.update(ready=False, restartCount=4, state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
              lastState={"terminated": {"exitCode": 3, "reason": "Error", "message": "boom", "finishedAt": T0}})
    unscheduled = pod("egov-mdms-1", "egov-mdms")
    unscheduled["spec"].pop("nodeName")
    unscheduled["status"] = {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": T0,
         "message": "0/1 nodes are available: 1 Insufficient cpu."}]}
    unscheduled["status"]["containerStatuses"] = []
    return [bulky(p) for p in (pod("egov-user-1", "egov-user"), crashing, unscheduled,
                               pod("egov-hrms-1", "egov-hrms", waiting="ImagePullBackOff", image="egovio/nope:v9"))]


def warning(i: int, about: str) -> Obj:
    return {"kind": "Event", "type": "Warning", "reason": "BackOff", "message": f"back-off {i}", "count": i,
            "lastTimestamp": f"2027-01-15T08:{i:02d}:00Z", "source": {"component": "kubelet"},
            "metadata": {"name": f"ev-{i}", "namespace": "egov", "uid": f"e{i}", "managedFields": [{}]},
            "involvedObject": {"kind": "Pod", "namespace": "egov", "name": about, "uid": "u", "fieldPath": "x"}}


def page(items: list[Obj]) -> bytes:
    return json.dumps({"kind": "List", "metadata": {"resourceVersion": "7"}, "items": items}).encode()


def report(objects: list[Obj], events: list[Obj]) -> Obj:
    deps = [deployment(n, service=n) for n in ("egov-user", "egov-mdms", "egov-hrms")]
    out: Obj = build_report(ClusterObjects(nodes=[node()], deployments=deps, pods=objects, events=events),
                            server="https://k", now=NOW).to_json()
    return out


def test_the_report_from_projected_pods_and_events_is_the_one_from_whole_objects() -> None:
    decode = page_decoders()
    whole_pods, whole_events = pods(), [warning(i, "egov-hrms-1") for i in range(1, 13)]
    projected_pods = decode["pods"](page(whole_pods))["items"]
    projected_events = decode["events"](page(whole_events))["items"]
    full, projected = report(whole_pods, whole_events), report(projected_pods, projected_events)
    assert projected == full
    assert [f["name"] for f in full["faults"]] == ["egov-hrms-1", "egov-mdms-1", "egov-user-2"]
    assert len(full["warnings"]) == 10 and full["warnings"][0]["message"] == "back-off 12"

    p = projected_pods[1]
    assert "managedFields" not in p["metadata"] and "volumes" not in p["spec"] and "podIP" not in p["status"]
    assert p["metadata"]["labels"] == {"app": "egov-user"}
    assert p["spec"]["containers"] == [{"name": "egov-user", "image": "egovio/egov-user:v1",
                                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]
    assert p["status"]["containerStatuses"][0]["lastState"] == {
        "terminated": {"exitCode": 3, "reason": "Error", "message": "boom"}}
    e = projected_events[0]
    assert "source" not in e and "managedFields" not in e["metadata"]
    assert e["involvedObject"] == {"kind": "Pod", "namespace": "egov", "name": "egov-hrms-1"}


def test_the_dashboard_keeps_the_same_slim_pods_and_sums_the_same_requests() -> None:
    """The dashboard's first list is projected too: its live model's slim pods, its warnings and
    what its nodes view adds up per node are those of the whole objects."""
    whole = pods()
    whole[0]["spec"]["overhead"] = {"cpu": "5m"}
    whole[0]["spec"]["initContainers"] = [{"name": "sidecar", "image": "envoy:1", "restartPolicy": "Always",
                                           "resources": {"requests": {"cpu": "20m", "memory": "8Mi"}}}]
    decode = page_decoders()
    projected = decode["pods"](page(whole))["items"]
    assert [slim_pod(p) for p in projected] == [slim_pod(p) for p in whole]
    assert [pod_requests(p["spec"]) for p in projected] == [pod_requests(p["spec"]) for p in whole]
    assert pod_requests(projected[0]["spec"]).cpu == 10 + 20 + 5
    events = [warning(i, "egov-user-2") for i in range(1, 4)]
    assert [slim_event(e) for e in decode["events"](page(events))["items"]] == [slim_event(e) for e in events]


def test_a_page_msgspec_refuses_is_decoded_and_slimmed_in_python() -> None:
    whole = pods()
    odd = copy.deepcopy(whole)
    odd[0]["status"]["containerStatuses"][0]["lastState"] = []     # a list where an object belongs
    got = page_decoders()["pods"](page(odd))["items"]
    assert report(got, []) == report(whole, [])
    assert "managedFields" not in got[0]["metadata"] and got[0]["spec"]["containers"][0]["image"]
