"""The right-hand panel of the install view: the selected task's (or phase's) events."""

from __future__ import annotations

import time
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from digit_tui.engine.journal import Event

LEVEL_MARK = {"error": ("✗ ", "bold red"), "warning": ("! ", "yellow")}
# A refill (another task chosen) draws this many of the latest events: wrapping a thousand lines takes
# a third of a second, which would hold up the key that chose it; older ones are a command away.
SHOW_LAST = 200


def event_line(ev: Event, *, with_task: bool) -> Text:
    t = Text()
    t.append(time.strftime("%H:%M:%S", time.localtime(ev.time)) + " ", style="dim")
    mark, st = LEVEL_MARK.get(ev.level, ("", ""))
    if mark:
        t.append(mark, style=st)
    if with_task:
        t.append(f"{ev.task or 'engine'}: ", style="bold")
    t.append(ev.message, style=st if ev.level == "error" else "")
    return t


class EventPanel(RichLog):
    DEFAULT_CSS = """
    EventPanel { scrollbar-size-vertical: 1; }
    """

    def __init__(self, **kw: object) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=2000, auto_scroll=True, min_width=20,
                         **kw)  # type: ignore[arg-type]
        self.with_task = False

    def show(self, title: str, events: Iterable[Event], *, with_task: bool) -> None:
        self.border_title = title
        self.with_task = with_task
        self.clear()
        shown = list(events)
        lines = [event_line(ev, with_task=with_task) for ev in shown[-SHOW_LAST:]]
        if len(shown) > SHOW_LAST:
            lines.insert(0, Text(f"… {len(shown) - SHOW_LAST} earlier events: digit-tui status --events N",
                                 style="dim"))
        if lines:
            self.write(Text("\n").join(lines))  # one write: RichLog's work per write is per call, not per line

    def append(self, events: Iterable[Event]) -> None:
        lines = [event_line(ev, with_task=self.with_task) for ev in events]
        if lines:
            self.write(Text("\n").join(lines))
