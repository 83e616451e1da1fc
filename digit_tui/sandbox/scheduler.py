"""The simulated kube-scheduler: filters nodes like the default profile, binds, reports FailedScheduling.

Filters, in the default plugin order (a node fails on the first one that rejects it):
NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector + required node affinity),
NodeResourcesFit (cpu, memory, pods; all shortfalls are listed). Before filtering, the
pod's PersistentVolumeClaims must exist and be bound (WaitForFirstConsumer claims get a
selected node and are provisioned first). Node usage is kept incrementally from pod
changes, so a scheduling attempt costs O(nodes), not O(pods).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import clone, is_deleting, labels_of, meta, name_of, ns_of, spec_of, status_of
from digit_tui.sandbox.resources import NODES, PODS, PVCS, STORAGECLASSES, ResourceType
from digit_tui.sandbox.simconfig import cpu_millis, memory_bytes

Obj = dict[str, Any]
PodKey = tuple[str, str]

_PASS = "pass"
_MAX_PER_PASS = 64  # pods per scheduling pass: the loop yields between passes
_RETRY_UNSCHEDULABLE = 30.0  # seconds: periodic flush of unschedulable pods, as the real queue does


def container_requests(c: Obj) -> tuple[int, int]:
    res = c.get("resources") or {}
    req = res.get("requests") or {}
    lim = res.get("limits") or {}
    cpu = req.get("cpu", lim.get("cpu"))
    mem = req.get("memory", lim.get("memory"))
    try:
        return (cpu_millis(cpu) if cpu is not None else 0, memory_bytes(mem) if mem is not None else 0)
    except ValueError:
        return (0, 0)


def pod_requests(pod: Obj) -> tuple[int, int]:
    """Effective requests: max(sum of app containers, largest init container) + overhead."""
    spec = spec_of(pod)
    cpu = mem = 0
    for c in spec.get("containers") or ():
        a, b = container_requests(c)
        cpu += a
        mem += b
    for c in spec.get("initContainers") or ():
        a, b = container_requests(c)
        cpu = max(cpu, a)
        mem = max(mem, b)
    overhead = spec.get("overhead") or {}
    try:
        cpu += cpu_millis(overhead["cpu"]) if "cpu" in overhead else 0
        mem += memory_bytes(overhead["memory"]) if "memory" in overhead else 0
    except ValueError:
        pass
    return cpu, mem


def tolerates(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        effect = t.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = t.get("key")
        op = t.get("operator", "Equal")
        if not key:
            if op == "Exists":
                return True
            continue
        if key != taint.get("key"):
            continue
        if op == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _match_node_expr(expr: Obj, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    val = labels.get(key)
    if op == "In":
        return val is not None and val in values
    if op == "NotIn":
        return val is None or val not in values
    if op == "Exists":
        return val is not None
    if op == "DoesNotExist":
        return val is None
    if op in ("Gt", "Lt"):
        try:
            a, b = int(val or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return a > b if op == "Gt" else a < b
    return False


def node_affinity_matches(pod: Obj, node: Obj) -> bool:
    spec = spec_of(pod)
    labels = labels_of(node)
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    if not terms:
        return True
    fields = {"metadata.name": name_of(node)}
    for term in terms:  # terms are ORed, expressions inside a term ANDed
        exprs = term.get("matchExpressions") or []
        fexprs = term.get("matchFields") or []
        if not exprs and not fexprs:
            continue
        if all(_match_node_expr(e, labels) for e in exprs) and all(_match_node_expr(e, fields) for e in fexprs):
            return True
    return False


def _taint_text(taint: Obj) -> str:
    return "{%s: %s}" % (taint.get("key", ""), taint.get("value", ""))


class NodeInfo:
    __slots__ = ("name", "cpu", "mem", "pods", "used_cpu", "used_mem", "used_pods", "obj")

    def __init__(self, obj: Obj) -> None:
        self.name = name_of(obj)
        self.obj = obj
        alloc = status_of(obj).get("allocatable") or status_of(obj).get("capacity") or {}
        try:
            self.cpu = cpu_millis(alloc.get("cpu", 0))
            self.mem = memory_bytes(alloc.get("memory", 0))
            self.pods = int(str(alloc.get("pods", 110)))
        except ValueError:
            self.cpu, self.mem, self.pods = 0, 0, 0
        self.used_cpu = self.used_mem = self.used_pods = 0


class Scheduler(Controller):
    name = "scheduler"
    watches: tuple[ResourceType, ...] = (PODS, NODES, PVCS)
    component = "default-scheduler"

    def __init__(self, mgr: Any) -> None:
        super().__init__(mgr)
        self._queue: dict[PodKey, None] = {}  # active queue, in arrival order
        self._unschedulable: dict[PodKey, str] = {}  # pod -> last failure message
        self._nodes: dict[str, NodeInfo] = {}
        self._node_print: dict[str, Any] = {}
        self._pod_usage: dict[PodKey, tuple[str, int, int]] = {}
        self._req_cache: dict[str, tuple[int, int]] = {}  # pod uid -> requests (pod resources are immutable)
        self._last_flush = time.monotonic()

    # --- bookkeeping ---------------------------------------------------------------------------
    def _requests(self, pod: Obj) -> tuple[int, int]:
        uid = meta(pod).get("uid", "")
        r = self._req_cache.get(uid)
        if r is None:
            r = pod_requests(pod)
            if uid:
                self._req_cache[uid] = r
        return r

    def _account(self, key: PodKey, pod: Obj | None) -> bool:
        """Update node usage for one pod; True when resources were freed."""
        new: tuple[str, int, int] | None = None
        if pod is not None:
            node = spec_of(pod).get("nodeName")
            if node and status_of(pod).get("phase") not in ("Succeeded", "Failed"):
                cpu, mem = self._requests(pod)
                new = (node, cpu, mem)
        old = self._pod_usage.get(key)
        if old == new:
            return False
        if old is not None:
            info = self._nodes.get(old[0])
            if info is not None:
                info.used_cpu -= old[1]
                info.used_mem -= old[2]
                info.used_pods -= 1
            del self._pod_usage[key]
        if new is not None:
            self._pod_usage[key] = new
            info = self._nodes.get(new[0])
            if info is not None:
                info.used_cpu += new[1]
                info.used_mem += new[2]
                info.used_pods += 1
        return old is not None and new is None

    def _wants_scheduling(self, pod: Obj) -> bool:
        spec = spec_of(pod)
        return (not spec.get("nodeName") and not is_deleting(pod)
                and spec.get("schedulerName", "default-scheduler") == "default-scheduler"
                and status_of(pod).get("phase", "Pending") == "Pending")

    def _retry_unschedulable(self) -> None:
        if self._unschedulable:
            for key in self._unschedulable:
                self._queue[key] = None
            self.enqueue(_PASS)

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt.key == PODS.key:
            key = (ns_of(obj), name_of(obj))
            if event_type == "DELETED":
                self._queue.pop(key, None)
                self._unschedulable.pop(key, None)
                self._req_cache.pop(meta(obj).get("uid", ""), None)
                if self._account(key, None):
                    self._retry_unschedulable()
                return
            if self._account(key, obj):
                self._retry_unschedulable()
            if self._wants_scheduling(obj):
                if key not in self._unschedulable:
                    self._queue[key] = None
                    self.enqueue(_PASS)
            else:
                self._queue.pop(key, None)
                self._unschedulable.pop(key, None)
        elif rt.key == NODES.key:
            name = name_of(obj)
            if event_type == "DELETED":
                self._nodes.pop(name, None)
                self._node_print.pop(name, None)
                return
            info = NodeInfo(obj)
            prev = self._nodes.get(name)
            if prev is not None:
                info.used_cpu, info.used_mem, info.used_pods = prev.used_cpu, prev.used_mem, prev.used_pods
            else:
                for (ns, pname), (node, cpu, mem) in self._pod_usage.items():
                    if node == name:
                        info.used_cpu += cpu
                        info.used_mem += mem
                        info.used_pods += 1
            self._nodes[name] = info
            fingerprint = (info.cpu, info.mem, info.pods, tuple(sorted(labels_of(obj).items())),
                           repr(spec_of(obj).get("taints")), spec_of(obj).get("unschedulable"))
            if self._node_print.get(name) != fingerprint:
                self._node_print[name] = fingerprint
                self._retry_unschedulable()
        elif rt.key == PVCS.key:
            if status_of(obj).get("phase") == "Bound" or event_type == "ADDED":
                self._retry_unschedulable()

    def resync(self) -> None:
        for node in self.cache.list(NODES):
            self.on_event("ADDED", NODES, node, None)
        for pod in self.cache.list(PODS):
            self.on_event("ADDED", PODS, pod, None)
        self.enqueue(_PASS)
        self.enqueue("flush", _RETRY_UNSCHEDULABLE)

    # --- scheduling ----------------------------------------------------------------------------
    def reconcile(self, key: Hashable) -> None:
        if key == "flush":
            self._retry_unschedulable()
            self.enqueue("flush", _RETRY_UNSCHEDULABLE)
            return
        batch = list(self._queue)[:_MAX_PER_PASS]
        for pkey in batch:
            self._queue.pop(pkey, None)
            pod = self.cache.get(PODS, pkey[0], pkey[1])
            if pod is None or not self._wants_scheduling(pod):
                self._unschedulable.pop(pkey, None)
                continue
            self._schedule_one(pkey, pod)
        if self._queue:
            self.enqueue(_PASS)

    def _schedule_one(self, key: PodKey, pod: Obj) -> None:
        blocked = self._volume_check(pod)
        nodes = sorted(self._nodes.values(), key=lambda n: n.name)
        if blocked is not None and blocked != "":
            self._fail(key, pod, f"0/{len(nodes)} nodes are available: {blocked}.")
            return
        cpu, mem = self._requests(pod)
        tolerations = spec_of(pod).get("tolerations") or []
        reasons: dict[str, int] = {}
        feasible: list[NodeInfo] = []
        for info in nodes:
            why = self._filter(pod, info, cpu, mem, tolerations)
            if not why:
                feasible.append(info)
            for r in why:
                reasons[r] = reasons.get(r, 0) + 1
        if not feasible:
            if not nodes:
                msg = "no nodes available to schedule pods"
            else:
                parts = sorted(f"{n} {r}" for r, n in reasons.items())
                msg = f"0/{len(nodes)} nodes are available: {', '.join(parts)}."
            self._fail(key, pod, msg)
            return
        best = min(feasible, key=lambda n: (self._score(n, cpu, mem), n.used_pods, n.name))
        if blocked == "":
            self._select_node_for_claims(pod, best.name)
            self._unschedulable[key] = ""  # waits for provisioning; retried when the claim binds
            return
        self._bind(key, pod, best.name)

    @staticmethod
    def _score(n: NodeInfo, cpu: int, mem: int) -> float:
        fc = (n.used_cpu + cpu) / n.cpu if n.cpu else 1.0
        fm = (n.used_mem + mem) / n.mem if n.mem else 1.0
        return (fc + fm) / 2

    @staticmethod
    def _filter(pod: Obj, info: NodeInfo, cpu: int, mem: int, tolerations: list[Obj]) -> list[str]:
        nspec = spec_of(info.obj)
        if nspec.get("unschedulable") and not tolerates(
                tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
            return ["node(s) were unschedulable"]
        for taint in nspec.get("taints") or ():
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
                return [f"node(s) had untolerated taint {_taint_text(taint)}"]
        if not node_affinity_matches(pod, info.obj):
            return ["node(s) didn't match Pod's node affinity/selector"]
        out = []
        if info.used_pods + 1 > info.pods:
            out.append("Too many pods")
        if cpu and info.used_cpu + cpu > info.cpu:
            out.append("Insufficient cpu")
        if mem and info.used_mem + mem > info.mem:
            out.append("Insufficient memory")
        return out

    def _volume_check(self, pod: Obj) -> str | None:
        """None: volumes ready; "": waiting for first consumer provisioning; else the failure text."""
        waiting = False
        for vol in spec_of(pod).get("volumes") or ():
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = self.cache.get(PVCS, ns_of(pod), claim)
            if pvc is None:
                return f'persistentvolumeclaim "{claim}" not found'
            if is_deleting(pvc):
                return f'persistentvolumeclaim "{claim}" is being deleted'
            if status_of(pvc).get("phase") == "Bound":
                continue
            sc_name = spec_of(pvc).get("storageClassName")
            sc = self.cache.get(STORAGECLASSES, None, sc_name) if sc_name else None
            if sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer" and \
                    not spec_of(pvc).get("volumeName"):
                waiting = True
                continue
            return "pod has unbound immediate PersistentVolumeClaims"
        return "" if waiting else None

    def _select_node_for_claims(self, pod: Obj, node: str) -> None:
        for vol in spec_of(pod).get("volumes") or ():
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if not claim:
                continue
            pvc = self.cache.get(PVCS, ns_of(pod), claim)
            if pvc is None or status_of(pvc).get("phase") == "Bound":
                continue
            ann = meta(pvc).get("annotations") or {}
            if ann.get("volume.kubernetes.io/selected-node"):
                continue
            new = clone(pvc)
            new["metadata"].setdefault("annotations", {})["volume.kubernetes.io/selected-node"] = node
            self.store.update(PVCS, new)

    def _fail(self, key: PodKey, pod: Obj, message: str) -> None:
        self._unschedulable[key] = message
        status = status_of(pod)
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
        current = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"), None)
        if current is None or any(current.get(k) != v for k, v in cond.items()):
            new = clone(pod)
            cond["lastProbeTime"] = None
            cond["lastTransitionTime"] = self.now()
            st = new.setdefault("status", {})
            st["phase"] = "Pending"
            st["conditions"] = [c for c in st.get("conditions") or () if c.get("type") != "PodScheduled"] + [cond]
            self.store.update(PODS, new, subresource="status")
        # the real scheduler reports every failed attempt; the store folds repeats into a count
        self.event(pod, PODS, "FailedScheduling", message, "Warning")

    def _bind(self, key: PodKey, pod: Obj, node: str) -> None:
        new = clone(pod)
        new["spec"]["nodeName"] = node
        self.store.update(PODS, new)
        self._unschedulable.pop(key, None)
        self.event(pod, PODS, "Scheduled", f"Successfully assigned {key[0]}/{key[1]} to {node}")
