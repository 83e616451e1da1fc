"""Node lifecycle: the sandbox's nodes, their kubelet-posted status, heartbeats and the not-ready fault.

Nodes created through the API get a status as if their kubelet had registered: capacity
from the ``sandbox.digit-tui.io/cpu|memory|pods`` annotations, else from status.capacity
if given, else the configured node size. The fault annotation
``sandbox.digit-tui.io/not-ready: "true"`` stops the heartbeat: Ready goes False with
reason NodeStatusUnknown and the node gets the unreachable taints, as the real node
lifecycle controller does; removing the annotation heals it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import clone, meta, name_of, status_of
from digit_tui.sandbox.resources import NODES, ResourceType

Obj = dict[str, Any]

NOT_READY_ANNOTATION = "sandbox.digit-tui.io/not-ready"
_ANN_PREFIX = "sandbox.digit-tui.io/"
_UNREACHABLE = "node.kubernetes.io/unreachable"
_PRESSURE = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)


def _uuidish(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class NodeLifecycleController(Controller):
    name = "node-lifecycle"
    watches: tuple[ResourceType, ...] = (NODES,)
    component = "node-controller"

    def __init__(self, mgr: Any) -> None:
        super().__init__(mgr)
        self._heartbeat: dict[str, float] = {}

    def bootstrap(self) -> None:
        for i in range(1, self.cfg.nodes + 1):
            name = f"node-{i}"
            if self.cache.get(NODES, None, name) is not None:
                continue
            try:
                self.store.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
            except Exception:  # created concurrently by a client: the reconcile fills it in
                pass

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if event_type == "DELETED":
            self._heartbeat.pop(name_of(obj), None)
            return
        self.enqueue(name_of(obj))

    def resync(self) -> None:
        for node in self.cache.list(NODES):
            self.enqueue(name_of(node))

    def _index(self, name: str) -> int:
        """A stable small number per node for its addresses: node-N -> N, others the first free slot."""
        tail = name.rsplit("-", 1)[-1]
        if tail.isdigit() and 0 < int(tail) < 250:
            return int(tail)
        used = set()
        for n in self.cache.list(NODES):
            if name_of(n) == name:
                continue
            for a in status_of(n).get("addresses") or ():
                if a.get("type") == "InternalIP":
                    used.add(str(a.get("address")))
        for i in range(100, 250):
            if f"172.18.0.{i + 1}" not in used:
                return i
        return 250

    def reconcile(self, key: Hashable) -> None:
        name = str(key)
        node = self.cache.get(NODES, None, name)
        if node is None:
            return
        idx = self._index(name)
        ann = meta(node).get("annotations") or {}
        faulted = str(ann.get(NOT_READY_ANNOTATION, "")).lower() == "true"
        now_s = self.now()
        new = clone(node)
        m = new["metadata"]
        labels = m.setdefault("labels", {})
        for k, v in (("kubernetes.io/hostname", name), ("kubernetes.io/os", "linux"), ("kubernetes.io/arch", "amd64"),
                     ("beta.kubernetes.io/os", "linux"), ("beta.kubernetes.io/arch", "amd64")):
            labels.setdefault(k, v)
        if name.startswith("node-") and name[5:].isdigit():
            labels.setdefault("node-role.kubernetes.io/worker", "")
        annotations = m.setdefault("annotations", {})
        annotations.setdefault("node.alpha.kubernetes.io/ttl", "0")
        annotations.setdefault("volumes.kubernetes.io/controller-managed-attach-detach", "true")
        spec = new.setdefault("spec", {})
        spec.setdefault("podCIDR", f"10.244.{idx}.0/24")
        spec.setdefault("podCIDRs", [spec["podCIDR"]])
        spec.setdefault("providerID", f"sandbox://{name}")
        taints = [t for t in spec.get("taints") or () if t.get("key") != _UNREACHABLE]
        if faulted:
            old_taints = {(t.get("key"), t.get("effect")): t for t in spec.get("taints") or ()}
            taints.append(old_taints.get((_UNREACHABLE, "NoSchedule")) or
                          {"key": _UNREACHABLE, "effect": "NoSchedule"})
            taints.append(old_taints.get((_UNREACHABLE, "NoExecute")) or
                          {"key": _UNREACHABLE, "effect": "NoExecute", "timeAdded": now_s})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        spec_changed = new != node
        if spec_changed:
            node = self.store.update(NODES, new)
        status = self._status(node, idx, faulted, now_s)
        if status != status_of(node):
            upd = clone(node)
            upd["status"] = status
            self.store.update(NODES, upd, subresource="status")
        if not faulted:
            self.enqueue(name, self.cfg.heartbeat_interval)

    def _capacity(self, node: Obj) -> dict[str, str]:
        ann = meta(node).get("annotations") or {}
        existing = status_of(node).get("capacity") or {}
        cap = {
            "cpu": str(ann.get(_ANN_PREFIX + "cpu") or existing.get("cpu") or self.cfg.node_cpu),
            "memory": str(ann.get(_ANN_PREFIX + "memory") or existing.get("memory") or self.cfg.node_memory),
            "pods": str(ann.get(_ANN_PREFIX + "pods") or existing.get("pods") or self.cfg.node_pods),
            "ephemeral-storage": str(existing.get("ephemeral-storage") or "100Gi"),
            "hugepages-2Mi": "0",
        }
        return cap

    def _status(self, node: Obj, idx: int, faulted: bool, now_s: str) -> Obj:
        old = status_of(node)
        name = name_of(node)
        cap = self._capacity(node)
        alloc = dict(old.get("allocatable") or {})
        ann = meta(node).get("annotations") or {}
        if not alloc or any(ann.get(_ANN_PREFIX + k) for k in ("cpu", "memory", "pods")):
            alloc = dict(cap)
        old_conds = {c.get("type"): c for c in old.get("conditions") or ()}
        mono = time.monotonic()
        beat_due = mono - self._heartbeat.get(name, 0.0) >= self.cfg.heartbeat_interval * 0.9
        conditions = []
        for ctype, reason, message in _PRESSURE + (("Ready", "KubeletReady", "kubelet is posting ready status"),):
            good = "True" if ctype == "Ready" else "False"
            prev = old_conds.get(ctype)
            if faulted:
                cond_status = "False" if ctype == "Ready" else "Unknown"
                reason_now, message_now = "NodeStatusUnknown", "Kubelet stopped posting node status."
            else:
                cond_status, reason_now, message_now = good, reason, message
            transition = prev.get("lastTransitionTime") if prev and prev.get("status") == cond_status else now_s
            if faulted:
                heartbeat = (prev or {}).get("lastHeartbeatTime") or now_s
            else:
                heartbeat = now_s if (beat_due or prev is None or prev.get("status") != cond_status) else \
                    prev.get("lastHeartbeatTime", now_s)
            conditions.append({"type": ctype, "status": cond_status, "lastHeartbeatTime": heartbeat,
                               "lastTransitionTime": transition or now_s, "reason": reason_now,
                               "message": message_now})
        if not faulted and beat_due:
            self._heartbeat[name] = mono
        ip = f"172.18.0.{idx + 1}"
        for a in old.get("addresses") or ():
            if a.get("type") == "InternalIP":
                ip = a.get("address")
        status: Obj = {
            "capacity": cap,
            "allocatable": alloc,
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": _uuidish("boot/" + name),
                "containerRuntimeVersion": "containerd://1.7.15",
                "kernelVersion": "6.1.0-21-amd64", "kubeProxyVersion": self.cfg.kubelet_version,
                "kubeletVersion": self.cfg.kubelet_version, "machineID": _uuidish("machine/" + name).replace("-", ""),
                "operatingSystem": "linux", "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": _uuidish("system/" + name),
            },
        }
        if old.get("images"):
            status["images"] = old["images"]
        return status
