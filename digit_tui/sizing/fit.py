"""Fit check: will the planned pods schedule on the capacity that really exists?

Capacity comes from preflight's VM facts (CPUs and memory of each VM: the
node reservation and system DaemonSets are then subtracted as the plan does)
or from a cluster's nodes (``status.allocatable``, minus the requests of pods
already running there that are not part of the release). Pods are placed by
the same first-fit decreasing as the plan, without headroom: this answers
"is there capacity enough", and the headroom left is reported.

FFD packs largest first; kube-scheduler places pods as they arrive and
spreads them. So the check also replays the release through the scheduler's
default filter and scoring (``digit_tui.infra.kubesched``, the same math the
sandbox's scheduler runs): workloads in apply order (the release order), the
pods of a workload by ordinal, each on the best-scoring node that fits. The
replay names the pods that would stay Pending, with kube-scheduler's
FailedScheduling text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from digit_tui.errors import InputError
from digit_tui.infra import kubesched
from digit_tui.infra.kubesched import NodeLoad, PodRequest
from digit_tui.sizing.binpack import Bin, Item, pack
from digit_tui.sizing.model import Flavor, SizingInputs, Workload
from digit_tui.sizing.planner import (_extra_workloads, _items, _prepare, database_workloads, node_shape, reservation,
                                      select_modules)
from digit_tui.sizing.presets import Preset
from digit_tui.sizing.quantity import GI, bytes_of, cpu_millis, fmt_cpu, fmt_mem

KUBE_TIMEOUT = 15.0
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


@dataclass(frozen=True, slots=True)
class NodeCapacity:
    """One node or VM. ``allocatable`` True: numbers are what the kubelet offers pods
    (a cluster's ``status.allocatable``); False: raw VM size, reservation still to come."""

    name: str
    cpu_m: int
    mem_b: int
    allocatable: bool = False
    used_cpu: int = 0           # requests of pods already there (not part of the release)
    used_mem: int = 0
    max_pods: int = kubesched.DEFAULT_MAX_PODS
    used_pods: int = 0


@dataclass(frozen=True, slots=True)
class ReplayPod:
    """One pod of the release in apply order."""

    namespace: str
    workload: str
    kind: str
    ordinal: int                # 0-based, in the order the controller creates them
    replicas: int
    cpu_m: int
    mem_b: int

    @property
    def name(self) -> str:
        """StatefulSet pods are named by ordinal; other controllers add a random suffix (shown as …)."""
        if self.kind == "StatefulSet":
            return f"{self.workload}-{self.ordinal}"
        return f"{self.workload}-…"


@dataclass(frozen=True, slots=True)
class PendingPod:
    pod: ReplayPod
    message: str                # kube-scheduler's FailedScheduling text

    def text(self, count: int = 1) -> str:
        p = self.pod
        if p.kind == "StatefulSet":
            return f"pod {p.name} would not schedule: {self.message}"
        which = f" ×{count}" if count > 1 else f" ({p.ordinal + 1} of {p.replicas})" if p.replicas > 1 else ""
        return f"pod {p.name}{which} would not schedule: {self.message}"


@dataclass(slots=True)
class Replay:
    """Where kube-scheduler would put each pod, applied in order, and which pods it would leave Pending."""

    nodes: int
    order: list[tuple[str, str, str]] = field(default_factory=list)    # (namespace, workload, kind) applied
    placed: list[tuple[ReplayPod, str]] = field(default_factory=list)
    pending: list[PendingPod] = field(default_factory=list)

    def pending_by_workload(self) -> dict[str, int]:
        """``namespace/workload`` → pods left Pending."""
        out: dict[str, int] = {}
        for q in self.pending:
            key = f"{q.pod.namespace}/{q.pod.workload}"
            out[key] = out.get(key, 0) + 1
        return out

    def lines(self) -> list[str]:
        if not self.pending:
            return [f"scheduler replay (apply order): every pod schedules on {self.nodes} nodes"]
        out = [f"scheduler replay (apply order): {len(self.pending)} pod{'s' if len(self.pending) != 1 else ''} "
               f"would stay Pending"]
        # Pods of one Deployment are interchangeable: one line per workload and message.
        i = 0
        while i < len(self.pending):
            q = self.pending[i]
            j = i + 1
            if q.pod.kind != "StatefulSet":
                while (j < len(self.pending) and self.pending[j].pod.workload == q.pod.workload
                       and self.pending[j].pod.namespace == q.pod.namespace and self.pending[j].message == q.message):
                    j += 1
            out.append(q.text(j - i))
            i = j
        return out

    def to_dict(self) -> dict[str, Any]:
        placement: dict[str, dict[str, int]] = {}
        for pod, node in self.placed:
            per = placement.setdefault(node, {})
            key = f"{pod.namespace}/{pod.workload}"
            per[key] = per.get(key, 0) + 1
        return {
            "nodes": self.nodes,
            "pending": [{"pod": q.pod.name, "namespace": q.pod.namespace, "workload": q.pod.workload,
                         "kind": q.pod.kind, "ordinal": q.pod.ordinal, "message": q.message} for q in self.pending],
            "pending_by_workload": self.pending_by_workload(),
            "placement": placement,
        }


@dataclass(frozen=True, slots=True)
class Unschedulable:
    workload: str
    pods: int
    cpu_m: int
    mem_b: int
    never: bool                 # no node could take it even empty

    def message(self) -> str:
        what = f"pod {self.workload}" + (f" ×{self.pods}" if self.pods > 1 else "")
        need = f"needs {fmt_cpu(self.cpu_m)} CPU, {fmt_mem(self.mem_b)}"
        if self.never:
            return f"{what} would not schedule on any node ({need}: larger than every node)"
        return f"{what} would not schedule ({need})"


@dataclass(slots=True)
class FitReport:
    fits: bool
    nodes: int
    headroom: float                         # share left free on the tighter dimension
    cpu_used: int
    cpu_total: int
    mem_used: int
    mem_total: int
    unschedulable: list[Unschedulable] = field(default_factory=list)
    short_by: int = 0
    short_flavor: Flavor | None = None
    spare_ok: bool = True                   # still fits with the largest node gone (N+1)
    placement: dict[str, dict[str, int]] = field(default_factory=dict)
    replay: Replay | None = None            # kube-scheduler's placement in apply order

    def summary(self) -> str:
        if self.fits:
            text = f"fits with {math.floor(self.headroom * 100)} % headroom on {self.nodes} nodes"
            if not self.spare_ok:
                text += f"; no N+1 spare: short by 1 worker of {self.short_flavor} to survive a node loss"
            if self.replay is not None and self.replay.pending:
                # Enough capacity in total, but the scheduler's spreading leaves gaps too small for some pods.
                n = len(self.replay.pending)
                text += f"; but applied in release order the scheduler would leave {n} pod{'s' if n != 1 else ''} Pending"
            return text
        flavor = f" of {self.short_flavor}" if self.short_flavor else ""
        plural = "s" if self.short_by != 1 else ""
        head = (f"short by {self.short_by} worker{plural}{flavor}" if self.short_by
                else "does not fit: some pods are larger than any node")
        return head

    def lines(self) -> list[str]:
        return [self.summary(), *(u.message() for u in self.unschedulable),
                *(self.replay.lines() if self.replay is not None else ())]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fits": self.fits, "nodes": self.nodes, "headroom": round(self.headroom, 3),
            "cpu": {"used_m": self.cpu_used, "total_m": self.cpu_total},
            "memory": {"used_b": self.mem_used, "total_b": self.mem_total},
            "short_by": self.short_by, "short_flavor": self.short_flavor.name if self.short_flavor else None,
            "spare_ok": self.spare_ok,
            "unschedulable": [{"workload": u.workload, "pods": u.pods, "cpu_m": u.cpu_m, "memory_b": u.mem_b,
                               "never": u.never, "message": u.message()} for u in self.unschedulable],
            "summary": self.summary(),
            "replay": self.replay.to_dict() if self.replay is not None else None,
        }


_NODES_SPEC = re.compile(r"^\s*(?:(?P<n>\d+)\s*[x×*]\s*)?(?P<flavor>.+?)\s*$")


def nodes_from_spec(text: str) -> list[NodeCapacity]:
    """``"6x8C/16G"`` or ``"3x8C/16G,2x16C/32G"``: VMs described by hand."""
    out: list[NodeCapacity] = []
    for part in (p for p in text.split(",") if p.strip()):
        m = _NODES_SPEC.match(part)
        if not m:
            raise InputError(f"not a node list: {part!r}", expected="COUNTxFLAVOR[,...] e.g. 6x8C/16G")
        count = int(m["n"]) if m["n"] else 1
        flavor = Flavor.parse(m["flavor"])
        out += [NodeCapacity(f"node-{len(out) + i + 1}", flavor.cpu_m, flavor.mem_b) for i in range(count)]
    if not out:
        raise InputError("empty node list", expected="COUNTxFLAVOR e.g. 6x8C/16G")
    return out


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def nodes_from_facts(facts: Iterable[Mapping[str, Any]]) -> list[NodeCapacity]:
    """Preflight VM facts: each has a name and CPUs and memory in one of the usual spellings
    (``cpus``/``vcpus``/``cpu``; ``memory_bytes``, ``mem_total_kb`` (/proc/meminfo), ``memory`` as a quantity)."""
    out: list[NodeCapacity] = []
    for i, f in enumerate(facts):
        name = str(_first(f, "name", "hostname", "host") or f"vm-{i + 1}")
        cpu = _first(f, "cpus", "vcpus", "nproc", "cpu")
        if cpu is None:
            raise InputError(f"VM {name}: no CPU count in the facts", expected="cpus: N")
        if (b := _first(f, "memory_bytes", "mem_bytes")) is not None:
            mem = int(b)
        elif (kb := _first(f, "mem_total_kb", "memtotal_kb")) is not None:
            mem = int(kb) * 1024
        elif (q := _first(f, "memory", "mem")) is not None:
            mem = bytes_of(q)
        else:
            raise InputError(f"VM {name}: no memory size in the facts", expected="memory_bytes: N or memory: 16Gi")
        if f.get("role") in ("master", "control-plane", "lb", "db", "postgres", "jenkins", "bastion"):
            continue
        out.append(NodeCapacity(name, cpu_millis(cpu), mem))
    return out


class ClusterReadError(Exception):
    """The cluster could not be read (unreachable, certificate, credentials, rights): a failed
    check (exit 1), one line with the remedy, never a client library's traceback."""


def nodes_from_cluster(kubeconfig: str, context: str | None = None,
                       release_namespaces: Sequence[str] = ()) -> list[NodeCapacity]:
    """Schedulable worker nodes of a cluster, with what non-release pods already take.

    Read as raw JSON through the one Kubernetes adapter (``infra/kube.py``), and a pod's
    requests counted as the scheduler counts them (init containers and sidecars included,
    ``infra.podrequests``: the rule the release's own workloads are sized with and the
    sandbox's scheduler places by)."""
    from digit_tui.infra.failures import explain, failure_of
    from digit_tui.infra.kube import ClientPolicy, Kube, status_message
    from digit_tui.infra.podrequests import pod_requests

    try:
        kube = Kube(kubeconfig, context, policy=ClientPolicy(read=KUBE_TIMEOUT))
    except Exception as exc:  # ConfigException, an unreadable file, no kubeconfig named
        raise InputError(f"cannot load kubeconfig: {status_message(exc)}", path=kubeconfig) from None
    try:
        nodes, _ = kube.list(kube.resource("v1", "Node"))
        pods, _ = kube.list(kube.resource("v1", "Pod"))
    except Exception as exc:
        failure = failure_of(exc)
        if failure is None:
            raise ClusterReadError(f"cannot read the nodes of the cluster in {kubeconfig}: "
                                   f"{status_message(exc)}") from None
        problem, remedy = explain(failure, kubeconfig, kube.server)
        raise ClusterReadError(f"cannot read the nodes of the cluster: {problem}; {remedy}") from None
    finally:
        kube.close()
    used: dict[str, list[int]] = {}
    for p in pods:
        spec, meta = p.get("spec") or {}, p.get("metadata") or {}
        node = spec.get("nodeName")
        if not node or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        u = used.setdefault(str(node), [0, 0, 0])
        u[2] += 1  # every pod takes a slot of the node's pod limit, the release's own included
        if meta.get("namespace") in release_namespaces:
            continue
        asks = pod_requests(spec)   # the API server admitted it: its quantities are well-formed
        u[0] += asks.cpu
        u[1] += asks.mem
    out: list[NodeCapacity] = []
    for n in nodes:
        spec = n.get("spec") or {}
        if spec.get("unschedulable"):
            continue
        if any(t.get("effect") in ("NoSchedule", "NoExecute") for t in spec.get("taints") or []):
            continue
        name = str((n.get("metadata") or {}).get("name", ""))
        alloc = (n.get("status") or {}).get("allocatable") or {}
        u = used.get(name, [0, 0, 0])
        try:
            max_pods = int(str(alloc.get("pods", kubesched.DEFAULT_MAX_PODS)))
        except ValueError:
            max_pods = kubesched.DEFAULT_MAX_PODS
        out.append(NodeCapacity(name, cpu_millis(alloc.get("cpu", 0)), bytes_of(alloc.get("memory", 0)),
                                True, u[0], u[1], max_pods, u[2]))
    return out


def check(
    workloads: Sequence[Workload],
    inputs: SizingInputs,
    preset: Preset,
    nodes: Sequence[NodeCapacity],
    *,
    flavor: Flavor | None = None,
    module_deps: Mapping[str, Sequence[str]] | None = None,
) -> FitReport:
    """Place the release's pods (as the plan scales them) on ``nodes``.

    ``flavor`` is the worker shape to express a shortfall in ("short by 1
    worker of 8C/16G"); by default the most common node shape.
    """
    inputs.validate()
    if not nodes:
        raise InputError("no schedulable worker nodes to check against", expected="at least one worker")
    ha = preset.ha.value if inputs.ha is None else inputs.ha
    selected, _ = select_modules(workloads, inputs.modules, module_deps)
    selected = selected + _extra_workloads(selected, preset, []) + database_workloads(
        inputs, preset, ha, inputs.db_mode or preset.postgres.mode)
    prepared = _prepare(selected, inputs, preset, ha, [])
    bins = [_bin(n, prepared.daemons, preset) for n in nodes]
    extra_bin: tuple[int, int] | None = None
    if flavor is None:
        # Express a shortfall in more nodes like the ones already there (the most common shape).
        shapes: dict[tuple[int, int], int] = {}
        for n in nodes:
            shapes[(n.cpu_m, n.mem_b)] = shapes.get((n.cpu_m, n.mem_b), 0) + 1
        (c, m), _ = max(shapes.items(), key=lambda kv: (kv[1], kv[0]))
        like = next(i for i, n in enumerate(nodes) if (n.cpu_m, n.mem_b) == (c, m))
        extra_bin = (bins[like].cap_cpu + nodes[like].used_cpu, bins[like].cap_mem + nodes[like].used_mem)
        flavor = Flavor(c, m) if not nodes[0].allocatable else _flavor_of_allocatable(c, m)

    items = _items(prepared.pods)
    packing = pack(items, bins)
    total_cpu = sum(b.cap_cpu for b in bins)
    total_mem = sum(b.cap_mem for b in bins)
    used_cpu = sum(b.used_cpu for b in packing.bins)
    used_mem = sum(b.used_mem for b in packing.bins)
    headroom = 1 - max(used_cpu / total_cpu if total_cpu > 0 else 1, used_mem / total_mem if total_mem > 0 else 1)
    by_name = {i.name: i for i in items}
    unsched = [Unschedulable(name, n, by_name[name].cpu_m, by_name[name].mem_b, name in packing.too_big)
               for name, n in sorted(packing.unplaced.items())]
    planned = {(w.namespace, w.name): w.replicas for w in prepared.pods}
    in_order = [replace(w, replicas=planned[(w.namespace, w.name)]) for w in selected
                if not w.daemonset and (w.namespace, w.name) in planned]
    report = FitReport(
        fits=not packing.unplaced, nodes=len(nodes), headroom=max(headroom, 0.0),
        cpu_used=used_cpu, cpu_total=total_cpu, mem_used=used_mem, mem_total=total_mem,
        unschedulable=unsched, short_flavor=flavor,
        placement={b.name: dict(b.placed) for b in packing.bins},
        replay=replay(in_order, [node_load(n, prepared.daemons, preset) for n in nodes]),
    )
    if packing.unplaced:
        report.short_by = _extra_workers(items, bins, flavor, prepared.daemons, preset, nodes[0].allocatable,
                                         extra_bin)
    elif ha and len(nodes) > 1:
        # N+1: with the largest node gone, do the pods still schedule?
        biggest = max(range(len(bins)), key=lambda i: (bins[i].cap_mem, bins[i].cap_cpu))
        rest = [b for i, b in enumerate(bins) if i != biggest]
        report.spare_ok = not pack(items, rest).unplaced
    elif ha:
        report.spare_ok = False
    return report


def node_load(n: NodeCapacity, daemons: Sequence[Workload], preset: Preset) -> NodeLoad:
    """A node as kube-scheduler sees it before the release: allocatable, and what DaemonSets and
    pods outside the release already request."""
    if n.allocatable:
        # The cluster's own DaemonSets already show up in used_*; only the release's are new.
        cpu, mem = n.cpu_m, n.mem_b
        used_cpu = n.used_cpu + sum(w.cpu_m for w in daemons)
        used_mem = n.used_mem + sum(w.mem_b for w in daemons)
        used_pods = n.used_pods + len(daemons)
    else:
        shape = node_shape(Flavor(n.cpu_m, n.mem_b), preset, daemons, 0.0)
        cpu, mem = n.cpu_m - shape.reserved_cpu, n.mem_b - shape.reserved_mem
        used_cpu, used_mem = shape.daemon_cpu + n.used_cpu, shape.daemon_mem + n.used_mem
        used_pods = n.used_pods + len(daemons) + len(preset.system_daemonsets)
    return NodeLoad(n.name, max(cpu, 0), max(mem, 0), n.max_pods, used_cpu, used_mem, used_pods, used_cpu, used_mem)


def replay(workloads: Sequence[Workload], nodes: Sequence[NodeLoad]) -> Replay:
    """Apply ``workloads`` in order, pods by ordinal, each placed as kube-scheduler's default profile would.

    ``nodes`` are copied, not changed. Only what a ``Workload`` carries is filtered on: resources, the pod
    limit and required hostname anti-affinity (nodeSelector and taints are not in the sizing model; tainted
    and unschedulable nodes are left out when a cluster is read). Usage only grows while a release is applied,
    so a pod that fails once would fail on every retry: the replay does not revisit Pending pods.
    """
    loads = [NodeLoad(n.name, n.cpu, n.mem, n.pods, n.used_cpu, n.used_mem, n.used_pods, n.used_cpu_nz,
                      n.used_mem_nz) for n in nodes]
    out = Replay(len(loads))
    for w in workloads:
        if w.daemonset or w.replicas <= 0:
            continue
        out.order.append((w.namespace, w.name, w.kind))
        # A request the chart leaves unset is 0 to the filter; scoring counts the scheduler's default.
        req = PodRequest.of(w.cpu_m, w.mem_b, cpu_set=not (w.unset and w.cpu_m == 0),
                            mem_set=not (w.unset and w.mem_b == 0))
        holders: set[str] = set()
        failed: str | None = None
        for i in range(w.replicas):
            pod = ReplayPod(w.namespace, w.name, w.kind, i, w.replicas, w.cpu_m, w.mem_b)
            if failed is not None and not w.one_per_node:
                out.pending.append(PendingPod(pod, failed))     # nothing changed since the last identical pod
                continue
            reasons: dict[str, int] = {}
            feasible: list[NodeLoad] = []
            for n in loads:
                why = kubesched.fit_reasons(n, req)
                if not why and w.one_per_node and n.name in holders:
                    why = [kubesched.ANTI_AFFINITY]
                if why:
                    for r in why:
                        reasons[r] = reasons.get(r, 0) + 1
                else:
                    feasible.append(n)
            chosen = kubesched.best(feasible, req)
            if chosen is None:
                failed = kubesched.failure_message(len(loads), reasons)
                out.pending.append(PendingPod(pod, failed))
                continue
            chosen.add(req)
            holders.add(chosen.name)
            out.placed.append((pod, chosen.name))
    return out


def _flavor_of_allocatable(cpu: int, mem: int) -> Flavor:
    # Allocatable is a bit under the VM size; name the shortfall by the VM it came from.
    return Flavor(int(math.ceil(cpu / 1000) * 1000), int(math.ceil(mem / GI) * GI))


def _bin(n: NodeCapacity, daemons: Sequence[Workload], preset: Preset) -> Bin:
    if n.allocatable:
        # The cluster's own DaemonSets already show up in used_*; only the release's are new.
        cpu = n.cpu_m - n.used_cpu - sum(w.cpu_m for w in daemons)
        mem = n.mem_b - n.used_mem - sum(w.mem_b for w in daemons)
    else:
        shape = node_shape(Flavor(n.cpu_m, n.mem_b), preset, daemons, 0.0)
        cpu, mem = shape.alloc_cpu - n.used_cpu, shape.alloc_mem - n.used_mem
    cpu, mem = max(cpu, 0), max(mem, 0)
    return Bin(n.name, cpu, mem, cpu, mem)


def _extra_workers(items: list[Item], bins: list[Bin], flavor: Flavor, daemons: Sequence[Workload],
                   preset: Preset, allocatable: bool, extra_bin: tuple[int, int] | None = None) -> int:
    """How many more workers of ``flavor`` make every pod schedule (0 if none would help)."""
    if extra_bin is not None:
        extra = extra_bin
    elif allocatable:
        rc, rm = reservation(flavor, preset)
        extra = (flavor.cpu_m - rc - sum(w.cpu_m for w in daemons), flavor.mem_b - rm - sum(w.mem_b for w in daemons))
    else:
        shape = node_shape(flavor, preset, daemons, 0.0)
        extra = (shape.alloc_cpu, shape.alloc_mem)
    result = pack(items, bins, new_bin=extra, bin_prefix="extra")
    if result.unplaced:
        return 0
    return max(result.opened - len(bins), 0)
