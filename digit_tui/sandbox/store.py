"""The sandbox's in-memory object store: the etcd + registry part of a Kubernetes API server.

All methods are synchronous and are only called from the event-loop thread, so
there are no locks.  Stored objects are never mutated in place: every change
builds a new dict, which lets the watch history and list responses share them
without copying.  Everything handed to callers (and listeners) is a copy.

Conventions controllers rely on:
- ``update`` is a full replace guarded by ``metadata.resourceVersion`` (stale -> 409
  Conflict; omit it to force).  An update that changes nothing keeps the
  resourceVersion and emits no event, as the real API does.
- Namespaces: ``delete`` marks them Terminating (deletionTimestamp, status.phase);
  the namespace controller deletes the contents and then calls
  ``finalize_namespace(name)`` (or ``update`` with ``spec.finalizers: []`` and no
  ``metadata.finalizers``, the /finalize semantics), which removes it.
- Objects with ``metadata.finalizers``: ``delete`` only sets deletionTimestamp; an
  ``update`` that empties the finalizers removes the object.
- ``purge`` removes an object unconditionally (for controllers that own the end of
  an object's life).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as _dt
import ipaddress
import pickle
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from digit_tui.sandbox import defaults, resources
from digit_tui.sandbox.resources import Registry, ResourceType
from digit_tui.sandbox.selectors import Predicate, SelectorError, field_equalities, field_predicate, label_predicate

Listener = Callable[[str, ResourceType, dict[str, Any]], None]
Objs = list[dict[str, Any]]   # for annotations inside Store, whose method ``list`` hides the builtin there

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Types whose names may be any path segment (the real API is lax for these).
_LAX_NAMES = {("rbac.authorization.k8s.io", "clusterroles"), ("rbac.authorization.k8s.io", "clusterrolebindings"),
              ("rbac.authorization.k8s.io", "roles"), ("rbac.authorization.k8s.io", "rolebindings"),
              ("", "events"), ("events.k8s.io", "events")}
_DNS_LABEL_TYPES = {("", "namespaces"), ("", "services")}


def clone(obj: Any) -> Any:
    """Deep copy of JSON-shaped data; pickle round trip is ~4x faster than copy.deepcopy."""
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


class ApiError(Exception):
    """An API failure carrying what the real server would put in its ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": self.message, "reason": self.reason, "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    @staticmethod
    def not_found(rt: ResourceType, name: str) -> ApiError:
        return ApiError(404, "NotFound", f'{_resource_name(rt)} "{name}" not found',
                        details={"name": name, "group": rt.group, "kind": rt.plural})

    @staticmethod
    def already_exists(rt: ResourceType, name: str) -> ApiError:
        return ApiError(409, "AlreadyExists", f'{_resource_name(rt)} "{name}" already exists',
                        details={"name": name, "group": rt.group, "kind": rt.plural})

    @staticmethod
    def conflict(rt: ResourceType, name: str) -> ApiError:
        return ApiError(409, "Conflict",
                        f'Operation cannot be fulfilled on {_resource_name(rt)} "{name}": the object has been '
                        "modified; please apply your changes to the latest version and try again",
                        details={"name": name, "group": rt.group, "kind": rt.plural})

    @staticmethod
    def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
        text = "; ".join(f"{f}: {m}" for f, m in causes)
        return ApiError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {text}',
                        details={"name": name, "group": rt.group, "kind": rt.kind,
                                 "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                            for f, m in causes]})

    @staticmethod
    def bad_request(message: str) -> ApiError:
        return ApiError(400, "BadRequest", message)

    @staticmethod
    def gone(message: str) -> ApiError:
        return ApiError(410, "Expired", message)


def _resource_name(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


@dataclass
class WatchEvent:
    type: str  # ADDED / MODIFIED / DELETED / BOOKMARK / ERROR
    obj: dict[str, Any]  # a stored (shared, read-only) object or a Status body


@dataclass(eq=False)
class Watch:
    """One open watch: the server drains ``queue``; the store pushes into it on every commit."""

    rt: ResourceType
    namespace: str | None
    match: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[WatchEvent | None] = field(default_factory=asyncio.Queue)
    closed: bool = False
    max_backlog: int = 200_000

    def push(self, ev: WatchEvent | None) -> None:
        if self.closed:
            return
        if ev is None or self.queue.qsize() >= self.max_backlog:
            # A watcher that cannot keep up is closed; its client relists, like the real API.
            self.closed = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(ev)


@dataclass
class _HistoryEntry:
    rv: int
    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None


class Store:
    """Objects by type -> namespace -> name; a global resourceVersion; bounded per-type watch history."""

    def __init__(self, registry: Registry | None = None, *, history: int = 5_000, max_events: int = 10_000) -> None:
        self.registry = registry or Registry()
        self._objs: dict[tuple[str, str], dict[str, dict[str, dict[str, Any]]]] = {}
        self._rv = 1
        self._history_size = history
        self._history: dict[tuple[str, str], collections.deque[_HistoryEntry]] = {}
        self._floor: dict[tuple[str, str], int] = {}
        self._listeners: list[Listener] = []
        self._watches: dict[tuple[str, str], set[Watch]] = {}
        self._event_keys: dict[tuple[str, str, str, str, str], str] = {}
        # Recorded events, oldest first: the real API expires events after 1h; we keep a bounded number.
        self._event_order: collections.deque[tuple[str, str, tuple[str, str, str, str, str]]] = collections.deque()
        self.max_events = max_events
        self._ip_next = int(ipaddress.ip_address("10.96.0.10"))
        self._used_node_ports: set[int] = set()

    # ----------------------------------------------------------------- basics
    def now(self) -> str:
        return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _bucket(self, rt: ResourceType) -> dict[str, dict[str, dict[str, Any]]]:
        return self._objs.setdefault(rt.key, {})

    def _ns_of(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "default") if rt.namespaced else ""

    def _view(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        out = clone(obj)
        out["apiVersion"] = rt.api_version
        out["kind"] = rt.kind
        return out

    # ------------------------------------------------------------------ reads
    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        obj = self.get_ref(rt, namespace, name)
        return None if obj is None else self._view(rt, obj)

    def get_ref(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The stored object itself: read-only, for the server's serializers."""
        return self._bucket(rt).get(self._ns_of(rt, namespace), {}).get(name)

    def list(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None) -> tuple[Objs, str]:
        refs, rv = self.list_refs(rt, namespace, label_selector=label_selector, field_selector=field_selector)
        return [self._view(rt, o) for o in refs], rv

    def list_refs(self, rt: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
                  field_selector: str | None = None) -> tuple[Objs, str]:
        """Stored objects (read-only, sorted by namespace and name) and the list resourceVersion."""
        match = self._matcher(label_selector, field_selector)
        bucket = self._bucket(rt)
        eq = field_equalities(field_selector)
        if rt.namespaced:
            ns_filter = namespace or eq.get("metadata.namespace")
            spaces = [ns_filter] if ns_filter else sorted(bucket)
        else:
            spaces = [""]
        out: list[dict[str, Any]] = []
        only_name = eq.get("metadata.name")
        for ns in spaces:
            objs = bucket.get(ns)
            if not objs:
                continue
            if only_name is not None:
                cands: Iterable[dict[str, Any]] = [objs[only_name]] if only_name in objs else []
            else:
                cands = (objs[n] for n in sorted(objs))
            out.extend(o for o in cands if match is None or match(o))
        return out, str(self._rv)

    def _matcher(self, label_selector: str | None, field_selector: str | None) -> Predicate | None:
        try:
            lp = label_predicate(label_selector)
            fp = field_predicate(field_selector)
        except SelectorError as exc:
            raise ApiError.bad_request(str(exc)) from exc
        if lp and fp:
            return lambda o: lp(o) and fp(o)
        return lp or fp

    def count(self, rt: ResourceType) -> int:
        return sum(len(v) for v in self._bucket(rt).values())

    # ----------------------------------------------------------------- writes
    def create(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        new = clone(obj)
        meta = new.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError.bad_request("metadata must be an object")
        new["apiVersion"] = rt.api_version
        new["kind"] = rt.kind
        ns = self._ns_of(rt, meta.get("namespace"))
        if rt.namespaced:
            meta["namespace"] = ns
            nsobj = self.get_ref(resources.NAMESPACES, None, ns)
            if nsobj is None:
                raise ApiError(404, "NotFound", f'namespaces "{ns}" not found',
                               details={"name": ns, "kind": "namespaces"})
            if (nsobj.get("metadata") or {}).get("deletionTimestamp"):
                raise ApiError(403, "Forbidden",
                               f'{rt.plural} "{meta.get("name") or meta.get("generateName", "")}" is forbidden: '
                               f"unable to create new content in namespace {ns} because it is being terminated",
                               details={"name": meta.get("name", ""), "kind": rt.plural, "causes": [
                                   {"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                    "message": f"namespace {ns} is being terminated"}]})
        else:
            meta.pop("namespace", None)
        bucket = self._bucket(rt).setdefault(ns, {})
        name: str = meta.get("name") or ""
        if not name:
            gen = meta.get("generateName")
            if not gen:
                raise ApiError.invalid(rt, "", [("metadata.name", "Required value: name or generateName is required")])
            for _ in range(100):
                name = gen + uuid.uuid4().hex[:5]
                if name not in bucket:
                    break
            meta["name"] = name
        self._validate_name(rt, name)
        if name in bucket:
            raise ApiError.already_exists(rt, name)
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.now()
        if "spec" in new or rt.key == resources.CRDS.key or self.registry.is_crd_type(rt):
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        defaults.apply(rt, new, self)
        if rt.key == resources.CRDS.key:
            self._check_crd(new)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        bucket[name] = new
        if rt.key == resources.CRDS.key:
            self._register_crd(new)
        self._commit("ADDED", rt, new, None)
        return self._view(rt, new)

    def _validate_name(self, rt: ResourceType, name: str) -> None:
        if rt.key in _LAX_NAMES:
            if "/" in name or name in (".", ".."):
                raise ApiError.invalid(rt, name, [("metadata.name", f'Invalid value: "{name}": may not contain "/"')])
            return
        if rt.key in _DNS_LABEL_TYPES:
            ok, what = len(name) <= 63 and bool(_LABEL_NAME_RE.match(name)), "RFC 1123 label"
        else:
            ok, what = len(name) <= 253 and bool(_NAME_RE.match(name)), "RFC 1123 subdomain"
        if not ok:
            raise ApiError.invalid(rt, name, [(
                "metadata.name",
                f'Invalid value: "{name}": a lowercase {what} must consist of lower case alphanumeric '
                "characters, '-' or '.', and must start and end with an alphanumeric character")])

    def update(self, rt: ResourceType, obj: dict[str, Any], *, subresource: str | None = None) -> dict[str, Any]:
        meta_in = obj.get("metadata") or {}
        name = meta_in.get("name", "")
        ns = self._ns_of(rt, meta_in.get("namespace"))
        bucket = self._bucket(rt).get(ns, {})
        old = bucket.get(name)
        if old is None:
            raise ApiError.not_found(rt, name)
        want_rv = meta_in.get("resourceVersion")
        old_meta = old["metadata"]
        if want_rv and str(want_rv) != old_meta["resourceVersion"]:
            raise ApiError.conflict(rt, name)
        has_status = "status" in rt.subresources
        if subresource == "status":
            new = clone(old)
            if "status" in obj:
                new["status"] = clone(obj["status"])
            else:
                new.pop("status", None)
        else:
            new = clone(obj)
            new["apiVersion"] = rt.api_version
            new["kind"] = rt.kind
            if has_status:
                if "status" in old:
                    new["status"] = clone(old["status"])
                else:
                    new.pop("status", None)
            meta = new.setdefault("metadata", {})
            # Fields the client cannot change.
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if k in old_meta:
                    meta[k] = old_meta[k]
                else:
                    meta.pop(k, None)
            meta["name"] = name
            if rt.namespaced:
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            if "generation" in old_meta:
                meta["generation"] = old_meta["generation"]
                if _spec_of(new) != _spec_of(old):
                    meta["generation"] = meta["generation"] + 1
            else:
                meta.pop("generation", None)
            defaults.apply(rt, new, self, old=old)
        new["metadata"]["resourceVersion"] = old_meta["resourceVersion"]
        if rt.key == resources.CRDS.key and subresource != "status":
            self._check_crd(new)
        if new == old:
            return self._view(rt, old)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers") and not (
                rt.key == resources.NAMESPACES.key and (new.get("spec") or {}).get("finalizers")):
            return self._remove(rt, ns, name, new)
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        bucket[name] = new
        if rt.key == resources.CRDS.key:
            self._register_crd(new)
        self._commit("MODIFIED", rt, new, old)
        return self._view(rt, new)

    def delete(self, rt: ResourceType, namespace: str | None, name: str, *,
               propagation: str = "Background", preconditions: dict[str, Any] | None = None) -> dict[str, Any] | None:
        ns = self._ns_of(rt, namespace)
        bucket = self._bucket(rt).get(ns, {})
        old = bucket.get(name)
        if old is None:
            raise ApiError.not_found(rt, name)
        old_meta = old["metadata"]
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != old_meta.get("uid"):
                raise ApiError(409, "Conflict", f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                                                f"UID in object meta: {old_meta.get('uid')}")
            if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != old_meta[
                    "resourceVersion"]:
                raise ApiError.conflict(rt, name)
        if propagation == "Orphan":
            self._orphan_dependents(ns, old_meta.get("uid", ""))
        if rt.key == resources.NAMESPACES.key:
            if old_meta.get("deletionTimestamp"):
                return self._view(rt, old)
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = self.now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            return self._put_modified(rt, ns, name, new, old)
        if old_meta.get("finalizers"):
            if old_meta.get("deletionTimestamp"):
                return self._view(rt, old)
            new = clone(old)
            new["metadata"]["deletionTimestamp"] = self.now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._put_modified(rt, ns, name, new, old)
        return self._remove(rt, ns, name, old)

    def purge(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        """Remove an object now, whatever its finalizers say; None if it was not there."""
        ns = self._ns_of(rt, namespace)
        old = self._bucket(rt).get(ns, {}).get(name)
        if old is None:
            return None
        return self._remove(rt, ns, name, old)

    def finalize_namespace(self, name: str) -> dict[str, Any] | None:
        """End of namespace termination: drop the "kubernetes" finalizer and remove the namespace."""
        old = self.get_ref(resources.NAMESPACES, None, name)
        if old is None:
            return None
        if not old["metadata"].get("deletionTimestamp"):
            raise ApiError(409, "Conflict", f'namespace "{name}" is not terminating')
        return self._remove(resources.NAMESPACES, "", name, old)

    def _put_modified(self, rt: ResourceType, ns: str, name: str, new: dict[str, Any],
                      old: dict[str, Any]) -> dict[str, Any]:
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        self._bucket(rt)[ns][name] = new
        self._commit("MODIFIED", rt, new, old)
        return self._view(rt, new)

    def _remove(self, rt: ResourceType, ns: str, name: str, last: dict[str, Any]) -> dict[str, Any]:
        bucket = self._bucket(rt)
        objs = bucket.get(ns, {})
        old = objs.pop(name, None)
        if not objs:
            bucket.pop(ns, None)
        gone = clone(last)
        self._rv += 1
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._commit("DELETED", rt, gone, old)
        if rt.key == resources.CRDS.key:
            self._unregister_crd(gone)
        return self._view(rt, gone)

    def _orphan_dependents(self, ns: str, uid: str) -> None:
        if not uid:
            return
        seen: set[tuple[str, str]] = set()
        for rt in list(self.registry.all()):
            if rt.key in seen:  # several versions share one storage
                continue
            seen.add(rt.key)
            for obj in list(self._bucket(rt).get(ns, {}).values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    new = clone(obj)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self._put_modified(rt, ns, obj["metadata"]["name"], new, obj)

    # ------------------------------------------------------------------- CRDs
    def _check_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        name = crd["metadata"].get("name", "")
        causes = []
        if not spec.get("group"):
            causes.append(("spec.group", "Required value"))
        if not names.get("plural") or not names.get("kind"):
            causes.append(("spec.names", "Required value: plural and kind are required"))
        if not spec.get("versions"):
            causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version"))
        if not causes and name != f"{names['plural']}.{spec['group']}":
            causes.append(("metadata.name", f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group'))
        if causes:
            raise ApiError.invalid(resources.CRDS, name, causes)

    def _register_crd(self, crd: dict[str, Any]) -> None:
        self.registry.add_crd(crd)
        if crd.get("status", {}).get("acceptedNames") is None:
            # The real apiextensions controller reports these; clients wait for Established.
            names = (crd.get("spec") or {}).get("names") or {}
            now = self.now()
            crd["status"] = {
                "acceptedNames": {k: v for k, v in names.items() if k in (
                    "plural", "singular", "kind", "listKind", "shortNames", "categories")},
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                     "message": "no conflicts found", "lastTransitionTime": now},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                     "message": "the initial names have been accepted", "lastTransitionTime": now},
                ],
                "storedVersions": [v.get("name") for v in (crd.get("spec") or {}).get("versions") or []
                                   if v.get("storage")],
            }
            crd["status"]["acceptedNames"].setdefault("listKind", names.get("kind", "") + "List")

    def _unregister_crd(self, crd: dict[str, Any]) -> None:
        types = self.registry.remove_crd(crd["metadata"].get("name", ""))
        seen: set[tuple[str, str]] = set()
        for rt in types:
            if rt.key in seen:
                continue
            seen.add(rt.key)
            for ns, objs in list(self._objs.get(rt.key, {}).items()):
                for name, obj in list(objs.items()):
                    self._remove(rt, ns, name, obj)

    # ----------------------------------------------------------------- events
    def record_event(self, involved: dict[str, Any], rt: ResourceType, reason: str, message: str,
                     type_: str = "Normal", component: str = "sandbox", *, host: str | None = None
                     ) -> dict[str, Any] | None:
        """Create (or bump the count of) a core/v1 Event about ``involved``, as the real recorders do.

        Returns None when the event cannot be stored (its namespace is gone or terminating).
        """
        meta = involved.get("metadata") or {}
        ns = meta.get("namespace") or "default"
        if self.get_ref(resources.NAMESPACES, None, ns) is None:
            ns = "default"
        key = (ns, meta.get("uid", ""), reason, message, component)
        now = self.now()
        existing_name = self._event_keys.get(key)
        if existing_name:
            ev_ns, ev_name = existing_name.split("/", 1)
            old = self.get_ref(resources.EVENTS, ev_ns, ev_name)
            if old is not None:
                new = clone(old)
                new["count"] = int(new.get("count", 1)) + 1
                new["lastTimestamp"] = now
                return self._put_modified(resources.EVENTS, ev_ns, ev_name, new, old)
        name = f"{meta.get('name', 'unknown')}.{uuid.uuid4().hex[:16]}"
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        ev = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {k: v for k, v in {
                "apiVersion": rt.api_version, "kind": rt.kind, "namespace": meta.get("namespace"),
                "name": meta.get("name"), "uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion"),
            }.items() if v},
            "reason": reason, "message": message, "type": type_, "count": 1,
            "firstTimestamp": now, "lastTimestamp": now, "source": source,
            "reportingComponent": component, "reportingInstance": host or "",
        }
        try:
            created = self.create(resources.EVENTS, ev)
        except ApiError:
            # e.g. the namespace is terminating: the real recorder drops the event too.
            return None
        self._event_keys[key] = f"{ns}/{name}"
        self._event_order.append((ns, name, key))
        while len(self._event_order) > self.max_events:
            old_ns, old_name, old_key = self._event_order.popleft()
            if self._event_keys.get(old_key) == f"{old_ns}/{old_name}":
                del self._event_keys[old_key]
            self.purge(resources.EVENTS, old_ns, old_name)
        return created

    # ---------------------------------------------------------------- service IPs
    def allocate_cluster_ip(self) -> str:
        ip = ipaddress.ip_address(self._ip_next)
        self._ip_next += 1
        return str(ip)

    def allocate_node_port(self) -> int:
        for port in range(30000, 32768):
            if port not in self._used_node_ports:
                self._used_node_ports.add(port)
                return port
        raise ApiError(422, "Invalid", "provided port range is exhausted")

    # ---------------------------------------------------------------- watches
    def watch(self, rt: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None) -> Watch:
        """Open a watch; initial events (replayed history, or ADDED for everything) are already queued.

        Raises ApiError 410 Expired when ``resource_version`` is older than the kept history.
        """
        match = self._matcher(label_selector, field_selector)
        want_ns = namespace if rt.namespaced else None

        def scoped(o: dict[str, Any]) -> bool:
            if want_ns and (o.get("metadata") or {}).get("namespace") != want_ns:
                return False
            return match is None or match(o)

        w = Watch(rt=rt, namespace=want_ns, match=scoped)
        if resource_version in (None, "", "0"):
            refs, _ = self.list_refs(rt, namespace, label_selector=label_selector, field_selector=field_selector)
            for o in refs:
                w.push(WatchEvent("ADDED", o))
        else:
            try:
                since = int(resource_version)
            except ValueError as exc:
                raise ApiError.bad_request(f"invalid resource version: {resource_version}") from exc
            floor = self._floor.get(rt.key, 0)
            if since < floor:
                raise ApiError.gone(f"too old resource version: {since} ({floor})")
            for entry in self._history.get(rt.key, ()):
                if entry.rv > since:
                    self._deliver(w, entry.type, entry.obj, entry.old)
        self._watches.setdefault(rt.key, set()).add(w)
        return w

    def unwatch(self, w: Watch) -> None:
        self._watches.get(w.rt.key, set()).discard(w)
        w.closed = True

    def close_watches(self) -> int:
        """End every open watch stream (fault injection); returns how many were open."""
        n = 0
        for ws in self._watches.values():
            for w in list(ws):
                if not w.closed:
                    n += 1
                w.push(None)
            ws.clear()
        return n

    def expire_history(self) -> None:
        """Forget all watch history: any resume from an older resourceVersion gets 410 (tests, faults)."""
        for key in list(self._history):
            self._history[key].clear()
            self._floor[key] = self._rv
        for rt in self.registry.all():
            self._floor[rt.key] = self._rv

    def _deliver(self, w: Watch, type_: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        now_in = w.match(obj)
        if type_ == "MODIFIED" and old is not None:
            was_in = w.match(old)
            if now_in and not was_in:
                w.push(WatchEvent("ADDED", obj))
            elif was_in and not now_in:
                w.push(WatchEvent("DELETED", obj))
            elif now_in:
                w.push(WatchEvent("MODIFIED", obj))
            return
        if now_in:
            w.push(WatchEvent(type_, obj))

    def _commit(self, type_: str, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        hist = self._history.get(rt.key)
        if hist is None:
            hist = self._history[rt.key] = collections.deque(maxlen=self._history_size)
        if len(hist) == self._history_size:
            self._floor[rt.key] = hist[0].rv
        hist.append(_HistoryEntry(self._rv, type_, obj, old))
        for w in list(self._watches.get(rt.key, ())):
            if w.closed:
                self._watches[rt.key].discard(w)
                continue
            self._deliver(w, type_, obj, old)
        if self._listeners:
            shared = clone(obj)
            shared["apiVersion"] = rt.api_version
            shared["kind"] = rt.kind
            for fn in list(self._listeners):
                fn(type_, rt, shared)


def _spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything that counts for metadata.generation: all but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
