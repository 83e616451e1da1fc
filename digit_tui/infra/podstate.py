"""What a pod's state means: progressing, ready or faulty, why, and since when.

One rule set for every reader of pods, so that the installer's readiness wait
(``infra.kubewait``) and the dashboard and ``health --once`` (``health.model``)
say the same thing about the same pod. ``judge(pod, events, now=...)`` reads a
pod as the API returns it (a plain dict) and the events about it (oldest
first), and returns a ``PodState``. Callers decide what to do about it (the
installer may keep waiting on a faulty pod until its deadline, a dashboard
shows it in red) and word it for their reader, from the same fields.

The rules, in the order they are tried:

1. Being deleted: progressing (``Terminating``).
2. A container (init containers first) waiting for a reason that needs an
   operator: the image (``ImagePullBackOff``, ``InvalidImageName``,
   ``ErrImageNeverPull``, ``ErrImagePull``), its configuration
   (``CreateContainerConfigError``: a missing Secret/ConfigMap or key,
   ``CreateContainerError``, ``RunContainerError``), or a crash loop
   (``CrashLoopBackOff``, with the last exit code and reason, e.g.
   ``OOMKilled``): faulty. ``ErrImagePull`` is progressing for
   ``PULL_GRACE`` seconds, unless the pod's events say the kubelet already
   backed off pulling (``Error: ImagePullBackOff``): a first failed pull may
   be a registry hiccup the next try heals; a retried one is not.
3. Pending and not bound to a node while the scheduler says it found none
   (``PodScheduled=False`` or a ``FailedScheduling`` event): faulty
   ``FailedScheduling``, with the scheduler's message.
4. Failed: faulty, with the pod's reason (``Evicted``...), else the failed
   container's (``Init:Error``, ``OOMKilled``, ``Error``).
5. Pending otherwise (pulling, creating, init containers running):
   progressing, with the kubelet's waiting reason (``ContainerCreating``,
   ``PodInitializing``).
6. Running with an app container not ready: ``NotReady``, progressing for
   ``NOT_READY_GRACE`` seconds (start-up, readiness probes), then faulty,
   with the newest probe failure (``Unhealthy``/``BackOff`` event).
7. Running and ready, or Succeeded: ready.

"Since" is when the pod's containers stopped being ready (the
``ContainersReady`` condition's transition), else when it started
(``status.startTime``), else when it was created; a pod that says none of
these is taken as having just started. A grace counts from there, and
``due`` says when a verdict will change with nothing changing in the API.

Nothing here talks to a cluster or knows DIGIT.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Any, NamedTuple

Obj = Mapping[str, Any]
Events = Sequence[Obj] | Callable[[], Sequence[Obj]]

# A failed pull may heal on the kubelet's next try (its first image back-off is 10 s).
PULL_GRACE = 10.0
# A running pod that is not ready this long is a fault, not a start-up.
NOT_READY_GRACE = 120.0

IMAGE_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
CONFIG_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
CRASH_REASONS = ("CrashLoopBackOff",)
GRACE: dict[str, float] = {"ErrImagePull": PULL_GRACE, "NotReady": NOT_READY_GRACE}


class Verdict(StrEnum):
    PROGRESSING = "progressing"
    READY = "ready"
    FAULTY = "faulty"


class Kind(StrEnum):
    """What the state is about: which remedy fits."""

    IMAGE = "image"
    CONFIG = "config"
    UNSCHEDULABLE = "unschedulable"
    CRASH = "crash"
    FAILED = "failed"
    NOT_READY = "not-ready"
    STARTING = "starting"
    OK = "ok"


class PodState(NamedTuple):
    """Immutable; a tuple, not a frozen dataclass, because a dashboard makes thousands a second and a
    frozen dataclass is five times slower to build."""

    verdict: Verdict
    kind: Kind
    reason: str                   # ErrImagePull, CrashLoopBackOff, FailedScheduling, NotReady, Evicted, Running...
    status: str                   # the pod's STATUS as a listing shows it: the reason, or the phase
    message: str = ""             # the kubelet's or the scheduler's words, as they wrote them
    container: str = ""           # the container the reason is about
    image: str = ""
    init: bool = False            # ... an init container
    restarts: int = 0             # ... its restarts
    exit_code: int | None = None  # ... its last termination
    last_reason: str = ""         # ... and that termination's reason (Error, OOMKilled)
    not_ready: tuple[str, ...] = ()   # app containers not ready (NotReady)
    since: float | None = None    # epoch seconds: since when the pod is so, as far as the API tells (not ready)
    due: float | None = None      # epoch seconds: when the verdict changes by time alone (a grace ends)

    @property
    def faulty(self) -> bool:
        return self.verdict is Verdict.FAULTY

    def lasted(self, now: float) -> float | None:
        """Seconds the pod has been so, when the API tells (None for a ready pod)."""
        return None if self.since is None else max(0.0, now - self.since)


def parse_time(value: str | None) -> float | None:
    """An API timestamp (RFC 3339, ``...Z`` or with fractions/offset) as epoch seconds; None when
    absent or not one."""
    if not value:
        return None
    try:
        stamp = datetime.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.timezone.utc)
    return stamp.timestamp()


def since(pod: Obj) -> float | None:
    """When the pod's containers stopped being ready, else started, else was created."""
    st = pod.get("status") or {}
    for c in st.get("conditions") or ():
        if c.get("type") == "ContainersReady" and c.get("status") == "False":
            when = parse_time(c.get("lastTransitionTime"))
            if when is not None:
                return when
    return parse_time(st.get("startTime")) or parse_time((pod.get("metadata") or {}).get("creationTimestamp"))


def _graced(reason: str, began: float | None, now: float) -> tuple[Verdict, float | None]:
    """Progressing while the reason's grace runs (with when it ends), faulty after."""
    grace = GRACE.get(reason, 0.0)
    if grace <= 0:
        return Verdict.FAULTY, None
    due = (now if began is None else began) + grace
    return (Verdict.FAULTY, None) if now > due else (Verdict.PROGRESSING, due)


class _LazyEvents:
    """Events are read only when the pod's own status lacks the words (the installer fetches
    them per pod from the API)."""

    def __init__(self, events: Events) -> None:
        self._source = events
        self._got: Sequence[Obj] | None = None if callable(events) else events

    def _all(self) -> Sequence[Obj]:
        if self._got is None:
            assert callable(self._source)
            self._got = self._source()
        return self._got

    def newest(self, reasons: tuple[str, ...]) -> str:
        return next((str(e.get("message") or "") for e in reversed(self._all()) if e.get("reason") in reasons), "")

    def any(self, reason: str) -> bool:
        return any(e.get("reason") == reason for e in self._all())

    def pull_backed_off(self) -> bool:
        """The kubelet has backed off pulling an image of this pod before. Its warning, not its
        "BackOff" (a Normal event): a dashboard that watches warnings only sees it too."""
        return any(e.get("reason") == "Failed" and e.get("message") == "Error: ImagePullBackOff"
                   for e in self._all())


_KIND_OF: dict[str, Kind] = {**{r: Kind.IMAGE for r in IMAGE_REASONS}, **{r: Kind.CONFIG for r in CONFIG_REASONS},
                             **{r: Kind.CRASH for r in CRASH_REASONS}}


def judge(pod: Obj, events: Events = (), *, now: float | None = None) -> PodState:
    """What ``pod``'s state means (see the module's rules). ``events``: about this pod, oldest
    first, or a function returning them (called only when needed)."""
    now = time.time() if now is None else now
    meta, spec, st = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    phase = st.get("phase") or "Pending"
    if meta.get("deletionTimestamp"):
        return PodState(Verdict.PROGRESSING, Kind.STARTING, "Terminating", "Terminating", since=since(pod))

    inits = st.get("initContainerStatuses") or ()
    apps = st.get("containerStatuses") or ()
    first_waiting = ""
    for init, group in ((True, inits), (False, apps)):
        for cs in group:
            waiting = (cs.get("state") or {}).get("waiting")
            if not waiting:
                continue
            reason = waiting.get("reason") or ""
            kind = _KIND_OF.get(reason)
            if kind is None:
                first_waiting = first_waiting or reason
                continue
            began = since(pod)
            verdict, due = _graced(reason, began, now)
            if verdict is Verdict.PROGRESSING and reason == "ErrImagePull" and _LazyEvents(events).pull_backed_off():
                verdict, due = Verdict.FAULTY, None     # not a first failure: the kubelet retried, in vain
            last = (cs.get("lastState") or {}).get("terminated") or {}
            return PodState(verdict, kind, reason, reason, str(waiting.get("message") or ""),
                            container=str(cs.get("name") or ""), image=_image(pod, cs), init=init,
                            restarts=int(cs.get("restartCount") or 0), exit_code=last.get("exitCode"),
                            last_reason=str(last.get("reason") or ""), since=began, due=due)

    if phase == "Running":
        names = [c.get("name") for c in spec.get("containers") or ()]
        ready = {c.get("name") for c in apps if c.get("ready")}
        if all(n in ready for n in names):
            return _RUNNING
        unready = tuple(str(n or "") for n in names if n not in ready)
        began = since(pod)
        verdict, due = _graced("NotReady", began, now)
        # A container that restarted says more than one still starting.
        worst: Obj = next((c for c in apps if not c.get("ready") and int(c.get("restartCount") or 0) > 0), {})
        last = (worst.get("lastState") or {}).get("terminated") or {}
        probe = _LazyEvents(events).newest(("Unhealthy", "BackOff"))
        return PodState(verdict, Kind.NOT_READY, "NotReady", "Running", probe,
                        container=str(worst.get("name") or unready[0]), restarts=int(worst.get("restartCount") or 0),
                        exit_code=last.get("exitCode"), last_reason=str(last.get("reason") or ""),
                        not_ready=unready, since=began, due=due)

    if phase == "Pending" and not spec.get("nodeName"):
        lazy = _LazyEvents(events)
        sched: Obj = next((c for c in st.get("conditions") or () if c.get("type") == "PodScheduled"), {})
        refused = sched.get("status") == "False"
        message = str(sched.get("message") or "") if refused else ""
        if not message:
            message = lazy.newest(("FailedScheduling",))
        if refused or message or lazy.any("FailedScheduling"):
            return PodState(Verdict.FAULTY, Kind.UNSCHEDULABLE, "FailedScheduling", "Pending", message,
                            since=parse_time(sched.get("lastTransitionTime")) or since(pod))

    if phase == "Failed":
        failed: tuple[bool, Obj] = next(((init, cs) for init, group in ((True, inits), (False, apps)) for cs in group
                       if ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") not in (0, None)),
                      (False, {}))
        term = (failed[1].get("state") or {}).get("terminated") or {}
        reason = str(st.get("reason") or "")
        message = str(st.get("message") or "")
        if not reason and term:
            reason = ("Init:" if failed[0] else "") + str(term.get("reason") or "Error")
            message = message or str(term.get("message") or "")
        reason = reason or "Failed"
        return PodState(Verdict.FAULTY, Kind.FAILED, reason, reason, message,
                        container=str(failed[1].get("name") or ""), init=failed[0], exit_code=term.get("exitCode"),
                        last_reason=str(term.get("reason") or ""), since=since(pod))

    if phase == "Pending":
        reason = first_waiting or "Pending"
        return PodState(Verdict.PROGRESSING, Kind.STARTING, reason, reason, since=since(pod))
    if phase == "Succeeded":
        return _SUCCEEDED
    return PodState(Verdict.PROGRESSING, Kind.STARTING, str(phase), str(phase), since=since(pod))


# A ready pod's state says nothing about it but that: one shared value (a dashboard judges thousands).
_RUNNING = PodState(Verdict.READY, Kind.OK, "Running", "Running")
_SUCCEEDED = PodState(Verdict.READY, Kind.OK, "Succeeded", "Succeeded")


def due(pod: Obj, *, now: float | None = None) -> float | None:
    """``judge(pod).due`` without judging a pod no grace can apply to (most of them: a live view
    asks this of every pod that changes)."""
    st = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return None
    graced = st.get("phase") == "Running" and (
        sum(1 for c in st.get("containerStatuses") or () if c.get("ready"))
        < len((pod.get("spec") or {}).get("containers") or ()))
    if not graced:
        graced = any(((c.get("state") or {}).get("waiting") or {}).get("reason") in GRACE
                     for group in ("initContainerStatuses", "containerStatuses") for c in st.get(group) or ())
    return judge(pod, (), now=now).due if graced else None


def _image(pod: Obj, cs: Obj) -> str:
    spec = pod.get("spec") or {}
    name = cs.get("name")
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if c.get("name") == name and c.get("image"):
            return str(c["image"])
    return str(cs.get("image") or "")
