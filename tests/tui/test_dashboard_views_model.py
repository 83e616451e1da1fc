"""The further views' model (health/views.py) fed by hand, as the watcher's threads feed it: what a
row says, node sums that follow their pods, only the shown view drained, events keyed per watch."""

from __future__ import annotations

from typing import Any

from digit_tui.health.views import NodeRow, ViewsModel, WorkloadRow, workload_row


def _pod(name: str, node: str | None, cpu: str = "250m", mem: str = "256Mi", phase: str = "Running",
         uid: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"namespace": "egov", "name": name, "uid": uid or f"uid-{name}"}, "spec": spec,
            "status": {"phase": phase}}


def _node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True"}]}}


def _event(name: str, kind: str, when: str, uid: str = "") -> dict[str, Any]:
    return {"metadata": {"namespace": "egov", "name": name, **({"uid": uid} if uid else {})},
            "type": kind, "reason": "R", "message": "m", "lastTimestamp": when,
            "involvedObject": {"kind": "Pod", "namespace": "egov", "name": "p"}}


def _nodes(model: ViewsModel) -> dict[str, NodeRow]:
    delta = model.drain()
    assert delta is not None and delta.view == "nodes"
    return {k: v for k, v in delta.upserts.items() if isinstance(v, NodeRow)}


def test_node_requests_follow_the_pods_bound_to_it() -> None:
    model = ViewsModel()
    model.activate("nodes")
    model.upsert("nodes", [_node("n1"), _node("n2")])
    model.upsert("pods", [_pod("a", "n1"), _pod("b", "n1", cpu="1", mem="1Gi"), _pod("c", None)])
    rows = _nodes(model)
    assert (rows["n1"].cpu_requested, rows["n1"].mem_requested, rows["n1"].pods) == (1250, 1280 << 20, 2)
    assert (rows["n1"].cpu_allocatable, rows["n1"].mem_allocatable, rows["n1"].pods_allocatable) == (4000, 8 << 30, 110)
    assert rows["n2"].cpu_requested == 0

    model.upsert("pods", [_pod("c", "n2")])                    # scheduled now
    assert _nodes(model)["n2"].cpu_requested == 250
    model.upsert("pods", [_pod("a", "n1", phase="Succeeded")])   # finished: the scheduler frees it
    assert _nodes(model)["n1"].cpu_requested == 1000
    model.delete("pods", _pod("b", "n1"))
    assert _nodes(model)["n1"].cpu_requested == 0
    model.listed("pods", {"egov/a"})                          # a relist without c: gone
    assert _nodes(model)["n2"].cpu_requested == 0
    model.delete("nodes", _node("n2"))
    delta = model.drain()
    assert delta is not None and delta.removed == {"n2"}


def test_only_the_shown_view_is_built_and_a_hidden_one_catches_up_when_shown() -> None:
    model = ViewsModel()
    model.upsert("deployments", [{"metadata": {"namespace": "egov", "name": "d"}, "spec": {"replicas": 2},
                                  "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}}])
    assert model.drain() is None                  # the pods view is shown: nothing is built
    model.changed.clear()
    model.upsert("nodes", [_node("n1")])
    assert not model.changed.is_set()             # nor does a hidden view wake the feeder
    model.activate("workloads")
    assert model.changed.is_set()
    delta = model.drain()
    assert delta is not None and list(delta.upserts) == ["Deployment/egov/d"]
    row = delta.upserts["Deployment/egov/d"]
    assert isinstance(row, WorkloadRow) and (row.ready, row.desired, row.ok) == (1, 2, False)
    assert model.drain() is None                  # nothing new
    model.activate("nodes")
    delta = model.drain()
    assert delta is not None and set(delta.upserts) == {"n1"}


def test_workload_rows_as_kubectl_counts_them() -> None:
    ds = workload_row("daemonsets", {"metadata": {"namespace": "k", "name": "fluent"}, "status": {
        "desiredNumberScheduled": 3, "numberReady": 3, "updatedNumberScheduled": 2, "numberAvailable": 3}})
    assert (ds.key, ds.ready, ds.desired, ds.updated, ds.ok) == ("DaemonSet/k/fluent", 3, 3, 2, True)
    stuck = workload_row("deployments", {"metadata": {"namespace": "egov", "name": "u"}, "spec": {"replicas": 1},
                                         "status": {"conditions": [{"type": "Progressing", "status": "False",
                                                                    "reason": "ProgressDeadlineExceeded",
                                                                    "message": "took too long"}]}})
    assert stuck.failed == "ProgressDeadlineExceeded: took too long" and not stuck.ok
    sts = workload_row("statefulsets", {"metadata": {"namespace": "k", "name": "kafka"}, "spec": {},
                                        "status": {"readyReplicas": 1}})
    assert (sts.desired, sts.available, sts.ok) == (1, 1, True)


def test_events_of_both_watches_are_kept_apart_and_the_newest_are_kept() -> None:
    model = ViewsModel(max_events=10)
    model.activate("events")
    model.upsert("events", [_event("w1", "Warning", "2026-01-01T00:00:01Z", uid="u-w1")])
    model.upsert("normal-events", [_event(f"n{i}", "Normal", f"2026-01-01T00:00:{i + 10:02d}Z") for i in range(12)])
    # Each watch lists with its own keys (warnings by uid, the normal ones by namespace/name): one
    # watch's relist leaves the other's events alone.
    model.listed("events", {"u-w1"})
    model.listed("normal-events", {f"egov/n{i}" for i in range(12)})
    delta = model.drain()
    assert delta is not None
    assert "u-w1" in delta.upserts
    normal = {k for k, v in delta.upserts.items() if not getattr(v, "warning", True)}
    assert normal == {f"egov/n{i}" for i in range(2, 12)}       # the oldest two were dropped
    assert {"egov/n0", "egov/n1"} <= set(delta.removed)


def test_the_nodes_line_holds_the_workers_against_the_install_sizing_plan() -> None:
    from digit_tui.answers.sizingplan import SizingPlan
    from digit_tui.widgets.viewrows import NodePlan, nodes_footer

    plan = NodePlan.of(SizingPlan(preset="sdc", tier="prod", ulbs=100, workers=3, worker_flavor="8C/16G",
                                  worker_cpus=8, worker_memory_gib=16, worker_disk_gb=None, masters=1, disks=(),
                                  workloads="the release's requests"))
    assert NodePlan.of(None) is None and plan is not None

    def node(name: str, control: bool = False) -> NodeRow:
        return NodeRow(key=name, name=name, ready=True, schedulable=True, cpu_requested=2000, cpu_allocatable=8000,
                       mem_requested=4 << 30, mem_allocatable=16 << 30, pods=3, pods_allocatable=110,
                       control_plane=control)

    rows = [node("cp", control=True), node("w1"), node("w2")]
    text = nodes_footer(rows, plan).plain
    assert text.startswith(" 3 nodes: cpu 6/24 25% · mem 12Gi/48Gi 25% · plan 3×8C/16G")
    assert "✗ 1 node short" in text                       # the control-plane node is not a worker
    assert nodes_footer(rows + [node("w3")], plan).plain.endswith("✓")
    wide = nodes_footer(rows + [node("w3")], plan, width=160).plain
    assert "= 24 cpu 48Gi, requested 33% / 33%" in wide
    assert "plan" not in nodes_footer(rows, None).plain   # no plan: nothing said of one


def test_a_control_plane_node_is_marked() -> None:
    model = ViewsModel()
    model.activate("nodes")
    cp = _node("cp")
    cp["metadata"]["labels"] = {"node-role.kubernetes.io/control-plane": ""}
    model.upsert("nodes", [cp, _node("w1")])
    rows = _nodes(model)
    assert rows["cp"].control_plane and not rows["w1"].control_plane
