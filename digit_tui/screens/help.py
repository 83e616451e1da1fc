"""The help screen: the keys of the screen it was opened from, and what the symbols mean."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from digit_tui.viewmodel.install import STYLE, SYMBOL

LEGEND = (("done", "done / ready"), ("running", "working"), ("waiting-for-network", "waiting for the network / paused"),
          ("pending", "pending / skipped"), ("failed", "failed (blocked tasks: dim ✗)"))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "back")]

    def __init__(self, title: str, keys: list[tuple[str, str]], notes: list[str] | None = None) -> None:
        super().__init__(classes="dialog")
        self.title_text, self.keys, self.notes = title, keys, notes or []

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, text in self.keys:
            table.add_row(key, text)
        if not any(key == "ctrl+p" for key, _ in self.keys):   # the app's palette works on every screen
            table.add_row("ctrl+p", "command palette: this screen's actions by name, with their keys")
        legend = Text()
        for state, text in LEGEND:
            legend.append(SYMBOL[state], style=STYLE[state])
            legend.append(f" {text}\n")
        with VerticalScroll(id="dialog-box"):
            yield Static(Text(f"Help · {self.title_text}", style="bold"), id="dialog-title")
            yield Static(table)
            yield Static(legend)
            for note in self.notes:
                yield Static(Text(note, style="dim"))
            yield Static(Text("q / escape: back", style="dim"))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
