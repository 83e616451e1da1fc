"""One rule says what a pod's state means (infra/podstate.py), and the installer and the dashboard
both use it: the same pods, captured from a running sandbox as its scheduler and kubelet write them
(ErrImagePull, ImagePullBackOff, CrashLoopBackOff, CreateContainerConfigError, Pending with
FailedScheduling, Running but not ready), get the same verdict and reason from the installer's
diagnosis (kubewait.diagnose_pods) and from the dashboard's model (health.model.classify_pod), before
and after the graces run out. Then the rules themselves, on pods shaped like the kubelet's."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from digit_tui.health.model import classify_pod, slim_pod, verdict_due
from digit_tui.health.projection import page_decoders
from digit_tui.infra import kubewait
from digit_tui.infra.kube import Kube
from digit_tui.infra.podstate import NOT_READY_GRACE, PULL_GRACE, Kind, Verdict, judge, parse_time, since
from digit_tui.sandbox.runtime import start_sandbox
from tests.support import wait_until

Obj = dict[str, Any]
NS = "states"


@dataclass
class Captured:
    workload: Obj          # the Deployment, as the API returns it
    pod: Obj               # one version of its pod, as the watch delivered it
    events: list[Obj]      # the pod's events when that version was seen


def deployment(name: str, image: str = "egovio/egov-user:v1", memory: str = "64Mi", **container: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NS},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                         {"name": name, "image": image, "resources": {"requests": {"memory": memory}},
                          **container}]}}}}


def projected_pod(pod: Obj) -> Obj:
    """``pod`` as ``health --once`` decodes it from a list page."""
    return page_decoders()["pods"](json.dumps({"kind": "PodList", "items": [pod]}).encode())["items"][0]


def waiting_reason(pod: Obj) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or ():
        reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
        if reason:
            return str(reason)
    return ""


def unscheduled(pod: Obj) -> bool:
    return any(c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("message")
               for c in (pod.get("status") or {}).get("conditions") or ())


def running_not_ready(pod: Obj) -> bool:
    st = pod.get("status") or {}
    return st.get("phase") == "Running" and any(not c.get("ready") and "running" in (c.get("state") or {})
                                                for c in st.get("containerStatuses") or ())


# case -> (deployment, which version of its pod to keep, given the waiting reasons its pod showed before)
WANTED: dict[str, tuple[Obj, Callable[[Obj, set[str]], bool]]] = {
    "ErrImagePull": (deployment("bad-pull", image="egovio/does-not-exist:v1"),
                     lambda p, before: waiting_reason(p) == "ErrImagePull"),
    "ImagePullBackOff": (deployment("bad-image", image="egovio/does-not-exist:v2"),
                         lambda p, before: waiting_reason(p) == "ImagePullBackOff"),
    # The same pod's next failed pull, after the kubelet backed off: not a first failure any more.
    "ErrImagePull, retried": (deployment("bad-image", image="egovio/does-not-exist:v2"),
                              lambda p, before: waiting_reason(p) == "ErrImagePull" and "ImagePullBackOff" in before),
    "CrashLoopBackOff": (deployment("crashing", image="egovio/crashy:v1"),
                         lambda p, before: waiting_reason(p) == "CrashLoopBackOff"),
    "CreateContainerConfigError": (deployment("no-secret", env=[
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}]),
        lambda p, before: waiting_reason(p) == "CreateContainerConfigError"),
    "FailedScheduling": (deployment("too-big", memory="64Gi"), lambda p, before: unscheduled(p)),
    "NotReady": (deployment("slow-probe", readinessProbe={"httpGet": {"path": "/health", "port": 8080}}),
                 lambda p, before: running_not_ready(p)),
}


class Recorder:
    """Watches the namespace's pods and keeps, for each wanted case, the first version of its pod in
    that state with the pod's events as they stood then (read at once: at sandbox speed a state may
    last half a second, and the events that follow it would change the verdict)."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.pods = kube.resource("v1", "Pod")
        self.got: dict[str, tuple[Obj, list[Obj]]] = {}
        self.before: dict[str, set[str]] = {}            # app -> waiting reasons its pod showed so far
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.is_set():
            items, rv = self.kube.list(self.pods, NS)
            for obj in items:
                self.look(obj)
            for etype, obj in self.kube.watch(self.pods, NS, resource_version=rv, timeout_seconds=1):
                if etype == "ERROR" or self.stop.is_set():
                    break
                if etype in ("ADDED", "MODIFIED"):
                    self.look(obj)

    def look(self, pod: Obj) -> None:
        app = str((pod["metadata"].get("labels") or {}).get("app"))
        before = self.before.setdefault(app, set())
        for case, (obj, match) in WANTED.items():
            if case not in self.got and obj["metadata"]["name"] == app and match(pod, before):
                self.got[case] = (pod, self.kube.events_for(NS, "Pod", pod["metadata"]["name"]))
        if waiting_reason(pod):
            before.add(waiting_reason(pod))


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Captured]]:
    # Speed 2: every state lasts long enough to read the pod's events before the next one.
    h = start_sandbox(Path(tmp_path_factory.mktemp("podstate")), nodes=1, speed=2.0,
                      crash_rules=[{"image_pattern": "crashy", "exit_code": 3, "after": 0.5}])
    kube = Kube(h.kubeconfig_path, timeout=10)
    recorder = Recorder(kube)
    try:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        recorder.thread.start()
        for obj, _ in {o["metadata"]["name"]: (o, m) for o, m in WANTED.values()}.values():
            kube.apply(obj)
        wait_until(lambda: len(recorder.got) == len(WANTED), timeout=30,
                   what=f"every state (missing: {[c for c in WANTED if c not in recorder.got]})")
        out: dict[str, Captured] = {}
        for case, (obj, _) in WANTED.items():
            pod, events = recorder.got[case]
            name = obj["metadata"]["name"]
            out[case] = Captured(kube.get("apps/v1", "Deployment", name, NS) or obj, pod, events)
        yield out
    finally:
        recorder.stop.set()
        recorder.thread.join(5)
        kube.close()
        h.stop()


# case -> (verdict within the graces, verdict after them, the installer's category at its deadline)
EXPECTED = {
    "ErrImagePull": (Verdict.PROGRESSING, Verdict.FAULTY, kubewait.IMAGE),
    "ErrImagePull, retried": (Verdict.FAULTY, Verdict.FAULTY, kubewait.IMAGE),
    "ImagePullBackOff": (Verdict.FAULTY, Verdict.FAULTY, kubewait.IMAGE),
    "CrashLoopBackOff": (Verdict.FAULTY, Verdict.FAULTY, kubewait.CRASH),
    "CreateContainerConfigError": (Verdict.FAULTY, Verdict.FAULTY, kubewait.CONFIG),
    "FailedScheduling": (Verdict.FAULTY, Verdict.FAULTY, kubewait.UNSCHEDULABLE),
    "NotReady": (Verdict.PROGRESSING, Verdict.FAULTY, kubewait.PROGRESSING),
}


@pytest.mark.parametrize("case", list(EXPECTED))
def test_the_installer_and_the_dashboard_give_the_same_verdict_and_reason(captured: dict[str, Captured],
                                                                          case: str) -> None:
    c = captured[case]
    began = since(c.pod)
    assert began is not None, "the sandbox's pods say when they started"
    young, old = began + 1.0, began + NOT_READY_GRACE + 60
    for now, verdict in ((young, EXPECTED[case][0]), (old, EXPECTED[case][1])):
        # The installer's wait at its deadline (patience 0) and the dashboard, on the same objects.
        diag = kubewait.diagnose_pods(c.workload, [c.pod], events=lambda p: c.events, now=now)
        view = classify_pod(c.pod, c.events, now=now)
        assert diag.state is not None
        reason = case.partition(",")[0]
        assert (diag.state.verdict, diag.state.reason) == (verdict, reason), (now - began, diag)
        assert (view.verdict, view.cause) == (verdict.value, reason), (now - began, view)
        assert view.fault == (reason if verdict is Verdict.FAULTY else None)
        # The live dashboard keeps a slim copy of each pod, `health --once` a projected one: the same row.
        assert classify_pod(slim_pod(c.pod), c.events, now=now) == view
        projected = projected_pod(c.pod)
        assert classify_pod(projected, c.events, now=now) == view
        assert kubewait.diagnose_pods(c.workload, [projected], events=lambda p: c.events, now=now) == diag
    deadline = kubewait.diagnose_pods(c.workload, [c.pod], events=lambda p: c.events, now=old)
    assert deadline.kind == EXPECTED[case][2]
    assert deadline.permanent == (deadline.kind != kubewait.PROGRESSING)


def test_each_says_it_in_the_same_words(captured: dict[str, Captured]) -> None:
    def both(case: str) -> tuple[kubewait.Diagnosis, Any]:
        c = captured[case]
        now = (since(c.pod) or 0) + NOT_READY_GRACE + 60
        return (kubewait.diagnose_pods(c.workload, [c.pod], events=lambda p: c.events, now=now),
                classify_pod(c.pod, c.events, now=now))

    diag, view = both("FailedScheduling")
    assert view.reason and view.reason.startswith("0/1 nodes are available") and "Insufficient memory" in view.reason
    assert diag.message == f"Pending: {view.reason}"
    diag, view = both("CreateContainerConfigError")
    assert view.reason == 'secret "db" not found' and diag.message == f"secret db missing in namespace {NS}"
    diag, view = both("ImagePullBackOff")
    assert view.status == "ImagePullBackOff" and diag.message == "image egovio/does-not-exist:v2 cannot be pulled"
    diag, view = both("CrashLoopBackOff")
    assert view.reason == "last exit code 3 (Error)"
    assert diag.message.startswith("CrashLoopBackOff (pod crashing-") and "exit code 3, 1 restarts" in diag.message
    diag, view = both("NotReady")
    assert view.reason == "containers running but not ready" and view.status == "Running"
    assert diag.message.endswith("is running but container slow-probe is not ready (readiness probe not passing yet)")


def test_the_installer_keeps_waiting_on_an_early_crash_loop_and_says_so_in_the_same_words(
        captured: dict[str, Captured]) -> None:
    c = captured["CrashLoopBackOff"]
    patient = kubewait.diagnose_pods(c.workload, [c.pod], events=lambda p: c.events, crash_restarts=3)
    at_deadline = kubewait.diagnose_pods(c.workload, [c.pod], events=lambda p: c.events, crash_restarts=0)
    assert patient.kind == kubewait.PROGRESSING and at_deadline.kind == kubewait.CRASH
    assert patient.state == at_deadline.state and patient.state is not None and patient.state.faulty
    assert patient.message == at_deadline.message


def test_a_grace_ends_when_the_dashboard_is_told_to_look_again(captured: dict[str, Captured]) -> None:
    for case, grace in (("ErrImagePull", PULL_GRACE), ("NotReady", NOT_READY_GRACE)):
        pod = captured[case].pod
        began = since(pod) or 0
        assert verdict_due(pod, now=began + 1) == verdict_due(slim_pod(pod), now=began + 1) == began + grace
        assert verdict_due(projected_pod(pod), now=began + 1) == began + grace
        assert not classify_pod(pod, now=began + grace).faulty
        assert classify_pod(pod, now=began + grace + 0.001).fault == case
        assert verdict_due(pod, now=began + grace + 1) is None


# -- the rules on pods shaped like the kubelet's ----------------------------------------------------
T0 = "2024-01-01T00:00:00Z"
NOW = (parse_time(T0) or 0) + 3600


def pod(phase: str = "Running", *, statuses: list[Obj] | None = None, init: list[Obj] | None = None,
        **status: Any) -> Obj:
    return {"metadata": {"namespace": "egov", "name": "p", "creationTimestamp": T0},
            "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "egovio/app:1"}],
                     "initContainers": [{"name": "migrate", "image": "egovio/app-db:1"}]},
            "status": {"phase": phase, "startTime": T0, "containerStatuses": statuses or [],
                       "initContainerStatuses": init or [], **status}}


def cs(name: str = "app", *, ready: bool = False, restarts: int = 0, waiting: str | None = None,
       terminated: Obj | None = None, last: Obj | None = None) -> Obj:
    state: Obj = {"waiting": {"reason": waiting}} if waiting else {"terminated": terminated} if terminated \
        else {"running": {"startedAt": T0}}
    return {"name": name, "ready": ready, "restartCount": restarts, "state": state,
            "lastState": {"terminated": last} if last else {}}


def test_an_oom_killed_crash_loop_says_so() -> None:
    s = judge(pod(statuses=[cs(waiting="CrashLoopBackOff", restarts=5,
                               last={"exitCode": 137, "reason": "OOMKilled"})]), now=NOW)
    assert (s.verdict, s.kind, s.reason, s.exit_code, s.last_reason) == (Verdict.FAULTY, Kind.CRASH,
                                                                        "CrashLoopBackOff", 137, "OOMKilled")
    d = kubewait.diagnose_pods({"kind": "Pod"}, [pod(statuses=[cs(waiting="CrashLoopBackOff", restarts=5, last={
        "exitCode": 137, "reason": "OOMKilled"})])], now=NOW)
    assert "exit code 137 OOMKilled, 5 restarts" in d.message


def test_a_failing_init_container_is_named() -> None:
    looping = judge(pod("Pending", init=[cs("migrate", waiting="CrashLoopBackOff", restarts=2,
                                            last={"exitCode": 1, "reason": "Error"})],
                        statuses=[cs(waiting="PodInitializing")]), now=NOW)
    assert (looping.verdict, looping.reason, looping.container, looping.init) == (Verdict.FAULTY, "CrashLoopBackOff",
                                                                                 "migrate", True)
    failed = judge(pod("Failed", init=[cs("migrate", terminated={"exitCode": 2, "reason": "Error"})],
                       statuses=[cs(waiting="PodInitializing")]), now=NOW)
    assert (failed.verdict, failed.kind, failed.reason, failed.container, failed.exit_code) == (
        Verdict.FAULTY, Kind.FAILED, "Init:Error", "migrate", 2)
    pulling = judge(pod("Pending", init=[cs("migrate", waiting="ImagePullBackOff")]), now=NOW)
    assert (pulling.reason, pulling.image) == ("ImagePullBackOff", "egovio/app-db:1")


def test_evicted_and_oom_killed_pods_are_faulty() -> None:
    evicted = judge(pod("Failed", reason="Evicted", message="The node was low on resource: memory."), now=NOW)
    assert (evicted.verdict, evicted.reason, evicted.message) == (Verdict.FAULTY, "Evicted",
                                                                 "The node was low on resource: memory.")
    oom = judge(pod("Failed", statuses=[cs(terminated={"exitCode": 137, "reason": "OOMKilled"})]), now=NOW)
    assert (oom.verdict, oom.reason) == (Verdict.FAULTY, "OOMKilled")
    # The installer names it and keeps waiting: the controller replaces a failed pod.
    d = kubewait.diagnose_pods({"kind": "Pod"}, [pod("Failed", reason="Evicted", message="low on memory")], now=NOW)
    assert d.kind == kubewait.PROGRESSING and d.message == "pod p failed: Evicted: low on memory"


def test_ready_starting_finished_and_terminating_pods() -> None:
    assert judge(pod(statuses=[cs(ready=True)]), now=NOW).verdict is Verdict.READY
    assert judge(pod("Succeeded", statuses=[cs(terminated={"exitCode": 0, "reason": "Completed"})]),
                 now=NOW).verdict is Verdict.READY
    creating = judge(pod("Pending", statuses=[cs(waiting="ContainerCreating")]), now=NOW)
    assert (creating.verdict, creating.reason) == (Verdict.PROGRESSING, "ContainerCreating")
    gone = pod(statuses=[cs(waiting="CrashLoopBackOff")])
    gone["metadata"]["deletionTimestamp"] = T0
    assert (judge(gone, now=NOW).verdict, judge(gone, now=NOW).reason) == (Verdict.PROGRESSING, "Terminating")


def test_not_ready_counts_from_when_the_containers_stopped_being_ready() -> None:
    """A pod ready for days whose probe failed a minute ago is not yet a fault."""
    flipped = (parse_time(T0) or 0) + 3000
    p = pod(statuses=[cs(restarts=0)], conditions=[
        {"type": "ContainersReady", "status": "False", "lastTransitionTime": "2024-01-01T00:50:00Z"}])
    s = judge(p, [{"reason": "Unhealthy", "message": "Readiness probe failed: 503"}], now=flipped + 60)
    assert (s.verdict, s.reason, s.message, s.since) == (Verdict.PROGRESSING, "NotReady",
                                                         "Readiness probe failed: 503", flipped)
    assert s.due == flipped + NOT_READY_GRACE and s.lasted(flipped + 60) == 60
    assert judge(p, now=flipped + NOT_READY_GRACE + 1).verdict is Verdict.FAULTY


def test_events_are_read_only_when_the_status_lacks_the_words() -> None:
    asked: list[int] = []

    def events() -> list[Obj]:
        asked.append(1)
        return [{"reason": "FailedScheduling", "message": "0/3 nodes are available: 3 Insufficient cpu."}]

    bare = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app"}]}, "status": {"phase": "Pending"}}
    told = {**bare, "status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available: 3 Insufficient memory."}]}}
    assert judge(told, events, now=NOW).message.endswith("Insufficient memory.") and not asked
    assert judge(bare, events, now=NOW).message.endswith("Insufficient cpu.") and asked
    assert judge(bare, (), now=NOW).reason == "Pending"   # not tried by the scheduler yet


def test_api_timestamps() -> None:
    assert parse_time("2024-01-01T00:00:00Z") == 1704067200.0
    assert parse_time("2024-01-01T00:00:00.250000Z") == 1704067200.25
    assert parse_time("2024-01-01T01:00:00+01:00") == 1704067200.0
    assert parse_time("2024-01-01T00:00:00") == 1704067200.0      # no zone: the API means UTC
    assert parse_time("yesterday") is None and parse_time(None) is None and parse_time("") is None
