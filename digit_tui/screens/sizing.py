"""New install, step 3: sizing — the inputs on the left (ULBs, tier, preset; the modules chosen
earlier), the capacity plan on the right, recomputed as the operator types, and its fit check
against the capacity the install will have (the worker VMs the prerequisites read, the existing
cluster's nodes, or the sandbox's).

Reading the release renders its charts once; each plan and fit check runs in a worker after a
short pause in the typing, so the keys never wait. The tier, the ULB count and a preset picked here
go into the answers file (sizing.*); the plan shown is `digit-tui size`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widgets import Input, Label, RadioSet, Select, Static
from textual.worker import Worker, WorkerState

from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel import sizing as vm
from digit_tui.widgets.choices import Choice
from digit_tui.widgets.flowheader import FlowHeader
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.numberinput import NumberInput

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers
    from digit_tui.sizing.presets import Preset

DEBOUNCE = 0.15
WIDE = 82               # a plan pane this wide shows `digit-tui size`'s whole report


class SizingScreen(DigitScreen):
    HELP_TITLE = "new install · sizing"
    HELP_KEYS = [("tab / shift+tab", "next / previous field"),
                 ("0-9, backspace", "the number of ULBs: the plan follows as you type"),
                 ("← → / space", "the tier"), ("enter", "open the preset menu; choose"),
                 ("pgup / pgdn", "scroll the plan"),
                 ("ctrl+n", "next: the configuration (database, storage, phases)"),
                 ("escape", "back to the prerequisites"), ("? / f1", "this help"), ("ctrl+q", "quit")]
    HELP_NOTES = ["The plan is `digit-tui size`'s: what the release's charts request, scaled to the peak users of "
                  "the ULBs, packed onto the preset's workers with reservation and headroom.",
                  "The fit check places the release on the capacity the install will have, as kube-scheduler "
                  "would, and names the pods that would stay Pending.",
                  "The tier, the ULBs and a preset picked here go into the answers file (sizing.*); the tier sets "
                  "the prerequisites' thresholds."]
    BINDINGS = [Binding("ctrl+n", "next", "configuration ▸"), Binding("escape", "back", "back"),
                Binding("pageup", "scroll_plan(-1)", show=False), Binding("pagedown", "scroll_plan(1)", show=False),
                Binding("question_mark,f1", "help", "help")]

    def __init__(self, answers: Answers, answers_path: Path, state_dir: Path, *, state_override: Path | None = None,
                 skip_checks: bool = False, vms: list[tuple[str, int, int]] | None = None,
                 has_hosts: bool = False) -> None:
        super().__init__(id="sizing")
        self.answers, self.answers_path, self.state_dir = answers, Path(answers_path), Path(state_dir)
        self.state_override = state_override
        self.skip_checks = skip_checks
        self.vms = list(vms or [])
        self.has_hosts = has_hosts
        self.model = vm.SizingModel(answers, self.answers_path, self.state_dir)
        self.result: vm.SizingResult | None = None
        self.capacity: vm.Capacity | None = None
        self.release_ready = False
        self._gen = 0
        self._pending = True
        self._timer: Timer | None = None
        self._advance = False
        # The worker group that failed (its dialog shown): the header says "no plan" until a new plan
        # starts, whatever redraws it meanwhile (a Select's late Changed message redrew it as
        # "reading" after a failed read, so the screen never said the read had failed).
        self._failed: str | None = None
        self._short_ok = False      # the operator pressed ctrl+n once on a plan that does not fit

    # -- layout -------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        tier = self.answers.sizing.tier
        preset_options = [("the tier's own", vm.TIER_DEFAULT)]
        yield FlowHeader(id="flow-header")
        with Horizontal(id="sizing-body"):
            with VerticalScroll(id="sizing-form") as form:
                form.border_title = "Inputs"
                with Vertical(classes="sizing-field"):
                    yield Label("ULBs", classes="sizing-label")
                    yield NumberInput(self._given_ulbs(), placeholder="(the preset's…)", id="ulbs", compact=True,
                                      max_length=6)
                    yield Static(id="err-ulbs", classes="field-error")
                with Vertical(classes="sizing-field"):
                    yield Label("Tier", classes="sizing-label")
                    yield RadioSet(*[Choice(t, value=t == tier) for t in vm.TIERS], id="tier", compact=True)
                    yield Static(id="note-tier", classes="field-note")
                with Vertical(classes="sizing-field"):
                    yield Label("Preset", classes="sizing-label")
                    yield Select[str](preset_options, value=vm.TIER_DEFAULT, allow_blank=False, id="preset",
                                      compact=True)
                with Vertical(classes="sizing-field"):
                    yield Label("Modules (chosen before)", classes="sizing-label")
                    yield Static(Text(", ".join(self.answers.digit.modules) or "none chosen: the platform only",
                                      style="bold"), id="sizing-modules")
            with VerticalScroll(id="sizing-plan") as plan:
                plan.border_title = "Plan"
                yield Static(id="sizing-plan-text")
        yield Static(id="flow-status")
        yield QuietFooter(show_command_palette=False)

    def _given_ulbs(self) -> str:
        sizing = self.answers.sizing
        return str(sizing.ulbs) if "ulbs" in sizing.model_fields_set else ""

    def on_mount(self) -> None:
        for static in self.query(".field-error, .field-note").results(Static):
            static.display = False
        self.query_one("#ulbs", Input).focus()
        self._tier_note()
        self._header()
        self.read_release()

    def _presets_read(self, presets: dict[str, Preset]) -> None:
        select = self.query_one("#preset", Select)
        with self.prevent(Select.Changed):
            select.set_options([("the tier's own", vm.TIER_DEFAULT)]
                               + [(f"{name} ({p.tier})", name) for name, p in sorted(presets.items())])
            given = self.answers.sizing.preset
            select.value = given if given in presets else vm.TIER_DEFAULT
        ulbs = self.query_one("#ulbs", Input)
        own = presets.get(self.choices().preset or self.choices().tier)
        if not ulbs.value and own is not None:
            with self.prevent(Input.Changed):
                ulbs.value = str(own.ulbs.value)

    # -- reading the form ------------------------------------------------------------------------
    def choices(self) -> vm.SizingChoices:
        tier = self.query_one("#tier", RadioSet).pressed_index
        preset = self.query_one("#preset", Select).value
        return vm.SizingChoices(
            ulbs=self.query_one("#ulbs", Input).value,
            tier=vm.TIERS[max(tier, 0)],
            preset=preset if isinstance(preset, str) else vm.TIER_DEFAULT,
            modules=tuple(self.answers.digit.modules),
        )

    # -- the release, the capacity and the plan (workers) ---------------------------------------------
    @work(thread=True, exclusive=True, group="sizing-release", exit_on_error=False,
          description="reading the release's charts")
    def read_release(self) -> None:
        self.app.call_from_thread(self._presets_read, self.model.presets())
        self.model.release()
        self.app.call_from_thread(self._release_read)
        capacity = vm.capacity_for(self.answers, self.vms, self.has_hosts, self.model.namespaces())
        self.app.call_from_thread(self._capacity_read, capacity)

    def _release_read(self) -> None:
        self.release_ready = True
        self.schedule(at_once=True)

    def _capacity_read(self, capacity: vm.Capacity) -> None:
        self.capacity = capacity
        self.schedule(at_once=True)

    def schedule(self, *, at_once: bool = False) -> None:
        """Plan again shortly (typing restarts the wait); the header says so at once."""
        self._gen += 1
        self._pending = True
        self._short_ok = False
        self._header()
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if not self.release_ready:
            return              # planned once the release is read
        if at_once:
            self._start()
        else:
            self._timer = self.set_timer(DEBOUNCE, self._start)

    def _start(self) -> None:
        if self._failed == "sizing-plan":
            self._failed = None
        self.compute(self._gen, self.choices(), self.capacity)

    @work(thread=True, exclusive=True, group="sizing-plan", exit_on_error=False, description="planning the capacity")
    def compute(self, gen: int, choices: vm.SizingChoices, capacity: vm.Capacity | None) -> None:
        result = self.model.compute(choices, capacity)
        self.app.call_from_thread(self._apply, gen, result)

    def _apply(self, gen: int, result: vm.SizingResult) -> None:
        if gen != self._gen:
            return              # the inputs changed meanwhile: a newer plan is coming
        self.result, self._pending = result, False
        self._draw()
        if self._advance:
            self._advance = False
            self.action_next()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # DigitScreen's handler makes the dialog; this screen says what it means here.
        if event.state == WorkerState.ERROR and event.worker.group in ("sizing-release", "sizing-plan"):
            self._pending = False
            self._advance = False
            self._failed = event.worker.group
            self.query_one("#flow-status", Static).update(Text.assemble(
                ("✗ ", "bold red"), f"{event.worker.description} failed: {event.worker.error}"))
            self._header()

    # -- drawing --------------------------------------------------------------------------------------
    def _header(self) -> None:
        step = f"3/5 sizing · {self.answers.environment}"
        result = self.result
        if self._failed is not None:
            right = Text("✗ no plan", style="red")
        elif not self.release_ready:
            right = Text("◌ reading the release's charts…", style="yellow")
        elif self._pending:
            right = Text("◌ planning…", style="yellow")
        elif result is None or result.error is not None:
            right = Text("✗ fix the inputs", style="red")
        elif result.fits is False:
            right = Text("✗ does not fit", style="red")
        elif result.fits:
            right = Text(f"✓ fits · {result.seconds * 1000:.0f} ms", style="green")
        else:
            right = Text(f"✓ planned · {result.seconds * 1000:.0f} ms", style="green")
        self.query_one("#flow-header", FlowHeader).show(step, right)

    def _draw(self) -> None:
        self._header()
        result = self.result
        error = self.query_one("#err-ulbs", Static)
        problem = result.error if result is not None else None
        error.update(Text("✗ " + problem.message + (f" (expected: {problem.expected})" if problem.expected else ""),
                          style="red") if problem else "")
        error.display = problem is not None
        self._tier_note()
        if result is None:
            return
        pane = self.query_one("#sizing-plan", VerticalScroll)
        pane.border_title = f"Plan · {result.preset}"
        self.query_one("#sizing-plan-text", Static).update(self._plan_text(result, pane.size.width))
        self.query_one("#flow-status", Static).update(self._status(result))

    def _plan_text(self, result: vm.SizingResult, width: int) -> Text:
        if result.plan is not None and width >= WIDE:
            from digit_tui.sizing import report

            text = Text()
            if self.capacity is not None:
                text.append_text(self._capacity_line())
            for line, style in vm.recorded_lines(result):       # above the long report, where it is seen
                text.append("\n" + line, style=style)
            text.append("\n\n")
            text.append(report.render(result.plan, result.fit, services=True))
            return text
        text = Text()
        for i, (line, style) in enumerate(vm.plan_lines(result, self.capacity)):
            text.append(("\n" if i else "") + line, style=style)
        return text

    def _capacity_line(self) -> Text:
        c = self.capacity
        if c is None:
            return Text("◌ reading the capacity…", style="yellow")
        if c.problem is not None:
            return Text(f"· fit check against {c.what}: {c.problem}", style="dim")
        return Text(f"Fit check against {c.what}", style="bold")

    def _status(self, result: vm.SizingResult) -> Text:
        if result.error is not None:
            return Text.assemble(("✗ ", "bold red"), result.error.message)
        if result.fits is False and result.fit is not None:
            return Text.assemble(("✗ ", "bold red"), result.fit.summary(),
                                 " — more or larger nodes, fewer ULBs or modules; ctrl+n twice goes on anyway")
        return Text.assemble(("✓ ", "green"), "ctrl+n: the configuration (tier ", (result.tier, "bold"),
                             " and ", (f"{result.ulbs} ULBs", "bold"), " go into the answers)")

    def _tier_note(self) -> None:
        from digit_tui.preflight.thresholds import tier_of

        note = self.query_one("#note-tier", Static)
        chosen = self.result.tier if self.result is not None else self.choices().tier
        checked = tier_of(self.answers.sizing.tier)
        if tier_of(chosen) != checked:
            note.update(Text(f"prerequisites were checked as {checked}; the install checks as {tier_of(chosen)}",
                             style="yellow"))
            note.display = True
        else:
            note.display = False

    # -- events -------------------------------------------------------------------------------------------
    def on_resize(self) -> None:
        # The plan pane's width picks the short or the whole report: draw again once it is laid out.
        self.call_after_refresh(self._draw)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.schedule()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        # A tier has its own preset: choosing a tier goes back to it.
        select = self.query_one("#preset", Select)
        with self.prevent(Select.Changed):
            select.value = vm.TIER_DEFAULT
        self.schedule()

    def on_select_changed(self, event: Select.Changed) -> None:
        # A preset belongs to a tier: the tier follows it (the presets are read by now: they fill the menu).
        if isinstance(event.value, str) and event.value != vm.TIER_DEFAULT:
            preset = self.model.presets().get(event.value)
            if preset is not None:
                radios = self.query_one("#tier", RadioSet)
                index = vm.TIERS.index(preset.tier)
                if radios.pressed_index != index:
                    with self.prevent(RadioSet.Changed):
                        buttons = list(radios.query(Choice))
                        buttons[index].value = True
        self.schedule()

    # -- actions ------------------------------------------------------------------------------------------
    def action_scroll_plan(self, direction: int) -> None:
        pane = self.query_one("#sizing-plan", VerticalScroll)
        if direction < 0:
            pane.scroll_page_up(animate=False)
        else:
            pane.scroll_page_down(animate=False)

    def action_next(self) -> None:
        if self._pending:
            self._advance = True        # once the plan under way has answered
            return
        result = self.result
        if result is None or result.error is not None or result.ulbs is None:
            self.query_one("#ulbs", Input).focus()
            if result is not None and result.error is not None:
                self.notify(result.error.message, severity="error", timeout=4)
            return
        if result.fits is False and not self._short_ok:
            self._short_ok = True
            self.notify("the release does not fit the capacity found: ctrl+n again to go on anyway",
                        severity="warning", timeout=5)
            return
        self.next_screen(result, result.ulbs)

    @work(thread=True, exclusive=True, group="sizing-next", exit_on_error=False, description="writing the sizing")
    def next_screen(self, result: vm.SizingResult, ulbs: int) -> None:
        from digit_tui.screens.configure import ConfigScreen

        answers = vm.with_sizing(self.answers, self.answers_path, result.tier, ulbs,
                                 result.preset if result.choices.preset else None)
        self.app.call_from_thread(self.app.push_screen, ConfigScreen(
            answers, self.answers_path, self.state_dir, state_override=self.state_override,
            skip_checks=self.skip_checks))

    def action_back(self) -> None:
        self.app.pop_screen()
