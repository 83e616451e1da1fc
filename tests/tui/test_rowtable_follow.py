"""A newest-first list (the dashboard's events) keeps a cursor that sits on its first line there as
newer rows arrive, so the newest stay on screen; elsewhere the cursor keeps its row. Real Textual
app in Pilot, the events view's own sort and lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from textual.app import App, ComposeResult

from digit_tui.health.views import EventRow
from digit_tui.widgets.rowtable import RowTable
from digit_tui.widgets.viewrows import SPECS

SPEC = SPECS["events"]
NOW = 1_700_000_000.0


def warning(i: int) -> EventRow:
    return EventRow(key=f"e{i:03d}", warning=True, time=NOW + i, count=1, namespace="egov",
                    subject=f"pod/p-{i:03d}", reason=f"Probe{i:03d}", message="bench probe")


class Rows(App[None]):
    def __init__(self, follow_top: bool) -> None:
        super().__init__()
        self.follow_top = follow_top

    def compose(self) -> ComposeResult:
        cols = SPEC.columns(80)
        yield RowTable[Any](id="rows", sort_key=SPEC.sort, clock=lambda: NOW + 1000, follow_top=self.follow_top,
                            line_text=lambda row, now: SPEC.text(row, cols, now))


@asynccontextmanager
async def _table(follow_top: bool) -> AsyncIterator[tuple[Any, RowTable[Any]]]:
    """The table focused, in an app 80x12, with e000-e002 arrived (one at a time)."""
    app = Rows(follow_top)
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(RowTable)
        table.focus()
        await _arrive(pilot, table, 0, 3)
        yield pilot, table


async def _arrive(pilot: Any, table: RowTable[Any], first: int, last: int) -> None:
    for i in range(first, last):
        table.apply({f"e{i:03d}": warning(i)})
        await pilot.pause()


async def test_a_cursor_on_the_first_line_follows_the_newest_and_a_filter_change_keeps_them_on_screen() -> None:
    async with _table(follow_top=True) as (pilot, table):
        assert table.cursor_key == "e002"
        await _arrive(pilot, table, 3, 40)          # far more than the 12 lines on screen
        assert table.cursor_key == "e039"
        assert table.visible_keys()[0] == "e039"
        table.set_view(SPEC.bad)                    # `f` and back: the view goes to the cursor's row
        table.set_view(None)
        await pilot.pause()
        assert table.visible_keys()[0] == "e039"


async def test_a_cursor_moved_off_the_first_line_keeps_its_row() -> None:
    async with _table(follow_top=True) as (pilot, table):
        await _arrive(pilot, table, 3, 5)
        await pilot.press("down")
        assert table.cursor_key == "e003"
        await _arrive(pilot, table, 5, 8)
        assert table.cursor_key == "e003"


async def test_without_follow_top_the_cursor_keeps_its_row_as_rows_arrive_above() -> None:
    async with _table(follow_top=False) as (pilot, table):
        assert table.cursor_key == "e000"           # the first row to arrive took the cursor and keeps it
        await _arrive(pilot, table, 3, 6)
        assert table.cursor_key == "e000"
        assert table.visible_keys()[0] == "e005"
