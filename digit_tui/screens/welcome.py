"""Shown when there is no install to attach to: how to start one."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static

from digit_tui.screens.base import DigitScreen

STEPS = (
    ("digit-tui demo", "try it: an install of the sample DIGIT on the embedded sandbox cluster (what `make run` does)"),
    ("digit-tui validate --example > answers.yaml", "start an answers file for your environment, then edit it"),
    ("digit-tui validate --answers answers.yaml", "check it offline (file:line and what is expected)"),
    ("digit-tui plan --answers answers.yaml", "see the tasks and what would run; changes nothing"),
    ("digit-tui install --answers answers.yaml", "run it; the install goes on if this terminal closes"),
    ("digit-tui health --kubeconfig FILE", "pod dashboard of a running DIGIT cluster"),
)


class WelcomeScreen(DigitScreen):
    HELP_TITLE = "welcome"
    HELP_KEYS = [("q / ctrl+q", "quit")]
    BINDINGS = [Binding("question_mark", "help", "help"), Binding("q", "app.quit", "quit")]

    def __init__(self, state_hint: Path | None = None) -> None:
        super().__init__(id="welcome")
        self.state_hint = state_hint

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for cmd, text in STEPS:
            table.add_row(cmd, Text(text, style="dim"))
        where = f" in {self.state_hint}" if self.state_hint else ""
        with VerticalScroll(id="welcome-box"):
            yield Static(Text("DIGIT installer", style="bold"), id="welcome-title")
            yield Static(Text(f"◌ No install found{where}. To start one:"))
            yield Static(table)
            yield Static(Text("Installs run in a background engine: you may close the terminal at any time; "
                              "run digit-tui again to re-attach.", style="dim"))
        yield Footer(show_command_palette=False)
