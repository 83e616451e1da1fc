"""New install, step 1: the target (sandbox or an existing cluster, its kubeconfig and context),
the environment's name, the DIGIT source, the release manifest, the modules and the domain.

Every change is checked as the operator types, off the event loop: the choices become a
candidate answers file that `digit-tui validate`'s loader reads with file checks
(viewmodel/newinstall.py), so the messages are validate's own; each is shown under its field.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, RadioSet, Select, Static

from digit_tui.errors import InputError
from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel.newinstall import FIELDS, PROVIDERS, SOURCES, Choices, FormCheck, SourceCache, check_choices
from digit_tui.widgets.choices import CheckList, Choice

DEBOUNCE = 0.15
LABELS = {"provider": "Cluster", "kubeconfig": "Kubeconfig", "context": "Context", "environment": "Environment",
          "source": "DIGIT source", "source_path": "Tree", "release": "Release", "modules": "Modules",
          "domain": "Domain"}


def field_text(problem: InputError) -> str:
    return problem.message + (f" (expected: {problem.expected})" if problem.expected else "")


def release_label(release: str) -> str:
    """Short enough for 80 columns: the part under product-release-charts/."""
    return release.split("product-release-charts/", 1)[-1]


class TargetScreen(DigitScreen):
    HELP_TITLE = "new install · target and source"
    HELP_KEYS = [("tab / shift+tab", "next / previous field"),
                 ("enter", "in a text field: the next field; on a choice: choose it"),
                 ("↑ ↓ ← →", "move in a row of choices, a list or a menu"),
                 ("space", "toggle a module; choose an option"),
                 ("ctrl+n", "next: the prerequisites (once every field is valid)"),
                 ("escape", "back to the welcome screen"), ("? / f1", "this help"), ("ctrl+q", "quit")]
    HELP_NOTES = ["Each field is checked as you type with the messages of `digit-tui validate`.",
                  "A git URL and ref as the DIGIT source is a later step of this screen: meanwhile, write "
                  "digit.source: {git: URL, ref: REF} and digit.release in an answers file and run "
                  "`digit-tui install --answers FILE`."]
    BINDINGS = [Binding("ctrl+n", "plan", "prerequisites ▸"), Binding("escape", "back", "back"),
                # A text field takes "?" as text (Textual gives printable keys to the focused input): f1 there.
                Binding("question_mark,f1", "help", "help")]

    def __init__(self, state_override: Path | None = None) -> None:
        super().__init__(id="target")
        self.state_override = state_override
        self.cache = SourceCache()
        self.check: FormCheck | None = None
        self.touched: set[str] = set()
        self.show_all = False
        self._gen = 0
        self._pending = False
        self._advance = False
        self._timer: Timer | None = None
        self._release_opts: tuple[str, ...] = ()
        self._module_opts: tuple[str, ...] = ()
        self._context_opts: tuple[str, ...] = ()

    # -- layout -------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="flow-header")
        with VerticalScroll(id="form"):
            yield _field("provider", RadioSet(Choice("sandbox (on this machine)", value=True),
                                              Choice("existing cluster"), id="provider", compact=True))
            yield _field("kubeconfig", Input(placeholder="path of the cluster's kubeconfig", id="kubeconfig",
                                             compact=True))
            yield _field("context", Select[str]([], prompt="its current-context", id="context", compact=True))
            yield _field("environment", Input(placeholder="a name such as sdc-prod", id="environment", compact=True))
            yield _field("source", RadioSet(Choice("bundled sample", value=True),
                                            Choice("local DIGIT-DevOps tree"), id="source", compact=True))
            yield _field("source_path", Input(placeholder="path of a DIGIT-DevOps checkout", id="source_path",
                                              compact=True))
            yield _field("release", Select[str]([], prompt="(reading the tree…)", id="release", compact=True))
            yield _field("modules", CheckList(id="modules"))
            yield _field("domain", Input(placeholder="such as egov.example.gov.in", id="domain", compact=True))
        yield Static(id="flow-status")
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        for static in self.query(".field-note, .field-error").results(Static):
            static.display = False
        _note(self.query_one("#note-source", Static), Text(
            "a git URL and ref: a later step (meanwhile in an answers file: digit.source.git)", style="dim"))
        self._visibility()
        self.query_one("#provider", RadioSet).focus()
        self.schedule()

    # -- reading the form ---------------------------------------------------------------
    def choices(self) -> Choices:
        provider = self.query_one("#provider", RadioSet).pressed_index
        source = self.query_one("#source", RadioSet).pressed_index
        context = self.query_one("#context", Select).value
        release = self.query_one("#release", Select).value
        selected = set(self.query_one("#modules", CheckList).selected)
        return Choices(
            provider=PROVIDERS[max(provider, 0)],
            kubeconfig=self.query_one("#kubeconfig", Input).value,
            context=context if isinstance(context, str) else "",
            environment=self.query_one("#environment", Input).value.strip(),
            source=SOURCES[max(source, 0)],
            source_path=self.query_one("#source_path", Input).value,
            release=release if isinstance(release, str) else "",
            modules=tuple(m for m in self._module_opts if m in selected),
            domain=self.query_one("#domain", Input).value.strip(),
        )

    def _visibility(self) -> None:
        c = self.choices()
        for name in ("kubeconfig", "context"):
            self.query_one(f"#field-{name}").display = c.provider == "existing"
        self.query_one("#field-source_path").display = c.source == "path"

    # -- checking -------------------------------------------------------------------------
    def schedule(self) -> None:
        """Check the form shortly (typing restarts the wait); the indicator says so at once."""
        self._gen += 1
        self._pending = True
        self._header()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(DEBOUNCE, self._start_check)

    def _start_check(self) -> None:
        self.run_check(self._gen, self.choices())

    @work(thread=True, exclusive=True, group="form-check", exit_on_error=False, description="checking the answers")
    def run_check(self, gen: int, choices: Choices) -> None:
        result = check_choices(choices, self.cache, state_override=self.state_override)
        self.app.call_from_thread(self._apply, gen, result)

    def _apply(self, gen: int, check: FormCheck) -> None:
        if gen != self._gen:
            return    # the form changed meanwhile: a newer check is coming
        self.check, self._pending = check, False
        self._sync_options(check)
        self._render_fields()
        self._header()
        if self._advance:
            self._advance = False
            self.action_plan()

    def _sync_options(self, check: FormCheck) -> None:
        source = check.source
        with self.prevent(Select.Changed, CheckList.Changed):
            release = self.query_one("#release", Select)
            if source.releases != self._release_opts:
                self._release_opts = source.releases
                release.set_options([(release_label(r), r) for r in source.releases])
                release.prompt = "choose the release manifest" if source.releases else "(no release manifest)"
            if source.release and release.value != source.release:
                release.value = source.release
            if source.modules != self._module_opts:
                self._module_opts = source.modules
                self.query_one("#modules", CheckList).set_items(
                    [(m, _module_label(m, source.needs.get(m, ()))) for m in source.modules], check.choices.modules)
            names = check.contexts.names if check.contexts is not None else ()
            context = self.query_one("#context", Select)
            if names != self._context_opts:
                self._context_opts = names
                before = context.value
                current = check.contexts.current if check.contexts is not None else None
                context.set_options([(n + ("  (current)" if n == current else ""), n) for n in names])
                if before in names:
                    context.value = before

    def _render_fields(self) -> None:
        check = self.check
        if check is None:
            return
        for name in FIELDS:
            problem = check.errors.get(name)
            shown = problem is not None and (self.show_all or name in self.touched)
            error = self.query_one(f"#err-{name}", Static)
            error.update(Text("✗ " + field_text(problem), style="red") if shown and problem else "")
            error.display = shown
        _note(self.query_one("#note-environment", Static),
              Text(f"state: {check.state_dir}", style="dim") if check.state_dir else None)
        self._render_modules()
        status = self.query_one("#flow-status", Static)
        if check.ok:
            status.update(Text.assemble(("✓ ", "green"), "valid — ctrl+n: check the prerequisites; answers go to ",
                                        (str(check.answers_path), "bold")))
        elif check.first is not None:
            name, problem = check.first
            status.update(Text.assemble(("✗ ", "bold red"), field_text(problem)))

    def _render_modules(self) -> None:
        check = self.check
        note = self.query_one("#note-modules", Static)
        if check is None or check.source.manifest is None:
            _note(note, None)
            return
        selected = set(self.query_one("#modules", CheckList).selected)
        deploys = check.source.resolve(m for m in self._module_opts if m in selected)
        line = Text(f"deploys {len(deploys)} modules: ", style="dim")
        for i, m in enumerate(deploys):
            line.append(("" if i == 0 else " · ") + m, style="bold" if m in selected else "dim")
        _note(note, line)

    def _header(self) -> None:
        head = Text()
        head.append("New install", style="bold")
        head.append(" · 1/5 target and source")
        width = self.size.width or 80
        check = self.check
        if self._pending or check is None:
            right = Text("◌ checking…", style="yellow")
        elif check.ok:
            right = Text("✓ valid", style="green")
        else:
            right = Text(f"✗ {len(check.errors)} to fix", style="red")
        head.append(" " * max(1, width - head.cell_len - right.cell_len))
        head.append_text(right)
        self.query_one("#flow-header", Static).update(head)

    # -- events ------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self.touched.add(event.input.id)
        self.schedule()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id:
            self.touched.add(event.radio_set.id)
        self._visibility()
        self.schedule()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id:
            self.touched.add(event.select.id)
        self.schedule()

    def on_check_list_changed(self, event: CheckList.Changed) -> None:
        self.touched.add("modules")
        self._render_modules()
        self.schedule()

    # -- actions -------------------------------------------------------------------------------
    def action_plan(self) -> None:
        from digit_tui.screens.prereqs import PrereqScreen

        self.show_all = True
        if self._pending:
            self._advance = True     # once the check under way has answered
            return
        check = self.check
        if check is None or not check.ok or check.answers is None or check.answers_path is None \
                or check.state_dir is None:
            self._render_fields()
            if check is not None and check.first is not None:
                name = check.first[0]
                self.query_one(f"#{name}").focus()
                self.notify(f"{LABELS[name]}: {check.first[1].message}", severity="error", timeout=4)
            return
        self.app.push_screen(PrereqScreen(check.answers, check.answers_path, check.state_dir,
                                          state_override=self.state_override))

    def action_back(self) -> None:
        self.app.pop_screen()


def _field(name: str, widget: Widget) -> Vertical:
    return Vertical(Horizontal(Label(LABELS[name], classes="field-label"), widget, classes="field-row"),
                    Static(id=f"note-{name}", classes="field-note"),
                    Static(id=f"err-{name}", classes="field-error"),
                    id=f"field-{name}", classes="field")


def _note(static: Static, text: Text | None) -> None:
    static.update(text or "")
    static.display = text is not None


def _module_label(module: str, needs: tuple[str, ...]) -> Text:
    label = Text(module)
    if needs:
        label.append("  needs " + ", ".join(needs), style="dim")
    return label
