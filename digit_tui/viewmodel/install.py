"""Pure view-model of the install screen: phases, counts, symbols, progress, ETA.

Built from journal rows only; no Textual here, so it is cheap to test and
the screen stays a thin renderer.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from digit_tui.engine.control import is_skipped
from digit_tui.engine.journal import RunRow, TaskRow
from digit_tui.engine.task import TaskState

# Colour carries meaning only, and always comes with a symbol.
SYMBOL: dict[str, str] = {
    "done": "✓", "running": "●", "retrying": "●", "waiting-for-network": "⏸",
    "pending": "◌", "failed": "✗", "blocked": "✗", "cancelled": "◌", "paused": "⏸", "interrupted": "⏸",
    "skipped": "↷",
}
STYLE: dict[str, str] = {
    "done": "green", "running": "yellow", "retrying": "yellow", "waiting-for-network": "yellow",
    "pending": "dim", "failed": "bold red", "blocked": "red dim", "cancelled": "dim", "paused": "yellow",
    "interrupted": "yellow", "skipped": "dim",
}
# What the operator may skip (engine/scheduler.py Scheduler.skip): work that is not under way.
SKIPPABLE = frozenset({TaskState.FAILED, TaskState.BLOCKED, TaskState.PENDING, TaskState.CANCELLED})


def symbol(state: str) -> str:
    return SYMBOL.get(state, "?")


def style(state: str) -> str:
    return STYLE.get(state, "")


def task_state(task: TaskRow) -> str:
    """The state a task is shown in: its journal state, or "skipped" for one the operator skipped."""
    return "skipped" if is_skipped(task.state.value, task.message) else task.state.value


@dataclass
class PhaseView:
    """A phase (or a group inside one: phase names like ``release/core`` nest)."""

    path: str                  # "release" or "release/core"
    name: str                  # last part, as shown
    tasks: list[TaskRow] = field(default_factory=list)       # direct tasks
    children: list["PhaseView"] = field(default_factory=list)

    def all_tasks(self) -> list[TaskRow]:
        out = list(self.tasks)
        for c in self.children:
            out += c.all_tasks()
        return out

    @property
    def done(self) -> int:
        return sum(1 for t in self.all_tasks() if t.state == TaskState.DONE)

    @property
    def total(self) -> int:
        return len(self.all_tasks())

    @property
    def state(self) -> str:
        return aggregate_state(t.state.value for t in self.all_tasks())


def aggregate_state(states: Iterable[str]) -> str:
    s = list(states)
    if not s:
        return "pending"
    if "failed" in s:
        return "failed"
    if "waiting-for-network" in s:
        return "waiting-for-network"
    if "running" in s or "retrying" in s:
        return "running"
    if all(x == "done" for x in s):
        return "done"
    if "blocked" in s and all(x in ("done", "blocked", "cancelled") for x in s):
        return "blocked"
    if any(x == "done" for x in s):
        return "running"  # partly done: work is under way in this phase
    return "pending"


def build_phases(tasks: Sequence[TaskRow]) -> list[PhaseView]:
    """Phases in the order their first task appears in the graph."""
    top: dict[str, PhaseView] = {}
    groups: dict[str, PhaseView] = {}
    for t in sorted(tasks, key=lambda t: t.ord):
        parts = [p for p in t.phase.split("/") if p] or ["main"]
        head = parts[0]
        phase = top.setdefault(head, PhaseView(path=head, name=head))
        node = phase
        for i in range(1, len(parts)):
            path = "/".join(parts[: i + 1])
            if path not in groups:
                groups[path] = PhaseView(path=path, name=parts[i])
                node.children.append(groups[path])
            node = groups[path]
        node.tasks.append(t)
    return list(top.values())


# The one place a phase id becomes words. Groups inside a phase are DIGIT module names (m_pgr,
# authn-authz) and tasks have their own titles in the journal: those are shown as they are written.
PHASE_TITLES: dict[str, str] = {
    "preflight": "Preflight checks",
    "prerequisites": "Prerequisites",
    "cluster": "Cluster",
    "volumes": "Volumes",
    "postgres": "PostgreSQL",
    "helmconfig": "Helm configuration",
    "helm-config": "Helm configuration",
    "release": "Release",
    "jenkins": "Jenkins",
    "monitoring": "Monitoring",
    "main": "Tasks",           # tasks without a phase
}


def phase_title(path: str) -> str:
    """Label of a phase ("helmconfig" -> "Helm configuration") or a group in it ("release/m_pgr" -> "m_pgr");
    a phase missing from PHASE_TITLES keeps its id rather than being guessed at."""
    head, _, rest = path.partition("/")
    if rest:
        return rest.rsplit("/", 1)[-1]
    return PHASE_TITLES.get(head, head)


def phase_trail(path: str) -> str:
    """A phase or group with the phases above it: "release/m_pgr" -> "Release · m_pgr"."""
    parts = [p for p in path.split("/") if p] or ["main"]
    return " · ".join(phase_title("/".join(parts[: i + 1])) for i in range(len(parts)))


@dataclass
class Progress:
    done: int
    total: int
    eta_seconds: float | None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


def progress(tasks: Sequence[TaskRow], *, now: float | None = None) -> Progress:
    """Share of tasks done and a rough time left from the pace of finished work so far."""
    now = time.time() if now is None else now
    done = [t for t in tasks if t.state == TaskState.DONE]
    total = len(tasks)
    eta = None
    remaining = sum(1 for t in tasks if not t.state.finished)
    starts = [t.started for t in tasks if t.started]
    if done and remaining and starts:
        span = max(now, max(t.finished or 0 for t in done)) - min(starts)
        eta = span / len(done) * remaining
    return Progress(done=len(done), total=total, eta_seconds=eta)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return "<1 min left"
    if seconds < 3600:
        return f"~{round(seconds / 60)} min left"
    return f"~{seconds / 3600:.1f} h left"


def format_elapsed(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def run_state(run: RunRow | None, engine_alive: bool) -> str:
    """What the header says: running, paused, done, failed, cancelled or interrupted (engine gone)."""
    if run is None:
        return "pending"
    if run.state == "running" and not engine_alive:
        return "interrupted"
    if run.state == "running" and run.paused:
        return "paused"
    return run.state


def current_task(tasks: Sequence[TaskRow]) -> TaskRow | None:
    """The task the right-hand panel follows until the operator picks one: the latest started active one,
    else the first failed, else the last finished."""
    active = [t for t in tasks if t.state.value in ("running", "retrying", "waiting-for-network")]
    if active:
        return max(active, key=lambda t: t.started or 0)
    failed = [t for t in tasks if t.state == TaskState.FAILED]
    if failed:
        return failed[0]
    finished = [t for t in tasks if t.finished]
    return max(finished, key=lambda t: t.finished or 0) if finished else None
