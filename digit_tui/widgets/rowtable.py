"""A virtual table of keyed one-line rows for the dashboard's further views (workloads, nodes, events).

The pod table's way (``podtable.py``, both on ``virtuallines.VirtualLines``), for rows without a
reason line: the rows are one sorted list (``bisect``), a changed row is put in its place or
redrawn where it is, and only lines on screen are ever drawn.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from rich.text import Text
from textual.strip import Strip

from digit_tui.widgets.virtuallines import Shifts, VirtualLines


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


R = TypeVar("R", bound=Keyed)


class RowTable(VirtualLines, Generic[R]):
    COMPONENT_CLASSES = {"rowtable--cursor"}
    CURSOR = "rowtable--cursor"
    DEFAULT_CSS = """
    RowTable { overflow-x: hidden; }
    RowTable > .rowtable--cursor { background: $accent 40%; text-style: bold; }
    """

    def __init__(self, *, sort_key: Callable[[R], tuple[Any, ...]], line_text: Callable[[R, float], Text],
                 ticks: Callable[[R, float], str] | None = None, clock: Callable[[], float] = time.time,
                 follow_top: bool = False, id: str | None = None) -> None:
        """``line_text(row, now)`` is the row's line; ``ticks(row, now)`` what of it changes with time
        alone (an age): the line is drawn again when that text changes. ``follow_top`` (a newest-first
        list): a cursor on the first line with the view at the top stays on the first line as newer
        rows arrive, as a log follower does; elsewhere the cursor keeps its row."""
        super().__init__(id=id)
        self.sort_key, self.line_text, self.ticks, self.clock = sort_key, line_text, ticks, clock
        self.follow_top = follow_top
        self.rows: dict[str, R] = {}
        self.shown = 0
        self._lines: list[tuple[tuple[Any, ...], str]] = []
        self._predicate: Callable[[R], bool] | None = None
        self._strips: dict[str, tuple[R, str, bool, int, Strip]] = {}
        self.renders = 0        # lines built anew (tests read it)

    # -- the data ----------------------------------------------------------------------------
    def apply(self, upserts: Mapping[str, R], removed: Iterable[str] = ()) -> None:
        """New and changed rows in their place, removed ones out; only changed lines on screen are
        refreshed."""
        shifted = Shifts(int(self.scroll_offset.y))
        touched: list[str] = []
        cursor_at = self._cursor_index()
        # Kept on the row, the cursor of a newest-first list would sink below the screen as rows
        # arrive above it, and the next filter change would scroll down to it, away from the newest.
        following = self.follow_top and shifted.top == 0 and cursor_at == 0
        for key in removed:
            old = self.rows.pop(key, None)
            self._strips.pop(key, None)
            if old is not None and self._shows(old):
                shifted(self._take(old), -1)
        for key, row in upserts.items():
            prior = self.rows.get(key)
            self.rows[key] = row
            was = prior if prior is not None and self._shows(prior) else None
            now = self._shows(row)
            if was is not None and now and self.sort_key(was) == self.sort_key(row):
                touched.append(key)
                continue
            if was is not None:
                shifted(self._take(was), -1)
            if now:
                shifted(self._put(row), 1)
        if shifted.first is not None:
            self._set_line_count(len(self._lines))
        if following and self._lines and self._lines[0][1] != self._cursor:
            touched += [k for k in (self._cursor, self._lines[0][1]) if k]
            self._cursor = self._lines[0][1]
        self._refresh_changed(shifted, touched, cursor_at)

    def set_view(self, predicate: Callable[[R], bool] | None) -> None:
        """Another filter: lay the lines out again (the cursor stays on its row if shown)."""
        self._predicate = predicate
        self._lines = sorted((self.sort_key(r), r.key) for r in self.rows.values() if predicate is None or predicate(r))
        self.shown = len(self._lines)
        self._set_line_count(len(self._lines))
        if self._cursor_index() is None:
            self._cursor = self._key_at(0)
        self._scroll_to_cursor()
        self.refresh()

    def visible_keys(self) -> list[str]:
        top = int(self.scroll_offset.y)
        return [k for _, k in self._lines[top: top + self.size.height]]

    def cached_strip(self, key: str) -> Strip | None:
        entry = self._strips.get(key)
        return entry[4] if entry else None

    # -- lines -------------------------------------------------------------------------------
    def _shows(self, row: R) -> bool:
        return self._predicate is None or self._predicate(row)

    def _index(self, row: R) -> int:
        return bisect_left(self._lines, (self.sort_key(row), row.key))

    def _take(self, row: R) -> int:
        i = self._index(row)
        del self._lines[i]
        self.shown -= 1
        return i

    def _put(self, row: R) -> int:
        line = (self.sort_key(row), row.key)
        i = bisect_left(self._lines, line)
        self._lines.insert(i, line)
        self.shown += 1
        return i

    def _line_count(self) -> int:
        return len(self._lines)

    def _span(self, key: str | None) -> tuple[int, int] | None:
        i = self._cursor_index(key)
        return None if i is None else (i, 1)

    def _key_at(self, index: int) -> str | None:
        if not self._lines:
            return None
        return self._lines[max(0, min(index, len(self._lines) - 1))][1]

    def _cursor_index(self, key: str | None = None) -> int | None:
        """The line of the row ``key`` (default: the cursor's) if it is shown."""
        key = self._cursor if key is None else key
        row = self.rows.get(key) if key else None
        if row is None or not self._shows(row):
            return None
        return self._index(row)

    # -- drawing -----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.size.width
        index = int(self.scroll_offset.y) + y
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        key = self._lines[index][1]
        row = self.rows[key]
        now = self.clock()
        tick = self.ticks(row, now) if self.ticks is not None else ""
        cursor = key == self._cursor
        cached = self._strips.get(key)
        if cached is not None and cached[0] is row and cached[1] == tick and cached[2] == cursor and cached[3] == width:
            return cached[4]
        self.renders += 1
        strip = self._strip(self.line_text(row, now), width, cursor)
        if len(self._strips) > 4 * max(self.size.height, 10):
            top = int(self.scroll_offset.y)
            keep = {k for _, k in self._lines[top: top + self.size.height]}
            self._strips = {k: v for k, v in self._strips.items() if k in keep}
        self._strips[key] = (row, tick, cursor, width, strip)
        return strip

    def refresh_ages(self) -> None:
        """Redraw the visible rows whose ticking text changed; others are not touched."""
        if self.ticks is None:
            return
        now, top = self.clock(), int(self.scroll_offset.y)
        for offset, (_, key) in enumerate(self._lines[top: top + self.size.height]):
            cached = self._strips.get(key)
            if cached is not None and cached[1] != self.ticks(self.rows[key], now):
                self.refresh_lines(top + offset, 1)

    def clear_cache(self) -> None:
        """Column widths changed: every line is drawn again."""
        self._strips.clear()
        self.refresh()

    # -- cursor ------------------------------------------------------------------------------
    def action_cursor(self, step: int) -> None:
        i = self._cursor_index()
        self._set_cursor(self._key_at(0 if i is None else i + step))
