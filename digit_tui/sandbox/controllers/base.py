"""The base of every simulated controller: keys in, idempotent synchronous reconcile out."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from digit_tui.sandbox.resources import ResourceType

if TYPE_CHECKING:
    from digit_tui.sandbox.manager import ControllerManager

log = logging.getLogger("digit_tui.sandbox.controllers")

Obj = dict[str, Any]


class Controller:
    """A reconcile loop. ``watches`` route store changes to ``on_event``; ``reconcile(key)`` converges one key.

    Reconciles are synchronous and run on the event loop between awaits, so what they read
    from the cache cannot change under them. They must be idempotent and write only when
    something differs, otherwise their own writes would requeue them forever.
    """

    name = "controller"
    watches: tuple[ResourceType, ...] = ()
    watch_all = False  # receive changes of every type (garbage collector, namespace finalizer)
    # Changes of ``child_type`` objects are routed to the ``owner_kind`` object controlling them.
    child_type: ResourceType | None = None
    owner_kind = ""

    def __init__(self, mgr: ControllerManager) -> None:
        self.mgr = mgr
        self.store = mgr.store
        self.cache = mgr.cache
        self.cfg = mgr.config

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        """Map a change to keys; default: a child's controlling owner, else the object's own (namespace, name)."""
        if self.child_type is not None and rt.key == self.child_type.key:
            self.enqueue_owner(obj)
            return
        m = obj.get("metadata") or {}
        self.enqueue((m.get("namespace") or "", m.get("name", "")))

    def enqueue_owner(self, obj: Obj) -> None:
        """Enqueue the ``owner_kind`` object that controls ``obj``, if any."""
        m = obj.get("metadata") or {}
        for ref in m.get("ownerReferences") or ():
            if ref.get("controller") and ref.get("kind") == self.owner_kind:
                self.enqueue((m.get("namespace") or "", ref.get("name", "")))
                return

    def reconcile(self, key: Hashable) -> None:
        raise NotImplementedError

    def resync(self) -> None:
        """Enqueue everything this controller owns (at start)."""
        for rt in self.watches[:1]:
            for obj in self.cache.list(rt):
                m = obj.get("metadata") or {}
                self.enqueue((m.get("namespace") or "", m.get("name", "")))

    def enqueue(self, key: Hashable, delay: float = 0.0) -> None:
        self.mgr.enqueue(self.name, key, delay)

    def event(self, obj: Obj, rt: ResourceType, reason: str, message: str, type_: str = "Normal",
              component: str | None = None) -> None:
        try:
            self.store.record_event(obj, rt, reason, message, type_=type_, component=component or self.component)
        except Exception as exc:  # an event is never worth failing a reconcile (e.g. namespace terminating)
            log.debug("event %s on %s not recorded: %s", reason, (obj.get("metadata") or {}).get("name"), exc)

    component = "controller-manager"

    def create_pod(self, owner: Obj, owner_rt: ResourceType, pod: Obj, *,
                   created: Callable[[str], str] = lambda name: f"Created pod: {name}",
                   failed: Callable[[str, Exception], str] = lambda name, exc: f"Error creating: {exc}") -> Obj | None:
        """Create ``pod`` for ``owner`` with the controller's events; None when it already exists (a
        reconcile racing its own earlier create). The wording differs per controller, as in Kubernetes."""
        from digit_tui.sandbox.resources import PODS

        name = (pod.get("metadata") or {}).get("name", "")
        try:
            made = self.store.create(PODS, pod)
        except Exception as exc:
            if getattr(exc, "code", None) == 409:
                return None
            self.event(owner, owner_rt, "FailedCreate", failed(name, exc), "Warning")
            raise
        self.event(owner, owner_rt, "SuccessfulCreate", created((made.get("metadata") or {}).get("name", name)))
        return made

    def delete_pod(self, owner: Obj, owner_rt: ResourceType, pod: Obj, *,
                   deleted: Callable[[str], str] = lambda name: f"Deleted pod: {name}") -> bool:
        """Delete ``pod`` with the owner's event; False when it was already gone."""
        from digit_tui.sandbox.resources import PODS

        m = pod.get("metadata") or {}
        try:
            self.store.delete(PODS, m.get("namespace") or "", m.get("name", ""))
        except Exception as exc:
            if getattr(exc, "code", None) != 404:
                raise
            return False
        self.event(owner, owner_rt, "SuccessfulDelete", deleted(m.get("name", "")))
        return True

    def now(self) -> str:
        return self.store.now()
