"""The dashboard's live model: slim pods keep every verdict, changes come out keyed by pod (against a
real sandbox through the real watcher), a verdict that changes with time alone comes when its time
does, and frames wait for the screen and carry everything that happened meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.health.live import Delta, Feeder, LiveModel
from digit_tui.health.model import classify_pod, parse_time, slim_pod, verdict_due
from digit_tui.health.watcher import ClusterWatcher
from digit_tui.infra.kube import Kube
from digit_tui.infra.podstate import NOT_READY_GRACE
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.tui.conftest import wait_until

T0 = "2024-01-01T00:00:00Z"
NOW = parse_time(T0) or 0.0


def _pod(name: str = "p", *, containers: int = 1, spec: dict[str, Any] | None = None,
         meta: dict[str, Any] | None = None, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": "egov", "name": name, "creationTimestamp": T0, "uid": f"u-{name}",
                         "resourceVersion": "1", "managedFields": [{"manager": "x"}], **(meta or {})},
            "spec": {"containers": [{"name": f"c{i}", "image": "i"} for i in range(containers)], **(spec or {})},
            "status": status}


def _waiting(reason: str, message: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": "c0", "ready": False, "restartCount": extra.pop("restarts", 0),
            "state": {"waiting": {"reason": reason, **({"message": message} if message else {})}}, **extra}


CASES: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    (_pod(phase="Running", startTime=T0, containerStatuses=[{"name": "c0", "ready": True, "restartCount": 2,
                                                             "state": {"running": {"startedAt": T0}}}]), []),
    (_pod(phase="Running", containerStatuses=[_waiting("CrashLoopBackOff", restarts=7, lastState={
        "terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": T0}})]), []),
    (_pod(phase="Running", containerStatuses=[_waiting("CrashLoopBackOff", lastState={
        "terminated": {"finishedAt": T0}})]), []),
    (_pod(phase="Pending", spec={"nodeName": "n1"}, containerStatuses=[_waiting("ImagePullBackOff", "no such image")]),
     []),
    (_pod(phase="Pending", initContainerStatuses=[_waiting("CreateContainerConfigError", 'secret "db" not found')],
          containerStatuses=[_waiting("PodInitializing")]), []),
    (_pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "message": "0/3 nodes",
                                        "lastTransitionTime": T0}, {"type": "Ready", "status": "False"}]), []),
    (_pod(phase="Pending"), [{"reason": "FailedScheduling", "message": "0/6 nodes are available", "type": "Warning"}]),
    (_pod(phase="Pending", spec={"nodeName": "n1"}, containerStatuses=[_waiting("ContainerCreating")]), []),
    (_pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory."), []),
    (_pod(phase="Running", meta={"deletionTimestamp": T0}, containerStatuses=[_waiting("CrashLoopBackOff")]), []),
    (_pod(containers=2, phase="Running", startTime=T0, containerStatuses=[
        {"name": "c0", "ready": True, "state": {"running": {}}}, {"name": "c1", "ready": False,
                                                                   "state": {"running": {}}}]),
     [{"reason": "Unhealthy", "message": "Readiness probe failed: 503", "type": "Warning"}]),
    (_pod(phase="Succeeded", containerStatuses=[{"name": "c0", "ready": False, "state": {
        "terminated": {"exitCode": 0, "reason": "Completed"}}}]), []),
]


@pytest.mark.parametrize("now", [NOW + 30, NOW + NOT_READY_GRACE + 1])
def test_the_slim_pod_gets_the_verdict_of_the_whole_pod(now: float) -> None:
    for pod, events in CASES:
        slim = slim_pod(pod)
        assert classify_pod(slim, events, now=now) == classify_pod(pod, events, now=now), pod
        assert verdict_due(slim, now=now) == verdict_due(pod, now=now), pod
        assert "managedFields" not in slim["metadata"]


def test_a_pod_not_ready_turns_faulty_when_its_grace_runs_out_with_nothing_else_changing() -> None:
    clock = [NOW + 10]
    model = LiveModel(clock=lambda: clock[0])
    model.upsert("pods", [_pod("slow", phase="Running", startTime=T0, containerStatuses=[
        {"name": "c0", "ready": False, "state": {"running": {}}}]), _pod("fine", phase="Running", startTime=T0,
                                                                         containerStatuses=[{"name": "c0", "ready": True}])])
    first = model.drain()
    assert first is not None and set(first.upserts) == {"egov/slow", "egov/fine"}
    assert not first.upserts["egov/slow"].faulty
    assert model.next_due() == NOW + NOT_READY_GRACE
    assert model.drain() is None                   # nothing changed, nothing is due yet
    clock[0] = NOW + NOT_READY_GRACE + 1
    later = model.drain()
    assert later is not None and set(later.upserts) == {"egov/slow"} and not later.removed
    assert later.upserts["egov/slow"].fault == "NotReady"
    assert later.summary.faulty == 1 and later.summary.pods == 2
    assert model.next_due() is None or model.drain() is None


def test_a_frame_waits_for_the_screen_and_then_carries_everything_that_changed_meanwhile() -> None:
    model = LiveModel(clock=lambda: NOW)
    frames: list[Delta] = []
    published = threading.Condition()

    def publish(delta: Delta) -> None:
        with published:
            frames.append(delta)
            published.notify_all()

    feeder = Feeder(model, publish, max_fps=1000)
    thread = threading.Thread(target=feeder.run, daemon=True)
    thread.start()
    try:
        model.upsert("pods", [_pod("a", phase="Pending")])
        with published:
            assert published.wait_for(lambda: len(frames) == 1, timeout=10)
        # The screen has not applied the first frame yet: these wait for it, all in one frame.
        model.upsert("pods", [_pod("b", phase="Pending")])
        model.upsert("pods", [_pod("c", phase="Pending")])
        model.delete("pods", _pod("a"))
        model.upsert("pods", [_pod("c", phase="Pending")])   # the same version again: not a change
        feeder.ack()
        with published:
            assert published.wait_for(lambda: len(frames) == 2, timeout=10)
        assert set(frames[1].upserts) == {"egov/b", "egov/c"} and frames[1].removed == {"egov/a"}
        feeder.ack()
        model.upsert("pods", [_pod("b", phase="Pending")])    # nothing new: no frame
        model.upsert("pods", [_pod("d", phase="Pending")])
        with published:
            assert published.wait_for(lambda: len(frames) == 3, timeout=10)
        assert set(frames[2].upserts) == {"egov/d"} and not frames[2].removed
    finally:
        feeder.stop()
        thread.join(10)
    assert not thread.is_alive()


# -- the watcher into the model, against a real API server ---------------------------------------
@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[SandboxHandle, Kube]]:
    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    kube = Kube(h.kubeconfig_path, timeout=10)
    try:
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "rows"}})
        yield h, kube
    finally:
        kube.close()
        h.stop()


def create_pod(kube: Kube, name: str) -> None:
    kube.request("POST", "/api/v1/namespaces/rows/pods", body={
        "metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "nginx:1.25"}]}})


def set_restarts(kube: Kube, name: str, count: int) -> None:
    pod = kube.request("GET", f"/api/v1/namespaces/rows/pods/{name}")
    statuses = [dict(c, restartCount=count) for c in pod["status"]["containerStatuses"]]
    kube.request("PATCH", f"/api/v1/namespaces/rows/pods/{name}/status",
                 body={"status": {"containerStatuses": statuses}}, content_type="application/merge-patch+json")


class Frames:
    """Drains the model the way the feeder does and remembers which pods each frame touched."""

    def __init__(self, model: LiveModel) -> None:
        self.model = model
        self.rows: dict[str, Any] = {}
        self.touched: set[str] = set()
        self.removed: set[str] = set()

    def until(self, cond: Any, what: str) -> None:
        def step() -> bool:
            delta = self.model.drain()
            if delta is not None:
                self.touched |= set(delta.upserts)
                self.removed |= set(delta.removed)
                self.rows.update(delta.upserts)
                for key in delta.removed:
                    self.rows.pop(key, None)
            return bool(cond(self))
        wait_until(step, timeout=20, what=what)
        self.touched, self.removed = set(), set()


def test_the_watcher_hands_on_each_change_keyed_by_pod(cluster: tuple[SandboxHandle, Kube]) -> None:
    _, kube = cluster
    for name in ("a", "b", "c"):
        create_pod(kube, name)
    model = LiveModel()
    watcher = ClusterWatcher(cluster[0].kubeconfig_path, sink=model, probe_interval=0.3)
    watcher.start()
    frames = Frames(model)
    try:
        frames.until(lambda f: {k: p.status for k, p in f.rows.items()} ==
                     {"rows/a": "Running", "rows/b": "Running", "rows/c": "Running"}
                     and f.model.listed_kinds == {"pods", "deployments", "statefulsets", "jobs", "pvcs", "nodes",
                                                  "events"}, "three running pods, every kind listed")

        set_restarts(kube, "b", 4)
        frames.until(lambda f: f.rows["rows/b"].restarts == 4 and f.touched == {"rows/b"} and not f.removed,
                     "b's restarts, and nothing else")

        kube.request("DELETE", "/api/v1/namespaces/rows/pods/c")
        frames.until(lambda f: f.removed == {"rows/c"} and not f.touched, "c gone, nothing else touched")

        create_pod(kube, "d")
        frames.until(lambda f: f.rows.get("rows/d") is not None and f.rows["rows/d"].status == "Running"
                     and f.touched <= {"rows/d"} and not f.removed, "d running, nothing else touched")
        assert set(frames.rows) == {"rows/a", "rows/b", "rows/d"}
    finally:
        watcher.stop()
