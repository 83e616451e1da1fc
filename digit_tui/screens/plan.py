"""New install, step 5: the plan — the task graph grouped by phase with what each task would do
(`digit-tui plan`'s dry run) — and the confirm step.

Confirming writes the answers file (an existing file is replaced only when the operator says
so), reads it back as `install` does, and starts the engine exactly as `digit-tui install` does
(engine/launch.py), with the prerequisites' warnings acknowledged when the operator did so on the
prerequisites screen (as `install --skip-checks` hands that to the engine); then the install view
takes over. The same file drives
`digit-tui install --answers FILE --headless`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static, Tree
from textual.worker import Worker, WorkerState

from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel.install import phase_trail, style, symbol
from digit_tui.viewmodel.plan import INSTALL_GRAPH, Plan
from digit_tui.widgets.flowheader import FlowHeader
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.phasetree import NodeRef, PhaseTree

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers


class PlanScreen(DigitScreen):
    HELP_TITLE = "new install · plan"
    HELP_KEYS = [("↑ ↓ ← →", "move in the tasks, open/close a phase"),
                 ("enter / space", "open or close a phase"),
                 ("tab", "to the answers file's path (and back)"),
                 ("c", "confirm: write the answers file and start the install"),
                 ("q / escape", "back to the form"), ("? / f1", "this help"), ("ctrl+q", "quit")]
    HELP_NOTES = ["Nothing is changed until you confirm: the plan is `digit-tui plan`'s dry run.",
                  "The answers file written on confirm drives the same install unattended: "
                  "`digit-tui install --answers FILE --headless`."]
    BINDINGS = [Binding("c", "confirm", "confirm and start"), Binding("q,escape", "back", "back"),
                Binding("question_mark,f1", "help", "help")]

    def __init__(self, answers: Answers, answers_path: Path, state_dir: Path, *,
                 state_override: Path | None = None, skip_checks: bool = False) -> None:
        super().__init__(id="plan")
        self.skip_checks = skip_checks
        self.answers, self.default_path, self.state_dir = answers, Path(answers_path), Path(state_dir)
        self.state_override = state_override
        self.plan: Plan | None = None
        self.plan_error: str | None = None
        self._started = False

    def compose(self) -> ComposeResult:
        yield FlowHeader(id="flow-header")
        with Horizontal(id="plan-body"):
            tree = PhaseTree(id="plan-tree")
            tree.border_title = "Tasks by phase"
            yield tree
            # A Static, not a RichLog: it wraps again when the terminal is resized.
            with VerticalScroll(id="plan-detail") as detail:
                detail.border_title = "would do"
                yield Static(id="plan-detail-text")
        with Horizontal(classes="field-row", id="plan-path-row"):
            yield Label("Answers file", classes="field-label")
            yield Input(str(self.default_path), id="answers-path", compact=True)
        yield Static(id="plan-command")
        yield Static(id="flow-status")
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self._header("◌ dry run of every task…", "yellow")
        self.query_one("#flow-status", Static).update(Text(
            "◌ asking each task what it would do (the cluster, the hosts: nothing is changed)…", style="yellow"))
        self._command()
        self.query_one("#plan-tree", PhaseTree).focus()
        self.dry_run()

    # -- the dry run -------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="plan", exit_on_error=False, description="building the plan")
    def dry_run(self) -> None:
        from digit_tui.viewmodel.plan import build_plan

        graph = getattr(self.app, "graph", None) or INSTALL_GRAPH
        plan = build_plan(self.answers, self._answers_path(), self.state_dir, graph, skip_checks=self.skip_checks)
        self.app.call_from_thread(self._show_plan, plan)

    def _show_plan(self, plan: Plan) -> None:
        self.plan = plan
        tree = self.query_one("#plan-tree", PhaseTree)
        tree.update_tasks(plan.rows())
        if tree.root.children:
            first = tree.root.children[0]
            if first.data is not None:
                tree.select_ref(first.data)
                self._detail(first.data)
        phases = len(tree.root.children)
        self._header(f"{len(plan.tasks)} tasks · {phases} phases", "")
        self.query_one("#flow-status", Static).update(Text(
            "Nothing is changed until you confirm (c); the install then runs in the background.", style="dim"))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Textual calls DigitScreen's handler too (every class's in the MRO): that one makes the dialog.
        if event.state == WorkerState.ERROR and event.worker.group == "plan":
            self.plan_error = str(event.worker.error)
            self._header("✗ no plan", "red")
            self.query_one("#flow-status", Static).update(Text.assemble(
                ("✗ ", "bold red"), "the plan could not be made; q: back to the form"))

    def _header(self, right_text: str, right_style: str) -> None:
        step = f"5/5 plan · {self.answers.environment} · {self.answers.digit.domain}"
        right = Text(right_text, style=right_style)
        self.query_one("#flow-header", FlowHeader).show(step, right)

    # -- the selected phase or task ------------------------------------------------------
    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        if event.node.data is not None:
            self._detail(event.node.data)

    def _detail(self, ref: NodeRef) -> None:
        plan = self.plan
        if plan is None:
            return
        box = self.query_one("#plan-detail", VerticalScroll)
        text = Text()
        if ref.kind == "task":
            task = plan.task(ref.key)
            if task is None:
                return
            box.border_title = f"{symbol(task.journal_state or 'pending')} {task.title}"
            text.append(f"{task.id} · {phase_trail(task.phase)}\n", style="dim")
            if task.deps:
                text.append("after " + ", ".join(task.deps) + "\n", style="dim")
            for line in task.would or ("(says nothing it would do)",):
                text.append(line + "\n")
        else:
            box.border_title = phase_trail(ref.key)
            for task in plan.tasks:
                if task.phase == ref.key or task.phase.startswith(ref.key + "/"):
                    state = task.journal_state or "pending"
                    text.append(symbol(state) + " ", style=style(state))
                    text.append(task.title + "\n", style="bold")
                    for line in task.would:
                        text.append("  " + line + "\n")
        text.rstrip()
        self.query_one("#plan-detail-text", Static).update(text)
        box.scroll_home(animate=False)

    # -- the answers file and the command it stands for ------------------------------------
    def _answers_path(self) -> Path:
        text = self.query_one("#answers-path", Input).value.strip() or str(self.default_path)
        return Path(os.path.abspath(os.path.expanduser(text)))

    def _command(self) -> None:
        state = f" --state-dir {self.state_dir}" if self.state_override is not None else ""
        path = self._answers_path()
        line = Text("unattended, the same: ", style="dim")
        skip = " --skip-checks" if self.skip_checks else ""
        line.append(f"digit-tui install --answers {path}{state}{skip} --headless")
        if path.exists():
            line.append(f"  ! {path.name} exists: confirming asks before replacing it", style="yellow")
        self.query_one("#plan-command", Static).update(line)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._command()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#plan-tree", PhaseTree).focus()

    # -- confirming --------------------------------------------------------------------------
    def action_confirm(self) -> None:
        from digit_tui.screens.confirm import ConfirmDialog

        if self.plan is None:
            why = "the plan could not be made" if self.plan_error else "the plan is still being made"
            self.query_one("#flow-status", Static).update(Text.assemble(
                ("✗ " if self.plan_error else "◌ ", "red" if self.plan_error else "yellow"),
                f"nothing to confirm: {why}; q: back to the form"))
            return
        if self._started:
            self.notify("the install is starting", severity="warning")
            return
        path = self._answers_path()
        exists = path.exists()
        lines: list[Text | str] = [
            f"{len(self.plan.tasks)} tasks, from the prerequisites to the release record."
            + (" The prerequisites' warnings are acknowledged (as --skip-checks)." if self.skip_checks else ""),
            Text.assemble("Writes ", (str(path), "bold"), ", then starts the install engine in the background, as "
                          "`digit-tui install` does; leaving the TUI does not stop it.")]
        if exists:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
            lines.append(Text(f"! {path} exists (modified {when}): it will be replaced.", style="bold yellow"))
            choices = [("overwrite", "Replace it and start", "o"), ("cancel", "Cancel", "c")]
        else:
            choices = [("start", "Write and start", "s"), ("cancel", "Cancel", "c")]

        def chosen(choice: str | None) -> None:
            if choice in ("start", "overwrite"):
                self._started = True
                self.start_install(path, overwrite=choice == "overwrite")

        self.app.push_screen(ConfirmDialog(f"Start the install of {self.answers.environment}?", lines, choices),
                             chosen)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False, description="starting the install")
    def start_install(self, path: Path, *, overwrite: bool) -> None:
        from digit_tui import paths
        from digit_tui.answers import load_answers
        from digit_tui.engine.launch import start_or_attach
        from digit_tui.screens.welcome import reap
        from digit_tui.viewmodel.newinstall import answers_text
        from digit_tui.engine.launch import engine_options

        graph = getattr(self.app, "graph", None) or INSTALL_GRAPH
        try:
            self.app.call_from_thread(self._header, "◌ writing the answers file…", "yellow")
            paths.ensure_private_dir(self.state_dir)
            write_answers(path, answers_text(self.answers), overwrite=overwrite)
            load_answers(path)     # read back as `install` reads it: what starts is what was written
            self.app.call_from_thread(self._header, "◌ starting the install engine…", "yellow")
            with engine_options(skip_checks=self.skip_checks):
                started = start_or_attach(self.state_dir, str(path), graph)
        except BaseException:
            self._started = False
            self.app.call_from_thread(self._header, "✗ not started", "red")
            raise
        reap(started.process)
        self.app.call_from_thread(self.app.open_install, self.state_dir)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()


def write_answers(path: Path, text: str, *, overwrite: bool) -> None:
    """Write the answers file (0600, never half-written). Without ``overwrite`` an existing file,
    even one that appeared since the operator was asked, is left alone: FileExistsError."""
    from digit_tui.atomic import atomic_write

    if overwrite:
        atomic_write(path, text, mode=0o600)
        return
    staged = atomic_write(path.with_name(f".{path.name}.{os.getpid()}.new"), text, mode=0o600)
    try:
        os.link(staged, path)            # atomic, and refuses to replace what is there
    except FileExistsError:
        raise FileExistsError(f"{path} exists (it appeared after you were asked); it was not replaced") from None
    finally:
        staged.unlink(missing_ok=True)
