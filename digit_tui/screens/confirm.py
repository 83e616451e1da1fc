"""A question with a few answers, each a button with its own key; escape answers None."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ConfirmDialog(ModalScreen[str | None]):
    """``choices``: (value, label, key); the first is the default (focused)."""

    BINDINGS = [Binding("escape", "dismiss_none", "cancel")]

    def __init__(self, title: str, lines: Sequence[Text | str], choices: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(classes="dialog")
        self.title_text, self.lines, self.choices = title, list(lines), list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box"):
            yield Label(Text(self.title_text, style="bold"), id="dialog-title")
            for line in self.lines:
                yield Static(line if isinstance(line, Text) else Text(line), classes="dialog-line")
            with Horizontal(id="dialog-buttons"):
                for i, (value, label, key) in enumerate(self.choices):
                    yield Button(f"{label} ({key})", id=f"choice-{value}", variant="primary" if i == 0 else "default",
                                 compact=True)

    def on_mount(self) -> None:
        self.query_one(Button).focus()

    def on_key(self, event: events.Key) -> None:
        for value, _, key in self.choices:
            if event.key == key:
                event.stop()
                self.dismiss(value)
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
