"""Endpoints: for every Service with a selector, the addresses of matching pods (ready ones in
``addresses``, others in ``notReadyAddresses``), ports resolved from targetPort (numbers or
container port names). Services without a selector keep their hand-made Endpoints (DIGIT's
external ``db`` Service relies on that)."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import (clone, is_deleting, labels_of, meta, name_of, ns_of, pod_is_ready,
                                                spec_of, status_of)
from digit_tui.sandbox.resources import ENDPOINTS, PODS, SERVICES, ResourceType

Obj = dict[str, Any]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _endpoint_view(pod: Obj) -> tuple[Any, ...]:
    """The parts of a pod that endpoints depend on."""
    st = status_of(pod)
    return (labels_of(pod), st.get("podIP"), st.get("phase"), pod_is_ready(pod), spec_of(pod).get("nodeName"),
            meta(pod).get("deletionTimestamp"))


def _resolve_port(target: Any, pod: Obj) -> int | None:
    if isinstance(target, int):
        return target
    s = str(target)
    if s.isdigit():
        return int(s)
    for c in spec_of(pod).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == s:
                return int(p.get("containerPort"))
    return None


class EndpointsController(Controller):
    name = "endpoints"
    watches: tuple[ResourceType, ...] = (SERVICES, PODS, ENDPOINTS)
    component = "endpoint-controller"

    def __init__(self, mgr: Any) -> None:
        super().__init__(mgr)
        # (namespace, label key, label value) of one selector term -> services; a pod change looks up
        # only the services that could select it instead of scanning every Service in the namespace
        self._index: dict[tuple[str, str, str], set[str]] = {}
        self._indexed: dict[tuple[str, str], tuple[str, str, str]] = {}

    def _index_service(self, event_type: str, svc: Obj) -> None:
        key = (ns_of(svc), name_of(svc))
        prev = self._indexed.pop(key, None)
        if prev is not None:
            names = self._index.get(prev)
            if names is not None:
                names.discard(key[1])
                if not names:
                    del self._index[prev]
        sel = spec_of(svc).get("selector")
        if event_type == "DELETED" or not sel:
            return
        k = sorted(sel)[0]
        term = (key[0], k, str(sel[k]))
        self._index.setdefault(term, set()).add(key[1])
        self._indexed[key] = term

    def _services_for(self, ns: str, labels: dict[str, str]) -> set[str]:
        out: set[str] = set()
        for k, v in labels.items():
            names = self._index.get((ns, k, v))
            if names:
                out |= names
        return out

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        ns = ns_of(obj)
        if rt.key == PODS.key:
            if event_type == "MODIFIED" and old is not None and _endpoint_view(old) == _endpoint_view(obj):
                return  # a container state change that moves no address
            labels = labels_of(obj)
            names = self._services_for(ns, labels)
            if old is not None and labels_of(old) != labels:
                names |= self._services_for(ns, labels_of(old))
            for name in names:
                svc = self.cache.get(SERVICES, ns, name)
                sel = spec_of(svc).get("selector") if svc else None
                if sel and (_selects(sel, labels) or (old is not None and _selects(sel, labels_of(old)))):
                    self.enqueue((ns, name))
            return
        if rt.key == SERVICES.key:
            self._index_service(event_type, obj)
        self.enqueue((ns, name_of(obj)))

    def resync(self) -> None:
        for svc in self.cache.list(SERVICES):
            self._index_service("ADDED", svc)
            self.enqueue((ns_of(svc), name_of(svc)))

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        svc = self.cache.get(SERVICES, ns, name)
        ep = self.cache.get(ENDPOINTS, ns, name)
        if svc is None or is_deleting(svc):
            managed = ep is not None and (meta(ep).get("labels") or {}).get(
                "endpoints.kubernetes.io/managed-by") == "endpoint-controller"
            if managed:
                try:
                    self.store.delete(ENDPOINTS, ns, name)
                except Exception as exc:
                    if getattr(exc, "code", None) != 404:
                        raise
            return
        spec = spec_of(svc)
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName":
            return  # endpoints of selector-less services belong to the user
        publish_all = bool(spec.get("publishNotReadyAddresses"))
        groups: dict[tuple[tuple[Any, ...], ...], dict[str, list[Obj]]] = {}
        for pod in self.cache.pods_matching(ns, selector):
            st = status_of(pod)
            ip = st.get("podIP")
            if not ip or is_deleting(pod) or st.get("phase") in ("Succeeded", "Failed"):
                continue
            ports = []
            for sp in spec.get("ports") or ():
                port = _resolve_port(sp.get("targetPort", sp.get("port")), pod)
                if port is None:
                    continue
                entry: dict[str, Any] = {"port": port, "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    entry["name"] = sp["name"]
                if sp.get("appProtocol"):
                    entry["appProtocol"] = sp["appProtocol"]
                ports.append(tuple(sorted(entry.items())))
            addr: Obj = {"ip": ip}
            pspec = spec_of(pod)
            if pspec.get("hostname") and pspec.get("subdomain") == name:
                addr["hostname"] = pspec["hostname"]
            if pspec.get("nodeName"):
                addr["nodeName"] = pspec["nodeName"]
            addr["targetRef"] = {"kind": "Pod", "namespace": ns, "name": name_of(pod), "uid": meta(pod).get("uid")}
            bucket = groups.setdefault(tuple(ports), {"ready": [], "not": []})
            bucket["ready" if (publish_all or pod_is_ready(pod)) else "not"].append(addr)
        subsets = []
        for ports_key, bucket in sorted(groups.items(), key=lambda kv: repr(kv[0])):
            subset: Obj = {}
            if bucket["ready"]:
                subset["addresses"] = sorted(bucket["ready"], key=lambda a: a["ip"])
            if bucket["not"]:
                subset["notReadyAddresses"] = sorted(bucket["not"], key=lambda a: a["ip"])
            if ports_key:
                subset["ports"] = [dict(p) for p in ports_key]
            subsets.append(subset)
        labels = dict(labels_of(svc))
        labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
        desired: Obj = {"apiVersion": "v1", "kind": "Endpoints",
                        "metadata": {"name": name, "namespace": ns, "labels": labels}}
        if subsets:
            desired["subsets"] = subsets
        if ep is None:
            try:
                self.store.create(ENDPOINTS, desired)
            except Exception as exc:
                if getattr(exc, "code", None) != 409:
                    raise
                self.enqueue(key)
            return
        if ep.get("subsets") == desired.get("subsets") and labels_of(ep) == labels:
            return
        new = clone(ep)
        new["metadata"]["labels"] = labels
        if subsets:
            new["subsets"] = subsets
        else:
            new.pop("subsets", None)
        self.store.update(ENDPOINTS, new)
