"""Namespace finalization: a Terminating namespace has everything in it deleted, workload
controllers first (so they stop making pods), and is removed once nothing is left."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import is_deleting, name_of
from digit_tui.sandbox.resources import (CRONJOBS, DAEMONSETS, DEPLOYMENTS, JOBS, NAMESPACES, REPLICASETS,
                                         STATEFULSETS, ResourceType)

Obj = dict[str, Any]
_FIRST = (CRONJOBS.key, DEPLOYMENTS.key, STATEFULSETS.key, DAEMONSETS.key, JOBS.key, REPLICASETS.key)
_RECHECK = 0.2  # seconds between checks while objects with finalizers are still going away


class NamespaceController(Controller):
    name = "namespace"
    watches: tuple[ResourceType, ...] = (NAMESPACES,)
    component = "namespace-controller"

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if event_type != "DELETED" and is_deleting(obj):
            self.enqueue(name_of(obj))

    def resync(self) -> None:
        for ns in self.cache.list(NAMESPACES):
            if is_deleting(ns):
                self.enqueue(name_of(ns))

    def _types(self) -> list[ResourceType]:
        seen: dict[tuple[str, str], ResourceType] = {}
        for rt in self.store.registry.all():
            if rt.namespaced and rt.key not in seen:
                seen[rt.key] = rt
        return sorted(seen.values(), key=lambda rt: (0 if rt.key in _FIRST else 1, _FIRST.index(rt.key)
                                                     if rt.key in _FIRST else 0))

    def reconcile(self, key: Hashable) -> None:
        name = str(key)
        ns = self.store.get_ref(NAMESPACES, None, name)
        if ns is None or not is_deleting(ns):
            return
        remaining = 0
        for rt in self._types():
            refs, _ = self.store.list_refs(rt, name)
            for obj in list(refs):
                remaining += 1
                if is_deleting(obj):
                    continue
                try:
                    self.store.delete(rt, name, name_of(obj), propagation="Background")
                except Exception as exc:
                    if getattr(exc, "code", None) != 404:
                        raise
        if remaining:
            # recheck: objects with finalizers need their controllers to let go first
            left = sum(len(self.store.list_refs(rt, name)[0]) for rt in self._types())
            if left:
                self.enqueue(name, _RECHECK)
                return
        self.store.finalize_namespace(name)
