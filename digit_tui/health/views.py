"""The dashboard's further views — workloads, nodes, events — as rows keyed like the pod table.

``ViewsModel`` is a ``WatchSink`` beside ``LiveModel``: the dashboard's watcher feeds both
(``Tee``) with what it already watches (pods, Deployments, StatefulSets, nodes, warnings), and two
small watchers feed it what only these views read (DaemonSets; the Normal events, field-selected
server-side), each running only while its view is on screen (``EXTRA_TYPES``).

Everything the watcher threads hand over is reduced at once to what a row shows (a few numbers and
strings per object), so the model stays small and a relist that changes nothing changes no row.
What changed is a set of keys per view; ``drain`` builds the rows of the view on screen only
(``active``) and returns a ``ViewDelta`` that the screen applies row by row, like the pods'.
Nodes are the one derived view: each node's requested cpu and memory is the sum of its pods'
(``infra.podrequests``, the scheduler's rule), kept up to date pod by pod, never summed anew.
Knows no Textual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from digit_tui.health.model import event_time, key_of, slim_event
from digit_tui.health.watcher import Connection, WatchSink, obj_key
from digit_tui.infra.kube import ResourceType
from digit_tui.infra.podrequests import cpu_millis, memory_bytes, pod_requests
from digit_tui.infra.podstate import parse_time

VIEWS = ("workloads", "nodes", "events")

_LW = frozenset({"list", "watch"})
# Watched only while their view is shown: (view -> kind name -> type, and the kind's field selector).
EXTRA_TYPES: dict[str, dict[str, ResourceType]] = {
    "workloads": {"daemonsets": ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, _LW)},
    "events": {"normal-events": ResourceType("", "v1", "Event", "events", True, _LW)},
}
EXTRA_SELECTORS: dict[str, str] = {"normal-events": "type=Normal"}
# Which kinds each view's rows come from (a view is "syncing" until all of them were listed once).
VIEW_KINDS: dict[str, tuple[str, ...]] = {
    "workloads": ("deployments", "statefulsets", "daemonsets"),
    "nodes": ("nodes", "pods"),
    "events": ("events", "normal-events"),
}
WORKLOAD_KINDS = {"deployments": "Deployment", "statefulsets": "StatefulSet", "daemonsets": "DaemonSet"}
MAX_EVENTS = 500        # kept per type (warnings, normal): the newest; a cluster holds thousands
_TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True, slots=True)
class WorkloadRow:
    key: str                # "Deployment/namespace/name"
    kind: str               # Deployment, StatefulSet, DaemonSet
    namespace: str
    name: str
    ready: int
    desired: int
    updated: int
    available: int
    created: float | None
    failed: str = ""        # the controller's own word when it gave up (ProgressDeadlineExceeded: …)

    @property
    def ok(self) -> bool:
        return not self.failed and self.ready >= self.desired


@dataclass(frozen=True, slots=True)
class NodeRow:
    key: str                # the node's name
    name: str
    ready: bool
    schedulable: bool
    cpu_requested: int      # millicores, summed over the pods bound to it that are not finished
    cpu_allocatable: int
    mem_requested: int      # bytes
    mem_allocatable: int
    pods: int
    pods_allocatable: int
    control_plane: bool = False     # labelled or tainted as a control-plane node: not a worker


@dataclass(frozen=True, slots=True)
class EventRow:
    key: str                # the watcher's key of the event (its uid, or namespace/name)
    warning: bool
    time: float
    count: int
    namespace: str
    subject: str            # "pod/egov-user-7d9f…"
    reason: str
    message: str


Row = WorkloadRow | NodeRow | EventRow


@dataclass(frozen=True)
class ViewDelta:
    view: str
    upserts: dict[str, Row]
    removed: frozenset[str]
    listed: frozenset[str]          # kinds listed completely at least once


def workload_row(kind: str, obj: Mapping[str, Any]) -> WorkloadRow:
    """Ready x/y as ``kubectl get`` counts it: replicas for Deployments and StatefulSets, the
    scheduled daemons for DaemonSets."""
    m, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    if kind == "daemonsets":
        desired, ready = int(st.get("desiredNumberScheduled") or 0), int(st.get("numberReady") or 0)
        updated, available = int(st.get("updatedNumberScheduled") or 0), int(st.get("numberAvailable") or 0)
    else:
        want = spec.get("replicas")
        desired, ready = (1 if want is None else int(want)), int(st.get("readyReplicas") or 0)
        updated = int(st.get("updatedReplicas") or 0)
        available = int(st.get("availableReplicas") or 0) if "availableReplicas" in st or kind == "deployments" \
            else ready
    failed = ""
    for c in st.get("conditions") or ():
        if (c.get("type") == "Progressing" and c.get("status") == "False"
                and c.get("reason") == "ProgressDeadlineExceeded") or \
                (c.get("type") == "ReplicaFailure" and c.get("status") == "True"):
            failed = f"{c.get('reason') or c.get('type')}: {c.get('message') or ''}".rstrip(": ")
    label = WORKLOAD_KINDS[kind]
    return WorkloadRow(key=f"{label}/{key_of(obj)}", kind=label, namespace=str(m.get("namespace") or ""),
                       name=str(m.get("name") or ""), ready=ready, desired=desired, updated=updated,
                       available=available, created=parse_time(m.get("creationTimestamp")), failed=failed)


def event_row(key: str, obj: Mapping[str, Any]) -> EventRow:
    """``key``: the watcher's key of the event (``obj_key`` of its kind name)."""
    e = slim_event(obj)
    inv = e.get("involvedObject") or {}
    m = e.get("metadata") or {}
    return EventRow(key=key,
                    warning=e.get("type") == "Warning", time=event_time(e), count=int(e.get("count") or 1),
                    namespace=str(inv.get("namespace") or m.get("namespace") or ""),
                    subject=f"{str(inv.get('kind') or '').lower()}/{inv.get('name') or ''}",
                    reason=str(e.get("reason") or ""), message=" ".join(str(e.get("message") or "").split()))


@dataclass(frozen=True, slots=True)
class _PodAsks:
    uid: str
    node: str
    cpu: int        # millicores
    mem: int        # bytes


@dataclass(frozen=True, slots=True)
class _NodeInfo:
    ready: bool
    schedulable: bool
    cpu: int
    mem: int
    pods: int
    control_plane: bool


CONTROL_PLANE = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def _node_info(node: Mapping[str, Any]) -> _NodeInfo:
    st = node.get("status") or {}
    alloc = st.get("allocatable") or st.get("capacity") or {}

    def read(parse: Callable[[object], int], name: str) -> int:
        try:
            return parse(alloc[name]) if name in alloc else 0
        except ValueError:
            return 0

    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or ())
    spec = node.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    control = any(k in labels for k in CONTROL_PLANE) or any(
        t.get("key") in CONTROL_PLANE and t.get("effect") == "NoSchedule" for t in spec.get("taints") or ())
    return _NodeInfo(ready=ready, schedulable=not spec.get("unschedulable"),
                     cpu=read(cpu_millis, "cpu"), mem=read(memory_bytes, "memory"),
                     pods=read(lambda v: int(memory_bytes(v)), "pods"), control_plane=control)


def _resources_key(spec: Mapping[str, Any]) -> str:
    """All that ``pod_requests`` reads of a spec, as text: the pods of one template share it."""
    return repr(([(c.get("restartPolicy"), c.get("resources")) for c in spec.get("initContainers") or ()],
                 [c.get("resources") for c in spec.get("containers") or ()], spec.get("overhead")))


class _RequestsCache:
    """(millicores, bytes) a pod spec requests (``pod_requests``), computed once per distinct set of
    resources: thousands of pods come from a few templates, and the rule reads decimal quantities."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._known: dict[str, tuple[int, int]] = {}

    def __call__(self, spec: Mapping[str, Any]) -> tuple[int, int]:
        key = _resources_key(spec)
        found = self._known.get(key)
        if found is None:
            try:
                r = pod_requests(spec)
                found = (r.cpu, r.mem)
            except ValueError:      # the API admits no such pod; count it as asking nothing
                found = (0, 0)
            if len(self._known) >= self.size:
                self._known.clear()
            self._known[key] = found
        return found


class ViewsModel:
    """Thread-safe: watcher threads write, one feeder thread drains the view on screen."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_events: int = MAX_EVENTS) -> None:
        self.clock = clock
        self.max_events = max_events
        self.changed = threading.Event()
        self.urgent = threading.Event()
        self._lock = threading.Lock()
        self._active: str | None = None
        self._workloads: dict[str, WorkloadRow] = {}
        self._wl_kind: dict[str, dict[str, str]] = {k: {} for k in WORKLOAD_KINDS}   # kind -> obj key -> row key
        self._nodes: dict[str, _NodeInfo] = {}
        self._requests = _RequestsCache()
        self._pods: dict[str, _PodAsks] = {}                # pod key -> what it holds, bound and unfinished pods only
        self._used: dict[str, list[int]] = {}               # node -> [millicores, bytes, pods]
        self._events: dict[str, dict[str, EventRow]] = {"events": {}, "normal-events": {}}
        self._listed: set[str] = set()
        self._dirty: dict[str, set[str]] = {v: set() for v in VIEWS}
        self._sent_listed: dict[str, frozenset[str]] = {}    # per view: its kinds listed, as last drained

    # -- which view is drained ----------------------------------------------------------------
    @property
    def active(self) -> str | None:
        return self._active

    def activate(self, view: str | None) -> None:
        """The view on screen (None: the pods): only its changes are built into rows."""
        with self._lock:
            self._active = view if view in VIEWS else None
        self.urgent.set()
        self.changed.set()

    def _touch(self, view: str, keys: Iterable[str]) -> None:
        """Under the lock: these rows of ``view`` need building again."""
        dirty = self._dirty[view]
        before = len(dirty)
        dirty.update(keys)
        if view == self._active and len(dirty) != before:
            self.changed.set()

    # -- sink (watcher threads) ----------------------------------------------------------------
    def upsert(self, kind: str, objs: list[dict[str, Any]]) -> None:
        if kind == "pods":
            asks = [(key, self._running_on(key, o)) for key, o in ((obj_key(kind, o), o) for o in objs)]
            with self._lock:
                for key, entry in asks:
                    self._set_pod(key, entry)
        elif kind in WORKLOAD_KINDS:
            rows = [(obj_key(kind, o), workload_row(kind, o)) for o in objs]
            with self._lock:
                index = self._wl_kind[kind]
                for key, row in rows:
                    index[key] = row.key
                    if self._workloads.get(row.key) != row:
                        self._workloads[row.key] = row
                        self._touch("workloads", (row.key,))
        elif kind == "nodes":
            infos = [(str((o.get("metadata") or {}).get("name") or ""), _node_info(o)) for o in objs]
            with self._lock:
                for name, info in infos:
                    if self._nodes.get(name) != info:
                        self._nodes[name] = info
                        self._touch("nodes", (name,))
        elif kind in self._events:
            events = [event_row(obj_key(kind, o), o) for o in objs]
            with self._lock:
                table = self._events[kind]
                for ev in events:
                    if table.get(ev.key) != ev:
                        table[ev.key] = ev
                        self._touch("events", (ev.key,))
                if len(table) > self.max_events * 1.1:     # trimmed now and then, not on every event
                    for old in sorted(table.values(), key=lambda r: r.time)[: len(table) - self.max_events]:
                        del table[old.key]
                        self._touch("events", (old.key,))

    def delete(self, kind: str, obj: dict[str, Any]) -> None:
        key = obj_key(kind, obj)
        with self._lock:
            if kind == "pods":
                self._set_pod(key, None)
            elif kind in WORKLOAD_KINDS:
                row_key = self._wl_kind[kind].pop(key, None)
                if row_key is not None and self._workloads.pop(row_key, None) is not None:
                    self._touch("workloads", (row_key,))
            elif kind == "nodes":
                name = key.lstrip("/")
                if self._nodes.pop(name, None) is not None:
                    self._touch("nodes", (name,))
            elif kind in self._events and self._events[kind].pop(key, None) is not None:
                self._touch("events", (key,))

    def listed(self, kind: str, keys: set[str]) -> None:
        with self._lock:
            first = kind not in self._listed
            self._listed.add(kind)
            if kind == "pods":
                for key in [k for k in self._pods if k not in keys]:
                    self._set_pod(key, None)
            elif kind in WORKLOAD_KINDS:
                index = self._wl_kind[kind]
                for key in [k for k in index if k not in keys]:
                    row_key = index.pop(key)
                    self._workloads.pop(row_key, None)
                    self._touch("workloads", (row_key,))
            elif kind == "nodes":
                names = {k.lstrip("/") for k in keys}
                for name in [n for n in self._nodes if n not in names]:
                    del self._nodes[name]
                    self._touch("nodes", (name,))
            elif kind in self._events:
                table = self._events[kind]
                for key in [k for k in table if k not in keys]:
                    del table[key]
                    self._touch("events", (key,))
            if first:
                for view, kinds in VIEW_KINDS.items():
                    if kind in kinds and view == self._active:
                        self.urgent.set()
                        self.changed.set()

    def connection(self, state: Connection) -> None:
        """The banner follows the pods' watcher (``LiveModel``): nothing to keep here."""

    def _running_on(self, key: str, pod: Mapping[str, Any]) -> _PodAsks | None:
        """What a pod holds on its node; None when it holds nothing (not bound yet, or finished: the
        scheduler counts neither). Its requests are read once per pod (a pod's spec does not change)."""
        spec, st, m = pod.get("spec") or {}, pod.get("status") or {}, pod.get("metadata") or {}
        node = spec.get("nodeName")
        if not node or st.get("phase") in _TERMINAL:
            return None
        uid = str(m.get("uid") or "")
        old = self._pods.get(key)       # read without the lock: a dict lookup, and only a hint
        if old is not None and old.uid == uid and uid:
            return _PodAsks(uid, str(node), old.cpu, old.mem)
        cpu, mem = self._requests(spec)
        return _PodAsks(uid, str(node), cpu, mem)

    def _set_pod(self, key: str, entry: _PodAsks | None) -> None:
        """Under the lock: the pod's share moves from the node it held to the one it holds now."""
        old = self._pods.get(key)
        if old == entry:
            return
        for held, sign in ((old, -1), (entry, 1)):
            if held is None:
                continue
            used = self._used.setdefault(held.node, [0, 0, 0])
            used[0] += sign * held.cpu
            used[1] += sign * held.mem
            used[2] += sign
            self._touch("nodes", (held.node,))
        if entry is None:
            del self._pods[key]
        else:
            self._pods[key] = entry

    # -- readers -------------------------------------------------------------------------------
    @property
    def listed_kinds(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._listed)

    def forget(self, kinds: Iterable[str]) -> None:
        """Kinds whose watcher stopped: "syncing" until it has listed them again."""
        with self._lock:
            self._listed.difference_update(kinds)
            self.changed.set()

    def next_due(self) -> float | None:
        return None

    # -- draining (one thread) -----------------------------------------------------------------
    def drain(self) -> ViewDelta | None:
        with self._lock:
            view = self._active
            if view is None:
                return None
            keys, self._dirty[view] = self._dirty[view], set()
            listed = frozenset(self._listed)
            upserts: dict[str, Row] = {}
            removed: set[str] = set()
            if view == "workloads":
                for key in keys:
                    row = self._workloads.get(key)
                    if row is None:
                        removed.add(key)
                    else:
                        upserts[key] = row
            elif view == "nodes":
                for name in keys:
                    info = self._nodes.get(name)
                    if info is None:
                        removed.add(name)
                        continue
                    used = self._used.get(name, (0, 0, 0))
                    upserts[name] = NodeRow(key=name, name=name, ready=info.ready, schedulable=info.schedulable,
                                            cpu_requested=used[0], cpu_allocatable=info.cpu,
                                            mem_requested=used[1], mem_allocatable=info.mem,
                                            pods=used[2], pods_allocatable=info.pods,
                                            control_plane=info.control_plane)
            else:
                tables = self._events.values()
                for key in keys:
                    ev = next((t[key] for t in tables if key in t), None)
                    if ev is None:
                        removed.add(key)
                    else:
                        upserts[key] = ev
            mine = listed & set(VIEW_KINDS[view])
            if not (upserts or removed) and self._sent_listed.get(view) == mine:
                return None
            self._sent_listed[view] = mine
        return ViewDelta(view=view, upserts=upserts, removed=frozenset(removed), listed=listed)


class Tee:
    """One watcher, several sinks (``LiveModel`` for the pods, ``ViewsModel`` for the other views)."""

    def __init__(self, *sinks: WatchSink) -> None:
        self.sinks = sinks

    def upsert(self, kind: str, objs: list[dict[str, Any]]) -> None:
        for s in self.sinks:
            s.upsert(kind, objs)

    def delete(self, kind: str, obj: dict[str, Any]) -> None:
        for s in self.sinks:
            s.delete(kind, obj)

    def listed(self, kind: str, keys: set[str]) -> None:
        for s in self.sinks:
            s.listed(kind, keys)

    def connection(self, state: Connection) -> None:
        for s in self.sinks:
            s.connection(state)
