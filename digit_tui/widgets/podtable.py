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

from textual.geometry import Size
from textual.strip import Strip

from digit_tui.health.model import PodView
from digit_tui.widgets.podrow import column_widths, reason_text, row_age, row_text, sort_key
from digit_tui.widgets.virtuallines import Shifts, VirtualLines

Line = tuple[tuple[Any, ...], int, str]   # (sort key, 0 row / 1 reason, pod key)


class PodTable(VirtualLines):
    COMPONENT_CLASSES = {"podtable--cursor"}
    CURSOR = "podtable--cursor"
    DEFAULT_CSS = """
    PodTable { overflow-x: hidden; }
    PodTable > .podtable--cursor { background: $accent 40%; text-style: bold; }
    """

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
        self._strips: dict[tuple[str, int], tuple[PodView, str, bool, int, Strip]] = {}
        # What a test (or a bench) reads to know what was drawn.
        self.renders = 0        # row lines built anew
        self.lines_drawn = 0    # lines handed to Textual (built or from the cache)

    # -- the data ----------------------------------------------------------------------------
    def apply(self, upserts: Mapping[str, PodView], removed: Iterable[str] = ()) -> None:
        """Put new and changed pods in their place and take removed ones out; only lines on
        screen that changed or moved are refreshed."""
        shifted = Shifts(int(self.scroll_offset.y))
        touched: list[str] = []
        cursor_at = self._cursor_index()
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
        if shifted.first is not None:
            self.virtual_size = Size(0, len(self._lines))
        self._refresh_changed(shifted, touched, cursor_at)

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
            self._cursor = self._key_at(0)
        self._scroll_to_cursor()
        self.refresh()

    def set_widths(self, widths: list[int]) -> None:
        if widths != self._widths:
            self._widths = widths
            self._strips.clear()
            self.refresh()

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

    def _line_count(self) -> int:
        return len(self._lines)

    def _key_at(self, index: int) -> str | None:
        """The pod whose row is at (or, for a reason line, just above) line ``index``."""
        if not self._lines:
            return None
        index = max(0, min(index, len(self._lines) - 1))
        return self._lines[index][2]

    def _span(self, key: str | None) -> tuple[int, int] | None:
        pod = self.rows.get(key) if key else None
        if pod is None or not self._shows(pod):
            return None
        return self._index(pod), 2 if pod.reason else 1

    def _cursor_index(self) -> int | None:
        pod = self.rows.get(self._cursor) if self._cursor else None
        if pod is None or not self._shows(pod):
            return None
        return self._index(pod)

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
        strip = self._strip(text, width, cursor)
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
    def action_cursor(self, step: int) -> None:
        i = self._cursor_index()
        if i is None:
            self._set_cursor(self._key_at(0))
            return
        j = i + step
        while 0 <= j < len(self._lines) and self._lines[j][1] != 0:
            j += 1 if step > 0 else -1
        if 0 <= j < len(self._lines):
            self._set_cursor(self._lines[j][2])
