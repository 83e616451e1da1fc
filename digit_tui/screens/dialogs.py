"""Modal dialogs: an error that says what failed, why and what to do next; a text viewer."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, RichLog, Static


class ErrorDialog(ModalScreen[None]):
    """What failed, why, and the next step; any of enter/escape/q closes it."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "close")]

    def __init__(self, what: str, why: str, next_step: str) -> None:
        super().__init__(classes="dialog")
        self.what, self.why, self.next_step = what, why, next_step

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box", classes="error"):
            yield Label(Text("✗ " + self.what, style="bold red"), id="dialog-title")
            yield Static(Text(self.why), id="dialog-why")
            yield Static(Text.assemble(("Next: ", "bold"), self.next_step), id="dialog-next")
            yield Button("Close", variant="primary", id="dialog-close")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)


class TextViewer(ModalScreen[None]):
    """A scrollable page of lines (logs, details); q or escape closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "back")]

    def __init__(self, title: str, lines: Iterable[Text | str] = (), *, subtitle: str = "") -> None:
        super().__init__(classes="viewer")
        self.title_text, self._lines, self.subtitle = title, list(lines), subtitle

    def compose(self) -> ComposeResult:
        log = RichLog(wrap=True, markup=False, highlight=False, id="viewer-log", max_lines=5000, min_width=20)
        log.border_title = self.title_text
        log.border_subtitle = self.subtitle or "q back"
        yield log

    def on_mount(self) -> None:
        self.add_lines(self._lines)

    def add_lines(self, lines: Iterable[Text | str]) -> None:
        log = self.query_one("#viewer-log", RichLog)
        for line in lines:
            log.write(line)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
