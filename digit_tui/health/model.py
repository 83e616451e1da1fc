"""Pure health model: classify pods, summarise workloads, from plain API objects (dicts).

A pod's verdict and its reason come from ``infra.podstate`` (the rules the installer's wait
uses too); this module turns them into dashboard rows.

Nothing here talks to a cluster; ``Snapshot`` is what the watcher keeps and
what ``digit-tui health --once --json`` prints.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# What a pod's state means is decided in one place for the dashboard, ``health --once`` and the
# installer's wait: infra/podstate.py (with the graces and the API's time format).
from digit_tui.infra import podstate
from digit_tui.infra.podstate import CRASH_REASONS, parse_time

KINDS = ("pods", "deployments", "statefulsets", "jobs", "pvcs", "nodes", "events")


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
    verdict: str = podstate.Verdict.PROGRESSING.value   # progressing / ready / faulty (infra/podstate.py)
    cause: str = ""                 # what the verdict is about: ErrImagePull, NotReady, Running, ...

    @property
    def faulty(self) -> bool:
        return self.fault is not None


def _why(state: podstate.PodState) -> str | None:
    """The line under a faulty row, in the kubelet's or the scheduler's words."""
    if not state.faulty:
        return None
    if state.reason in CRASH_REASONS and state.exit_code is not None:
        return f"last exit code {state.exit_code} ({state.last_reason or 'Error'})"
    if state.reason == "FailedScheduling":
        return state.message or "not scheduled"
    if state.reason == "NotReady":
        return state.message or "containers running but not ready"
    return state.message or None


def classify_pod(pod: Mapping[str, Any], events: Iterable[Mapping[str, Any]] = (), *,
                 now: float | None = None) -> PodView:
    """Turn a pod (and the events about it, oldest first) into a dashboard row with its fault."""
    state = podstate.judge(pod, events if isinstance(events, (list, tuple)) else list(events), now=now)
    m, spec, st = _meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    containers = spec.get("containers") or ()
    ready_n = restarts = 0
    for c in st.get("containerStatuses") or ():
        ready_n += 1 if c.get("ready") else 0
        restarts += int(c.get("restartCount") or 0)
    for c in st.get("initContainerStatuses") or ():
        restarts += int(c.get("restartCount") or 0)
    return PodView(key=key_of(pod), namespace=str(m.get("namespace") or ""), name=str(m.get("name") or ""),
                   ready=f"{ready_n}/{len(containers)}", status=state.status, restarts=restarts,
                   created=parse_time(m.get("creationTimestamp")), node=str(spec.get("nodeName") or "–"),
                   fault=state.reason if state.faulty else None, reason=_why(state), verdict=state.verdict.value,
                   cause=state.reason)


def verdict_due(pod: Mapping[str, Any], *, now: float | None = None) -> float | None:
    """When ``classify_pod`` may give this pod another verdict with nothing changed in the API:
    a grace running out (a running pod not ready, a first failed pull). None: never."""
    return podstate.due(pod, now=now)


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
    # PodScheduled says whether the scheduler refused the pod; ContainersReady=False since when it is
    # not ready (the graces count from there). Nothing else of the conditions is read.
    conds = [{k: c[k] for k in ("type", "status", "message", "lastTransitionTime") if c.get(k) is not None}
             for c in st.get("conditions") or []
             if c.get("type") == "PodScheduled" or (c.get("type") == "ContainersReady" and c.get("status") == "False")]
    if conds:
        status["conditions"] = conds
    for field_name in ("initContainerStatuses", "containerStatuses"):
        if st.get(field_name):
            status[field_name] = [_slim_container(c) for c in st[field_name]]
    return {"metadata": meta, "spec": slim_spec, "status": status}


def _terminated(t: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return {k: t[k] for k in ("exitCode", "reason", "message") if t.get(k) is not None} if t else None


def _slim_container(c: Mapping[str, Any]) -> dict[str, Any]:
    state = c.get("state") or {}
    waiting, terminated = state.get("waiting"), _terminated(state.get("terminated"))
    last = _terminated((c.get("lastState") or {}).get("terminated"))
    out: dict[str, Any] = {"name": c.get("name"), "ready": bool(c.get("ready")),
                           "restartCount": c.get("restartCount") or 0}
    if waiting:
        out["state"] = {"waiting": {k: waiting[k] for k in ("reason", "message") if waiting.get(k)} or {"reason": None}}
    elif terminated is not None:
        out["state"] = {"terminated": terminated}
    if last is not None:
        out["lastState"] = {"terminated": last}
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
