"""The help screen: the keys of the screen it was opened from, and what the symbols mean."""

from __future__ import annotations

import textwrap

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from digit_tui.viewmodel.install import STYLE, SYMBOL

LEGEND = (("done", "done / ready"), ("running", "working"), ("waiting-for-network", "waiting for the network / paused"),
          ("pending", "pending / skipped"), ("failed", "failed (blocked tasks: dim ✗)"))


BOX_TEXT_WIDTH = 66     # app.tcss: the dialog box is 72 wide, less its border, padding and a scrollbar
BACK = "q / escape: back"
SCROLL_HINT = "↑↓ pgup pgdn home end: scroll · q / escape: back"


def key_lines(keys: list[tuple[str, str]]) -> Text:
    """The keys and what they do, the keys' column as wide as the widest key and a description
    wrapped under itself. Plain text rather than a rich Table: a table measures and lays out its
    columns on every render, and this one is drawn the moment ``?`` is pressed."""
    width = max((len(key) for key, _ in keys), default=0) + 2
    out = Text()
    for key, text in keys:
        wrapped = textwrap.wrap(text, max(20, BOX_TEXT_WIDTH - width)) or [""]
        out.append(key.ljust(width), style="bold")
        out.append(wrapped[0] + "\n")
        for more in wrapped[1:]:
            out.append(" " * width + more + "\n")
    out.rstrip()
    return out


class HelpBox(VerticalScroll):
    """The dialog's scrolling box. Its own bindings scroll it (up/down, pageup/pagedown, home/end) once
    it has focus; its last line says so only when there is something below the fold: a check of two
    sizes on each resize (the terminal's, or the box's first layout), nothing on a key."""

    overflowing: bool = False

    def on_resize(self) -> None:
        overflowing = self.max_scroll_y > 0
        if overflowing != self.overflowing:
            self.overflowing = overflowing
            hint, text = self.query_one("#help-hint", Static), SCROLL_HINT if overflowing else BACK
            # Still one row: redrawn without another layout of the box (the help is drawn as `?` is pressed).
            hint.update(Text(text, style="dim"), layout=cell_len(text) > hint.content_size.width)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "back")]
    AUTO_FOCUS = "#dialog-box"      # the keys below the fold are reached by scrolling the box

    def __init__(self, title: str, keys: list[tuple[str, str]], notes: list[str] | None = None) -> None:
        super().__init__(classes="dialog")
        self.title_text, self.keys, self.notes = title, keys, notes or []

    def compose(self) -> ComposeResult:
        keys = list(self.keys)
        if not any(key == "ctrl+p" for key, _ in keys):   # the app's palette works on every screen
            keys.append(("ctrl+p", "command palette: this screen's actions by name, with their keys"))
        legend = Text()
        for state, text in LEGEND:
            legend.append(SYMBOL[state], style=STYLE[state])
            legend.append(f" {text}\n")
        with HelpBox(id="dialog-box"):
            yield Static(Text(f"Help · {self.title_text}", style="bold"), id="dialog-title")
            yield Static(key_lines(keys))
            yield Static(legend)
            for note in self.notes:
                yield Static(Text(note, style="dim"))
            # Docked: it stays on the box's last row while the keys scroll under it.
            yield Static(Text(BACK, style="dim"), id="help-hint")

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
