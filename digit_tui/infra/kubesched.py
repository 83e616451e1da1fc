"""kube-scheduler's default filter and score math, on plain numbers.

Shared by the sandbox's scheduler and the sizing fit check's replay, so both
place a pod by the same rule. Neither imports the other; this module knows
Kubernetes, not DIGIT.

Filter (default profile order; a node fails on the first plugin that rejects it):
NodeUnschedulable, TaintToleration, NodeAffinity (nodeSelector), NodeResourcesFit.
Score (default weights, both 1; Kubernetes v1.23+ formulas):

- NodeResourcesFit, LeastAllocated: per resource ``(allocatable - requested) * 100
  // allocatable`` after placing the pod, averaged (integer) over cpu and memory.
  ``requested`` counts containers without a request as 100m / 200Mi (the
  scheduler's "non-zero" requests), so empty pods still spread.
- NodeResourcesBalancedAllocation: ``int((1 - std) * 100)`` where ``std`` is the
  standard deviation of the cpu and memory fractions after placing the pod,
  i.e. ``|cpuFraction - memFraction| / 2``, fractions capped at 1 and taken
  from the real requests.

Not modelled: the other default score plugins (PodTopologySpread's system
default spreading, ImageLocality, InterPodAffinity, preferred node affinity,
PreferNoSchedule taints) and percentageOfNodesToScore (clusters over 100
nodes score only a sample). Ties: the real scheduler picks at random among
the best nodes; here the lowest node name wins, so results are repeatable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MAX_NODE_SCORE = 100
DEFAULT_CPU_M = 100                 # schedutil.DefaultMilliCPURequest
DEFAULT_MEM_B = 200 * 1024 * 1024   # schedutil.DefaultMemoryRequest
DEFAULT_MAX_PODS = 110

INSUFFICIENT_CPU = "Insufficient cpu"
INSUFFICIENT_MEMORY = "Insufficient memory"
TOO_MANY_PODS = "Too many pods"
UNSCHEDULABLE = "node(s) were unschedulable"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"


@dataclass(slots=True)
class NodeLoad:
    """One node as the scheduler's cache sees it. ``*_nz`` are the non-zero requests used by LeastAllocated."""

    name: str
    cpu: int                        # allocatable millicores
    mem: int                        # allocatable bytes
    pods: int = DEFAULT_MAX_PODS
    used_cpu: int = 0
    used_mem: int = 0
    used_pods: int = 0
    used_cpu_nz: int = 0
    used_mem_nz: int = 0

    def add(self, req: PodRequest, sign: int = 1) -> None:
        self.used_cpu += sign * req.cpu
        self.used_mem += sign * req.mem
        self.used_cpu_nz += sign * req.cpu_nz
        self.used_mem_nz += sign * req.mem_nz
        self.used_pods += sign


@dataclass(frozen=True, slots=True)
class PodRequest:
    cpu: int
    mem: int
    cpu_nz: int
    mem_nz: int

    @classmethod
    def of(cls, cpu: int, mem: int, cpu_set: bool = True, mem_set: bool = True) -> PodRequest:
        """A pod whose request is ``cpu``/``mem``; ``*_set`` False: no container asked, the default counts for scoring."""
        return cls(cpu, mem, cpu if cpu_set else DEFAULT_CPU_M, mem if mem_set else DEFAULT_MEM_B)


def nonzero(cpu: int | None, mem: int | None) -> tuple[int, int]:
    """One container's requests for scoring: a missing request counts as the scheduler's default."""
    return (DEFAULT_CPU_M if cpu is None else cpu, DEFAULT_MEM_B if mem is None else mem)


def tolerates(tolerations: Iterable[Mapping[str, object]], taint: Mapping[str, object]) -> bool:
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


def taint_text(taint: Mapping[str, object]) -> str:
    return "{%s: %s}" % (taint.get("key", ""), taint.get("value", ""))


def untolerated(taints: Iterable[Mapping[str, object]], tolerations: Sequence[Mapping[str, object]]) -> str | None:
    """The filter reason for the first NoSchedule/NoExecute taint the pod does not tolerate."""
    for taint in taints:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return f"node(s) had untolerated taint {taint_text(taint)}"
    return None


def selector_matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def fit_reasons(node: NodeLoad, req: PodRequest) -> list[str]:
    """NodeResourcesFit: every shortfall of the node for this pod (empty: it fits)."""
    out: list[str] = []
    if node.used_pods + 1 > node.pods:
        out.append(TOO_MANY_PODS)
    if req.cpu and node.used_cpu + req.cpu > node.cpu:
        out.append(INSUFFICIENT_CPU)
    if req.mem and node.used_mem + req.mem > node.mem:
        out.append(INSUFFICIENT_MEMORY)
    return out


def _least(alloc: int, requested: int) -> int:
    if alloc <= 0 or requested > alloc:
        return 0
    return (alloc - requested) * MAX_NODE_SCORE // alloc


def score(node: NodeLoad, req: PodRequest) -> int:
    """LeastAllocated + BalancedAllocation (weights 1) for placing ``req`` on ``node``; higher is better."""
    least = (_least(node.cpu, node.used_cpu_nz + req.cpu_nz) + _least(node.mem, node.used_mem_nz + req.mem_nz)) // 2
    fc = min((node.used_cpu + req.cpu) / node.cpu, 1.0) if node.cpu > 0 else 1.0
    fm = min((node.used_mem + req.mem) / node.mem, 1.0) if node.mem > 0 else 1.0
    balanced = int((1 - abs(fc - fm) / 2) * MAX_NODE_SCORE)
    return least + balanced


def best(feasible: Iterable[NodeLoad], req: PodRequest) -> NodeLoad | None:
    """The highest-scoring node; ties go to the lowest name (kube-scheduler picks randomly among ties)."""
    top: NodeLoad | None = None
    top_score = -1
    for node in feasible:
        s = score(node, req)
        if s > top_score or (s == top_score and top is not None and node.name < top.name):
            top, top_score = node, s
    return top


def failure_message(total: int, reasons: Mapping[str, int]) -> str:
    """FailedScheduling text, worded like kube-scheduler's: ``0/3 nodes are available: 3 Insufficient memory.``"""
    if total == 0:
        return "no nodes available to schedule pods"
    parts = sorted(f"{n} {r}" for r, n in reasons.items())
    return f"0/{total} nodes are available: {', '.join(parts)}."
