"""The fit check's scheduler replay and the kube-scheduler math it shares with the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from digit_tui.infra import kubesched
from digit_tui.infra.kubesched import NodeLoad, PodRequest
from digit_tui.sizing import fit, presets
from digit_tui.sizing.model import SizingInputs, Workload
from digit_tui.sizing.quantity import GI

PRESET = presets.load("sdc-dev")
INPUTS = SizingInputs(ulbs=10, flavor="4C/8G", ha=False)
MI = 2**20


def _nodes(count: int, cpu: int = 4000, mem: int = 4 * GI) -> list[fit.NodeCapacity]:
    return [fit.NodeCapacity(f"node-{i + 1}", cpu, mem, allocatable=True) for i in range(count)]


def _w(name: str, kind: str, replicas: int, cpu: int, mem: int, **kw) -> Workload:
    return Workload(name, "core", kind, "egov", name, replicas, cpu, mem, **kw)


def test_score_is_least_allocated_plus_balanced_allocation_after_placing_the_pod():
    empty = NodeLoad("n", 4000, 8 * GI)
    # A pod in proportion to the node: 75 % free on both, perfectly balanced.
    assert kubesched.score(empty, PodRequest.of(1000, 2 * GI)) == 75 + 100
    # 50 % cpu and 12.5 % memory used after placing: (50 + 87) // 2, and 1 - |0.5 - 0.125| / 2.
    assert kubesched.score(empty, PodRequest.of(2000, 1 * GI)) == 68 + 81
    # Requests left unset count as 100m / 200Mi for spreading, as kube-scheduler's non-zero defaults.
    # Balanced allocation uses the real (zero) requests.
    assert kubesched.score(empty, PodRequest.of(0, 0, cpu_set=False, mem_set=False)) == 97 + 100
    assert kubesched.score(empty, PodRequest.of(0, 0)) == 100 + 100
    busy = NodeLoad("a", 4000, 8 * GI, used_cpu=2000, used_mem=4 * GI, used_cpu_nz=2000, used_mem_nz=4 * GI)
    idle = NodeLoad("b", 4000, 8 * GI)
    assert kubesched.best([busy, idle], PodRequest.of(500, GI)) is idle


def test_ties_go_to_the_lowest_node_name():
    req = PodRequest.of(500, GI)
    nodes = [NodeLoad(name, 4000, 8 * GI) for name in ("node-3", "node-1", "node-2")]
    assert kubesched.best(nodes, req).name == "node-1"
    assert kubesched.best([], req) is None


def test_failure_text_is_worded_like_kube_scheduler():
    assert kubesched.failure_message(3, {"Insufficient memory": 3}) == \
        "0/3 nodes are available: 3 Insufficient memory."
    assert kubesched.failure_message(2, {"Insufficient memory": 2, "Insufficient cpu": 1}) == \
        "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory."


def test_identical_pods_spread_over_empty_nodes():
    report = fit.check([_w("web", "Deployment", 3, 500, GI)], INPUTS, PRESET, _nodes(3))
    assert [node for _, node in report.replay.placed] == ["node-1", "node-2", "node-3"]
    assert not report.replay.pending
    assert report.replay.lines() == ["scheduler replay (apply order): every pod schedules on 3 nodes"]


def test_release_order_can_leave_a_pod_pending_where_largest_first_fits():
    # Small pods applied first are spread 2 + 2, leaving 2Gi on each node: the 3Gi pod applied
    # last finds no node, although largest-first packing (3Gi + 1Gi | 3 × 1Gi) fits everything.
    workloads = [_w("small", "Deployment", 4, 100, GI), _w("big", "StatefulSet", 1, 100, 3 * GI)]
    report = fit.check(workloads, INPUTS, PRESET, _nodes(2))
    assert report.fits and not report.unschedulable
    assert [(q.pod.name, q.message) for q in report.replay.pending] == [
        ("big-0", "0/2 nodes are available: 2 Insufficient memory.")]
    assert report.summary().endswith("but applied in release order the scheduler would leave 1 pod Pending")
    assert "pod big-0 would not schedule: 0/2 nodes are available: 2 Insufficient memory." in report.lines()
    # `size --check-…` fails on it: the operator would see a Pending pod after buying the VMs.
    from digit_tui.cli.size import check_exit_code
    assert check_exit_code(report) == 1
    # Applied the other way round, the replay agrees with the packing.
    again = fit.check(workloads[::-1], INPUTS, PRESET, _nodes(2))
    assert not again.replay.pending and check_exit_code(again) == 0


def test_statefulset_pods_are_named_by_ordinal_and_deployment_pods_counted():
    workloads = [_w("kafka-v2", "StatefulSet", 3, 100, 1536 * MI), _w("zuul", "Deployment", 3, 100, 1536 * MI)]
    report = fit.check(workloads, INPUTS, PRESET, _nodes(1))
    replay = report.replay
    assert [p.name for p, _ in replay.placed] == ["kafka-v2-0", "kafka-v2-1"]
    assert [q.pod.name for q in replay.pending] == ["kafka-v2-2", "zuul-…", "zuul-…", "zuul-…"]
    assert replay.pending_by_workload() == {"egov/kafka-v2": 1, "egov/zuul": 3}
    msg = "0/1 nodes are available: 1 Insufficient memory."
    assert replay.lines()[1:] == [f"pod kafka-v2-2 would not schedule: {msg}", f"pod zuul-… ×3 would not schedule: {msg}"]
    assert replay.order == [("egov", "kafka-v2", "StatefulSet"), ("egov", "zuul", "Deployment")]


def test_required_hostname_anti_affinity_keeps_one_pod_per_node():
    report = fit.check([_w("es-master", "StatefulSet", 3, 100, 512 * MI, one_per_node=True)], INPUTS, PRESET,
                       _nodes(2))
    assert [node for _, node in report.replay.placed] == ["node-1", "node-2"]
    assert [(q.pod.name, q.message) for q in report.replay.pending] == [
        ("es-master-2", "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules.")]


def test_the_pod_limit_and_what_is_already_running_count():
    node = fit.NodeCapacity("node-1", 4000, 4 * GI, allocatable=True, used_mem=3 * GI, max_pods=3, used_pods=1)
    report = fit.check([_w("a", "Deployment", 3, 10, 100 * MI)], INPUTS, PRESET, [node])
    assert len(report.replay.placed) == 2
    assert report.replay.pending[0].message == "0/1 nodes are available: 1 Too many pods."


def test_size_json_and_text_carry_the_replay(tmp_path):
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "digit_tui.cli", "size", "--synthetic", "--preset", "sdc-dev", "--flavor", "8C/16G",
           "--no-ha", "--check-nodes", "1x8C/16G", "--no-services"]
    r = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=60, cwd=root)
    assert r.returncode == 1, r.stderr
    replay = json.loads(r.stdout)["fit"]["replay"]
    assert replay["nodes"] == 1 and replay["pending"]
    assert all(q["message"].startswith("0/1 nodes are available: 1 ") for q in replay["pending"])
    assert any(q["message"] == "0/1 nodes are available: 1 Insufficient memory." for q in replay["pending"])
    assert sum(replay["pending_by_workload"].values()) == len(replay["pending"])
    text = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=root).stdout
    assert "scheduler replay (apply order):" in text and "would not schedule: 0/1 nodes are available:" in text
