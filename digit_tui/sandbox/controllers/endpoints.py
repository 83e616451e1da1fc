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

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        ns = ns_of(obj)
        if rt.key == PODS.key:
            labels = labels_of(obj)
            old_labels = labels_of(old) if old is not None else {}
            for svc in self.cache.list(SERVICES, ns):
                sel = spec_of(svc).get("selector")
                if sel and (_selects(sel, labels) or (old_labels and _selects(sel, old_labels))):
                    self.enqueue((ns, name_of(svc)))
            return
        self.enqueue((ns, name_of(obj)))

    def resync(self) -> None:
        for svc in self.cache.list(SERVICES):
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
