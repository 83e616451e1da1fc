"""Choose the cluster for the health view: a kubeconfig (by default the one `digit-tui health`
would read: $KUBECONFIG's first file, else ~/.kube/config) and one of its contexts.

The choice is for this viewer only: nothing is written and the environment is left as it is.
Reading the file happens in a worker (a kubeconfig on a network home directory can be slow).
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import Worker, WorkerState

from digit_tui.viewmodel.kubeconfig import Contexts, read_contexts, viewer_kubeconfigs

DEBOUNCE = 0.15


class HealthPicker(ModalScreen[None]):
    HELP_KEYS = [("tab / shift+tab", "next / previous field"), ("enter", "open the pod dashboard"),
                 ("f2", "open the DIGIT health checks (export as Markdown / JSON)"), ("escape", "back")]
    BINDINGS = [Binding("escape", "dismiss_picker", "back"),
                Binding("f2", "open_checks", "DIGIT checks"),
                # A text field takes "?" as text (Textual gives printable keys to the focused input): f1 there.
                Binding("question_mark,f1", "help", "help")]

    def __init__(self) -> None:
        super().__init__(classes="dialog")
        found = viewer_kubeconfigs()
        self.default = found[0] if found else None
        self.contexts: Contexts | None = None
        self._timer: Timer | None = None
        self._asked = ""

    def compose(self) -> ComposeResult:
        origin = f"(from {self.default.origin})" if self.default else "(none found: $KUBECONFIG, ~/.kube/config)"
        with Vertical(id="dialog-box"):
            yield Label(Text("Health view of a cluster", style="bold"), id="dialog-title")
            with Horizontal(classes="field-row"):
                yield Label("Kubeconfig", classes="field-label")
                yield Input(self.default.path if self.default else "", placeholder="path of a kubeconfig file",
                            id="hp-kubeconfig", compact=True)
            yield Static(Text(origin, style="dim"), id="hp-origin", classes="field-note")
            with Horizontal(classes="field-row"):
                yield Label("Context", classes="field-label")
                yield Select[str]([], prompt="its current-context", id="hp-context", compact=True)
            yield Static(id="hp-error", classes="field-error")
            yield Static(Text("Only read; nothing is written, $KUBECONFIG is left as it is.", style="dim"))
            with Horizontal(id="dialog-buttons"):
                yield Button("Open dashboard (enter)", id="hp-open", variant="primary", compact=True)
                yield Button("DIGIT checks (f2)", id="hp-checks", compact=True)
                yield Button("Back (escape)", id="hp-back", compact=True)

    def on_mount(self) -> None:
        self.query_one("#hp-kubeconfig", Input).focus()
        self._read()

    def on_input_changed(self, event: Input.Changed) -> None:
        default = self.default
        origin = f"(from {default.origin})" if default is not None and event.value == default.path else ""
        self.query_one("#hp-origin", Static).update(Text(origin, style="dim"))
        if self._timer is not None:
            self._timer.stop()
        self.query_one("#hp-error", Static).update(Text("◌ reading…", style="dim"))
        self._timer = self.set_timer(DEBOUNCE, self._read)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.open_dashboard()

    def _read(self) -> None:
        path = self.query_one("#hp-kubeconfig", Input).value.strip()
        self._asked = path
        self.read_contexts(path)

    @work(thread=True, exclusive=True, group="contexts", exit_on_error=False, description="reading the kubeconfig")
    def read_contexts(self, path: str) -> None:
        found = read_contexts(path) if path else Contexts((), None, "no kubeconfig given")
        self.app.call_from_thread(self._show, path, found)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.report_error(event.worker.error, what="reading the kubeconfig failed")  # type: ignore[attr-defined]

    def _show(self, path: str, found: Contexts) -> None:
        if path != self._asked:
            return
        self.contexts = found
        select = self.query_one("#hp-context", Select)
        before = select.value
        with self.prevent(Select.Changed):
            select.set_options([(n + ("  (current)" if n == found.current else ""), n) for n in found.names])
            if before in found.names:
                select.value = before
        error = self.query_one("#hp-error", Static)
        if found.error:
            error.update(Text("✗ " + found.error, style="red"))
        else:
            current = f"current-context {found.current}" if found.current else "no current-context: choose one"
            error.update(Text(f"✓ {len(found.names)} context{'s' if len(found.names) != 1 else ''}, {current}",
                              style="green" if found.current else "yellow"))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "hp-open":
            self.open_dashboard()
        elif event.button.id == "hp-checks":
            self.action_open_checks()
        else:
            self.dismiss(None)

    def open_dashboard(self) -> None:
        from digit_tui.screens.dashboard import DashboardScreen

        chosen = self._chosen()
        if chosen is not None:
            self.dismiss(None)
            self.app.push_screen(DashboardScreen(*chosen))

    def action_open_checks(self) -> None:
        from digit_tui.screens.health import HealthScreen

        chosen = self._chosen()
        if chosen is not None:
            self.dismiss(None)
            self.app.push_screen(HealthScreen(*chosen))

    def _chosen(self) -> tuple[str, str | None] | None:
        """(kubeconfig, context) once the file is read and usable; else None, with the reason shown."""
        path = self.query_one("#hp-kubeconfig", Input).value.strip()
        found = self.contexts
        if found is None or path != self._asked:
            self.notify("still reading the kubeconfig…", severity="warning")
            return None
        if found.error:
            self.notify(found.error, severity="error")
            return None
        value = self.query_one("#hp-context", Select).value
        context = value if isinstance(value, str) else None
        if context is None and found.current is None:
            self.notify("the kubeconfig has no current-context: choose one", severity="error")
            return None
        return path, context

    def action_dismiss_picker(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        from digit_tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen("health view: choose the cluster", self.HELP_KEYS))
