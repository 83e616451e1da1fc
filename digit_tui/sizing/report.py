"""The plan as text that fits 80 columns (``digit-tui size``)."""

from __future__ import annotations

import textwrap

from digit_tui.sizing.fit import FitReport
from digit_tui.sizing.model import Plan, VmPlan
from digit_tui.sizing.quantity import GI, fmt_cpu, fmt_mem

WIDTH = 80


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _vm_row(label: str, vm: VmPlan | None, note: str = "") -> str:
    if vm is None or vm.count == 0:
        return f"  {label:<16}{'-':>5}  {'':<14}{_cut(note, 41)}"
    return f"  {label:<16}{vm.count:>5}  {vm.flavor.name:<14}{_cut(note or vm.note, 41)}"


def render(plan: Plan, fit: FitReport | None = None, *, services: bool = True) -> str:
    out: list[str] = []
    ha = "HA (N+1)" if plan.ha else "no HA"
    out.append(_cut(f"DIGIT sizing · {plan.preset} ({plan.tier}) · {plan.ulbs} ULBs · "
                    f"{plan.users} peak users · {ha}", WIDTH))
    out += textwrap.wrap("modules: " + ", ".join(plan.modules), WIDTH, subsequent_indent="  ")
    out.append("")
    out.append(f"  {'VMs':<16}{'count':>5}  {'flavor':<14}note")
    out.append(_vm_row("masters", plan.masters, "" if plan.masters else "managed / shared control plane"))
    cpu_u, mem_u = plan.worker_utilisation
    flavor_note = "suggested, " if plan.flavor_suggested else ""
    wnote = (f"{flavor_note}{plan.workers_packed} for pods"
             + (" + 1 spare" if plan.ha and plan.workers else "")
             + f"; CPU {cpu_u:.0%} mem {mem_u:.0%}")
    out.append(_vm_row("workers", plan.worker_vm, wnote))
    if plan.postgres:
        out.append(_vm_row("postgres", plan.postgres, plan.postgres.note))
    else:
        out.append(f"  {'postgres':<16}{'-':>5}  {'':<14}managed or in-cluster, disk {plan.postgres_disk_gb}G")
    out.append(_vm_row("load balancer", plan.lb, "HAProxy"))
    out.append(_vm_row("jenkins", plan.jenkins, "master + agent"))
    t = plan.totals
    out.append(f"  {'total':<16}{t.vms:>5}  {fmt_cpu(t.cpu_m)} vCPU, {t.mem_b / GI:.0f} GiB memory, "
               f"{t.disk_gb} GB disk")
    out.append("")
    n_vol = sum(v.count for v in plan.volumes)
    out.append(f"  {f'Volumes ({n_vol})':<22}{'count':>5} {'size':>6} {'total':>7}  basis")
    for v in plan.volumes:
        out.append(f"  {_cut(v.name, 21):<22}{v.count:>5} {str(v.size_gb) + 'G':>6} {str(v.total_gb) + 'G':>7}  "
                   f"{_cut(v.basis, WIDTH - 46)}")
    if not any(v.name == "postgres" for v in plan.volumes):
        n = plan.postgres.count if plan.postgres else 1
        out.append(f"  {'postgres disk':<22}{n:>5} {str(plan.postgres_disk_gb) + 'G':>6} "
                   f"{str(n * plan.postgres_disk_gb) + 'G':>7}")
    if plan.reference:
        out.append("")
        out += textwrap.wrap(plan.reference, WIDTH, initial_indent="  ", subsequent_indent="    ")
    if fit is not None:
        out.append("")
        out.append("Fit check")
        for line in fit.lines():
            out += textwrap.wrap(line, WIDTH, initial_indent="  ", subsequent_indent="    ")
    if services:
        out.append("")
        out.append(f"  {'Service':<26}{'module':<12}{'pods':>7} {'CPU/pod':>8} {'mem/pod':>8} {'CPU':>6} {'mem':>7}")
        for s in sorted(plan.services, key=lambda s: (-s.total_mem_b, s.service)):
            pods = f"{s.replicas}" if s.replicas == s.chart_replicas else f"{s.chart_replicas}→{s.replicas}"
            if s.kind == "DaemonSet":
                pods = "/node"
            out.append(f"  {_cut(s.service, 25):<26}{_cut(s.module, 11):<12}{pods:>7} {fmt_cpu(s.cpu_m):>8} "
                       f"{fmt_mem(s.mem_b):>8} {fmt_cpu(s.total_cpu_m):>6} {fmt_mem(s.total_mem_b):>7}")
    out.append("")
    out.append("Assumptions")
    for a in plan.assumptions:
        out += textwrap.wrap(f"- {a.text} [{a.source}]", WIDTH, subsequent_indent="  ")
    return "\n".join(line.rstrip() for line in out)
