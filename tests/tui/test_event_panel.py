"""The install view's events panel draws a chosen task's latest events, not all of a long history: a
refill holds up the key that chose the task (wrapping a thousand lines took a third of a second)."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult

from digit_tui.engine.journal import Event
from digit_tui.widgets.eventpanel import SHOW_LAST, EventPanel
from tests.tui.conftest import wait_screen


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EventPanel(id="events")


async def test_a_long_history_shows_its_latest_events_and_says_where_the_rest_are() -> None:
    now = time.time()
    events = [Event(seq=i, run_id="r", time=now, task="chat", level="info", kind="log", message=f"applied object {i}")
              for i in range(1000)]
    app = PanelApp()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(EventPanel)
        panel.show("chat", events, with_task=False)
        text = await wait_screen(pilot, lambda t: "applied object 999" in t, what="the latest event")
        assert "applied object 998" in text
        assert len(panel.lines) == SHOW_LAST + 1
        panel.scroll_home(animate=False)
        text = await wait_screen(pilot, lambda t: "800 earlier events: digit-tui status --events N" in t,
                                 what="the note on top")
        assert f"applied object {1000 - SHOW_LAST}" in text and f"applied object {999 - SHOW_LAST}" not in text
        panel.append(events[:1])                       # new events still come after
        assert len(panel.lines) == SHOW_LAST + 2
