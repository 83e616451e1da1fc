"""Done-when §3: the plan agrees with the sandbox's scheduler.

The bundled sample release is rendered and applied (``kubectl apply``) to a
sandbox whose nodes offer exactly what the plan packs into (a worker's
allocatable after reservation, DaemonSets and headroom). With the planned
number of nodes nothing fails to schedule. With one node fewer the workloads
are applied one at a time in the fit check's replay order, each waited on
until its pods are scheduled or reported unschedulable, and the pods left
Pending are exactly the ones the replay named.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from digit_tui.sizing import fit, presets, release
from digit_tui.sizing.model import Flavor, SizingInputs
from digit_tui.sizing.planner import node_shape, plan

runtime = pytest.importorskip("digit_tui.sandbox.runtime")
KUBECTL = "/usr/bin/kubectl"
if not Path(KUBECTL).exists():  # pragma: no cover
    pytest.skip("kubectl missing", allow_module_level=True)

WAIT = 20.0      # seconds for one workload's pods to be decided (speed 50: milliseconds in practice)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("release")
    inputs = release.bundled_inputs(tmp)
    out = tmp / "out"
    r = subprocess.run([sys.executable, "-m", "digit_tui.cli", "render", "--no-cluster-configs", "--out", str(out),
                        "--source", str(inputs.source), "--manifest", str(inputs.manifest),
                        "--env-file", str(inputs.env_file)],
                       capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2],
                       executable=None)
    assert r.returncode == 0, r.stderr
    index = yaml.safe_load((out / "index.yaml").read_text())
    services = sorted(index["services"], key=lambda s: s["order"])   # the deployer's order
    files = {s["name"]: out / s["file"] for s in services}
    workloads = release.WorkloadCache().get(inputs)
    return files, workloads


def _kubectl(handle, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(handle.kubeconfig_path), "--cache-dir", str(tmp / "kc"), *args],
                          capture_output=True, text=True, timeout=60)


def _create_namespaces(handle, tmp: Path, files) -> None:
    namespaces = sorted({d["metadata"]["namespace"] for f in files for d in yaml.safe_load_all(f.read_text())
                         if d and d.get("metadata", {}).get("namespace")})
    for ns in namespaces:
        assert _kubectl(handle, tmp, "create", "namespace", ns).returncode == 0


def _pods(handle, tmp: Path) -> list[dict]:
    r = _kubectl(handle, tmp, "get", "pods", "-A", "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["items"]


def _unschedulable(pod: dict) -> str | None:
    """The FailedScheduling text of a pod the scheduler gave up on for lack of a node (not for a claim)."""
    for c in pod.get("status", {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            msg = c.get("message") or ""
            return None if "PersistentVolumeClaim" in msg else msg
    return None


def _workload_of(pod: dict) -> str:
    """namespace/workload: a StatefulSet pod's owner, or the Deployment behind a ReplicaSet pod."""
    ref = (pod["metadata"].get("ownerReferences") or [{}])[0]
    name = ref.get("name", "")
    if ref.get("kind") == "ReplicaSet":
        name = name.rsplit("-", 1)[0]
    return f"{pod['metadata']['namespace']}/{name}"


def _deploy_all(handle, tmp: Path, files: list[Path], expected_pods: int) -> set[str]:
    """Apply the whole release at once; the names of pods that got FailedScheduling or stayed unbound."""
    _create_namespaces(handle, tmp, files)
    for f in files:
        r = _kubectl(handle, tmp, "apply", "--server-side", "-f", str(f))
        assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 60
    while True:
        pods = _pods(handle, tmp)
        decided = [p for p in pods if p["spec"].get("nodeName") or _unschedulable(p) is not None]
        if len(pods) >= expected_pods and len(decided) == len(pods):
            break
        assert time.monotonic() < deadline, f"{len(decided)}/{len(pods)} pods decided, {expected_pods} expected"
        time.sleep(0.2)
    events = json.loads(_kubectl(handle, tmp, "get", "events", "-A", "-o", "json").stdout)["items"]
    failed = {e["involvedObject"]["name"] for e in events if e.get("reason") == "FailedScheduling"}
    return failed | {p["metadata"]["name"] for p in pods if not p["spec"].get("nodeName")}


def _deploy_in_order(handle, tmp: Path, files: dict[str, Path], order, service_of: dict[str, str],
                     replicas: Counter) -> tuple[dict[str, str], list[dict]]:
    """Apply workload by workload in ``order``, each once its predecessor's pods are all decided.

    Returns the FailedScheduling text each unscheduled pod had when it was decided, and the final pods.
    """
    _create_namespaces(handle, tmp, files.values())
    applied: set[str] = set()
    first_failure: dict[str, str] = {}
    for ns, name, _kind in order:
        key = f"{ns}/{name}"
        service = service_of[key]
        if service not in applied:
            r = _kubectl(handle, tmp, "apply", "--server-side", "-f", str(files[service]))
            assert r.returncode == 0, r.stderr
            applied.add(service)
        deadline = time.monotonic() + WAIT
        while True:
            mine = [p for p in _pods(handle, tmp) if _workload_of(p) == key]
            verdicts = {p["metadata"]["name"]: (p["spec"].get("nodeName"), _unschedulable(p)) for p in mine}
            if len(mine) == replicas[key] and all(node or msg for node, msg in verdicts.values()):
                break
            assert time.monotonic() < deadline, f"{key}: {verdicts} after {WAIT} s, {replicas[key]} pods expected"
            time.sleep(0.05)
        first_failure.update({pod: msg for pod, (node, msg) in verdicts.items() if not node and msg})
    return first_failure, _pods(handle, tmp)


def _setup(rendered, flavor: str):
    files, sample = rendered
    preset = presets.load("sdc-dev")
    # No HA and few users: the plan keeps the chart replicas, exactly what kubectl applies.
    inputs = SizingInputs(ulbs=10, flavor=flavor, ha=False)
    workloads = list(sample.workloads)
    p = plan(workloads, inputs, preset, module_deps=sample.module_deps)
    assert all(s.replicas == s.chart_replicas for s in p.services)
    daemons = [w for w in workloads if w.daemonset]
    shape = node_shape(Flavor.parse(flavor), preset, daemons, preset.headroom.value)
    assert p.workers >= 2, "the sample must need more than one node for this test to mean anything"
    return files, sample, preset, inputs, workloads, p.workers, shape


def _one_worker_fewer_leaves_the_predicted_pods_pending(rendered, tmp_path, flavor: str) -> None:
    files, sample, preset, inputs, workloads, n, shape = _setup(rendered, flavor)
    service_of = {f"{w.namespace}/{w.name}": w.service for w in workloads}
    state = tmp_path / f"n{n - 1}"
    handle = runtime.start_sandbox(state / "sb", nodes=n - 1, node_cpu=f"{shape.target_cpu}m",
                                   node_memory=str(shape.target_mem))
    try:
        nodes = fit.nodes_from_cluster(str(handle.kubeconfig_path))
        report = fit.check(workloads, inputs, preset, nodes, module_deps=sample.module_deps)
        replay = report.replay
        assert not report.fits and report.short_by == 1 and replay is not None and replay.pending, report.lines()
        replicas = Counter(f"{pod.namespace}/{pod.workload}" for pod, _ in replay.placed)
        replicas.update(f"{q.pod.namespace}/{q.pod.workload}" for q in replay.pending)
        first_failure, pods = _deploy_in_order(handle, state, files, replay.order, service_of, replicas)
    finally:
        handle.stop()

    pending = [p for p in pods if not p["spec"].get("nodeName")]
    kinds = {f"{ns}/{name}": kind for ns, name, kind in replay.order}
    sts_predicted = {q.pod.name for q in replay.pending if q.pod.kind == "StatefulSet"}
    sts_pending = {p["metadata"]["name"] for p in pending if kinds.get(_workload_of(p)) == "StatefulSet"}
    assert sts_pending == sts_predicted
    other_predicted = Counter(f"{q.pod.namespace}/{q.pod.workload}" for q in replay.pending
                              if q.pod.kind != "StatefulSet")
    other_pending = Counter(_workload_of(p) for p in pending if kinds.get(_workload_of(p)) != "StatefulSet")
    assert other_pending == other_predicted
    # And in the scheduler's own words, as each pod was turned down.
    for q in replay.pending:
        if q.pod.kind == "StatefulSet":
            assert first_failure[q.pod.name] == q.message
    assert {first_failure[p["metadata"]["name"]] for p in pending} == {q.message for q in replay.pending}
    # Where the placed pods went: the replay's node for every StatefulSet pod, its count per node otherwise.
    where = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName")}
    assert {pod.name: node for pod, node in replay.placed if pod.kind == "StatefulSet"} == \
        {name: node for name, node in where.items() if kinds.get(_workload_of(next(
            p for p in pods if p["metadata"]["name"] == name))) == "StatefulSet"}
    assert Counter((f"{pod.namespace}/{pod.workload}", node) for pod, node in replay.placed) == \
        Counter((_workload_of(p), p["spec"]["nodeName"]) for p in pods if p["spec"].get("nodeName"))


def test_the_planned_nodes_schedule_the_whole_release(rendered, tmp_path):
    files, sample, preset, inputs, workloads, n, shape = _setup(rendered, "8C/16G")
    state = tmp_path / f"n{n}"
    handle = runtime.start_sandbox(state / "sb", nodes=n, node_cpu=f"{shape.target_cpu}m",
                                   node_memory=str(shape.target_mem))
    try:
        nodes = fit.nodes_from_cluster(str(handle.kubeconfig_path))
        report = fit.check(workloads, inputs, preset, nodes, module_deps=sample.module_deps)
        assert report.fits and report.replay is not None and not report.replay.pending, report.lines()
        pods_expected = sum(w.replicas for w in workloads if not w.daemonset)
        unscheduled = _deploy_all(handle, state, list(files.values()), pods_expected)
    finally:
        handle.stop()
    assert unscheduled == set(), f"{n} planned nodes, FailedScheduling for {sorted(unscheduled)}"


def test_one_worker_fewer_leaves_the_pods_the_fit_check_named_pending(rendered, tmp_path):
    # The published SDC flavor: the sample needs 2 workers, so one fewer is a single node.
    _one_worker_fewer_leaves_the_predicted_pods_pending(rendered, tmp_path, "8C/16G")


def test_one_worker_fewer_of_a_small_flavor_agrees_on_placement_and_pending_pods(rendered, tmp_path):
    # 4C/8G needs 5 workers: with 4 the scheduler's scoring, not just arrival order, decides where pods go.
    _one_worker_fewer_leaves_the_predicted_pods_pending(rendered, tmp_path, "4C/8G")
