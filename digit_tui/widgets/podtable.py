"""A virtual pod table: thousands of rows, only the lines on screen are ever drawn.

Textual's DataTable was measured at 5,000 pods: 0.5 s to add the rows and 1.6 s
for its first layout, on the event loop; ``remove_row`` re-indexes every row
(23 ms each) and there is no insert at a position, so a new pod would mean a
re-sort of all rows. This widget keeps the rows in one sorted list of lines
(``bisect``: a pod is added, moved or removed in place) and draws a line only
when Textual asks for it, i.e. when it is on screen and was refreshed. A pod
that changes refreshes its own line(s) if they are visible and nothing else;
a pod that appears or vanishes above the visible part shifts the scroll
position with it, so what is on screen stays put.

A row with a reason (why the pod is not fine) has a second line under it.
The cursor is a pod, not a line number: it stays on its pod while rows come
and go around it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rich.style import Style
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from digit_tui.health.model import PodView
from digit_tui.widgets.podrow import column_widths, reason_text, row_age, row_text, sort_key

Line = tuple[tuple[Any, ...], int, str]   # (sort key, 0 row / 1 reason, pod key)


class PodTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {"podtable--cursor"}
    DEFAULT_CSS = """
    PodTable { overflow-x: hidden; }
    PodTable > .podtable--cursor { background: $accent 40%; text-style: bold; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "up", show=False),
        Binding("down,j", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor_edge(0)", "first", show=False),
        Binding("end", "cursor_edge(1)", "last", show=False),
    ]

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.clock = clock
        self.rows: dict[str, PodView] = {}      # every pod, shown or filtered out
        self.faulty = 0
        self.shown = 0                          # pods that pass the view's filter
        self._lines: list[Line] = []
        self._sort = "namespace"
        self._key = sort_key(self._sort)
        self._predicate: Callable[[PodView], bool] | None = None
        self._widths = column_widths(80)
        self._cursor: str | None = None
        self._strips: dict[tuple[str, int], tuple[PodView, str, bool, int, Strip]] = {}
        # What a test (or a bench) reads to know what was drawn.
        self.renders = 0        # row lines built anew
        self.lines_drawn = 0    # lines handed to Textual (built or from the cache)

    # -- the data ----------------------------------------------------------------------------
    def apply(self, upserts: Mapping[str, PodView], removed: Iterable[str] = ()) -> None:
        """Put new and changed pods in their place and take removed ones out; only lines on
        screen that changed or moved are refreshed."""
        top, bottom = int(self.scroll_offset.y), int(self.scroll_offset.y) + self.size.height
        anchor = top
        first_shift: int | None = None
        touched: list[str] = []
        cursor_at = self._cursor_index()

        def shifted(i: int, n: int) -> None:
            nonlocal anchor, first_shift
            first_shift = i if first_shift is None else min(first_shift, i)
            if i < anchor:
                anchor = max(i, anchor + n)

        for key in removed:
            old = self.rows.pop(key, None)
            if old is None:
                continue
            self.faulty -= old.faulty
            self._strips.pop((key, 0), None)
            self._strips.pop((key, 1), None)
            if self._shows(old):
                shifted(*self._take(old))
        for key, pod in upserts.items():
            old = self.rows.get(key)
            self.rows[key] = pod
            self.faulty += pod.faulty - (old.faulty if old is not None else 0)
            was = old if old is not None and self._shows(old) else None    # the row as it is shown now
            now = self._shows(pod)
            if was is not None and now and self._key(was) == self._key(pod) and bool(was.reason) == bool(pod.reason):
                touched.append(key)      # same place: redraw its lines, nothing moves
                continue
            if was is not None:
                shifted(*self._take(was))
            if now:
                shifted(*self._put(pod))
        self._after_change(top, bottom, anchor, first_shift, touched, cursor_at)

    def set_view(self, *, predicate: Callable[[PodView], bool] | None = None, sort: str | None = None) -> None:
        """Another filter or order: lay the lines out again (the cursor stays on its pod if shown)."""
        if sort is not None:
            self._sort, self._key = sort, sort_key(sort)
        self._predicate = predicate
        lines: list[Line] = []
        key = self._key
        for pod in self.rows.values():
            if predicate is None or predicate(pod):
                k = key(pod)
                lines.append((k, 0, pod.key))
                if pod.reason:
                    lines.append((k, 1, pod.key))
        lines.sort()
        self._lines = lines
        self.shown = sum(1 for line in lines if line[1] == 0)
        self.virtual_size = Size(0, len(lines))
        if self._cursor_index() is None:
            self._cursor = self._row_at(0)
        self._scroll_to_cursor()
        self.refresh()

    def set_widths(self, widths: list[int]) -> None:
        if widths != self._widths:
            self._widths = widths
            self._strips.clear()
            self.refresh()

    @property
    def cursor_key(self) -> str | None:
        return self._cursor if self._cursor_index() is not None else None

    def visible_keys(self) -> list[str]:
        """The pods on screen, top to bottom."""
        top = int(self.scroll_offset.y)
        return [k for _, part, k in self._lines[top: top + self.size.height] if part == 0]

    def cached_strip(self, key: str, part: int = 0) -> Strip | None:
        """The drawn line of a pod, if it was drawn (tests check that unchanged rows keep theirs)."""
        entry = self._strips.get((key, part))
        return entry[4] if entry else None

    # -- lines -------------------------------------------------------------------------------
    def _shows(self, pod: PodView) -> bool:
        return self._predicate is None or self._predicate(pod)

    def _index(self, pod: PodView) -> int:
        return bisect_left(self._lines, (self._key(pod), 0, pod.key))

    def _take(self, pod: PodView) -> tuple[int, int]:
        i, n = self._index(pod), 2 if pod.reason else 1
        del self._lines[i: i + n]
        self.shown -= 1
        return i, -n

    def _put(self, pod: PodView) -> tuple[int, int]:
        k = self._key(pod)
        i = bisect_left(self._lines, (k, 0, pod.key))
        new: list[Line] = [(k, 0, pod.key)] + ([(k, 1, pod.key)] if pod.reason else [])
        self._lines[i:i] = new
        self.shown += 1
        return i, len(new)

    def _row_at(self, index: int) -> str | None:
        """The pod whose row is at (or, for a reason line, just above) line ``index``."""
        if not self._lines:
            return None
        index = max(0, min(index, len(self._lines) - 1))
        return self._lines[index][2]

    def _cursor_index(self) -> int | None:
        pod = self.rows.get(self._cursor) if self._cursor else None
        if pod is None or not self._shows(pod):
            return None
        return self._index(pod)

    def _after_change(self, top: int, bottom: int, anchor: int, first_shift: int | None, touched: list[str],
                      cursor_at: int | None) -> None:
        if first_shift is not None:
            self.virtual_size = Size(0, len(self._lines))
        if self._cursor_index() is None:
            # The cursor's pod is gone (or filtered out): the row now in its place takes it.
            self._cursor = self._row_at(cursor_at if cursor_at is not None else 0)
            if self._cursor is not None:
                touched.append(self._cursor)
        if anchor != top:
            # Rows came or went above the visible part: keep what is on screen where it is.
            self.scroll_to(y=anchor, animate=False, immediate=True)
            self.refresh()
            return
        if first_shift is not None and first_shift < bottom:
            start = max(first_shift, top)
            self.refresh_lines(start, bottom - start)
        for key in touched:
            pod = self.rows.get(key)
            if pod is None or not self._shows(pod):
                continue
            i = self._index(pod)
            if i < bottom and i + (2 if pod.reason else 1) > top:
                self.refresh_lines(i, 2 if pod.reason else 1)

    # -- drawing -----------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        self.lines_drawn += 1
        width = self.size.width
        index = int(self.scroll_offset.y) + y
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        _, part, key = self._lines[index]
        pod = self.rows[key]
        cursor = key == self._cursor
        age = row_age(pod, self.clock()) if part == 0 else ""
        cached = self._strips.get((key, part))
        if cached is not None and cached[0] is pod and cached[1] == age and cached[2] == cursor \
                and cached[3] == width:
            return cached[4]
        self.renders += 1
        text = row_text(pod, self._widths, self.clock()) if part == 0 else reason_text(pod, width)
        base: Style = self.rich_style
        if cursor:
            base = base + self.get_component_rich_style("podtable--cursor")
        strip = Strip(list(text.render(self.app.console)), text.cell_len).crop_extend(0, width, None)
        strip = strip.apply_style(base)
        if len(self._strips) > 4 * max(self.size.height, 10):
            self._prune_strips()
        self._strips[(key, part)] = (pod, age, cursor, width, strip)
        return strip

    def _prune_strips(self) -> None:
        """Keep only the drawn lines of pods on screen: memory stays flat however many scroll by."""
        top = int(self.scroll_offset.y)
        keep = {(k, part) for _, part, k in self._lines[top: top + self.size.height]}
        self._strips = {k: v for k, v in self._strips.items() if k in keep}

    def refresh_ages(self) -> None:
        """Redraw the visible rows whose age text changed (12s → 13s); others are not touched."""
        now = self.clock()
        top = int(self.scroll_offset.y)
        for offset, (_, part, key) in enumerate(self._lines[top: top + self.size.height]):
            cached = self._strips.get((key, part))
            if part == 0 and cached is not None and cached[1] != row_age(self.rows[key], now):
                self.refresh_lines(top + offset, 1)

    # -- cursor ------------------------------------------------------------------------------
    def _set_cursor(self, key: str | None) -> None:
        if key == self._cursor:
            return
        old, self._cursor = self._cursor, key
        for k in (old, key):
            pod = self.rows.get(k) if k else None
            if pod is not None and self._shows(pod):
                self.refresh_lines(self._index(pod), 2 if pod.reason else 1)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        i = self._cursor_index()
        if i is None:
            return
        pod = self.rows[self._lines[i][2]]
        height, top = self.size.height, int(self.scroll_offset.y)
        last = i + (2 if pod.reason else 1)
        if i < top:
            self.scroll_to(y=i, animate=False)
        elif height and last > top + height:
            self.scroll_to(y=last - height, animate=False)

    def action_cursor(self, step: int) -> None:
        i = self._cursor_index()
        if i is None:
            self._set_cursor(self._row_at(0))
            return
        j = i + step
        while 0 <= j < len(self._lines) and self._lines[j][1] != 0:
            j += 1 if step > 0 else -1
        if 0 <= j < len(self._lines):
            self._set_cursor(self._lines[j][2])

    def action_page(self, direction: int) -> None:
        i = self._cursor_index() or 0
        self._set_cursor(self._row_at(i + direction * max(1, self.size.height - 1)))

    def action_cursor_edge(self, end: int) -> None:
        self._set_cursor(self._row_at(len(self._lines) - 1 if end else 0))

    def on_click(self, event: Click) -> None:
        index = int(self.scroll_offset.y) + event.y
        if 0 <= index < len(self._lines):
            self._set_cursor(self._lines[index][2])
