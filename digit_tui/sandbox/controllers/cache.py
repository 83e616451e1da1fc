"""An informer-style cache fed synchronously by the store's change listener.

Controllers read from here instead of listing the store: no deep copies, and
the indexes (owner uid, node, labels) make the common look-ups O(matches)
instead of O(all pods), which is what keeps 5,000 pods on 50 nodes cheap.
Cached objects are shared with the store's notification: never mutate them;
copy (``clone``) before changing and writing back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from digit_tui.sandbox.resources import EVENTS, EVENTS_V1, LEASES, PODS, ResourceType

Obj = dict[str, Any]
RtKey = tuple[str, str]
ObjKey = tuple[str, str]  # (namespace or "", name)
# For annotations inside Cache, whose method ``list`` hides the builtin there:
Objs = list[Obj]
Names = list[str]
Idents = list[tuple[RtKey, str, str]]

# High-volume types no controller reads: only their ownership is tracked.
_NOT_CACHED = {EVENTS.key, EVENTS_V1.key, LEASES.key}


def _meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


class Cache:
    def __init__(self) -> None:
        self._objs: dict[RtKey, dict[ObjKey, Obj]] = defaultdict(dict)
        self._rts: dict[RtKey, ResourceType] = {}
        self._uids: dict[str, tuple[RtKey, str, str]] = {}
        self._obj_uid: dict[tuple[RtKey, str, str], str] = {}
        # owner uid -> dependents; dependent -> the owner uids it was indexed under
        self._dependents: dict[str, set[tuple[RtKey, str, str]]] = defaultdict(set)
        self._owners_of: dict[tuple[RtKey, str, str], tuple[str, ...]] = {}
        self._pods_by_node: dict[str, set[ObjKey]] = defaultdict(set)
        self._pod_node: dict[ObjKey, str] = {}
        # (namespace, label key, label value) -> pod names
        self._pod_labels: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        self._pod_label_items: dict[ObjKey, tuple[tuple[str, str], ...]] = {}
        self._by_ns: dict[RtKey, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))

    # --- feeding -------------------------------------------------------------------------------
    def apply(self, event_type: str, rt: ResourceType, obj: Obj) -> Obj | None:
        """Record one change; returns the previously cached object (None if new or not cached)."""
        key = rt.key
        self._rts.setdefault(key, rt)
        m = _meta(obj)
        ns = m.get("namespace") or ""
        name = m.get("name") or ""
        ident = (key, ns, name)
        okey = (ns, name)
        old = self._objs[key].get(okey) if key not in _NOT_CACHED else None
        if event_type == "DELETED":
            self._objs[key].pop(okey, None)
            self._by_ns[key][ns].discard(name)
            uid = self._obj_uid.pop(ident, None)
            if uid and self._uids.get(uid) == ident:
                del self._uids[uid]
            self._index_owners(ident, ())
            if key == PODS.key:
                self._index_pod(okey, None)
            return old
        uid = m.get("uid")
        if uid:
            prev_uid = self._obj_uid.get(ident)
            if prev_uid and prev_uid != uid and self._uids.get(prev_uid) == ident:
                del self._uids[prev_uid]
            self._uids[uid] = ident
            self._obj_uid[ident] = uid
        self._index_owners(ident, tuple(r.get("uid", "") for r in m.get("ownerReferences") or () if r.get("uid")))
        if key in _NOT_CACHED:
            return None
        self._objs[key][okey] = obj
        self._by_ns[key][ns].add(name)
        if key == PODS.key:
            self._index_pod(okey, obj)
        return old

    def _index_owners(self, ident: tuple[RtKey, str, str], owners: tuple[str, ...]) -> None:
        prev = self._owners_of.get(ident, ())
        if prev == owners:
            return
        for o in prev:
            deps = self._dependents.get(o)
            if deps is not None:
                deps.discard(ident)
                if not deps:
                    del self._dependents[o]
        for o in owners:
            self._dependents[o].add(ident)
        if owners:
            self._owners_of[ident] = owners
        else:
            self._owners_of.pop(ident, None)

    def _index_pod(self, okey: ObjKey, pod: Obj | None) -> None:
        node = ((pod or {}).get("spec") or {}).get("nodeName") or ""
        prev_node = self._pod_node.get(okey, "")
        if node != prev_node:
            if prev_node:
                self._pods_by_node[prev_node].discard(okey)
            if node:
                self._pods_by_node[node].add(okey)
                self._pod_node[okey] = node
            else:
                self._pod_node.pop(okey, None)
        ns, name = okey
        items = tuple(sorted((_meta(pod).get("labels") or {}).items())) if pod else ()
        prev_items = self._pod_label_items.get(okey, ())
        if items != prev_items:
            for k, v in prev_items:
                s = self._pod_labels.get((ns, k, v))
                if s is not None:
                    s.discard(name)
                    if not s:
                        del self._pod_labels[(ns, k, v)]
            for k, v in items:
                self._pod_labels[(ns, k, v)].add(name)
            if items:
                self._pod_label_items[okey] = items
            else:
                self._pod_label_items.pop(okey, None)

    # --- reading -------------------------------------------------------------------------------
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj | None:
        return self._objs[rt.key].get((namespace or "", name))

    def list(self, rt: ResourceType, namespace: str | None = None) -> Objs:
        objs = self._objs[rt.key]
        if namespace is None:
            return list(objs.values())
        return [objs[(namespace, n)] for n in self._by_ns[rt.key].get(namespace, ()) if (namespace, n) in objs]

    def count(self, rt: ResourceType) -> int:
        return len(self._objs[rt.key])

    def namespaces_of(self, rt: ResourceType) -> Names:
        return [ns for ns, names in self._by_ns[rt.key].items() if names]

    def rt_for(self, key: RtKey) -> ResourceType | None:
        return self._rts.get(key)

    def known_types(self) -> Iterable[ResourceType]:
        return list(self._rts.values())

    def uid_exists(self, uid: str) -> bool:
        return uid in self._uids

    def ident_of(self, uid: str) -> tuple[RtKey, str, str] | None:
        return self._uids.get(uid)

    def dependents(self, uid: str) -> Idents:
        return list(self._dependents.get(uid, ()))

    def owned_pods(self, owner_uid: str) -> Objs:
        """Pods whose ownerReferences name ``owner_uid`` (any, not only the controller)."""
        out: Objs = []
        pods = self._objs[PODS.key]
        for key, ns, name in self._dependents.get(owner_uid, ()):
            if key == PODS.key:
                pod = pods.get((ns, name))
                if pod is not None:
                    out.append(pod)
        return out

    def owned(self, rt: ResourceType, owner_uid: str) -> Objs:
        out: Objs = []
        objs = self._objs[rt.key]
        for key, ns, name in self._dependents.get(owner_uid, ()):
            if key == rt.key:
                obj = objs.get((ns, name))
                if obj is not None:
                    out.append(obj)
        return out

    def pods_on_node(self, node: str) -> Iterator[Obj]:
        pods = self._objs[PODS.key]
        for okey in list(self._pods_by_node.get(node, ())):
            pod = pods.get(okey)
            if pod is not None:
                yield pod

    def pods_matching(self, namespace: str, match_labels: dict[str, str]) -> Objs:
        """Candidate pods for a matchLabels selector (exact for matchLabels; callers re-check expressions)."""
        pods = self._objs[PODS.key]
        if not match_labels:
            return self.list(PODS, namespace)
        sets = []
        for k, v in match_labels.items():
            s = self._pod_labels.get((namespace, k, str(v)))
            if not s:
                return []
            sets.append(s)
        sets.sort(key=len)
        names = set(sets[0])
        for s in sets[1:]:
            names &= s
        return [pods[(namespace, n)] for n in names if (namespace, n) in pods]
