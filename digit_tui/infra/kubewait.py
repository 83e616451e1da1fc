"""Wait for workloads to become ready, and say in one line why one is not.

``readiness(obj)`` judges a Deployment, StatefulSet, DaemonSet or Job from its
status alone (cheap: a task's ``check`` uses it). ``wait_ready`` watches each
workload until it is ready or a deadline passes; while it waits it looks at the
pods now and then, and stops early when they show a condition that waiting
cannot fix (an image that cannot be pulled, a missing Secret, an unschedulable
pod, a crash loop). ``diagnose`` turns the pods and events of a workload into
one line an operator can act on: never just "timed out". What a pod's state
means (progressing or faulty, and why) is ``infra.podstate``'s, the same rules
the dashboard and ``health`` show; this module words it and decides whether
waiting longer may help.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from digit_tui.infra.failures import broken_stream
from digit_tui.infra.podstate import Kind, PodState, judge

if TYPE_CHECKING:
    from digit_tui.infra.kube import Kube

Obj = dict[str, Any]

WORKLOAD_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet", "Job")

# Categories of a diagnosis; all but PROGRESSING mean waiting longer will not help. What the operator
# does about each is worded above infra, in the operator's terms (tasks/waitremedy.py).
IMAGE = "image"
CONFIG = "config"
UNSCHEDULABLE = "unschedulable"
CRASH = "crash"
JOB_FAILED = "job-failed"
PROGRESSING = "progressing"
PERMANENT_KINDS = frozenset({IMAGE, CONFIG, UNSCHEDULABLE, CRASH, JOB_FAILED})

@dataclass(frozen=True)
class Workload:
    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @classmethod
    def of(cls, obj: Obj) -> Workload:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("apiVersion", "")), str(obj.get("kind", "")), str(meta.get("namespace") or ""),
                   str(meta.get("name", "")))


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str                   # "2/3 ready", "complete", "waiting for the controller"
    failed: str | None = None     # a terminal failure seen in the status itself (a Job that failed)


@dataclass(frozen=True)
class Diagnosis:
    kind: str                     # IMAGE, CONFIG, UNSCHEDULABLE, CRASH, JOB_FAILED, PROGRESSING
    message: str
    state: PodState | None = None   # the pod's state it words (infra.podstate), when it is about one pod

    @property
    def permanent(self) -> bool:
        return self.kind in PERMANENT_KINDS


class NotReady(Exception):
    """A workload did not become ready: ``diagnosis`` says why."""

    def __init__(self, workload: Workload, diagnosis: Diagnosis, waited: float) -> None:
        self.workload = workload
        self.diagnosis = diagnosis
        self.waited = waited
        super().__init__(f"{workload}: {diagnosis.message}")


def is_workload(obj: Obj) -> bool:
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return obj.get("kind") in WORKLOAD_KINDS and group in ("apps", "batch")


# -- readiness from status ----------------------------------------------------

def readiness(obj: Obj) -> Readiness:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    if kind == "Job":
        for cond in status.get("conditions") or []:
            if cond.get("status") == "True" and cond.get("type") == "Failed":
                return Readiness(False, "failed", failed=f"job failed: {cond.get('reason', '')} "
                                                          f"{cond.get('message', '')}".strip())
            if cond.get("status") == "True" and cond.get("type") == "Complete":
                return Readiness(True, "complete")
        want = int(spec.get("completions") or 1)
        done = int(status.get("succeeded") or 0)
        return Readiness(done >= want, f"{done}/{want} completed")
    if generation and observed < generation:
        return Readiness(False, "waiting for the controller to see the new spec")
    if kind == "DaemonSet":
        desired = int(status.get("desiredNumberScheduled") or 0)
        ready = int(status.get("numberReady") or 0)
        updated = int(status.get("updatedNumberScheduled") or 0)
        return Readiness(ready >= desired and updated >= desired, f"{ready}/{desired} ready")
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    if kind == "Deployment":
        available = int(status.get("availableReplicas") or 0)
        total = int(status.get("replicas") or 0)
        ok = updated >= want and available >= want and ready >= want and total <= want
        return Readiness(ok, f"{min(ready, want)}/{want} ready" + ("" if total <= want else f", {total - want} old"))
    if kind == "StatefulSet":
        rolled = status.get("currentRevision") == status.get("updateRevision") or updated >= want
        return Readiness(ready >= want and rolled, f"{min(ready, want)}/{want} ready")
    return Readiness(True, "not a workload")


# -- diagnosis from pods and events ---------------------------------------------

_NOT_FOUND = re.compile(r'(secret|configmap)s? "([^"]+)" not found', re.I)
_NO_KEY = re.compile(r"couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)/(\S+)", re.I)


def _selector(obj: Obj) -> str | None:
    sel = (obj.get("spec") or {}).get("selector") or {}
    labels = sel.get("matchLabels") if isinstance(sel, dict) else None
    parts = [f"{k}={v}" for k, v in sorted((labels or {}).items())]
    for expr in (sel.get("matchExpressions") or []) if isinstance(sel, dict) else []:
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    if obj.get("kind") == "Job" and not parts:
        uid = (obj.get("metadata") or {}).get("uid")
        return f"controller-uid={uid}" if uid else None
    return ",".join(parts) or None


def _first_line(text: str, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _config_problem(message: str, namespace: str) -> str:
    m = _NOT_FOUND.search(message)
    if m:
        what = "secret" if m.group(1).lower() == "secret" else "configmap"
        return f"{what} {m.group(2)} missing in namespace {namespace}"
    m = _NO_KEY.search(message)
    if m:
        return f"key {m.group(1)} missing in {m.group(2).lower()} {m.group(4)} in namespace {m.group(3)}"
    return f"container configuration error: {_first_line(message)}"


def diagnose_pods(workload: Obj, pods: Sequence[Obj], *, logs: Callable[[Obj, str, bool], str] | None = None,
                  events: Callable[[Obj], list[Obj]] | None = None, crash_restarts: int = 0,
                  now: float | None = None) -> Diagnosis:
    """Why ``workload`` is not ready, from its ``pods`` (plain API objects).

    ``logs(pod, container, previous)`` returns the last lines of a container's log;
    ``events(pod)`` a pod's events (read only when its status lacks the words). Both
    are optional so the rules can be tested on hand-written objects. A crash counts
    as permanent once a container restarted at least ``crash_restarts`` times and is
    in CrashLoopBackOff. ``now`` (epoch seconds) is when the graces are judged.
    """
    ns = str((workload.get("metadata") or {}).get("namespace") or "")
    ready = readiness(workload)
    if ready.failed:
        tail = ""
        failed_pods = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        if failed_pods and logs is not None:
            pod = failed_pods[-1]
            containers = (pod.get("spec") or {}).get("containers") or [{}]
            tail = _log_tail(logs, pod, str(containers[0].get("name", "")))
        return Diagnosis(JOB_FAILED, ready.failed + (f", last log lines: {tail}" if tail else ""))
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    if not live:
        return Diagnosis(PROGRESSING, f"no pods yet ({ready.detail})")
    # Look at the most telling problem across pods, in order of what blocks earliest.
    found: list[tuple[int, Diagnosis]] = []
    for pod in live:
        d = _diagnose_pod(pod, ns, logs=logs, events=events, crash_restarts=crash_restarts, now=now)
        if d is not None:
            found.append(d)
    if found:
        found.sort(key=lambda x: x[0])
        return found[0][1]
    return Diagnosis(PROGRESSING, f"{ready.detail}; pods are starting")


def _diagnose_pod(pod: Obj, ns: str, *, logs: Callable[[Obj, str, bool], str] | None,
                  events: Callable[[Obj], list[Obj]] | None, crash_restarts: int,
                  now: float | None) -> tuple[int, Diagnosis] | None:
    """The pod's state (``infra.podstate``, the dashboard's rules too) in the installer's words, with
    its rank: what blocks earliest comes first. Whether waiting may still help is the installer's
    patience: a crash loop counts as permanent after ``crash_restarts`` restarts, a pod not ready
    (even past its grace) is waited for until the deadline."""
    name = (pod.get("metadata") or {}).get("name", "")
    state = judge(pod, (lambda: events(pod)) if events is not None else (), now=now)
    if state.kind is Kind.IMAGE:
        # A first failed pull may heal (progressing within its grace); the kubelet's back-off means it retried.
        return 0, Diagnosis(IMAGE if state.faulty else PROGRESSING, f"image {state.image or '?'} cannot be pulled",
                            state)
    if state.kind is Kind.CONFIG:
        return 1, Diagnosis(CONFIG, _config_problem(state.message, ns), state)
    if state.kind is Kind.UNSCHEDULABLE:
        return 2, Diagnosis(UNSCHEDULABLE, f"Pending: {_first_line(state.message) or 'the scheduler found no node'}",
                            state)
    if state.kind is Kind.CRASH or (state.kind is Kind.NOT_READY and state.restarts > 0):
        tail = _log_tail(logs, pod, state.container, previous=True)
        code = state.exit_code
        exited = "" if code is None else f"exit code {code}{' OOMKilled' if state.last_reason == 'OOMKilled' else ''}, "
        head = ("CrashLoopBackOff" if state.kind is Kind.CRASH else "restarting") + \
            f" (pod {name}, {exited}{state.restarts} restarts)"
        kind = CRASH if state.kind is Kind.CRASH and state.restarts >= crash_restarts else PROGRESSING
        return 3, Diagnosis(kind, head + (f", last log lines: {tail}" if tail else ""), state)
    if state.kind is Kind.NOT_READY:
        text = f"pod {name} is running but container {', '.join(state.not_ready)} is not ready"
        return 4, Diagnosis(PROGRESSING, text + (f": {_first_line(state.message)}" if state.message else
                                                 " (readiness probe not passing yet)"), state)
    if state.kind is Kind.STARTING and state.reason != "Terminating":
        return 5, Diagnosis(PROGRESSING, f"pod {name} is {state.reason}", state)
    if state.kind is Kind.FAILED:
        # The controller replaces a failed pod (an eviction, say): worth naming, not worth giving up on.
        return 6, Diagnosis(PROGRESSING, f"pod {name} failed: {state.reason}" +
                            (f": {_first_line(state.message)}" if state.message else ""), state)
    return None


def _log_tail(logs: Callable[[Obj, str, bool], str] | None, pod: Obj, container: str, *, previous: bool = False,
              lines: int = 3) -> str:
    if logs is None:
        return ""
    try:
        text = logs(pod, container, previous)
    except Exception:  # logs are a nicety: a diagnosis without them is still a diagnosis
        return ""
    tail = [ln.strip() for ln in text.strip().splitlines() if ln.strip()][-lines:]
    return _first_line(" | ".join(tail), 300)


def diagnose(kube: Kube, workload: Obj, *, crash_restarts: int = 0) -> Diagnosis:
    """Read the workload's pods (and their events and logs) and explain in one line."""
    ns = str((workload.get("metadata") or {}).get("namespace") or "")
    selector = _selector(workload)
    pods: list[Obj] = []
    if selector:
        pods, _ = kube.list(kube.resource("v1", "Pod"), ns, label_selector=selector)
    if not pods and workload.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        # No pods at all: the controller may have refused to create them (quota, admission).
        problem = _workload_event_problem(kube, workload)
        if problem:
            return Diagnosis(CONFIG if "secret" in problem or "configmap" in problem else UNSCHEDULABLE, problem)

    def logs(pod: Obj, container: str, previous: bool) -> str:
        meta = pod.get("metadata") or {}
        return kube.pod_log(str(meta.get("namespace", ns)), str(meta.get("name", "")), container, tail_lines=5,
                            previous=previous)

    def events(pod: Obj) -> list[Obj]:
        meta = pod.get("metadata") or {}
        return kube.events_for(str(meta.get("namespace", ns)), "Pod", str(meta.get("name", "")))

    return diagnose_pods(workload, pods, logs=logs, events=events, crash_restarts=crash_restarts)


def _workload_event_problem(kube: Kube, workload: Obj) -> str:
    meta = workload.get("metadata") or {}
    try:
        evs = kube.events_for(str(meta.get("namespace", "")), str(workload.get("kind", "")), str(meta.get("name", "")))
    except Exception:
        return ""
    for ev in reversed(evs):
        if ev.get("type") == "Warning" and ev.get("reason") in ("FailedCreate", "FailedCreatePodSandBox"):
            return f"{ev.get('reason')}: {_first_line(ev.get('message', ''))}"
    return ""


# -- waiting ------------------------------------------------------------------

@dataclass
class WaitPolicy:
    deadline: float = 600.0          # seconds for all workloads of one service
    probe_every: float = 2.0         # how often the pods are looked at while a workload is not ready
    grace: float = 10.0              # a permanent-looking condition must last this long before we give up
    crash_restarts: int = 3          # restarts in CrashLoopBackOff before a crash counts as permanent
    watch_timeout: int = 2           # seconds per watch request (bounds how late a stop is noticed)


def wait_ready(kube: Kube, workloads: Sequence[Workload], policy: WaitPolicy | None = None, *,
               stop: threading.Event | None = None, progress: Callable[[str], None] | None = None) -> None:
    """Block until every workload is ready; NotReady (with a diagnosis) otherwise.

    ``progress`` hears each change of the readiness ("0/1 ready") and, while a workload is not
    ready at a probe, each change of its diagnosis ("pod … is ContainerCreating"): a wait of
    minutes says what it is waiting on, not only that it waits.

    API errors other than a broken or expired watch propagate (the caller
    classifies them); ``stop`` ends the wait early with NotReady("stopped").
    """
    policy = policy or WaitPolicy()
    start = time.monotonic()
    deadline = start + policy.deadline
    for wl in workloads:
        _wait_one(kube, wl, policy, start, deadline, stop, progress)


def _wait_one(kube: Kube, wl: Workload, policy: WaitPolicy, start: float, deadline: float,
              stop: threading.Event | None, progress: Callable[[str], None] | None) -> None:
    rtype = kube.resource(wl.api_version, wl.kind)
    field = f"metadata.name={wl.name}"
    suspect: tuple[str, float] | None = None        # (message, first seen) of a permanent-looking problem
    next_probe = time.monotonic() + policy.probe_every
    last_detail = ""
    last_said = ""      # the last diagnosis reported: a long wait says what it waits on, once per change
    while True:
        items, rv = kube.list(rtype, wl.namespace, field_selector=field)
        obj = items[0] if items else None
        while True:
            if obj is not None:
                state = readiness(obj)
                if state.ready:
                    if progress is not None:
                        progress(f"{wl} ready ({state.detail})")
                    return
                if state.detail != last_detail and progress is not None:
                    progress(f"{wl}: {state.detail}")
                    last_detail = state.detail
            now = time.monotonic()
            if stop is not None and stop.is_set():
                raise NotReady(wl, Diagnosis(PROGRESSING, "stopped before it was ready"), now - start)
            if now >= deadline:
                diag = diagnose(kube, obj, crash_restarts=0) if obj is not None else \
                    Diagnosis(PROGRESSING, "the object disappeared")
                if diag.kind == PROGRESSING:
                    diag = Diagnosis(PROGRESSING, f"not ready after {policy.deadline:g} s: {diag.message}")
                raise NotReady(wl, diag, now - start)
            if obj is not None and (now >= next_probe or readiness(obj).failed):
                next_probe = now + policy.probe_every
                diag = diagnose(kube, obj, crash_restarts=policy.crash_restarts)
                if diag.permanent:
                    immediate = diag.kind in (IMAGE, JOB_FAILED, CRASH)  # the kubelet already retried these
                    if suspect is None or suspect[0] != diag.message:
                        suspect = (diag.message, now)
                    if immediate or now - suspect[1] >= policy.grace:
                        raise NotReady(wl, diag, now - start)
                else:
                    suspect = None
                if diag.message != last_said and progress is not None:
                    progress(f"{wl}: {diag.message}")
                    last_said = diag.message
            timeout = int(max(1, min(policy.watch_timeout, deadline - now + 1)))
            expired = False
            try:
                for etype, eobj in kube.watch(rtype, wl.namespace, resource_version=rv, field_selector=field,
                                              timeout_seconds=timeout):
                    if etype == "ERROR":
                        expired = True
                        break
                    rv = str((eobj.get("metadata") or {}).get("resourceVersion") or rv)
                    if etype == "BOOKMARK":
                        continue
                    obj = None if etype == "DELETED" else eobj
                    if obj is not None and readiness(obj).ready:
                        break
            except Exception as exc:
                if not _watch_broke(exc):
                    raise
                expired = True  # a broken stream: list again and carry on
            if expired:
                break


def _watch_broke(exc: BaseException) -> bool:
    """A stream cut mid-way, silent past its read timeout, or expired (410): list again. If the
    cluster is really gone, that list fails within its own timeout and says so."""
    return broken_stream(exc) or getattr(exc, "status", None) == 410
