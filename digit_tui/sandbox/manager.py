"""ControllerManager: runs every simulated controller, the scheduler and the kubelets on one event loop.

Store changes arrive synchronously through a listener; they update the informer
cache and are routed to controllers as keys in one de-duplicating work queue.
Delayed work (kubelet transitions, back-offs, heartbeats) sits in a single heap
of due keys served by one timer handle, not one asyncio task per pod.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.cache import Cache
from digit_tui.sandbox.resources import EVENTS, EVENTS_V1, NAMESPACES, ResourceType
from digit_tui.sandbox.simconfig import SimConfig

log = logging.getLogger("digit_tui.sandbox.manager")

WorkKey = tuple[str, Hashable]

# Work done between two yields to the event loop, so the API server stays responsive under bursts.
_SLICE_SECONDS = 0.02
_SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class ControllerManager:
    def __init__(self, store: Any, config: SimConfig | None = None) -> None:
        self.store = store
        self.config = config or SimConfig()
        self.cache = Cache()
        self.rng = random.Random(self.config.seed)
        self._dirty: dict[WorkKey, None] = {}
        self._wake: asyncio.Event | None = None
        self._heap: list[tuple[float, int, WorkKey]] = []
        self._due: dict[WorkKey, float] = {}
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._listening = False
        self._failures: dict[WorkKey, int] = {}
        self.controllers: dict[str, Controller] = {}
        self._routes: dict[tuple[str, str], list[Controller]] = {}
        self._watch_all: list[Controller] = []
        self.reconciles = 0  # a counter for benchmarks
        self._build()

    def _build(self) -> None:
        from digit_tui.sandbox import kubelet, scheduler
        from digit_tui.sandbox.controllers import (daemonset, deployment, endpoints, gc, job, namespace, node,
                                                   replicaset, statefulset, volumes)
        classes: list[type[Controller]] = [
            node.NodeLifecycleController, scheduler.Scheduler, kubelet.Kubelet,
            deployment.DeploymentController, replicaset.ReplicaSetController,
            statefulset.StatefulSetController, daemonset.DaemonSetController, job.JobController,
            endpoints.EndpointsController, volumes.VolumeBinder, gc.GarbageCollector,
            namespace.NamespaceController,
        ]
        try:
            from digit_tui.sandbox.controllers import cronjob
            classes.append(cronjob.CronJobController)
        except ImportError:
            pass
        for cls in classes:
            ctrl = cls(self)
            self.controllers[ctrl.name] = ctrl
            if ctrl.watch_all:
                self._watch_all.append(ctrl)
            for rt in ctrl.watches:
                self._routes.setdefault(rt.key, []).append(ctrl)

    @property
    def kubelet(self) -> Any:
        return self.controllers["kubelet"]

    @property
    def scheduler(self) -> Any:
        return self.controllers["scheduler"]

    # --- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self._running:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._running = True
        if not self._listening:
            self.store.add_listener(self._on_change)
            self._listening = True
        self._prime()
        self._bootstrap()
        for ctrl in self.controllers.values():
            ctrl.resync()
        self._task = asyncio.create_task(self._run(), name="sandbox-controllers")

    async def stop(self) -> None:
        self._running = False
        if self._listening and hasattr(self.store, "remove_listener"):
            self.store.remove_listener(self._on_change)
            self._listening = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    def _prime(self) -> None:
        """Load what the store already holds (a restarted manager, objects created before start)."""
        seen: set[tuple[str, str]] = set()
        for rt in self.store.registry.all():
            if rt.key in seen or rt.key in (EVENTS.key, EVENTS_V1.key):
                continue
            seen.add(rt.key)
            try:
                objs, _ = self.store.list(rt)
            except Exception as exc:
                log.debug("cannot prime %s: %s", rt.plural, exc)
                continue
            for obj in objs:
                self.cache.apply("ADDED", rt, obj)

    def _bootstrap(self) -> None:
        for ns in _SYSTEM_NAMESPACES:
            if self.cache.get(NAMESPACES, None, ns) is None and self.store.get(NAMESPACES, None, ns) is None:
                try:
                    self.store.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns, "labels": {
                                                       "kubernetes.io/metadata.name": ns}},
                                                   "spec": {"finalizers": ["kubernetes"]},
                                                   "status": {"phase": "Active"}})
                except Exception as exc:
                    log.debug("namespace %s: %s", ns, exc)
        self.controllers["volume-binder"].bootstrap()  # type: ignore[attr-defined]
        self.controllers["node-lifecycle"].bootstrap()  # type: ignore[attr-defined]

    # --- change routing ------------------------------------------------------------------------
    def _on_change(self, event_type: str, rt: ResourceType, obj: dict[str, Any]) -> None:
        if not self._running:
            return
        try:
            old = self.cache.apply(event_type, rt, obj)
            for ctrl in self._routes.get(rt.key, ()):
                ctrl.on_event(event_type, rt, obj, old)
            for ctrl in self._watch_all:
                ctrl.on_event(event_type, rt, obj, old)
        except Exception:  # a listener must never break the store's write path
            log.exception("controller listener failed on %s %s", event_type, rt.plural)

    def enqueue(self, controller: str, key: Hashable, delay: float = 0.0) -> None:
        item = (controller, key)
        if delay <= 0:
            self._dirty[item] = None
            if self._wake is not None:
                self._wake.set()
            return
        due = time.monotonic() + delay
        prev = self._due.get(item)
        if prev is not None and prev <= due:
            return  # an earlier wake-up is pending; that reconcile re-arms what it still needs
        self._due[item] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, item))
        if due < self._timer_at:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._loop is None or not self._running:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        # loop.time() and time.monotonic() share a clock on the default loop; convert to be safe
        self._timer = self._loop.call_at(self._loop.time() + max(0.0, due - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        now = time.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now + 0.001:
            due, _, item = heapq.heappop(heap)
            if self._due.get(item) == due:
                del self._due[item]
                self._dirty[item] = None
        if self._dirty and self._wake is not None:
            self._wake.set()
        while heap and self._due.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)  # superseded entries
        if heap:
            self._arm(heap[0][0])

    # --- the work loop -------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while self._running:
            await self._wake.wait()
            self._wake.clear()
            slice_start = time.monotonic()
            while self._dirty and self._running:
                batch = self._dirty
                self._dirty = {}
                # the scheduler works on whole batches: let everything else create pods first
                ordered = sorted(batch, key=lambda it: it[0] == "scheduler")
                for item in ordered:
                    self._reconcile(item)
                    if time.monotonic() - slice_start > _SLICE_SECONDS:
                        await asyncio.sleep(0)
                        slice_start = time.monotonic()
                await asyncio.sleep(0)
                slice_start = time.monotonic()

    def _reconcile(self, item: WorkKey) -> None:
        ctrl_name, key = item
        ctrl = self.controllers.get(ctrl_name)
        if ctrl is None:
            return
        self.reconciles += 1
        try:
            ctrl.reconcile(key)
            self._failures.pop(item, None)
        except Exception as exc:
            n = self._failures.get(item, 0) + 1
            self._failures[item] = n
            code = getattr(exc, "code", None)
            if code in (403, 404, 409):
                log.debug("%s %r: %s; retrying", ctrl_name, key, exc)
            else:
                log.warning("%s reconcile of %r failed (%d): %s", ctrl_name, key, n, exc,
                            exc_info=n == 1)
            self.enqueue(ctrl_name, key, min(0.05 * (2 ** min(n, 8)), 10.0))

    # --- queries for the API server ------------------------------------------------------------
    async def settle(self, timeout: float = 5.0) -> bool:
        """Wait until no immediate work is queued (timers may still be pending); for tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._dirty:
                await asyncio.sleep(0)
                if not self._dirty:
                    return True
            await asyncio.sleep(0.005)
        return False

    def pod_log(self, namespace: str, pod: str, container: str | None, *, tail_lines: int | None = None,
                previous: bool = False) -> str | None:
        """The log of one container (None: pod or container unknown).

        Raises the store's ApiError (400 BadRequest) where the real API refuses: the container is still
        waiting to start, or ``previous`` is asked and it never terminated.
        """
        return self.kubelet.pod_log(namespace, pod, container, tail_lines=tail_lines, previous=previous)
