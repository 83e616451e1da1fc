"""Pure health model: classify pods, summarise workloads, from plain API objects (dicts).

Nothing here talks to a cluster; ``Snapshot`` is what the watcher keeps and
what ``digit-tui health --once --json`` prints.
"""

from __future__ import annotations

import calendar
import datetime
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# Waiting reasons that mean "this will not fix itself without an operator".
IMAGE_FAULTS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
CONFIG_FAULTS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
CRASH_FAULTS = ("CrashLoopBackOff",)
# A running pod that is not ready this long is a fault, not a start-up.
NOT_READY_GRACE = 120.0

_EPOCH = datetime.datetime(1970, 1, 1)

KINDS = ("pods", "deployments", "statefulsets", "jobs", "pvcs", "nodes", "events")


_STAMP = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)")


def parse_time(value: str | None) -> float | None:
    """RFC 3339 (as the API writes it) to epoch seconds."""
    if not value:
        return None
    # The API's own format without strptime (a live view parses thousands of these); anything else
    # goes through strptime as before.
    m = _STAMP.match(value)
    if m:
        try:
            return (datetime.datetime(*map(int, m.groups())) - _EPOCH).total_seconds()
        except ValueError:
            pass
    try:
        return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def age(seconds: float | None) -> str:
    """Short relative age like kubectl: 45s, 12m, 3h, 4d."""
    if seconds is None:
        return "–"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    if s < 172800:
        return f"{s // 3600}h"
    return f"{s // 86400}d"


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def key_of(obj: Mapping[str, Any]) -> str:
    m = _meta(obj)
    return f"{m.get('namespace') or ''}/{m.get('name') or ''}"


@dataclass
class PodView:
    """One row of the pod dashboard."""

    key: str
    namespace: str
    name: str
    ready: str
    status: str
    restarts: int
    created: float | None
    node: str
    fault: str | None = None        # short fault class, None when healthy
    reason: str | None = None       # one line shown under the row (scheduler / kubelet message)

    @property
    def faulty(self) -> bool:
        return self.fault is not None


def _container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    st = pod.get("status") or {}
    return list(st.get("initContainerStatuses") or []) + list(st.get("containerStatuses") or [])


def classify_pod(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]] = (), *,
                 now: float | None = None) -> PodView:
    """Turn a pod (and the events about it, oldest first) into a dashboard row with its fault."""
    now = time.time() if now is None else now
    m, spec, st = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    containers = list(spec.get("containers") or [])
    statuses = list(st.get("containerStatuses") or [])
    ready_n = sum(1 for c in statuses if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in _container_statuses(pod))
    phase = st.get("phase") or "Pending"
    status, fault, reason = phase, None, None
    created = parse_time(m.get("creationTimestamp"))

    for c in _container_statuses(pod):
        state = c.get("state") or {}
        waiting = state.get("waiting") or {}
        w = waiting.get("reason")
        if w in IMAGE_FAULTS or w in CRASH_FAULTS or w in CONFIG_FAULTS:
            status, fault = w, w
            reason = waiting.get("message") or None
            if w in CRASH_FAULTS:
                last = (c.get("lastState") or {}).get("terminated") or {}
                if last:
                    reason = f"last exit code {last.get('exitCode')} ({last.get('reason') or 'Error'})"
            break
        if w and status == phase and phase == "Pending":
            status = w  # ContainerCreating, PodInitializing: progress, not a fault

    if m.get("deletionTimestamp"):
        status, fault = "Terminating", None
    elif fault is None and phase == "Pending":
        conds = {c.get("type"): c for c in st.get("conditions") or []}
        sched = conds.get("PodScheduled") or {}
        unscheduled = not spec.get("nodeName")
        msgs = [e for e in events if e.get("reason") == "FailedScheduling"]
        if unscheduled and (msgs or sched.get("status") == "False"):
            fault = "FailedScheduling"
            reason = (msgs[-1].get("message") if msgs else None) or sched.get("message") or "not scheduled"
    elif fault is None and phase == "Failed":
        status = st.get("reason") or "Failed"
        fault = status
        reason = st.get("message") or None
    elif fault is None and phase == "Running" and containers and ready_n < len(containers):
        started = parse_time(st.get("startTime")) or created or now
        if now - started > NOT_READY_GRACE:
            fault = "NotReady"
            probe = [e for e in events if e.get("reason") in ("Unhealthy", "BackOff")]
            reason = probe[-1].get("message") if probe else "containers running but not ready"
    return PodView(key=key_of(pod), namespace=str(m.get("namespace") or ""), name=str(m.get("name") or ""),
                   ready=f"{ready_n}/{len(containers)}", status=status, restarts=restarts, created=created,
                   node=str(spec.get("nodeName") or "–"), fault=fault, reason=reason)


def verdict_due(pod: Mapping[str, Any], *, now: float | None = None) -> float | None:
    """When ``classify_pod`` may give this pod another verdict with nothing changed in the API:
    a running pod that is not ready becomes ``NotReady`` once the grace has passed. None: never."""
    now = time.time() if now is None else now
    m, spec, st = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or []
    if m.get("deletionTimestamp") or st.get("phase") != "Running" or not containers:
        return None
    if sum(1 for c in st.get("containerStatuses") or [] if c.get("ready")) >= len(containers):
        return None
    started = parse_time(st.get("startTime")) or parse_time(m.get("creationTimestamp")) or now
    due = started + NOT_READY_GRACE
    return due if due >= now else None


def slim_pod(pod: Mapping[str, Any]) -> dict[str, Any]:
    """Only what ``classify_pod`` and ``verdict_due`` read of a pod (a live view keeps thousands):
    the same verdict from a tenth of the bytes."""
    m, spec, st = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    meta = {k: m[k] for k in ("namespace", "name", "uid", "resourceVersion", "creationTimestamp",
                              "deletionTimestamp") if m.get(k)}
    slim_spec: dict[str, Any] = {"containers": [{"name": c.get("name")} for c in spec.get("containers") or []]}
    if spec.get("nodeName"):
        slim_spec["nodeName"] = spec["nodeName"]
    status: dict[str, Any] = {k: st[k] for k in ("phase", "reason", "message", "startTime") if st.get(k)}
    conds = [{k: c.get(k) for k in ("type", "status", "message")} for c in st.get("conditions") or []
             if c.get("type") == "PodScheduled"]
    if conds:
        status["conditions"] = conds
    for field_name in ("initContainerStatuses", "containerStatuses"):
        if st.get(field_name):
            status[field_name] = [_slim_container(c) for c in st[field_name]]
    return {"metadata": meta, "spec": slim_spec, "status": status}


def _slim_container(c: Mapping[str, Any]) -> dict[str, Any]:
    waiting = (c.get("state") or {}).get("waiting")
    terminated = (c.get("lastState") or {}).get("terminated")
    out: dict[str, Any] = {"ready": bool(c.get("ready")), "restartCount": c.get("restartCount") or 0}
    if waiting:
        out["state"] = {"waiting": {k: waiting[k] for k in ("reason", "message") if waiting.get(k)} or {"reason": None}}
    if terminated:
        # Present (even without these two) is what counts: the reason line says "last exit code".
        out["lastState"] = {"terminated": {"exitCode": terminated.get("exitCode"), "reason": terminated.get("reason")}}
    return out


def slim_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an event the model and the event views read."""
    m = _meta(event)
    inv = event.get("involvedObject") or event.get("regarding") or {}
    out: dict[str, Any] = {k: event[k] for k in ("type", "reason", "message", "lastTimestamp", "eventTime", "count")
                           if event.get(k) is not None}
    out["metadata"] = {k: m[k] for k in ("namespace", "name", "uid", "creationTimestamp") if m.get(k)}
    out["involvedObject"] = {k: inv[k] for k in ("kind", "namespace", "name") if inv.get(k)}
    return out


def event_subject(event: Mapping[str, Any]) -> str:
    """"namespace/name" of the object an event is about (how ``events_by_object`` groups them)."""
    inv = event.get("involvedObject") or event.get("regarding") or {}
    return f"{inv.get('namespace') or _meta(event).get('namespace') or ''}/{inv.get('name') or ''}"


@dataclass
class Count:
    ready: int = 0
    total: int = 0

    @property
    def ok(self) -> bool:
        return self.ready == self.total

    def __str__(self) -> str:
        return f"{self.ready}/{self.total}"


def _replicas_ready(obj: Mapping[str, Any]) -> bool:
    want = (obj.get("spec") or {}).get("replicas")
    want = 1 if want is None else int(want)
    return int((obj.get("status") or {}).get("readyReplicas") or 0) >= want


def _job_ok(job: Mapping[str, Any]) -> bool:
    st = job.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    if conds.get("Failed") == "True":
        return False
    if conds.get("Complete") == "True":
        return True
    # A running job is not a fault yet: count it as ready while it has active pods.
    return bool(st.get("active")) or int(st.get("succeeded") or 0) >= int((job.get("spec") or {}).get("completions") or 1)


def _node_ready(node: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def _pvc_bound(pvc: Mapping[str, Any]) -> bool:
    return (pvc.get("status") or {}).get("phase") == "Bound"


# kind -> "is this object fine": what the summary line counts.
READY_RULES: dict[str, Any] = {"deployments": _replicas_ready, "statefulsets": _replicas_ready, "jobs": _job_ok,
                               "pvcs": _pvc_bound, "nodes": _node_ready}


@dataclass
class Summary:
    deployments: Count = field(default_factory=Count)
    statefulsets: Count = field(default_factory=Count)
    jobs: Count = field(default_factory=Count)
    pvcs: Count = field(default_factory=Count)
    nodes: Count = field(default_factory=Count)
    pods: int = 0
    faulty: int = 0


def _count(objs: Iterable[Mapping[str, Any]], ok: Any) -> Count:
    c = Count()
    for o in objs:
        c.total += 1
        c.ready += 1 if ok(o) else 0
    return c


def events_by_object(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Events grouped by "namespace/name" of the object they are about, oldest first."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for e in sorted(events, key=event_time):
        out.setdefault(event_subject(e), []).append(e)
    return out


def event_time(e: Mapping[str, Any]) -> float:
    return (parse_time(e.get("lastTimestamp")) or parse_time(e.get("eventTime"))
            or parse_time(_meta(e).get("creationTimestamp")) or 0.0)


@dataclass
class HealthModel:
    """Everything the dashboard shows, derived from one snapshot."""

    summary: Summary
    pods: list[PodView]

    @property
    def faults(self) -> list[PodView]:
        return [p for p in self.pods if p.faulty]

    def to_json(self) -> dict[str, Any]:
        s = self.summary
        return {
            "summary": {k: ({"ready": v.ready, "total": v.total} if isinstance(v, Count) else v)
                        for k, v in asdict(s).items() if k not in ("pods", "faulty")}
            | {"pods": s.pods, "faulty": s.faulty},
            "healthy": s.faulty == 0 and all(c.ok for c in (s.deployments, s.statefulsets, s.jobs, s.pvcs, s.nodes)),
            # PodView is flat: a copy of its fields is what asdict gives, without its deep copies.
            "faults": [dict(vars(p)) for p in self.faults],
            "pods": [dict(vars(p)) for p in self.pods],
        }


def build_model(objects: Mapping[str, Iterable[Mapping[str, Any]]], *, now: float | None = None) -> HealthModel:
    """``objects`` maps each of KINDS to its list of API objects (dicts)."""
    now = time.time() if now is None else now
    evs = events_by_object(objects.get("events") or [])
    pods = [classify_pod(p, evs.get(key_of(p), ()), now=now) for p in objects.get("pods") or []]
    pods.sort(key=lambda p: (p.namespace, p.name))
    s = Summary(
        **{kind: _count(objects.get(kind) or [], rule) for kind, rule in READY_RULES.items()},
        pods=len(pods),
        faulty=sum(1 for p in pods if p.faulty),
    )
    return HealthModel(summary=s, pods=pods)
