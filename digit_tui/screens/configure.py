"""New install, step 4: configuration — what the target and sizing screens do not ask: the
database (in-cluster, a VM, or external, with its address, name, user and password), the storage
(dynamic with a StorageClass; static is said to be the answers file's), the phases (Jenkins with
its repositories, monitoring), and DIGIT's state tenant and container registry.

Checked as the operator types, off the event loop, with `digit-tui validate`'s own messages
under each field (viewmodel/configure.py). A typed password is shown as dots (ctrl+r reveals it),
never written into the answers: leaving the screen writes it to a 0600 file in the state
directory that ``database.password_file`` names. ctrl+o shows the preview: the answers file and
the environment file the install generates, as `digit-tui render --answers` previews it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, RadioSet, Static

from digit_tui.screens.base import DigitScreen
from digit_tui.viewmodel import configure as vm
from digit_tui.viewmodel.previewwrap import VALUE_MARK, wrap_lines
from digit_tui.widgets.choices import Choice
from digit_tui.widgets.flowheader import FlowHeader
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.formfield import FormChecks, FormField, SecretField, field_text, show_problems
from digit_tui.widgets.numberinput import NumberInput

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers

SIDE_BY_SIDE = 120      # from this width the preview is shown beside the form
LABELS = {"state_tenant": "State tenant", "container_registry": "Registry", "db_mode": "Database",
          "db_host": "DB host", "db_port": "DB port", "db_name": "DB name", "db_username": "DB user",
          "db_password": "DB password", "db_password_file": "or its file", "storage_mode": "Storage",
          "storage_class": "Class", "jenkins": "Jenkins", "jenkins_repositories": "Repositories",
          "monitoring": "Monitoring"}
TEXT_FIELDS = ("state_tenant", "container_registry", "db_host", "db_port", "db_name", "db_username", "db_password",
               "db_password_file", "storage_class", "jenkins_repositories")

REVEALS = {"db_mode": ("db_host",), "jenkins": ("jenkins_repositories",)}


class ConfigScreen(DigitScreen):
    HELP_TITLE = "new install · configuration"
    HELP_KEYS = [("tab / shift+tab", "next / previous field"),
                 ("enter", "in a text field: the next field"),
                 ("← → / space", "move in a row of choices; choose"),
                 ("ctrl+r", "reveal or hide the typed database password"),
                 ("ctrl+o", "show or hide the preview (answers file, environment file)"),
                 ("pgup / pgdn", "scroll the preview"),
                 ("ctrl+n", "next: the plan of the install (once every field is valid)"),
                 ("escape", "back to the sizing"), ("? / f1", "this help"), ("ctrl+q", "quit")]
    HELP_NOTES = ["Each field is checked as you type with the messages of `digit-tui validate`.",
                  "A typed password never goes into the answers file: ctrl+n writes it to db-password (0600) in "
                  "the state directory, and the answers name that file (database.password_file). Or name a "
                  "password file of your own. Neither: the install generates one.",
                  "Static volumes (pre-made disks: iSCSI, EBS, Azure, Cinder, NFS) need their disks listed: edit "
                  "storage.* in the answers file (docs/answers.md) and run `digit-tui install --answers FILE`."]
    BINDINGS = [Binding("ctrl+n", "next", "plan ▸"), Binding("ctrl+r", "reveal", "reveal password"),
                Binding("ctrl+o", "preview", "preview"), Binding("escape", "back", "back"),
                Binding("pageup", "scroll_preview(-1)", show=False),
                Binding("pagedown", "scroll_preview(1)", show=False),
                Binding("question_mark,f1", "help", "help")]

    def __init__(self, answers: Answers, answers_path: Path, state_dir: Path, *, state_override: Path | None = None,
                 skip_checks: bool = False) -> None:
        super().__init__(id="configure")
        self.answers, self.answers_path, self.state_dir = answers, Path(answers_path), Path(state_dir)
        self.state_override = state_override
        self.skip_checks = skip_checks
        self.start = vm.ConfigChoices.of(answers)
        self.check: vm.ConfigCheck | None = None
        self.fields: dict[str, FormField] = {}
        self._previewed: vm.Preview | None = None
        self.touched: set[str] = set()
        self.show_all = False
        self.preview_wanted: bool | None = None     # None: by the width
        self.checks = FormChecks(self, self.choices, self.run_check)
        self._advance = False

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        def field(name: str, widget: Widget) -> FormField:
            return FormField(name, LABELS[name], widget)

        s = self.start
        tier = self.answers.sizing.tier
        own = "on" if self.answers.monitoring_enabled and self.answers.phases.monitoring is None else "off"
        yield FlowHeader(id="flow-header")
        with Horizontal(id="config-body"):
            with VerticalScroll(id="config-form"):
                yield field("state_tenant", Input(s.state_tenant, placeholder="such as pb", id="state_tenant",
                                                  compact=True))
                yield field("container_registry", Input(s.container_registry, placeholder="such as egovio",
                                                        id="container_registry", compact=True))
                yield field("db_mode", _radios("db_mode", vm.DB_MODES, s.db_mode))
                yield field("db_host", Input(s.db_host, placeholder="the server's address", id="db_host",
                                             compact=True))
                yield field("db_port", NumberInput(s.db_port, id="db_port", compact=True, max_length=6))
                yield field("db_name", Input(s.db_name, id="db_name", compact=True))
                yield field("db_username", Input(s.db_username, id="db_username", compact=True))
                yield SecretField("db_password", LABELS["db_password"], "(none: the install generates one)")
                yield field("db_password_file", Input(s.db_password_file, placeholder="an existing 0600 file",
                                                      id="db_password_file", compact=True))
                yield field("storage_mode", _radios("storage_mode", vm.STORAGE_MODES, s.storage_mode))
                yield field("storage_class", Input(s.storage_class, placeholder="(the cluster's default)",
                                                   id="storage_class", compact=True))
                yield field("jenkins", _radios("jenkins", ("off", "on"), "on" if s.jenkins else "off"))
                yield field("jenkins_repositories", Input(s.jenkins_repositories,
                                                          placeholder="git URLs, space-separated",
                                                          id="jenkins_repositories", compact=True))
                yield field("monitoring", RadioSet(*[Choice(label, value=value == s.monitoring) for value, label in (
                    ("default", f"{tier}'s ({own})"), ("on", "on"), ("off", "off"))], id="monitoring",
                    compact=True))
            with VerticalScroll(id="config-preview") as pane:
                pane.border_title = "Preview"
                yield PreviewText(id="config-preview-text")
        yield Static(id="flow-status")
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.fields = {f.field_name: f for f in self.query(FormField)}
        self._visibility()
        self._layout()
        self.query_one("#state_tenant", Input).focus()
        self.schedule()

    def on_unmount(self) -> None:
        self.checks.stop()

    # -- reading the form -------------------------------------------------------------------------
    def choices(self) -> vm.ConfigChoices:
        def text(name: str) -> str:
            return self.query_one(f"#{name}", Input).value

        def pressed(name: str, values: tuple[str, ...]) -> str:
            return values[max(self.query_one(f"#{name}", RadioSet).pressed_index, 0)]

        return vm.ConfigChoices(
            state_tenant=text("state_tenant"), container_registry=text("container_registry"),
            db_mode=pressed("db_mode", vm.DB_MODES), db_host=text("db_host"), db_port=text("db_port"),
            db_name=text("db_name"), db_username=text("db_username"), db_password=text("db_password"),
            db_password_file=text("db_password_file"), storage_mode=pressed("storage_mode", vm.STORAGE_MODES),
            storage_class=text("storage_class"), jenkins=pressed("jenkins", ("off", "on")) == "on",
            jenkins_repositories=text("jenkins_repositories"), monitoring=pressed("monitoring", vm.MONITORING))

    def _visibility(self) -> None:
        c = self.choices()
        fields = self.fields
        fields["db_host"].display = c.db_mode != "in-cluster"
        fields["storage_class"].display = c.storage_mode == "dynamic"
        fields["jenkins_repositories"].display = c.jenkins
        fields["storage_mode"].note(Text(
            "static volumes need their disks listed: edit storage.* in the answers file (docs/answers.md), then "
            "`digit-tui install --answers FILE`", style="yellow") if c.storage_mode == "static" else None)
        password = self._password
        password.note(Text(
            ("masked, ctrl+r reveals it" if password.masked else "shown, ctrl+r hides it")
            + f"; kept 0600 as {vm.PASSWORD_NAME} in the state dir, not in the answers", style="dim")
            if c.db_password else None)

    @property
    def _password(self) -> SecretField:
        return self.query_one("#field-db_password", SecretField)

    def _layout(self) -> None:
        wide = (self.size.width or 80) >= SIDE_BY_SIDE
        shown = wide if self.preview_wanted is None else self.preview_wanted
        self.query_one("#config-preview").display = shown
        self.query_one("#config-form").display = wide or not shown

    # -- checking ----------------------------------------------------------------------------------
    def schedule(self, *, again: bool = False) -> None:
        # A check is due: the indicator says so at once. Nothing changed: the last check's findings
        # as they are (a field just touched shows its problem).
        self._header() if self.checks.changed(again=again) else self._render_fields()

    @work(thread=True, exclusive=True, group="config-check", exit_on_error=False,
          description="checking the configuration")
    def run_check(self, gen: int, choices: vm.ConfigChoices) -> None:
        result = vm.check_config(choices, self.answers, self.answers_path, self.state_dir)
        self.app.call_from_thread(self._apply, gen, result)

    def _apply(self, gen: int, check: vm.ConfigCheck) -> None:
        if not self.checks.answered(gen):
            return      # the form changed meanwhile: a newer check is coming
        self.check = check
        self._render_fields()
        self._header()
        if self._advance:
            self._advance = False
            self.action_next()

    def _render_fields(self) -> None:
        check = self.check
        if check is None:
            return
        show_problems(self.fields, check.errors, lambda name: self.show_all or name in self.touched)
        status = self.query_one("#flow-status", Static)
        if check.ok:
            status.update(Text.assemble(("✓ ", "green"), "valid — ctrl+n: the plan; ctrl+o: the preview of the "
                                        "files"))
        elif check.first is not None:
            name, problem = check.first
            status.update(Text.assemble(("✗ ", "bold red"), field_text(problem)))
        self._render_preview()

    def _render_preview(self) -> None:
        check = self.check
        preview = check.preview if check is not None else None
        pane = self.query_one("#config-preview", VerticalScroll)
        if preview is None:
            if check is not None and not check.ok:
                pane.border_title = "Preview · ✗ fix the form first"
            return      # the last valid preview stays, under a title that says it is not current
        pane.border_title = "Preview"
        if preview == self._previewed:
            return      # the same files: the pane keeps its text (and where it is scrolled to)
        self._previewed = preview
        parts = [PreviewPart((f"Environment file · {preview.env_name} (what this form decides)",), "bold")]
        if preview.error is not None:
            parts.append(PreviewPart((f"✗ cannot be generated: {preview.error}",), "red"))
        parts += [PreviewPart(preview.env_lines),
                  PreviewPart(("", "Secrets file · its database entries"), "bold"),
                  PreviewPart(preview.secrets_lines),
                  PreviewPart(("", f"Answers file · {self.answers_path}"), "bold"),
                  PreviewPart(tuple(preview.answers_text.splitlines()))]
        if preview.env_text:
            parts += [PreviewPart(("", f"Whole environment file · {preview.env_name} (as `render --answers` "
                                       "previews it: dynamic storage)"), "bold"),
                      PreviewPart(tuple(preview.env_text.splitlines()))]
        self.query_one("#config-preview-text", PreviewText).show(tuple(parts))

    def _header(self) -> None:
        self.query_one("#flow-header", FlowHeader).show(f"4/5 configuration · {self.answers.environment}",
                                                        self.checks.state(self.check))

    # -- events ----------------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._layout()
        self._header()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            self.touched.add(event.input.id)
        if event.input.id == "db_password":
            self._visibility()
        self.schedule()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        if event.radio_set.id:
            self.touched.add(event.radio_set.id)
            # The field a choice brings up says at once what it needs.
            self.touched.update(REVEALS.get(event.radio_set.id, ()))
        self._visibility()
        self.schedule()

    # -- actions ------------------------------------------------------------------------------------------
    def action_reveal(self) -> None:
        self._password.reveal()
        self._visibility()

    def action_preview(self) -> None:
        wide = (self.size.width or 80) >= SIDE_BY_SIDE
        shown = bool(self.query_one("#config-preview").display)
        self.preview_wanted = not shown
        self._layout()
        if not wide and not shown:
            self.query_one("#config-preview").focus()
        elif not wide:
            self.query_one("#state_tenant", Input).focus()

    def action_scroll_preview(self, direction: int) -> None:
        pane = self.query_one("#config-preview", VerticalScroll)
        if direction < 0:
            pane.scroll_page_up(animate=False)
        else:
            pane.scroll_page_down(animate=False)

    def action_next(self) -> None:
        self.show_all = True
        if self.checks.pending:
            self._advance = True        # once the check under way has answered
            return
        check = self.check
        if check is None or not check.ok:
            self._render_fields()
            if check is not None and check.first is not None:
                name = check.first[0]
                if name in vm.FIELDS:
                    if not self.query_one("#config-form").display:
                        self.preview_wanted = False
                        self._layout()
                    self.query_one(f"#{name}").focus()
                self.notify(f"{LABELS.get(name, 'Answers')}: {check.first[1].message}", severity="error", timeout=4)
            return
        self.next_screen(check.choices)

    @work(thread=True, exclusive=True, group="config-next", exit_on_error=False,
          description="writing the configuration")
    def next_screen(self, choices: vm.ConfigChoices) -> None:
        from digit_tui.screens.plan import PlanScreen

        answers = vm.final_answers(choices, self.answers, self.answers_path, self.state_dir)
        self.app.call_from_thread(self.app.push_screen, PlanScreen(
            answers, self.answers_path, self.state_dir, state_override=self.state_override,
            skip_checks=self.skip_checks))

    def action_back(self) -> None:
        self.app.pop_screen()


@dataclass(frozen=True)
class PreviewPart:
    """Lines of the preview: of a file (``style`` empty), wrapped by viewmodel/previewwrap.py so that a
    continuation reads as one; or a heading in ``style``, prose that the Static soft-wraps."""

    lines: tuple[str, ...]
    style: str = ""


class PreviewText(Static):
    """The preview's text wrapped to this widget's width, wrapped again when that width changes
    (the terminal, ctrl+o taking the form's place, the pane's scrollbar coming or going)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._parts: tuple[PreviewPart, ...] = ()
        self._width = 0         # what the text shown is wrapped to (0: not yet)
        self._seen = 0          # the width when last on screen: hidden it measures 0, and shown again
                                # at that width it gets no Resize

    def show(self, parts: tuple[PreviewPart, ...]) -> None:
        self._parts, self._width = parts, 0
        self._wrap()

    def on_resize(self) -> None:
        self._wrap()

    def _wrap(self) -> None:
        self._seen = self.content_size.width or self._seen
        width = self._seen
        if width <= 0 or width == self._width:
            return      # never on screen yet (wrapped when shown), or already wrapped to this width
        self._width = width
        text = Text()
        for part in self._parts:
            if part.style:
                for line in part.lines:
                    text.append(line + "\n", style=part.style)
                continue
            for row in wrap_lines(part.lines, width):
                if row.mark == VALUE_MARK:
                    text.append(" " * row.indent)
                    text.append(row.mark, style="dim")
                    text.append(row.text + "\n")
                else:
                    text.append(row.plain + "\n")
        text.rstrip()
        self.update(text)


def _radios(name: str, values: tuple[str, ...], chosen: str) -> RadioSet:
    return RadioSet(*[Choice(v, value=v == chosen) for v in values], id=name, compact=True)
