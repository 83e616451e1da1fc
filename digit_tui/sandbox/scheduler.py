"""The simulated kube-scheduler: filters nodes like the default profile, binds, reports FailedScheduling.

Filters, in the default plugin order (a node fails on the first one that rejects it):
NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector + required node affinity),
NodeResourcesFit (cpu, memory, pods; all shortfalls are listed). Before filtering, the
pod's PersistentVolumeClaims must exist and be bound (WaitForFirstConsumer claims get a
selected node and are provisioned first). Feasible nodes are scored like the default
profile's resource plugins: NodeResourcesFit LeastAllocated + NodeResourcesBalancedAllocation
(weights 1; the math lives in ``digit_tui.infra.kubesched``, which the sizing fit check's
replay uses too). Node usage is kept incrementally from pod changes, so a scheduling
attempt costs O(nodes), not O(pods).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from digit_tui.infra import kubesched, podrequests
from digit_tui.infra.kubesched import NodeLoad, PodRequest, tolerates
from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import clone, is_deleting, labels_of, meta, name_of, ns_of, spec_of, status_of
from digit_tui.sandbox.resources import NODES, PODS, PVCS, STORAGECLASSES, ResourceType

Obj = dict[str, Any]
PodKey = tuple[str, str]

_PASS = "pass"
_MAX_PER_PASS = 64  # pods per scheduling pass: the loop yields between passes
_RETRY_UNSCHEDULABLE = 30.0  # seconds: periodic flush of unschedulable pods, as the real queue does


def pod_request(pod: Obj) -> PodRequest:
    """Effective requests, by the rule the sizing plan and fit check count with (``infra.podrequests``)."""
    try:
        return podrequests.pod_requests(spec_of(pod)).scheduling
    except ValueError:
        # A real API server refuses a malformed quantity at admission; the sandbox's does not
        # validate them, so such a pod is placed as if it asked for nothing.
        return PodRequest.of(0, 0)


def _match_node_expr(expr: Obj, labels: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    val = labels.get(key) if isinstance(key, str) else None
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
    if not kubesched.selector_matches(spec.get("nodeSelector") or {}, labels):
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


def node_load(obj: Obj) -> NodeLoad:
    """A node's allocatable as the scheduler's cache holds it (usage starts at zero)."""
    alloc = status_of(obj).get("allocatable") or status_of(obj).get("capacity") or {}
    try:
        return NodeLoad(name_of(obj), podrequests.cpu_millis(alloc.get("cpu", 0)),
                        podrequests.memory_bytes(alloc.get("memory", 0)),
                        int(str(alloc.get("pods", kubesched.DEFAULT_MAX_PODS))))
    except ValueError:
        return NodeLoad(name_of(obj), 0, 0, 0)


class Scheduler(Controller):
    name = "scheduler"
    watches: tuple[ResourceType, ...] = (PODS, NODES, PVCS)
    component = "default-scheduler"

    def __init__(self, mgr: Any) -> None:
        super().__init__(mgr)
        self._queue: dict[PodKey, None] = {}  # active queue, in arrival order
        self._unschedulable: dict[PodKey, str] = {}  # pod -> last failure message
        self._nodes: dict[str, NodeLoad] = {}
        self._node_objs: dict[str, Obj] = {}
        self._node_print: dict[str, Any] = {}
        self._pod_usage: dict[PodKey, tuple[str, PodRequest]] = {}
        self._req_cache: dict[str, PodRequest] = {}  # pod uid -> requests (pod resources are immutable)
        self._last_flush = time.monotonic()

    # --- bookkeeping ---------------------------------------------------------------------------
    def _requests(self, pod: Obj) -> PodRequest:
        uid = meta(pod).get("uid", "")
        r = self._req_cache.get(uid)
        if r is None:
            r = pod_request(pod)
            if uid:
                self._req_cache[uid] = r
        return r

    def _account(self, key: PodKey, pod: Obj | None) -> bool:
        """Update node usage for one pod; True when resources were freed."""
        new: tuple[str, PodRequest] | None = None
        if pod is not None:
            node = spec_of(pod).get("nodeName")
            if node and status_of(pod).get("phase") not in ("Succeeded", "Failed"):
                new = (node, self._requests(pod))
        old = self._pod_usage.get(key)
        if old == new:
            return False
        if old is not None:
            info = self._nodes.get(old[0])
            if info is not None:
                info.add(old[1], -1)
            del self._pod_usage[key]
        if new is not None:
            self._pod_usage[key] = new
            info = self._nodes.get(new[0])
            if info is not None:
                info.add(new[1])
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
                self._node_objs.pop(name, None)
                self._node_print.pop(name, None)
                return
            info = node_load(obj)
            prev = self._nodes.get(name)
            if prev is not None:
                info.used_cpu, info.used_mem, info.used_pods = prev.used_cpu, prev.used_mem, prev.used_pods
                info.used_cpu_nz, info.used_mem_nz = prev.used_cpu_nz, prev.used_mem_nz
            else:
                for node, req in self._pod_usage.values():
                    if node == name:
                        info.add(req)
            self._nodes[name] = info
            self._node_objs[name] = obj
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
        req = self._requests(pod)
        tolerations = spec_of(pod).get("tolerations") or []
        reasons: dict[str, int] = {}
        feasible: list[NodeLoad] = []
        for info in nodes:
            why = self._filter(pod, self._node_objs[info.name], info, req, tolerations)
            if not why:
                feasible.append(info)
            for r in why:
                reasons[r] = reasons.get(r, 0) + 1
        # Highest LeastAllocated + BalancedAllocation score; ties by name where the real one picks randomly.
        best = kubesched.best(feasible, req)
        if best is None:
            self._fail(key, pod, kubesched.failure_message(len(nodes), reasons))
            return
        if blocked == "":
            self._select_node_for_claims(pod, best.name)
            self._unschedulable[key] = ""  # waits for provisioning; retried when the claim binds
            return
        self._bind(key, pod, best.name)

    @staticmethod
    def _filter(pod: Obj, node: Obj, info: NodeLoad, req: PodRequest, tolerations: list[Obj]) -> list[str]:
        nspec = spec_of(node)
        if nspec.get("unschedulable") and not tolerates(
                tolerations, {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}):
            return [kubesched.UNSCHEDULABLE]
        taint = kubesched.untolerated(nspec.get("taints") or (), tolerations)
        if taint:
            return [taint]
        if not node_affinity_matches(pod, node):
            return [kubesched.SELECTOR_MISMATCH]
        return kubesched.fit_reasons(info, req)

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
        cond: dict[str, str | None] = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                       "message": message}
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
