"""Garbage collector: dependents whose owners are all gone are deleted (Background propagation);
dangling owner references are dropped when other owners remain; ``foregroundDeletion`` and
``orphan`` finalizers are honoured. ``blockOwnerDeletion`` is treated loosely: an owner in
foreground deletion waits until its dependents are gone, whatever the flag says."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import clone, meta, name_of, ns_of, uid_of
from digit_tui.sandbox.resources import EVENTS, EVENTS_V1, ResourceType

Obj = dict[str, Any]
_SKIP = {EVENTS.key, EVENTS_V1.key}


class GarbageCollector(Controller):
    name = "garbage-collector"
    watch_all = True
    component = "garbage-collector-controller"

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt.key in _SKIP:
            return
        m = meta(obj)
        refs = m.get("ownerReferences") or ()
        if event_type == "DELETED":
            uid = m.get("uid", "")
            for dep in self.cache.dependents(uid):
                self.enqueue(("dep",) + dep)
            for ref in refs:  # an owner in foreground deletion may now be free to go
                ident = self.cache.ident_of(ref.get("uid", ""))
                if ident is not None:
                    self.enqueue(("owner",) + ident)
            return
        if any(not self.cache.uid_exists(r.get("uid", "")) for r in refs):
            self.enqueue(("dep", rt.key, ns_of(obj), name_of(obj)))
        if m.get("deletionTimestamp") and {"foregroundDeletion", "orphan"} & set(m.get("finalizers") or ()):
            self.enqueue(("owner", rt.key, ns_of(obj), name_of(obj)))

    def resync(self) -> None:
        for rt in self.cache.known_types():
            if rt.key in _SKIP:
                continue
            for obj in self.cache.list(rt):
                self.on_event("ADDED", rt, obj, None)

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        what, rtkey, ns, name = key
        rt = self.cache.rt_for(rtkey)
        if rt is None:
            return
        obj = self.cache.get(rt, ns, name)
        if obj is None:
            return
        if what == "dep":
            self._dependent(rt, obj)
        else:
            self._owner(rt, obj)

    def _dependent(self, rt: ResourceType, obj: Obj) -> None:
        refs = meta(obj).get("ownerReferences") or []
        live = [r for r in refs if self.cache.uid_exists(r.get("uid", ""))]
        if len(live) == len(refs):
            return
        if not live:
            try:
                self.store.delete(rt, ns_of(obj) or None, name_of(obj), propagation="Background")
            except Exception as exc:
                if getattr(exc, "code", None) != 404:
                    raise
            return
        new = clone(obj)
        new["metadata"]["ownerReferences"] = live
        self.store.update(rt, new)

    def _owner(self, rt: ResourceType, obj: Obj) -> None:
        m = meta(obj)
        finalizers = list(m.get("finalizers") or ())
        if not m.get("deletionTimestamp"):
            return
        uid = uid_of(obj)
        deps = self.cache.dependents(uid)
        if "orphan" in finalizers:
            for dep_key, dns, dname in deps:
                drt = self.cache.rt_for(dep_key)
                dep = self.cache.get(drt, dns, dname) if drt else None
                if drt is None or dep is None:
                    continue
                new = clone(dep)
                new["metadata"]["ownerReferences"] = [r for r in meta(dep).get("ownerReferences") or ()
                                                      if r.get("uid") != uid]
                if not new["metadata"]["ownerReferences"]:
                    del new["metadata"]["ownerReferences"]
                self.store.update(drt, new)
            finalizers.remove("orphan")
        elif "foregroundDeletion" in finalizers:
            remaining = 0
            for dep_key, dns, dname in deps:
                drt = self.cache.rt_for(dep_key)
                dep = self.cache.get(drt, dns, dname) if drt else None
                if drt is None or dep is None:
                    continue
                remaining += 1
                if not meta(dep).get("deletionTimestamp"):
                    try:
                        self.store.delete(drt, dns or None, dname, propagation="Foreground")
                    except Exception as exc:
                        if getattr(exc, "code", None) != 404:
                            raise
            if remaining and any((dependent_rt := self.cache.rt_for(k)) is not None
                                 and self.cache.get(dependent_rt, n, nm) is not None
                                 for k, n, nm in self.cache.dependents(uid)):
                return  # woken again when a dependent goes
            finalizers.remove("foregroundDeletion")
        else:
            return
        current = self.cache.get(rt, ns_of(obj), name_of(obj))
        if current is None:
            return
        new = clone(current)
        new["metadata"]["finalizers"] = finalizers
        if not finalizers:
            del new["metadata"]["finalizers"]
        self.store.update(rt, new)
