"""How a workload, a node and an event read in the dashboard's further views: columns, cells, order.

Colour carries meaning only and always with a symbol: ✓ ready, ● on its way (scaling, rolling,
cordoned), ✗ failed or not ready; a warning event is "!" in yellow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text

from digit_tui.health.model import age
from digit_tui.widgets.podrow import cell, header_line

if TYPE_CHECKING:   # the dashboard imports this module before its first frame: nothing heavy at run time
    from digit_tui.answers.sizingplan import SizingPlan
    from digit_tui.health.views import EventRow, NodeRow, WorkloadRow

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class Columns:
    names: tuple[str, ...]
    widths: list[int]

    def header(self) -> Text:
        shown = [(n, w) for n, w in zip(self.names, self.widths) if w]
        return header_line(tuple(n for n, _ in shown), [w for _, w in shown])


def _fill(width: int, fixed: list[int], at: int, least: int = 12) -> list[int]:
    widths = list(fixed)
    widths[at] = max(least, width - sum(fixed) - 1)
    return widths


# -- workloads ------------------------------------------------------------------------------------
SHORT_KIND = {"Deployment": "Deploy", "StatefulSet": "STS", "DaemonSet": "DS"}


def workload_columns(width: int) -> Columns:
    wide = width >= 110
    fixed = [12 if wide else 7, 16 if wide else 11, 0, 10, 5, 6, 5]
    return Columns(("KIND", "NAMESPACE", "NAME", "READY", "UPD", "AVAIL", "AGE"), _fill(width, fixed, 2))


def workload_state(w: WorkloadRow) -> tuple[str, str]:
    """(symbol + ready x/y, style)."""
    text = f"{w.ready}/{w.desired}"
    if w.failed:
        return "✗ " + text, "bold red"
    if w.ok:
        return "✓ " + text, "green" if w.desired else "dim"
    return "● " + text, "yellow"


def workload_text(w: WorkloadRow, cols: Columns, now: float) -> Text:
    state, style = workload_state(w)
    kind = w.kind if cols.widths[0] >= 12 else SHORT_KIND.get(w.kind, w.kind)
    name = f"{w.name}  {w.failed}" if w.failed else w.name
    text = Text(no_wrap=True, overflow="crop")
    for (value, st), width in zip(((kind, "dim"), (w.namespace, ""), (name, ""), (state, style),
                                   (str(w.updated), "" if w.updated >= w.desired else "yellow"),
                                   (str(w.available), "" if w.available >= w.desired else "yellow"),
                                   (workload_age(w, now), "")), cols.widths):
        cell(text, value, width, st)
    return text


def workload_age(w: WorkloadRow, now: float) -> str:
    return age(now - w.created if w.created else None)


def workload_sort(w: WorkloadRow) -> tuple[Any, ...]:
    return (w.namespace, w.name, w.kind)


def workload_matches(w: WorkloadRow, needle: str) -> bool:
    return needle in f"{w.kind} {w.namespace} {w.name} {w.failed}".lower()


# -- nodes ----------------------------------------------------------------------------------------
def node_columns(width: int) -> Columns:
    fixed = [0, 11, 16, 19, 9]
    widths = _fill(width, fixed, 0)
    widths[0] = min(widths[0], 48)     # node names are short: the numbers stay near them on a wide terminal
    return Columns(("NAME", "STATUS", "CPU REQ/ALLOC", "MEMORY REQ/ALLOC", "PODS"), widths)


def cpu_text(millis: int) -> str:
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{millis}m" if millis < 1000 else f"{millis / 1000:.1f}"


def mem_text(b: int) -> str:
    if b == 0:
        return "0"
    if b >= GIB:
        return f"{b / GIB:.1f}Gi".replace(".0Gi", "Gi")
    return f"{b // MIB}Mi"


def share(used: int, total: int) -> tuple[str, str]:
    """("37%", style): yellow from 85 %, red past what the node can give."""
    if total <= 0:
        return "–", "dim"
    pct = 100 * used / total
    return f"{pct:.0f}%", "bold red" if pct > 100 else "yellow" if pct >= 85 else ""


def node_state(n: NodeRow) -> tuple[str, str]:
    if not n.ready:
        return "✗ NotReady", "bold red"
    if not n.schedulable:
        return "● Cordoned", "yellow"
    return "✓ Ready", "green"


def node_text(n: NodeRow, cols: Columns, now: float) -> Text:
    state, style = node_state(n)
    text = Text(no_wrap=True, overflow="crop")
    cell(text, n.name, cols.widths[0])
    cell(text, state, cols.widths[1], style)
    for used, total, fmt, width in ((n.cpu_requested, n.cpu_allocatable, cpu_text, cols.widths[2]),
                                    (n.mem_requested, n.mem_allocatable, mem_text, cols.widths[3])):
        pct, st = share(used, total)
        head = f"{fmt(used)}/{fmt(total)} "
        cell(text, head + pct.rjust(max(0, width - len(head) - 1)), width, st)
    cell(text, f"{n.pods}/{n.pods_allocatable}", cols.widths[4])
    return text


def node_sort(n: NodeRow) -> tuple[Any, ...]:
    return (n.name,)


def node_matches(n: NodeRow, needle: str) -> bool:
    return needle in f"{n.name} {node_state(n)[0]}".lower()


@dataclass(frozen=True)
class NodePlan:
    """What the install's sizing plan asked of the cluster's workers (for the nodes view's last line)."""

    workers: int
    cpus: float             # per worker
    memory_gib: float       # per worker
    flavor: str = ""

    @classmethod
    def of(cls, sizing: SizingPlan | None) -> NodePlan | None:
        """From the run's sizing plan (``InstallConfig.sizing``), None when the install has none."""
        if sizing is None:
            return None
        return cls(workers=sizing.workers, cpus=sizing.worker_cpus, memory_gib=sizing.worker_memory_gib,
                   flavor=sizing.worker_flavor)


def nodes_footer(rows: list[NodeRow], plan: NodePlan | None, width: int = 80) -> Text:
    """Requested against allocatable over all nodes, and against the plan when the install has one
    (its worker count against the nodes that are not control-plane nodes; on a wide terminal also
    what the planned workers would give)."""
    cpu_used = sum(n.cpu_requested for n in rows)
    mem_used = sum(n.mem_requested for n in rows)
    text = Text(no_wrap=True, overflow="crop")
    text.append(f" {len(rows)} nodes: ", style="bold")
    for label, used, total, fmt in (("cpu", cpu_used, sum(n.cpu_allocatable for n in rows), cpu_text),
                                    ("mem", mem_used, sum(n.mem_allocatable for n in rows), mem_text)):
        pct, st = share(used, total)
        text.append(f"{label} {fmt(used)}/{fmt(total)} ")
        text.append(pct, style=st or None)
        text.append(" · ")
    if plan is None:
        text.right_crop(3)
        return text
    text.append("plan ", style="bold")
    text.append(f"{plan.workers}×{plan.flavor or f'{plan.cpus:g}C/{plan.memory_gib:g}G'}")
    if width >= 110:
        want_cpu, want_mem = int(plan.workers * plan.cpus * 1000), int(plan.workers * plan.memory_gib * GIB)
        text.append(f" = {cpu_text(want_cpu)} cpu {mem_text(want_mem)}, requested {share(cpu_used, want_cpu)[0]} / "
                    f"{share(mem_used, want_mem)[0]}")
    short = plan.workers - sum(1 for n in rows if not n.control_plane)
    text.append(f" ✗ {short} node{'s' if short > 1 else ''} short" if short > 0 else " ✓",
                style="bold red" if short > 0 else "green")
    return text


# -- events ---------------------------------------------------------------------------------------
def event_columns(width: int) -> Columns:
    wide = width >= 110
    fixed = [5, 2, 16 if wide else 0, 30 if wide else 24, 18, 0]
    widths = _fill(width, fixed, 5, least=10)
    return Columns(("LAST", "", "NAMESPACE" if wide else "", "OBJECT", "REASON", "MESSAGE"), widths)


def event_text(e: EventRow, cols: Columns, now: float) -> Text:
    reason = f"{e.reason} ×{e.count}" if e.count > 1 else e.reason
    text = Text(no_wrap=True, overflow="crop")
    cell(text, event_age(e, now), cols.widths[0])
    cell(text, "!" if e.warning else "·", cols.widths[1], "bold yellow" if e.warning else "dim")
    if cols.widths[2]:
        cell(text, e.namespace, cols.widths[2])
    cell(text, e.subject, cols.widths[3], "bold" if e.warning else "")
    cell(text, reason, cols.widths[4], "yellow" if e.warning else "")
    cell(text, e.message, cols.widths[5])
    return text


def event_age(e: EventRow, now: float) -> str:
    return age(now - e.time if e.time else None)


def event_sort(e: EventRow) -> tuple[Any, ...]:
    """Warnings first, then the normal events; newest first in each."""
    return (not e.warning, -e.time, e.key)


def event_matches(e: EventRow, needle: str) -> bool:
    return needle in f"{e.namespace} {e.subject} {e.reason} {e.message}".lower()


# -- the views ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ViewSpec:
    """One further view of the dashboard: its title, columns, order, filter and what `f` keeps."""

    title: str
    noun: str
    columns: Callable[[int], Columns]
    text: Callable[[Any, Columns, float], Text]
    sort: Callable[[Any], tuple[Any, ...]]
    matches: Callable[[Any, str], bool]
    bad: Callable[[Any], bool]          # what `f` keeps, counted in the title
    bad_label: str
    ticks: Callable[[Any, float], str] | None = None
    follow_top: bool = False            # newest first: a cursor on the first line stays there (RowTable)


SPECS: dict[str, ViewSpec] = {
    "workloads": ViewSpec("Workloads", "workloads", workload_columns, workload_text, workload_sort, workload_matches,
                          lambda w: not w.ok, "not ready", workload_age),
    "nodes": ViewSpec("Nodes", "nodes", node_columns, node_text, node_sort, node_matches,
                      lambda n: not n.ready or not n.schedulable, "not ready"),
    "events": ViewSpec("Events", "events", event_columns, event_text, event_sort, event_matches,
                       lambda e: e.warning, "warnings", event_age, follow_top=True),
}
