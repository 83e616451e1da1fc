"""The capacity planner: workloads + inputs + preset → Plan.

Pure and fast (no I/O): the sizing screen calls it on every keystroke and the
bench holds it to 100 ms for 500 services and 10,000 ULBs. Method, in order:
select modules; add the preset's extra workloads (e.g. the SDC prod logging
Kafka/ES); scale request-path replicas with peak users; count the per-node
system reservation and DaemonSets; keep the tier's headroom free; first-fit
decreasing onto the flavor; add the N+1 spare; size disks and Postgres from
ULBs × growth × retention, never below the published minimums.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from digit_tui.errors import InputError
from digit_tui.sizing.binpack import Item, pack
from digit_tui.sizing.model import (
    Assumption,
    Flavor,
    Plan,
    ServiceLine,
    SizingInputs,
    Totals,
    VmPlan,
    VolumePlan,
    Workload,
)
from digit_tui.sizing.presets import Preset
from digit_tui.sizing.quantity import GI, bytes_of, cpu_millis, fmt_cpu, fmt_mem

SELECTABLE_MARK = "m_"          # digit-facts: only modules named m_* are user-selectable

# Upper bounds of the inputs. Past them the plan means nothing and the arithmetic runs away:
# 10^10 users once took 35 s to end in MemoryError. ULBs: the bench's 10,000 (India has under 5,000).
# Users: the fit replay stays in seconds up to here. Flavors: larger than any VM sold.
MAX_ULBS = 10_000
MAX_USERS = 100_000
MAX_RETENTION_DAYS = 3650
MAX_FLAVOR_CPUS = 1024
MAX_FLAVOR_MEMORY_GIB = 32 * 1024
MAX_FLAVOR_DISK_GB = 1_000_000


def _at_most(option: str, value: float | None, limit: int, unit: str, low: int = 1) -> None:
    if value is not None and value > limit:
        raise InputError(f"{option} {_num(value)} is more than digit-tui plans for (at most {limit} {unit})",
                         expected=f"{option} between {low} and {limit}")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def check_bounds(inputs: SizingInputs) -> None:
    """InputError (exit 2) for an input above its bound, naming the bound."""
    _at_most("--ulbs", inputs.ulbs, MAX_ULBS, "ULBs", low=0)
    _at_most("--users", inputs.users, MAX_USERS, "peak concurrent users")
    _at_most("--retention-days", inputs.kafka_retention_days, MAX_RETENTION_DAYS, "days")
    _at_most("--es-retention-days", inputs.es_retention_days, MAX_RETENTION_DAYS, "days")
    if inputs.flavor != "suggest":
        check_flavor(parse_flavor(inputs.flavor, "--flavor"), "--flavor")


def parse_flavor(text: str, option: str) -> Flavor:
    """Flavor.parse, with a number too long for a float (9999...9C) refused instead of overflowing."""
    try:
        return Flavor.parse(text)
    except OverflowError:
        raise InputError(f"{option} {text[:40]}{'...' if len(text) > 40 else ''}: a number is far too large",
                         expected=f"a VM size such as 8C/16G (at most {MAX_FLAVOR_CPUS}C/{MAX_FLAVOR_MEMORY_GIB}G)") from None


def check_flavor(flavor: Flavor, option: str) -> None:
    """A node flavor no larger than any real VM."""
    for what, value, limit, unit in (("CPUs", flavor.cpu_m / 1000, MAX_FLAVOR_CPUS, "C"),
                                     ("memory", flavor.mem_b / GI, MAX_FLAVOR_MEMORY_GIB, "G"),
                                     ("disk", flavor.disk_gb, MAX_FLAVOR_DISK_GB, "G")):
        if value is not None and value > limit:
            raise InputError(f"{option} {flavor.name}: {_num(value)}{unit} {what} is more than any node digit-tui "
                             f"plans for (at most {limit}{unit})", expected="a VM size such as 8C/16G")


@dataclass(frozen=True, slots=True)
class NodeShape:
    """What one worker of a flavor offers to the release's pods."""

    flavor: Flavor
    reserved_cpu: int
    reserved_mem: int
    daemon_cpu: int
    daemon_mem: int
    headroom: float

    @property
    def alloc_cpu(self) -> int:
        return self.flavor.cpu_m - self.reserved_cpu - self.daemon_cpu

    @property
    def alloc_mem(self) -> int:
        return self.flavor.mem_b - self.reserved_mem - self.daemon_mem

    @property
    def target_cpu(self) -> int:
        return int(self.alloc_cpu * (1 - self.headroom))

    @property
    def target_mem(self) -> int:
        return int(self.alloc_mem * (1 - self.headroom))


def _stepped(total: float, steps: Sequence[tuple[float, float]]) -> float:
    reserved, lower = 0.0, 0.0
    for upper, share in steps:
        if total <= lower:
            break
        reserved += (min(total, upper) - lower) * share
        lower = upper
    return reserved


def reservation(flavor: Flavor, preset: Preset) -> tuple[int, int]:
    """kube-reserved + system-reserved + eviction of one node, (millicores, bytes)."""
    r = preset.reservation
    cpu = math.ceil(_stepped(flavor.cpu_m / 1000, r.cpu_steps) * 1000)
    mem = math.ceil(_stepped(flavor.mem_b / GI, r.mem_steps) * GI) + r.eviction_mi * 2**20
    return cpu, mem


def node_shape(flavor: Flavor, preset: Preset, daemons: Sequence[Workload], headroom: float) -> NodeShape:
    rc, rm = reservation(flavor, preset)
    dc = sum(w.cpu_m for w in daemons) + sum(cpu_millis(d.cpu) for d in preset.system_daemonsets)
    dm = sum(w.mem_b for w in daemons) + sum(bytes_of(d.memory) for d in preset.system_daemonsets)
    return NodeShape(flavor, rc, rm, dc, dm, headroom)


def expand_modules(chosen: Iterable[str], deps: Mapping[str, Sequence[str]]) -> set[str]:
    out: set[str] = set()
    todo = list(chosen)
    while todo:
        m = todo.pop()
        if m in out:
            continue
        out.add(m)
        todo.extend(deps.get(m, ()))
    return out


def select_modules(
    workloads: Sequence[Workload], modules: Sequence[str] | None, deps: Mapping[str, Sequence[str]] | None = None
) -> tuple[list[Workload], tuple[str, ...]]:
    """Workloads of the chosen ``m_*`` modules plus every non-selectable module."""
    known = {w.module for w in workloads} | set(deps or {})
    if modules is None:
        return list(workloads), tuple(sorted({w.module for w in workloads}))
    unknown = [m for m in modules if m not in known]
    if unknown:
        selectable = sorted(m for m in known if SELECTABLE_MARK in m)
        raise InputError(f"unknown module {unknown[0]!r}",
                         expected="one of " + (", ".join(selectable) if selectable else "the release's modules"))
    wanted = expand_modules(modules, deps or {})
    kept = [w for w in workloads if SELECTABLE_MARK not in w.module or w.module in wanted]
    return kept, tuple(sorted({w.module for w in kept}))


def _extra_workloads(selected: list[Workload], preset: Preset, notes: list[Assumption]) -> list[Workload]:
    by_name = {w.name: w for w in selected}
    by_service = {w.service: w for w in selected}
    out: list[Workload] = []
    for extra in preset.extra_workloads:
        if extra.copy_of:
            src = by_name.get(extra.copy_of) or by_service.get(extra.copy_of)
            if src is None:
                notes.append(Assumption(f"extra.{extra.name}",
                                        f"{extra.name} skipped: the release has no {extra.copy_of} to copy",
                                        extra.source))
                continue
            out.append(replace(src, service=extra.name, name=extra.name, namespace=extra.namespace,
                               replicas=extra.replicas if extra.replicas is not None else src.replicas))
        else:
            out.append(Workload(extra.name, "extra", "Deployment", extra.namespace, extra.name,
                                extra.replicas or 1, cpu_millis(extra.cpu or 0), bytes_of(extra.memory or 0)))
        notes.append(Assumption(f"extra.{extra.name}", f"adds {extra.name} "
                                f"({extra.copy_of and 'copy of ' + extra.copy_of or 'fixed requests'})", extra.source))
    return out


def _round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step - 1e-9) * step) if value > 0 else 0


@dataclass(frozen=True, slots=True)
class _Prepared:
    pods: list[Workload]            # non-daemon workloads with planned replicas
    daemons: list[Workload]
    lines: list[ServiceLine]
    users: int


def _users(inputs: SizingInputs, preset: Preset) -> int:
    return inputs.users if inputs.users is not None else max(
        preset.users.base.value, math.ceil(inputs.ulbs * preset.users.per_ulb.value))


def database_workloads(inputs: SizingInputs, preset: Preset, ha: bool, db_mode: str) -> list[Workload]:
    """The in-cluster Postgres pod, as big as the plan's Postgres for these users: the planner and
    the fit check place the same pod (the fit check once left it out, and a plan that could not
    hold the database said it fits)."""
    if db_mode != "in-cluster":
        return []
    # What the load needs, on the ladder's nearest step: the DB VM's floor (min_flavor) is for a VM
    # of its own, and would make a dev cluster's pod as big as a node.
    cpu_m, mem_b = _postgres_need(inputs, preset, _users(inputs, preset))
    ladder = sorted((Flavor.parse(f) for f in preset.postgres.ladder), key=lambda f: (f.cpu_m, f.mem_b))
    step = next((f for f in ladder if f.cpu_m >= cpu_m and f.mem_b >= mem_b), ladder[-1])
    return [Workload("postgres", "database", "StatefulSet", "backbone", "postgres", 1, step.cpu_m, step.mem_b)]


def _postgres_need(inputs: SizingInputs, preset: Preset, users: int) -> tuple[int, int]:
    """(CPU millicores, memory bytes) the database's load needs: memory by ULBs, cores by users."""
    pg = preset.postgres
    return math.ceil(users / pg.users_per_core.value) * 1000, int(inputs.ulbs * pg.mem_gb_per_100_ulbs.value / 100 * GI)


def _prepare(selected: Sequence[Workload], inputs: SizingInputs, preset: Preset, ha: bool,
             notes: list[Assumption]) -> _Prepared:
    users = _users(inputs, preset)
    upr = {r.service: r.users_per_replica for r in preset.request_path.services}
    d_cpu = cpu_millis(preset.unset_default.cpu)
    d_mem = bytes_of(preset.unset_default.memory)
    pods: list[Workload] = []
    daemons: list[Workload] = []
    lines: list[ServiceLine] = []
    unset_names: list[str] = []
    scaled: list[str] = []
    overrides = preset.replica_overrides.value if preset.replica_overrides else {}
    for w in selected:
        if w.name in overrides and w.replicas != overrides[w.name]:
            w = replace(w, replicas=overrides[w.name])
        cpu, mem = w.cpu_m, w.mem_b
        if w.unset:
            cpu, mem = max(cpu, d_cpu), max(mem, d_mem)
            unset_names.append(w.name)
        replicas = w.replicas
        per = upr.get(w.service) or upr.get(w.name)
        if per and w.kind in ("Deployment", "ReplicaSet") and replicas > 0:
            want = math.ceil(users / per)
            if ha:
                want = max(want, preset.request_path.ha_min_replicas)
            if want > replicas:
                scaled.append(f"{w.name} {replicas}→{want}")
                replicas = want
        w2 = replace(w, cpu_m=cpu, mem_b=mem, replicas=replicas)
        (daemons if w.daemonset else pods).append(w2)
        lines.append(ServiceLine(w.service, w.module, w.kind, w.replicas, replicas, cpu, mem))
    if overrides:
        notes.append(Assumption("replicas.override", "replicas set by the preset: " + ", ".join(
            f"{k}={v}" for k, v in sorted(overrides.items())),
            preset.replica_overrides.source if preset.replica_overrides else ""))
    if unset_names:
        shown = ", ".join(unset_names[:4]) + (" …" if len(unset_names) > 4 else "")
        notes.append(Assumption("requests.unset",
                                f"{len(unset_names)} workload(s) set no CPU/memory request ({shown}); planned at "
                                f"{preset.unset_default.cpu}/{preset.unset_default.memory} per pod",
                                preset.unset_default.source))
    notes.append(Assumption("users", f"peak concurrent users {users}" + (
        "" if inputs.users is not None else
        f" = max({preset.users.base.value}, {inputs.ulbs} ULBs × {preset.users.per_ulb.value:g})"),
        "--users" if inputs.users is not None else
        f"{preset.users.base.source}; {preset.users.per_ulb.source}"))
    if scaled:
        shown = ", ".join(scaled[:6]) + (" …" if len(scaled) > 6 else "")
        notes.append(Assumption("replicas.request-path", f"request-path replicas scaled to {users} users: {shown}",
                                preset.request_path.source))
    return _Prepared(pods, daemons, lines, users)


def _items(pods: Sequence[Workload]) -> list[Item]:
    return [Item(w.name if not w.namespace else f"{w.namespace}/{w.name}", w.cpu_m, w.mem_b, w.replicas,
                 w.one_per_node) for w in pods if w.replicas > 0]


@dataclass(frozen=True, slots=True)
class Packed:
    shape: NodeShape
    nodes: int
    used_cpu: int
    used_mem: int


def pack_on(flavor: Flavor, prepared: _Prepared, preset: Preset, headroom: float) -> Packed:
    """Workers of ``flavor`` needed for the pods (before the N+1 spare).

    Raises InputError when a pod cannot fit an empty node of this flavor.
    """
    shape = node_shape(flavor, preset, prepared.daemons, headroom)
    if shape.alloc_cpu <= 0 or shape.alloc_mem <= 0:
        raise InputError(
            f"flavor {flavor.name} has nothing left for pods after the node reservation and DaemonSets "
            f"({fmt_cpu(shape.reserved_cpu + shape.daemon_cpu)} CPU, {fmt_mem(shape.reserved_mem + shape.daemon_mem)})",
            expected="a larger flavor, e.g. 8C/16G")
    normal: list[Item] = []
    dedicated = 0
    items = _items(prepared.pods)
    too_big = [i for i in items if i.cpu_m > shape.alloc_cpu or i.mem_b > shape.alloc_mem]
    if too_big:
        item = max(too_big, key=lambda i: (i.mem_b, i.cpu_m, i.name))
        more = f"; {len(too_big) - 1} more pod type(s) too" if len(too_big) > 1 else ""
        raise InputError(
            f"flavor {flavor.name} is smaller than pod {item.name} "
            f"(needs {fmt_cpu(item.cpu_m)} CPU, {fmt_mem(item.mem_b)}; a node offers "
            f"{fmt_cpu(shape.alloc_cpu)} CPU, {fmt_mem(shape.alloc_mem)} after reservation and DaemonSets{more})",
            expected="a flavor larger than the largest pod, or --flavor suggest")
    for item in items:
        if item.cpu_m > shape.target_cpu or item.mem_b > shape.target_mem:
            # Bigger than the headroom target but fits a node: one node each.
            dedicated += item.count
        else:
            normal.append(item)
    packing = pack(normal, new_bin=(shape.target_cpu, shape.target_mem))
    used_cpu = sum(i.cpu_m * i.count for i in items)
    used_mem = sum(i.mem_b * i.count for i in items)
    return Packed(shape, max(packing.opened + dedicated, 1 if prepared.pods else 0), used_cpu, used_mem)


def _cost(flavor: Flavor, nodes: int) -> float:
    return nodes * (flavor.cpu_m / 1000 + flavor.mem_b / GI / 4)


def _volumes(selected: Sequence[Workload], inputs: SizingInputs, preset: Preset, kafka_days: int, es_days: int,
             notes: list[Assumption]) -> list[VolumePlan]:
    g = preset.growth
    by_key: dict[str, Workload] = {}
    for w in selected:
        by_key.setdefault(w.name, w)
        by_key.setdefault(w.service, w)
    covered: set[str] = set()
    out: list[VolumePlan] = []
    for rule in preset.volumes:
        found = by_key.get(rule.workload) if rule.workload else None
        if rule.workload and found is None and rule.count is None:
            continue
        count = found.replicas if found is not None else (rule.count or 1)
        if preset.replica_overrides and found is not None and found.name in preset.replica_overrides.value:
            count = preset.replica_overrides.value[found.name]
        if found is not None:
            covered.add(found.name)
        chart_gb = max((c.size_b for c in found.claims), default=0) / GI if found is not None else 0.0
        u = inputs.ulbs
        if rule.rule == "kafka":
            grow = u * g.kafka_mb_per_ulb_day.value * kafka_days * g.kafka_replication.value / max(count, 1) / 1024
            how = f"{u} ULBs × {g.kafka_mb_per_ulb_day.value:g} MB/day × {kafka_days} d × RF {g.kafka_replication.value}"
        elif rule.rule == "es":
            grow = u * g.es_mb_per_ulb_day.value * es_days * (1 + g.es_replicas.value) / max(count, 1) / 1024
            how = f"{u} ULBs × {g.es_mb_per_ulb_day.value:g} MB/day × {es_days} d × {1 + g.es_replicas.value} copies"
        elif rule.rule == "filestore":
            grow = u * g.filestore_gb_per_ulb_year.value * g.horizon_years.value / max(count, 1)
            how = f"{u} ULBs × {g.filestore_gb_per_ulb_year.value:g} GB/yr × {g.horizon_years.value:g} yr"
        else:
            grow, how = 0.0, ""
        grow *= 1 + g.free_margin.value if grow else 1
        size = max(rule.min_gb.value, _round_up(grow, 5), _round_up(chart_gb, 1))
        if size == rule.min_gb.value and (grow <= rule.min_gb.value and chart_gb <= rule.min_gb.value):
            basis = "published minimum"
        elif chart_gb >= grow:
            basis = f"the chart's claim ({chart_gb:g}Gi)"
        else:
            basis = "ULBs × growth × " + ("years" if rule.rule == "filestore" else "retention")
        out.append(VolumePlan(rule.name, found.name if found is not None else (rule.workload or rule.name), count, size,
                              basis))
        notes.append(Assumption(f"volume.{rule.name}", f"{rule.name}: at least {rule.min_gb.value}G each"
                                + (f"; grows as {how}" if how else ""), rule.min_gb.source))
    for w in selected:
        if w.name in covered or not w.claims or w.replicas == 0:
            continue
        for c in w.claims:
            n = w.replicas if c.per_replica else 1
            out.append(VolumePlan(f"{w.name}/{c.name}", w.name, n, max(1, _round_up(c.size_b / GI, 1)),
                                  "the chart's claim"))
    return out


def _postgres(inputs: SizingInputs, preset: Preset, users: int, ha: bool, mode: str,
              notes: list[Assumption]) -> tuple[VmPlan | None, int, Flavor]:
    pg = preset.postgres
    g = preset.growth
    disk = max(pg.min_disk_gb.value, _round_up(
        inputs.ulbs * g.db_gb_per_ulb_year.value * g.horizon_years.value * (1 + g.free_margin.value), 10))
    need_cpu, need_mem = _postgres_need(inputs, preset, users)
    floor = Flavor.parse(pg.min_flavor.value)
    ladder = sorted((Flavor.parse(f) for f in pg.ladder), key=lambda f: (f.cpu_m, f.mem_b))
    pick = floor
    if need_mem > floor.mem_b or need_cpu > floor.cpu_m:
        fits = [f for f in ladder if f.mem_b >= max(need_mem, floor.mem_b) and f.cpu_m >= max(need_cpu, floor.cpu_m)]
        pick = fits[0] if fits else ladder[-1]
        if not fits:
            notes.append(Assumption("postgres.beyond", f"Postgres needs more than {ladder[-1].name}: "
                                    "consider a managed database or read replicas", pg.users_per_core.source))
    flavor = Flavor(pick.cpu_m, pick.mem_b, disk)
    notes.append(Assumption("postgres", f"Postgres {mode}: {flavor.name}, disk {disk}G "
                            f"(≥ {pg.min_flavor.value}, {inputs.ulbs} ULBs × {g.db_gb_per_ulb_year.value:g} GB/yr × "
                            f"{g.horizon_years.value:g} yr, {users} users ÷ {pg.users_per_core.value}/core)",
                            f"{pg.min_flavor.source}; {pg.min_disk_gb.source}; {g.db_gb_per_ulb_year.source}"))
    if mode != "vm":
        return None, disk, flavor
    count = pg.count.value if ha else 1
    return VmPlan("postgres", count, flavor, "primary + standby" if count > 1 else ""), disk, flavor


def plan(
    workloads: Sequence[Workload],
    inputs: SizingInputs,
    preset: Preset,
    *,
    module_deps: Mapping[str, Sequence[str]] | None = None,
) -> Plan:
    inputs.validate()
    check_bounds(inputs)
    notes: list[Assumption] = []
    ha = preset.ha.value if inputs.ha is None else inputs.ha
    managed = preset.managed_control_plane.value if inputs.managed_control_plane is None else inputs.managed_control_plane
    db_mode = inputs.db_mode or preset.postgres.mode
    kafka_days = inputs.kafka_retention_days or preset.retention.kafka_days.value
    es_days = inputs.es_retention_days or inputs.kafka_retention_days or preset.retention.es_days.value
    headroom = preset.headroom.value

    selected, modules = select_modules(workloads, inputs.modules, module_deps)
    selected = selected + _extra_workloads(selected, preset, notes)
    selected = selected + database_workloads(inputs, preset, ha, db_mode)
    prepared = _prepare(selected, inputs, preset, ha, notes)
    pg_vm, pg_disk, pg_flavor = _postgres(inputs, preset, prepared.users, ha, db_mode, notes)

    candidates: list[dict[str, object]] = []
    if inputs.flavor == "suggest":
        best: tuple[float, int, Flavor, Packed] | None = None
        errors: list[str] = []
        for text in preset.flavor_candidates.value:
            f = Flavor.parse(text)
            try:
                p = pack_on(f, prepared, preset, headroom)
            except InputError as exc:
                errors.append(exc.message)
                continue
            n = p.nodes + (1 if ha and p.nodes else 0)
            cost = _cost(f, n)
            candidates.append({"flavor": f.name, "workers": n, "cost": round(cost, 2)})
            if best is None or (cost, n) < (best[0], best[1]):
                best = (cost, n, f, p)
        if best is None:
            raise InputError("no candidate flavor fits the largest pod: " + (errors[0] if errors else ""),
                             expected="--flavor with more CPU/memory")
        flavor, packed, suggested = best[2], best[3], True
        notes.append(Assumption("flavor", f"suggested {flavor.name}: cheapest of "
                                f"{', '.join(str(c['flavor']) for c in candidates)} (cost = vCPU + GiB/4 per node)",
                                preset.flavor_candidates.source))
    else:
        flavor = Flavor.parse(inputs.flavor)
        packed = pack_on(flavor, prepared, preset, headroom)
        suggested = False
        notes.append(Assumption("flavor", f"workers are {flavor.name}",
                                preset.flavor.source if inputs.flavor == preset.flavor.value else "--flavor"))
    # The preset's flavor may carry a root disk (4C/16G/20G); keep it when suggesting the same shape.
    workers = packed.nodes + (1 if ha and packed.nodes else 0)
    shape = packed.shape
    notes.append(Assumption("reservation", f"each worker reserves {fmt_cpu(shape.reserved_cpu)} CPU and "
                            f"{fmt_mem(shape.reserved_mem)} for the kubelet and OS", preset.reservation.source))
    daemon_names = [d.name for d in preset.system_daemonsets] + [w.name for w in prepared.daemons]
    notes.append(Assumption("daemonsets", f"DaemonSets on every worker ({', '.join(daemon_names)}) take "
                            f"{fmt_cpu(shape.daemon_cpu)} CPU and {fmt_mem(shape.daemon_mem)}",
                            "; ".join(sorted({d.source for d in preset.system_daemonsets})) + "; the release"))
    notes.append(Assumption("headroom", f"pods packed to {1 - headroom:.0%} of each worker's allocatable "
                            f"({fmt_cpu(shape.target_cpu)} CPU, {fmt_mem(shape.target_mem)})", preset.headroom.source))
    notes.append(Assumption("ha", f"N+1: {packed.nodes} workers for the pods + 1 spare" if ha
                            else "no spare worker (--no-ha)", preset.ha.source if inputs.ha is None else "--ha/--no-ha"))

    masters: VmPlan | None = None
    if not managed and preset.masters.count > 0:
        masters = VmPlan("master", preset.masters.count if ha else 1, Flavor.parse(preset.masters.flavor))
        notes.append(Assumption("masters", f"{masters.count} × {masters.flavor.name} masters", preset.masters.source))
    else:
        notes.append(Assumption("masters", "no master VMs (managed or shared control plane)",
                                preset.managed_control_plane.source if inputs.managed_control_plane is None
                                else "--managed-control-plane"))
    volumes = _volumes(selected, inputs, preset, kafka_days, es_days, notes)
    notes.append(Assumption("retention", f"Kafka keeps {kafka_days} days, Elasticsearch {es_days} days",
                            f"{preset.retention.kafka_days.source}; {preset.retention.es_days.source}"
                            if inputs.kafka_retention_days is None else "--retention-days"))
    for key in ("kafka_mb_per_ulb_day", "es_mb_per_ulb_day", "filestore_gb_per_ulb_year", "free_margin"):
        s = getattr(preset.growth, key)
        notes.append(Assumption(f"growth.{key}", f"{key.replace('_', ' ')} = {s.value:g}", s.source))
    lb = VmPlan("lb", preset.lb.count, Flavor.parse(preset.lb.flavor), "HAProxy") if preset.lb.count else None
    if lb:
        notes.append(Assumption("lb", f"{lb.count} × {lb.flavor.name} load balancer", preset.lb.source))
    jenkins = (VmPlan("jenkins", preset.jenkins.count, Flavor.parse(preset.jenkins.flavor), "master + agent")
               if preset.jenkins.count else None)
    if jenkins:
        notes.append(Assumption("jenkins", f"{jenkins.count} × {jenkins.flavor.name} Jenkins", preset.jenkins.source))

    worker_flavor = flavor
    vms = [v for v in (masters, VmPlan("worker", workers, worker_flavor), pg_vm, lb, jenkins) if v and v.count]
    totals = Totals(
        vms=sum(v.count for v in vms),
        cpu_m=sum(v.count * v.flavor.cpu_m for v in vms),
        mem_b=sum(v.count * v.flavor.mem_b for v in vms),
        disk_gb=sum(v.total_gb for v in volumes) + (0 if pg_vm else (pg_disk if db_mode == "in-cluster" else 0))
        + sum(v.count * (v.flavor.disk_gb or 0) for v in vms),
    )
    if db_mode == "in-cluster":
        volumes.append(VolumePlan("postgres", "postgres", 1, pg_disk, "Postgres in the cluster"))
    cap_cpu = max(packed.nodes, 1) * shape.alloc_cpu
    cap_mem = max(packed.nodes, 1) * shape.alloc_mem
    util = (packed.used_cpu / cap_cpu if cap_cpu > 0 else 0.0, packed.used_mem / cap_mem if cap_mem > 0 else 0.0)
    largest = max(prepared.pods, key=lambda w: (w.mem_b, w.cpu_m), default=None)
    ref = ""
    if preset.reference:
        r = preset.reference
        ref = f"DIGIT publishes {r.workers} × {r.flavor} workers, masters {r.masters}, volumes {r.volumes}"
    return Plan(
        preset=preset.name, tier=preset.tier if inputs.tier == preset.tier else inputs.tier, ulbs=inputs.ulbs,
        users=prepared.users, modules=modules, ha=ha, flavor=worker_flavor, flavor_suggested=suggested,
        masters=masters, workers=workers, workers_packed=packed.nodes, worker_utilisation=util,
        volumes=volumes, postgres=pg_vm, postgres_disk_gb=pg_disk, lb=lb, jenkins=jenkins,
        services=prepared.lines, assumptions=notes, totals=totals, reference=ref,
        pods=sum(w.replicas for w in prepared.pods) + workers * len(prepared.daemons),
        largest_pod=(largest.name, largest.cpu_m, largest.mem_b) if largest else ("", 0, 0),
        flavor_candidates=candidates,
    )
