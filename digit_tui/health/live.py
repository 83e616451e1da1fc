"""The live pod model behind the dashboard: fed by the watcher's threads, keyed by pod.

``LiveModel`` is a ``WatchSink``. It keeps each pod in its slim form (as compact
JSON bytes: thousands of pods stay cheap in memory and for the garbage
collector), the warnings about each pod, and one ready/not-ready bit per
workload, PVC and node. What changed since the last look is a set of pod keys;
``drain`` classifies only those (``model.classify_pod``, the same verdicts as
``health --once``) and returns a ``Delta``: the rows that are new or different
and the rows that are gone. A pod whose verdict may change with time alone (a
grace of ``infra.podstate`` running out: a running pod not ready yet, a first
failed pull) is re-classified when that time comes.

``Feeder`` runs the frame loop on a thread: wait for a change, coalesce what
arrives within one frame (at most ``max_fps`` frames a second), wait until the
screen has applied the previous frame, publish the next. Nothing is published
when nothing changed. Neither class knows Textual.
"""

from __future__ import annotations

import heapq
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from digit_tui.health.model import (
    READY_RULES,
    Count,
    PodView,
    Summary,
    classify_pod,
    event_subject,
    event_time,
    slim_event,
    slim_pod,
    verdict_due,
)
from digit_tui.health.watcher import Connection, obj_key

MAX_WARNINGS = 2000     # warnings kept in all (oldest dropped first)
MAX_PER_POD = 50        # warnings kept per pod (classify_pod reads the newest of a reason)


@dataclass(frozen=True)
class Delta:
    """One frame's worth of change."""

    upserts: dict[str, PodView]           # rows that are new or differ from the last frame
    removed: frozenset[str]               # rows that are gone
    summary: Summary                      # workload counts; pods/faulty over all pods
    listed: frozenset[str]                # kinds listed completely at least once
    connection: Connection

    @property
    def rows_changed(self) -> bool:
        return bool(self.upserts or self.removed)


@dataclass
class _Pending:
    keys: set[str] = field(default_factory=set)
    summary: bool = False
    connection: bool = False


class LiveModel:
    """Thread-safe: the watcher's threads write, one feeder thread drains."""

    def __init__(self, *, clock: Callable[[], float] = time.time, max_warnings: int = MAX_WARNINGS) -> None:
        self.clock = clock
        self.max_warnings = max_warnings
        self.changed = threading.Event()
        self.urgent = threading.Event()     # a change worth a frame now (a list completed)
        self._lock = threading.Lock()
        self._pods: dict[str, tuple[str, bytes]] = {}                # key -> (resourceVersion, slim JSON)
        self._warnings: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()  # uid -> (pod key, event)
        self._by_pod: dict[str, dict[str, dict[str, Any]]] = {}      # pod key -> uid -> event
        self._ready: dict[str, dict[str, bool]] = {kind: {} for kind in READY_RULES}
        self._listed: set[str] = set()
        self._connection = Connection()
        self._pending = _Pending(summary=True, connection=True)
        # Owned by the draining thread.
        self._views: dict[str, PodView] = {}
        self._counts: dict[str, Count] = {kind: Count() for kind in READY_RULES}
        self._faulty = 0
        self._due: list[tuple[float, str]] = []
        self._due_at: dict[str, float] = {}

    # -- sink (watcher threads) ------------------------------------------------------------
    def upsert(self, kind: str, objs: list[dict[str, Any]]) -> None:
        if kind == "pods":
            slim = [(obj_key(kind, o), slim_pod(o)) for o in objs]
            encoded = [(k, str(p["metadata"].get("resourceVersion") or ""), p) for k, p in slim]
            with self._lock:
                for key, rv, pod in encoded:
                    old = self._pods.get(key)
                    if old is not None and rv and old[0] == rv:
                        continue    # a relist brings back what we have: nothing to redraw
                    self._pods[key] = (rv, json.dumps(pod, separators=(",", ":")).encode())
                    self._pending.keys.add(key)
        elif kind == "events":
            with self._lock:
                for o in objs:
                    self._add_warning(obj_key(kind, o), slim_event(o))
        elif kind in READY_RULES:
            rule = READY_RULES[kind]
            with self._lock:
                table = self._ready[kind]
                for o in objs:
                    key, ok = obj_key(kind, o), bool(rule(o))
                    if table.get(key) != ok:
                        table[key] = ok
                        self._pending.summary = True
        else:
            return
        self.changed.set()

    def delete(self, kind: str, obj: dict[str, Any]) -> None:
        key = obj_key(kind, obj)
        with self._lock:
            if kind == "pods":
                if self._pods.pop(key, None) is not None:
                    self._pending.keys.add(key)
            elif kind == "events":
                self._drop_warning(key)
            elif kind in READY_RULES and self._ready[kind].pop(key, None) is not None:
                self._pending.summary = True
        self.changed.set()

    def listed(self, kind: str, keys: set[str]) -> None:
        with self._lock:
            if kind not in self._listed:
                self._listed.add(kind)
                self._pending.summary = True
                self.urgent.set()
            if kind == "pods":
                for key in [k for k in self._pods if k not in keys]:
                    del self._pods[key]
                    self._pending.keys.add(key)
            elif kind == "events":
                for uid in [u for u in self._warnings if u not in keys]:
                    self._drop_warning(uid)
            elif kind in READY_RULES:
                table = self._ready[kind]
                for key in [k for k in table if k not in keys]:
                    del table[key]
                    self._pending.summary = True
        self.changed.set()

    def connection(self, state: Connection) -> None:
        with self._lock:
            self._connection = state
            self._pending.connection = True
        self.changed.set()

    def _add_warning(self, uid: str, event: dict[str, Any]) -> None:
        subject = event_subject(event)
        old = self._warnings.pop(uid, None)
        if old is not None and old[0] != subject:
            self._by_pod.get(old[0], {}).pop(uid, None)
        self._warnings[uid] = (subject, event)
        per_pod = self._by_pod.setdefault(subject, {})
        per_pod[uid] = event
        if len(per_pod) > MAX_PER_POD:
            oldest = min(per_pod, key=lambda u: event_time(per_pod[u]))
            self._drop_warning(oldest)
        while len(self._warnings) > self.max_warnings:
            self._drop_warning(next(iter(self._warnings)))
        self._pending.keys.add(subject)

    def _drop_warning(self, uid: str) -> None:
        entry = self._warnings.pop(uid, None)
        if entry is None:
            return
        subject = entry[0]
        per_pod = self._by_pod.get(subject)
        if per_pod is not None:
            per_pod.pop(uid, None)
            if not per_pod:
                del self._by_pod[subject]
        self._pending.keys.add(subject)

    # -- readers (any thread) ----------------------------------------------------------------
    def warnings(self, limit: int = 300) -> list[dict[str, Any]]:
        """The most recent warnings, oldest first."""
        with self._lock:
            events = [e for _, e in self._warnings.values()]
        return sorted(events, key=event_time)[-limit:]

    def pod_warnings(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            events = list(self._by_pod.get(key, {}).values())
        return sorted(events, key=event_time)

    @property
    def listed_kinds(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._listed)

    # -- draining (one thread) ---------------------------------------------------------------
    def next_due(self) -> float | None:
        """Clock time at which a pod's verdict may change by itself."""
        return self._due[0][0] if self._due else None

    def drain(self) -> Delta | None:
        """Classify what changed since the last drain; None when nothing did."""
        now = self.clock()
        due: set[str] = set()
        while self._due and self._due[0][0] <= now:
            _, key = heapq.heappop(self._due)
            if self._due_at.get(key, now + 1) <= now:
                del self._due_at[key]
                due.add(key)
        with self._lock:
            pending, self._pending = self._pending, _Pending()
            keys = pending.keys | due
            work = {k: (self._pods[k][1] if k in self._pods else None) for k in keys}
            events = {k: sorted(self._by_pod[k].values(), key=event_time) for k in keys if k in self._by_pod}
            counts = {kind: Count(ready=sum(t.values()), total=len(t)) for kind, t in self._ready.items()} \
                if pending.summary else None
            listed = frozenset(self._listed)
            connection = self._connection
        upserts: dict[str, PodView] = {}
        removed: set[str] = set()
        for key, raw in work.items():
            old = self._views.get(key)
            if raw is None:
                if old is not None:
                    del self._views[key]
                    self._faulty -= old.faulty
                    self._due_at.pop(key, None)
                    removed.add(key)
                continue
            pod = json.loads(raw)
            view = classify_pod(pod, events.get(key, ()), now=now)
            when = verdict_due(pod, now=now)
            if when is None:
                self._due_at.pop(key, None)
            elif self._due_at.get(key) != when:
                self._due_at[key] = when
                heapq.heappush(self._due, (when, key))
            if view != old:
                self._views[key] = view
                self._faulty += view.faulty - (old.faulty if old is not None else 0)
                upserts[key] = view
        if counts is not None:
            self._counts = counts
        if not (upserts or removed or counts is not None or pending.connection):
            return None
        summary = Summary(**self._counts, pods=len(self._views), faulty=self._faulty)
        return Delta(upserts=upserts, removed=frozenset(removed), summary=summary, listed=listed,
                     connection=connection)


D = TypeVar("D", covariant=True)
F = TypeVar("F")


class FrameSource(Protocol[D]):
    """What ``Feeder`` drains: ``LiveModel`` (pods) and the other dashboard views' model."""

    changed: threading.Event
    urgent: threading.Event

    def clock(self) -> float: ...
    def next_due(self) -> float | None: ...
    def drain(self) -> D | None: ...


class Feeder(Generic[F]):
    """The frame loop: ``publish(delta)`` at most ``max_fps`` times a second, never when nothing
    changed, and never before the screen has ``ack()``-ed the previous delta."""

    def __init__(self, model: FrameSource[F], publish: Callable[[F], Any], *, max_fps: float = 10.0) -> None:
        self.model = model
        self.publish = publish
        self.min_interval = 1.0 / max_fps
        self.frames = 0
        self._acked = threading.Event()
        self._acked.set()
        self._stop = threading.Event()

    def ack(self) -> None:
        self._acked.set()

    def stop(self) -> None:
        self._stop.set()
        self.model.changed.set()
        self.model.urgent.set()
        self._acked.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Until ``stop()``; call it on its own thread."""
        model = self.model
        last = -self.min_interval
        while not self._stop.is_set():
            due = model.next_due()
            wait = None if due is None else max(0.0, due - model.clock())
            model.changed.wait(wait)
            # Coalesce: the rest of this frame's changes join it (a first complete list does not wait).
            rest = last + self.min_interval - time.monotonic()
            if rest > 0:
                model.urgent.wait(rest)
            if self._stop.is_set():
                return
            model.urgent.clear()
            self._acked.wait()
            if self._stop.is_set():
                return
            model.changed.clear()
            delta = model.drain()
            if delta is None:
                continue
            self._acked.clear()
            last = time.monotonic()
            self.frames += 1
            self.publish(delta)
