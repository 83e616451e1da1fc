"""The install view: phases and tasks, the selected task's events, progress, network.

It renders only from the journal, read by a worker thread that fetches only
new events (by sequence number); commands go to the engine over its control
socket from a worker thread, so the event loop never waits on I/O.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.timer import Timer
from textual.widgets import Static, Tree
from textual.worker import get_current_worker

from digit_tui.engine.journal import Event, RunRow, TaskRow
from digit_tui.engine.control import Request
from digit_tui.engine.rundoc import RunOptions
from digit_tui.engine.task import TaskState
from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel.feed import FeedUpdate, JournalFeed, NetStatus, down_banner, probe_endpoints
from digit_tui.viewmodel.install import (
    current_task,
    format_elapsed,
    phase_trail,
    progress,
    SKIPPABLE,
    run_state,
    style,
    symbol,
    task_state,
)
from digit_tui.widgets.eventpanel import EventPanel
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.phasetree import NodeRef, PhaseTree
from digit_tui.widgets.statusline import StatusLine, progress_text

POLL_INTERVAL = 0.3
NET_INTERVAL = 5.0
ENGINE_START_GRACE = 4.0
NAV_KEYS = {"up", "down", "left", "right", "pageup", "pagedown", "home", "end", "enter", "space"}
SHOW_DELAY = 0.12          # seconds the tree's cursor rests before the panel shows what it is on
CLOSE_HINT = "You may close this terminal: run digit-tui again to re-attach."


class InstallScreen(DigitScreen):
    HELP_TITLE = "install"
    HELP_KEYS = [("↑ ↓ ← →", "move in the phases tree, open/close phases"),
                 ("enter / space", "open or close a phase"),
                 ("c", "follow the current task again"),
                 ("p", "pause the install (running tasks finish) / resume it"),
                 ("r", "retry the selected failed task (or the first failed one)"),
                 ("s", "skip the selected failed, blocked or pending task (or the first failed one), "
                       "after a confirmation: its dependants run as if it were done"),
                 ("l", "engine log"), ("d", "pod dashboard of the target cluster"),
                 ("ctrl+p", "command palette: these actions by name, with their keys"),
                 ("q / ctrl+q", "leave: the install continues in the background")]
    HELP_NOTES = ["The install runs in its own engine process. Closing this screen, the terminal or the SSH "
                  "session does not stop it; `digit-tui` re-attaches and shows the whole history."]

    BINDINGS = [
        Binding("p", "pause", "pause"),
        Binding("r", "retry", "retry"),
        Binding("s", "skip", "skip"),
        Binding("l", "logs", "logs"),
        Binding("d", "dashboard", "dashboard"),
        Binding("c", "follow", "follow", show=False),
        Binding("question_mark", "help", "help"),
        Binding("q", "app.quit", "quit", show=False),
        Binding("ctrl+q", "app.quit", "quit (install continues)"),
    ]

    def __init__(self, state_dir: Path) -> None:
        super().__init__(id="install")
        self.state_dir = Path(state_dir)
        self.run_row: RunRow | None = None
        self.task_rows: list[TaskRow] = []
        self.engine_alive = False
        self.net: NetStatus | None = None
        self.net_down_since: float | None = None    # wall clock of the first probe that found it down
        self._events: deque[Event] = deque(maxlen=5000)
        self._by_task: dict[str, deque[Event]] = {}
        self._shown: NodeRef | None = None
        self._follow = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._start_error_shown = False
        self._show_timer: Timer | None = None

    # -- layout ---------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="install-header")
        yield Static(id="net-banner")
        with Horizontal(id="install-body"):
            tree = PhaseTree(id="phases")
            tree.border_title = "Phases"
            yield tree
            panel = EventPanel(id="events")
            panel.border_title = "events"
            yield panel
        yield StatusLine(id="progress")
        yield Static(id="hint")
        yield QuietFooter(show_command_palette=False, compact=True)  # every action key fits in 80 columns

    def on_mount(self) -> None:
        self._render_header()
        self.query_one("#hint", Static).update(Text("Reading the install journal…", style="dim"))
        self.query_one("#progress", StatusLine).update(Text("◌ waiting for the install engine…", style="dim"))
        self.follow_journal()
        self.watch_network()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- workers --------------------------------------------------------------
    @work(thread=True, exclusive=True, group="journal", exit_on_error=False, description="reading the journal")
    def follow_journal(self) -> None:
        worker = get_current_worker()
        feed = JournalFeed(self.state_dir)
        try:
            while not worker.is_cancelled:
                upd = feed.poll()
                if worker.is_cancelled:
                    break
                self.app.call_from_thread(self._apply, upd)
                self._wake.wait(POLL_INTERVAL)
                self._wake.clear()
        finally:
            feed.close()

    @work(thread=True, exclusive=True, group="network", exit_on_error=False, description="probing the network")
    def watch_network(self) -> None:
        worker = get_current_worker()
        stop = self._stop
        while not worker.is_cancelled and not stop.is_set():
            run = self.run_row
            endpoints = list(RunOptions.of(run.settings).endpoints) if run else []
            if run is not None:
                status = probe_endpoints(endpoints)
                if worker.is_cancelled:
                    break
                self.app.call_from_thread(self._set_net, status)
            stop.wait(NET_INTERVAL if run is not None else POLL_INTERVAL)

    @work(thread=True, group="control", exit_on_error=False, description="sending a command to the engine")
    def send_command(self, request: Request, done_message: str) -> None:
        from digit_tui.engine import control

        try:
            reply = control.send(self.state_dir, request)
        except ConnectionError as exc:
            answers = self.run_row.answers_path if self.run_row else None
            self.app.call_from_thread(
                self.app.show_error, f"Could not {request.cmd} the install",  # type: ignore[attr-defined]
                f"{exc}: the engine has finished or was stopped.",
                f"run `digit-tui install --answers {answers or 'FILE'}` to resume it." )
            return
        if not reply.ok:
            self.app.call_from_thread(
                self.app.show_error, f"The engine refused to {request.cmd}",  # type: ignore[attr-defined]
                reply.error or "no reason given", "check the task's state and try again.")
            return
        self.app.call_from_thread(self.notify, done_message, timeout=4)
        self._wake.set()

    # -- applying journal updates ---------------------------------------------
    def _apply(self, upd: FeedUpdate | None) -> None:
        if upd is None or upd.run is None:
            self._no_run_yet()
            return
        if upd.reset:
            self._events.clear()
            self._by_task.clear()
            self._shown = None
        self.run_row, self.task_rows, self.engine_alive = upd.run, upd.tasks, upd.engine_alive
        for ev in upd.events:
            self._events.append(ev)
            if ev.task:
                self._by_task.setdefault(ev.task, deque(maxlen=1000)).append(ev)
        tree = self.query_one(PhaseTree)
        tree.update_tasks(self.task_rows)
        refilled = False
        if self._follow:
            cur = current_task(self.task_rows)
            if cur is not None:
                # Work under way or failed: that task. All settled: its phase, folded, for the overview.
                active = cur.state.value in ("running", "retrying", "waiting-for-network", "failed")
                ref = NodeRef("task", cur.id) if active else NodeRef("phase", cur.phase)
                if tree.selected_ref != ref:
                    tree.select_ref(ref)
                refilled = self._show(ref)
        elif self._shown is None and tree.selected_ref is not None:
            refilled = self._show(tree.selected_ref)
        if not refilled:
            self._append_events(upd.events)
        self._render_header()
        self._render_progress()
        self._render_hint()

    def _no_run_yet(self) -> None:
        from digit_tui.engine.lock import pid_alive, read_pid

        engine_pid = read_pid(self.state_dir / "engine.lock")
        if pid_alive(engine_pid) or time.monotonic() - self._started < ENGINE_START_GRACE:
            return
        self.query_one("#hint", Static).update(Text("✗ no install engine is running here", style="red"))
        if not self._start_error_shown:
            self._start_error_shown = True
            log = self.state_dir / "logs" / "engine.log"
            tail = ""
            if log.exists():
                lines = [x for x in log.read_text(errors="replace").splitlines() if x.strip()]
                tail = lines[-1] if lines else ""
            self.app.show_error(  # type: ignore[attr-defined]
                "The install engine is not running",
                (f"Its last words: {tail}" if tail else f"No install has started in {self.state_dir}."),
                f"see {log}; start an install with `digit-tui install --answers FILE` or `make run`.")

    def _append_events(self, events: list[Event]) -> None:
        ref = self._shown
        if ref is None or not events:
            return
        panel = self.query_one(EventPanel)
        if ref.kind == "task":
            panel.append(e for e in events if e.task == ref.key)
        else:
            ids = self._phase_task_ids(ref.key)
            panel.append(e for e in events if e.task in ids)

    def _phase_task_ids(self, path: str) -> set[str]:
        return {t.id for t in self.task_rows if t.phase == path or t.phase.startswith(path + "/")}

    def _task_row(self, task_id: str) -> TaskRow | None:
        return next((t for t in self.task_rows if t.id == task_id), None)

    def _show(self, ref: NodeRef) -> bool:
        """Fill the right panel for a task or a phase; True if it was refilled (the choice changed)."""
        if ref == self._shown:
            self._retitle(ref)
            return False
        self._shown = ref
        panel = self.query_one(EventPanel)
        if ref.kind == "task":
            panel.show(self._title(ref), list(self._by_task.get(ref.key, ())), with_task=False)
        else:
            ids = self._phase_task_ids(ref.key)
            panel.show(self._title(ref), [e for e in self._events if e.task in ids], with_task=True)
        self._render_hint()
        return True

    def _title(self, ref: NodeRef) -> str:
        if ref.kind == "task":
            t = self._task_row(ref.key)
            return f"{symbol(task_state(t))} {t.title}" if t else ref.key
        return phase_trail(ref.key)

    def _retitle(self, ref: NodeRef) -> None:
        self.query_one(EventPanel).border_title = self._title(ref)

    def on_key(self, event: events.Key) -> None:
        # Moving in the tree means the operator chooses what to read: stop following the current task.
        if event.key in NAV_KEYS and isinstance(self.focused, PhaseTree):
            self._follow = False

    def on_tree_node_selected(self, event: Tree.NodeSelected[NodeRef]) -> None:
        self._follow = False
        if event.node.data is not None:
            self._show(event.node.data)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        ref = event.node.data
        if ref is not None and not self._follow:
            # The panel follows once the cursor rests: arrowing through the tree moves it at once,
            # and only the node it stops on has its events drawn.
            if self._show_timer is not None:
                self._show_timer.stop()
            self._show_timer = self.set_timer(SHOW_DELAY, lambda: self._show_unless_following(ref))

    def _show_unless_following(self, ref: NodeRef) -> None:
        self._show_timer = None
        if not self._follow:
            self._show(ref)

    def _set_net(self, status: NetStatus) -> None:
        self.net = status
        if status.ok is False:
            if self.net_down_since is None:
                self.net_down_since = time.time()
        else:
            self.net_down_since = None
        self._render_progress()
        self._render_banner()

    # -- rendering --------------------------------------------------------------
    def _tick(self) -> None:
        self._render_header()
        self._render_banner()

    def _render_banner(self) -> None:
        banner = self.query_one("#net-banner", Static)
        net, since = self.net, self.net_down_since
        banner.display = net is not None and since is not None
        if net is not None and since is not None:
            banner.update(Text(down_banner(net, since, time.time(), self.size.width or 80), style="bold red"))
    def _state(self) -> str:
        return run_state(self.run_row, self.engine_alive)

    def _render_header(self) -> None:
        run = self.run_row
        head = Text()
        head.append("DIGIT installer", style="bold")
        if run is not None:
            config = _config_of(run)
            domain = config.answers.digit.domain if config is not None else ""
            head.append(f" · {run.environment}")
            if domain:
                head.append(f" · {domain}")
        width = self.size.width or 80
        state = self._state()
        right = Text()
        right.append(symbol(state), style=style(state))
        if run is not None:
            end = time.time() if state in ("running", "paused") else run.updated
            right.append(f" {state} {format_elapsed(end - run.created)}")
        else:
            right.append(" starting…")
        gap = max(1, width - head.cell_len - right.cell_len)
        if head.cell_len + right.cell_len + 1 > width:
            head.truncate(max(10, width - right.cell_len - 2), overflow="ellipsis")
            gap = max(1, width - head.cell_len - right.cell_len)
        head.append(" " * gap)
        head.append_text(right)
        self.query_one("#install-header", Static).update(head)

    def _render_progress(self) -> None:
        if self.run_row is None:
            return
        p = progress(self.task_rows)
        self.query_one("#progress", StatusLine).update(
            progress_text(p, self.net, self.size.width or 80, state=self._state()))

    def _render_hint(self) -> None:
        hint = Text()
        state = self._state()
        sel = self._shown
        task = self._task_row(sel.key) if sel is not None and sel.kind == "task" else None
        failed = [t for t in self.task_rows if t.state == TaskState.FAILED]
        waiting = [t for t in self.task_rows if t.state == TaskState.WAITING_NETWORK]
        if task is None or task.state != TaskState.FAILED:
            task = failed[0] if failed else None
        if task is not None:
            hint.append("✗ ", style="bold red")
            if task.id != (sel.key if sel else None):
                hint.append(f"{task.id}: ", style="bold")
            hint.append(task.error or "failed")
            if task.remedy:
                hint.append(" — " + task.remedy, style="bold")
            hint.append(" — r retry · s skip", style="dim")
        elif waiting:
            hint.append("⏸ ", style="yellow")
            hint.append(f"waiting for the network: {', '.join(t.id for t in waiting[:3])} — continues by itself")
        elif state == "done":
            hint.append("✓ ", style="green")
            hint.append("install complete. d: pod dashboard · q: quit")
        elif state == "failed":
            hint.append("✗ ", style="bold red")
            hint.append(f"install failed: {len(failed)} task(s) failed — select one for the reason, r to retry")
        elif state == "interrupted":
            answers = self.run_row.answers_path if self.run_row else "FILE"
            hint.append("⏸ ", style="yellow")
            hint.append(f"the engine stopped; resume: digit-tui install --answers {answers}")
        elif state == "paused":
            hint.append("⏸ ", style="yellow")
            hint.append("paused: running tasks finish, no new ones start — p resumes")
        else:
            hint.append(self._close_hint(), style="dim")
        self.query_one("#hint", Static).update(hint)

    def _close_hint(self) -> str:
        from digit_tui import paths

        if self.state_dir.parent == paths.state_root():
            return CLOSE_HINT
        return f"You may close this terminal; re-attach: digit-tui tui --state-dir {self.state_dir}"

    # -- actions ------------------------------------------------------------------
    def action_follow(self) -> None:
        self._follow = True
        self._wake.set()

    def action_pause(self) -> None:
        if self.run_row is None:
            self.notify("no install to pause yet", severity="warning")
            return
        if self.run_row.paused:
            self.send_command(Request("resume"), "resumed")
        else:
            self.send_command(Request("pause"), "pausing: running tasks finish, no new ones start")

    def action_retry(self) -> None:
        sel = self._shown
        task = self._task_row(sel.key) if sel is not None and sel.kind == "task" else None
        if task is None or task.state != TaskState.FAILED:
            task = next((t for t in self.task_rows if t.state == TaskState.FAILED), None)
        if task is None:
            self.notify("nothing to retry: no task has failed", severity="information")
            return
        self.send_command(Request("retry", task.id), f"retrying {task.id}")

    def action_skip(self) -> None:
        from digit_tui.screens.confirm import ConfirmDialog

        sel = self._shown
        task = self._task_row(sel.key) if sel is not None and sel.kind == "task" else None
        if task is None or task.state not in SKIPPABLE:
            task = next((t for t in self.task_rows if t.state == TaskState.FAILED), None)
        if task is None:
            self.notify("nothing to skip: select a failed, blocked or pending task", severity="information")
            return
        task_id = task.id

        def answered(choice: str | None) -> None:
            if choice == "skip":
                self.send_command(Request("skip", task_id), f"skipped {task_id}: its dependants continue")

        self.app.push_screen(ConfirmDialog(
            f"Skip {task.title}?",
            [f"{task_id} is {task.state.value}. Its dependants will run as if it were done.",
             Text("Nothing checks it in this run; a resume or a later install checks it again.", style="dim")],
            [("cancel", "Cancel", "n"), ("skip", "Skip it", "y")]), answered)

    def action_logs(self) -> None:
        self.open_log()

    @work(thread=True, group="logs", exit_on_error=False, description="reading the engine log")
    def open_log(self) -> None:
        from digit_tui.screens.dialogs import TextViewer

        path = self.state_dir / "logs" / "engine.log"
        try:
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                size = fh.tell()
                fh.seek(max(0, size - 256_000))
                lines = fh.read().decode(errors="replace").splitlines()[-1000:]
        except FileNotFoundError:
            lines = [f"(no engine log yet at {path})"]
        if not lines:
            lines = ["(the engine has logged nothing yet; the task events are in the right-hand panel)"]
        self.app.call_from_thread(self.app.push_screen, TextViewer(f"engine log · {path}", lines))

    def action_dashboard(self) -> None:
        from digit_tui.screens.dashboard import DashboardScreen
        from digit_tui.widgets.viewrows import NodePlan

        config = _config_of(self.run_row) if self.run_row else None
        target = config.answers.target if config is not None else None
        if target is None or target.kubeconfig is None:
            self.notify("this install has no kubeconfig yet (the cluster phase writes it)", severity="warning")
            return
        self.app.push_screen(DashboardScreen(str(target.kubeconfig), target.context,
                                             plan=NodePlan.of(config.sizing if config is not None else None)))


def _config_of(run: Any) -> Any:
    """The run's typed configuration, or None for a run an older digit-tui recorded."""
    from digit_tui.answers.config import InstallConfig

    try:
        return InstallConfig.from_document(run.settings, None)
    except (ValueError, KeyError, TypeError):
        return None
