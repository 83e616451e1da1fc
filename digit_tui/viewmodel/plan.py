"""The plan of an install before it starts: the task graph and each task's dry run, as
`digit-tui plan` prints them (the graph factory the engine will load, over the configuration
document the engine will record, ``dry_run_all``), for the plan screen.

Nothing is changed by building it; it talks to the cluster and the hosts (the dry runs read live
facts), so it runs off the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui.engine.journal import TaskRow
from digit_tui.engine.task import TaskState

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers

# The graph `digit-tui install` runs (cli/install.py DEFAULT_GRAPH; a test holds them equal).
INSTALL_GRAPH = "digit_tui.tasks.graph:build_graph"


@dataclass(frozen=True)
class PlannedTask:
    id: str
    title: str
    phase: str
    deps: tuple[str, ...]
    would: tuple[str, ...]          # the task's dry run: what it would do
    journal_state: str | None       # done / failed ... when this state directory has run it before


@dataclass(frozen=True)
class Plan:
    environment: str
    domain: str
    tasks: tuple[PlannedTask, ...]  # in the order the engine would consider them

    def rows(self) -> list[TaskRow]:
        """Journal-shaped rows, so that the install view's phase tree draws the plan."""
        return [TaskRow(t.id, t.title, t.phase, list(t.deps), TaskState(t.journal_state or "pending"), ord=i)
                for i, t in enumerate(self.tasks)]

    def task(self, task_id: str) -> PlannedTask | None:
        return next((t for t in self.tasks if t.id == task_id), None)


def build_plan(answers: Answers, answers_path: Path, state_dir: Path, graph: str = INSTALL_GRAPH,
               timeout: float | None = None, *, skip_checks: bool = False) -> Plan:
    """The plan for ``answers`` as they will be written at ``answers_path`` (InputError when the
    graph cannot be built from them, as `plan` exits 2); ``skip_checks``: the prerequisites'
    warnings acknowledged, recorded as `install --skip-checks` records them."""
    from digit_tui.answers.config import InstallConfig, PreflightOptions, set_preflight
    from digit_tui.engine.daemon import load_graph_factory
    from digit_tui.engine.rundoc import GraphInput
    from digit_tui.engine.scheduler import GraphError, validate_graph
    from digit_tui.engine.plan import dry_run_all
    from digit_tui.errors import InputError

    from digit_tui.sizing.install import install_plan

    document = InstallConfig.from_answers(answers, answers_path, sizing=install_plan(answers, answers_path)).to_document()
    if skip_checks:
        set_preflight(document, PreflightOptions(skip_checks=True))
    try:
        tasks = load_graph_factory(graph)(GraphInput(document, state_dir))
        order = validate_graph(tasks)
    except GraphError as exc:
        raise InputError(str(exc), path=answers_path) from None
    known = _journal_states(state_dir)
    lines = asyncio.run(dry_run_all(tasks, timeout))
    by_id = {t.id: t for t in tasks}
    planned = tuple(PlannedTask(tid, by_id[tid].title, by_id[tid].phase, tuple(by_id[tid].deps),
                                tuple(lines.get(tid, [])), known.get(tid)) for tid in order)
    return Plan(answers.environment, answers.digit.domain, planned)


def _journal_states(state_dir: Path) -> dict[str, str]:
    from digit_tui.engine.journal import Journal, JournalError
    from digit_tui.engine.launch import latest_run

    run = latest_run(state_dir, snapshot=True)   # the plan changes nothing, not even -wal/-shm files
    if run is None:
        return {}
    try:
        j = Journal.in_dir(state_dir, snapshot=True)
    except JournalError:
        return {}
    try:
        return {t.id: t.state.value for t in j.tasks(run.id)}
    finally:
        j.close()
