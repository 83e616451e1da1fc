"""New install, step 2: the prerequisites — preflight's checks as a live checklist.

Each section (the configuration, the network, each host, the fleet, the tools) is one row,
replaced by key as its answer arrives from a worker thread; a result shows its latency, and a
warning or a failure its remedy. An unknown (or changed) host key is trusted only when the
operator has seen its SHA256 fingerprint and said so (``t``): it goes into the state directory's
known_hosts exactly as ``--trust-host-key`` puts it there. A failure blocks the next step; warnings
must be acknowledged (``a``), which the install records as `install --skip-checks` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from digit_tui.preflight.model import CheckResult, Status
from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel import prereqs as vm
from digit_tui.widgets.flowheader import FlowHeader
from digit_tui.widgets.footer import QuietFooter

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers
    from digit_tui.infra.hostfacts import HostFacts

STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "red", Status.INFO: "dim"}


class PrereqScreen(DigitScreen):
    HELP_TITLE = "new install · prerequisites"
    HELP_KEYS = [("↑ ↓ pgup pgdn", "move in the checklist"),
                 ("t", "trust the host key shown (after comparing its fingerprint with the host's console)"),
                 ("a", "acknowledge the warnings (as `install --skip-checks`); again: take it back"),
                 ("r", "check everything again"),
                 ("ctrl+n", "next: sizing (nothing failed, the warnings acknowledged)"),
                 ("q / escape", "back to the target and source"), ("? / f1", "this help"), ("ctrl+q", "quit")]
    HELP_NOTES = ["The checks are `digit-tui preflight`'s; nothing is changed on any host.",
                  "The install runs them again as its first phase; an acknowledgement given here is recorded in "
                  "the install's document, as `digit-tui install --skip-checks` records it."]
    BINDINGS = [Binding("ctrl+n", "next", "sizing ▸"), Binding("a", "acknowledge", "acknowledge"),
                Binding("t", "trust", "trust key"), Binding("r", "recheck", "check again"),
                Binding("q,escape", "back", "back"), Binding("question_mark,f1", "help", "help")]

    def __init__(self, answers: Answers, answers_path: Path, state_dir: Path, *,
                 state_override: Path | None = None) -> None:
        super().__init__(id="prereqs")
        self.answers, self.answers_path, self.state_dir = answers, Path(answers_path), Path(state_dir)
        self.state_override = state_override
        self.plan = vm.preflight_plan(answers, self.answers_path, self.state_dir)
        self.checklist = vm.Checklist(self.plan)
        # The warnings the operator acknowledged: one that appears later (a host checked again) is not.
        self._acked: frozenset[tuple[str, str, str]] = frozenset()
        self._gen = 0
        self._moved = -1                # the run whose first failure the checklist moved to
        self._failed_to_run: str | None = None

    def compose(self) -> ComposeResult:
        yield FlowHeader(id="flow-header")
        checklist = OptionList(*[Option(self._prompt(s), id=s.key) for s in self.checklist.ordered()],
                               id="prereq-list")
        checklist.border_title = f"Prerequisites · {self.plan.provider} · tier {self.plan.tier}"
        yield checklist
        yield Static(id="flow-status")
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#prereq-list", OptionList).focus()
        self.action_recheck()

    # -- running the checks ---------------------------------------------------------------
    def action_recheck(self) -> None:
        self._gen += 1
        self._failed_to_run = None
        self.checklist.reset()
        for section in self.checklist.ordered():
            self._show_section(section)
        self._refresh()
        self.run_all(self._gen)

    @work(thread=True, exclusive=True, group="prereqs", exit_on_error=False, description="checking the prerequisites")
    def run_all(self, gen: int) -> None:
        facts = vm.run_checks(self.plan, lambda s: self.app.call_from_thread(self._apply, gen, s))
        self.app.call_from_thread(self._set_facts, gen, facts)

    @work(thread=True, exclusive=True, group="prereqs", exit_on_error=False, description="trusting the host key")
    def run_trust(self, gen: int, host: str, fingerprint: str) -> None:
        facts = vm.trust_and_recheck(self.plan, host, fingerprint,
                                     lambda s: self.app.call_from_thread(self._apply, gen, s), self.checklist.facts)
        self.app.call_from_thread(self._set_facts, gen, facts)

    def _apply(self, gen: int, section: vm.Section) -> None:
        if gen != self._gen:
            return          # a newer run has started: its answers are the ones to show
        self.checklist.update(section)
        self._show_section(section)
        self._refresh()
        failures = self.checklist.failures()
        if self.checklist.done and failures and self._moved != gen:
            self._moved = gen           # once per run: after that the operator moves
            self._highlight_result(failures[0])

    def _set_facts(self, gen: int, facts: dict[str, HostFacts]) -> None:
        if gen == self._gen:
            self.checklist.facts = dict(facts)
            self._refresh()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # DigitScreen's handler (also called: every class's in the MRO) makes the dialog.
        if event.state == WorkerState.ERROR and event.worker.group == "prereqs":
            self._failed_to_run = str(event.worker.error)
            self._refresh()

    # -- drawing ------------------------------------------------------------------------------
    def _show_section(self, section: vm.Section) -> None:
        self.query_one("#prereq-list", OptionList).replace_option_prompt(section.key, self._prompt(section))

    def _prompt(self, section: vm.Section) -> RenderableType:
        head = Text()
        if not section.done:
            head.append("◌ ", style="yellow")
            head.append(section.title, style="bold")
            head.append(f"  {section.doing}…", style="yellow")
            return head
        worst = section.worst
        head.append(f"{worst.mark if worst else '·'} ", style=STYLE[worst] if worst else "dim")
        head.append(section.title, style="bold")
        if section.seconds is not None:
            head.append(f"  {_duration(section.seconds)}", style="dim")
        if not section.results:
            head.append("  no endpoint in the answers to probe" if section.key == "network" else "  nothing to check",
                        style="dim")
            return head
        # A grid, so that a long message wraps under its own first word, not under the mark.
        grid = Table.grid()
        grid.add_column(width=2, no_wrap=True)
        grid.add_column(width=2, no_wrap=True)
        grid.add_column(ratio=1)
        for r in section.results:
            _result_rows(grid, r)
        return Group(head, grid)

    def _header(self) -> None:
        if self._failed_to_run is not None:
            right = Text("✗ the checks did not run", style="red")
        else:
            words, style = vm.summary(self.checklist, self.acknowledged)
            right = Text(words, style=style)
        self.query_one("#flow-header", FlowHeader).show(f"2/5 prerequisites · {self.answers.environment}", right)

    def _refresh(self) -> None:
        self._header()
        self.query_one("#flow-status", Static).update(self._status())

    def _status(self) -> Text:
        c = self.checklist
        if self._failed_to_run is not None:
            return Text.assemble(("✗ ", "bold red"), "the checks could not run; r: check again, q: back")
        if not c.done:
            return Text("◌ checking (nothing is changed on any host)…", style="yellow")
        failures = c.failures()
        if failures:
            first = failures[0]
            where = first.subject or first.group
            return Text.assemble(("✗ ", "bold red"), f"{len(failures)} failed ({where}): its remedy (→) says what to do; "
                                 "r checks again")
        warnings = c.warnings()
        if warnings and not self.acknowledged:
            # One line at 80 columns (its remedy is on the checklist): "... or fix them and r" left the key alone below.
            return Text.assemble(("! ", "bold yellow"), f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''}: "
                                 "a acknowledges them (as `install --skip-checks`), r checks again")
        if warnings:
            return Text.assemble(("✓ ", "green"), f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''} "
                                 "acknowledged (recorded as --skip-checks; a: take back) — ctrl+n: sizing")
        return Text.assemble(("✓ ", "green"), "every prerequisite passed — ctrl+n: sizing")

    # -- actions --------------------------------------------------------------------------------
    @property
    def acknowledged(self) -> bool:
        warnings = self.checklist.warnings()
        return bool(warnings) and all(_key(w) in self._acked for w in warnings)

    def action_acknowledge(self) -> None:
        c = self.checklist
        if not c.warnings() or not c.done:
            self.notify("no warning to acknowledge" if c.done else "still checking", timeout=3)
            return
        self._acked = frozenset() if self.acknowledged else frozenset(_key(w) for w in c.warnings())
        self._refresh()

    def action_trust(self) -> None:
        from digit_tui.screens.confirm import ConfirmDialog

        offers = self.checklist.untrusted()
        if not offers:
            self.notify("no host key waiting to be trusted", timeout=3)
            return
        highlighted = self._highlighted_key()
        host, fingerprint, result = next((o for o in offers if f"host {o[0]}" == highlighted), offers[0])
        spec = self.plan.host(host)
        known_hosts = vm.known_hosts_of(self.plan)
        lines: list[Text | str] = [
            Text.assemble(f"{host} ({spec.where}) presents the key ", (fingerprint, "bold")),
            result.message,
            "Compare it with the host's own on its console (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub`): "
            "trust it only if they are the same.",
            f"Trusting writes it to {known_hosts} (the file the install uses), and only if the host "
            "still presents exactly that key.",
        ]

        def chosen(choice: str | None) -> None:
            if choice == "trust":
                self._gen += 1
                self.checklist.reset([f"host {host}", "fleet"])
                self.checklist.update(vm.Section(f"host {host}", f"host {host}",
                                                 doing=f"trusting {fingerprint} and checking again"))
                for key in (f"host {host}", "fleet"):
                    if key in self.checklist.sections:
                        self._show_section(self.checklist.sections[key])
                self._refresh()
                self.run_trust(self._gen, host, fingerprint)

        self.app.push_screen(ConfirmDialog(f"Trust the host key of {host}?", lines,
                                           [("cancel", "Cancel", "c"), ("trust", "Trust it", "t")]), chosen)

    def _highlighted_key(self) -> str | None:
        checklist = self.query_one("#prereq-list", OptionList)
        if checklist.highlighted is None:
            return None
        return checklist.get_option_at_index(checklist.highlighted).id

    def action_next(self) -> None:
        from digit_tui.screens.sizing import SizingScreen

        c = self.checklist
        if not vm.ready(c, self.acknowledged):
            self._refresh()
            if not c.done or self._failed_to_run is not None:
                self.notify("the checks have not finished" if self._failed_to_run is None
                            else "the checks could not run: r checks again", severity="warning", timeout=3)
                return
            failures = c.failures()
            blocking = failures[0] if failures else c.warnings()[0]
            self._highlight_result(blocking)
            if failures:
                self.notify(f"{blocking.message} — {vm.remedy_here(blocking) or 'fix it and check again (r)'}",
                            severity="error", timeout=6)
            else:
                self.notify("acknowledge the warnings first (a)", severity="warning", timeout=4)
            return
        self.app.push_screen(SizingScreen(self.answers, self.answers_path, self.state_dir,
                                          state_override=self.state_override, skip_checks=self.acknowledged,
                                          vms=vm.worker_vms(self.plan, c.facts), has_hosts=bool(self.plan.hosts)))

    def _highlight_result(self, result: CheckResult) -> None:
        checklist = self.query_one("#prereq-list", OptionList)
        for section in self.checklist.ordered():
            if result in section.results:
                checklist.highlighted = checklist.get_option_index(section.key)
                return

    def action_back(self) -> None:
        self.app.pop_screen()


def _key(r: CheckResult) -> tuple[str, str, str]:
    return (r.subject, r.check, r.message)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _result_rows(grid: Table, r: CheckResult) -> None:
    message = Text(r.message, style="dim" if r.status is Status.INFO else "", overflow="fold")   # paths: whole
    if r.latency_ms is not None:
        message.append(f"  ({r.latency_ms:.0f} ms)", style="dim")
    grid.add_row("", Text(r.status.mark, style=STYLE[r.status]), message)
    remedy = vm.remedy_here(r)
    if remedy and r.status in (Status.FAIL, Status.WARN):
        grid.add_row("", "", Text.assemble(("→ ", "dim"), (remedy, "bold" if r.status is Status.FAIL else "")))
    fingerprint = vm.fingerprint_to_trust(r)
    if fingerprint is not None:
        grid.add_row("", "", Text.assemble(("t: trust ", "dim"), (fingerprint, "bold"),
                                           (" once it matches the host's console", "dim")))
