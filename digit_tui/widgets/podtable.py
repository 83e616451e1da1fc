"""A virtual pod table: thousands of rows, only the lines on screen are ever drawn.

Textual's DataTable was measured at 5,000 pods: 0.5 s to add the rows and 1.6 s
for its first layout, on the event loop; ``remove_row`` re-indexes every row
(23 ms each) and there is no insert at a position, so a new pod would mean a
re-sort of all rows. This widget keeps the rows in one sorted list of lines
(``bisect``: a pod is added, moved or removed in place), and with a filter on the
lines that pass it in a second one and draws a line only
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
        self._shown = 0                         # pods in the filtered lines (with a filter on)
        self._all: list[Line] = []              # every pod's lines in the sort order
        self._lines: list[Line] = self._all     # the lines shown: all of them, or those the filter passes
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
        filtered = self._lines is not self._all
        for key in removed:
            old = self.rows.pop(key, None)
            if old is None:
                continue
            self.faulty -= old.faulty
            self._strips.pop((key, 0), None)
            self._strips.pop((key, 1), None)
            at = self._take(self._all, old)
            if filtered and self._shows(old):
                at = self._take(self._lines, old)
            if not filtered or self._shows(old):
                shifted(*at)
        for key, pod in upserts.items():
            old = self.rows.get(key)
            self.rows[key] = pod
            self.faulty += pod.faulty - (old.faulty if old is not None else 0)
            stays = old is not None and self._key(old) == self._key(pod) and bool(old.reason) == bool(pod.reason)
            if not stays:
                if old is not None:
                    taken = self._take(self._all, old)
                    if not filtered:
                        shifted(*taken)
                put = self._put(self._all, pod)
                if not filtered:
                    shifted(*put)
            if not filtered:
                if stays:
                    touched.append(key)      # same place: redraw its lines, nothing moves
                continue
            was = old is not None and self._shows(old)    # the row as it is shown now
            now = self._shows(pod)
            if was and now and stays:
                touched.append(key)
                continue
            if was:
                assert old is not None
                shifted(*self._take(self._lines, old))
            if now:
                shifted(*self._put(self._lines, pod))
        if shifted.first is not None:
            self._set_line_count(len(self._lines))
        self._refresh_changed(shifted, touched, cursor_at)

    @property
    def shown(self) -> int:
        """Pods that pass the view's filter."""
        return len(self.rows) if self._lines is self._all else self._shown

    def set_view(self, *, predicate: Callable[[PodView], bool] | None = None, sort: str | None = None) -> None:
        """Another filter or order: lay the lines out again (the cursor stays on its pod if shown).
        The order of all pods is kept whatever the filter: a filter picks its lines from it, so
        only another sort mode sorts (``f`` and back costs a pass over the lines, not a sort)."""
        if sort is not None and sort != self._sort:
            self._sort, self._key = sort, sort_key(sort)
            self._all = self._lay_out(self.rows.values())
        self._predicate = predicate
        if predicate is None:
            self._lines = self._all
        else:
            rows = self.rows
            passes = {key for key, pod in rows.items() if predicate(pod)}
            self._lines = [line for line in self._all if line[2] in passes]
            self._shown = len(passes)
        self._set_line_count(len(self._lines))
        if self._cursor_index() is None:
            self._cursor = self._key_at(0)
        self._scroll_to_cursor()
        self.refresh()

    def _lay_out(self, pods: Iterable[PodView]) -> list[Line]:
        lines: list[Line] = []
        key = self._key
        for pod in pods:
            k = key(pod)
            lines.append((k, 0, pod.key))
            if pod.reason:
                lines.append((k, 1, pod.key))
        lines.sort()
        return lines

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

    def _take(self, lines: list[Line], pod: PodView) -> tuple[int, int]:
        """Take the pod's lines out of ``lines`` (all pods' or the filtered ones)."""
        i, n = bisect_left(lines, (self._key(pod), 0, pod.key)), 2 if pod.reason else 1
        del lines[i: i + n]
        if lines is self._lines:
            self._shown -= 1
        return i, -n

    def _put(self, lines: list[Line], pod: PodView) -> tuple[int, int]:
        k = self._key(pod)
        i = bisect_left(lines, (k, 0, pod.key))
        new: list[Line] = [(k, 0, pod.key)] + ([(k, 1, pod.key)] if pod.reason else [])
        lines[i:i] = new
        if lines is self._lines:
            self._shown += 1
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
