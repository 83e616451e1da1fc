"""What the dashboard's virtual tables share (``PodTable``, ``RowTable``): the cursor is a row's key,
moved by keys and clicks; only lines on screen are drawn, each from a cached strip; a change redraws
only the lines it touched, and rows that came or went above the visible part move the scroll
position with them, so what is on screen stays put.

A subclass keeps its rows in one sorted list of lines and says where a row's lines are (``_span``)
and which row a line belongs to (``_key_at``).
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget


class Shifts:
    """Where lines were inserted or deleted during one change, and where the top line went."""

    def __init__(self, top: int) -> None:
        self.top = self.anchor = top
        self.first: int | None = None

    def __call__(self, index: int, lines: int) -> None:
        self.first = index if self.first is None else min(self.first, index)
        if index < self.anchor:
            self.anchor = max(index, self.anchor + lines)


class VirtualLines(ScrollView, can_focus=True):
    CURSOR = ""     # the component class of the cursor's line
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "up", show=False),
        Binding("down,j", "cursor(1)", "down", show=False),
        Binding("pageup", "page(-1)", "page up", show=False),
        Binding("pagedown", "page(1)", "page down", show=False),
        Binding("home", "cursor_edge(0)", "first", show=False),
        Binding("end", "cursor_edge(1)", "last", show=False),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._cursor: str | None = None

    # -- what a subclass says ------------------------------------------------------------------
    def _line_count(self) -> int:
        raise NotImplementedError

    def _key_at(self, index: int) -> str | None:
        """The row whose line is at ``index`` (clamped to the lines there are); None: no lines."""
        raise NotImplementedError

    def _span(self, key: str | None) -> tuple[int, int] | None:
        """(first line, number of lines) of a row that is shown; None otherwise."""
        raise NotImplementedError

    # -- drawing -------------------------------------------------------------------------------
    def _set_line_count(self, lines: int) -> None:
        """The scrollable height after rows came or went. Assigning ``virtual_size`` asks for a layout
        of the whole screen, i.e. every line of every widget composed and written again: under churn
        (a pod created or deleted in most frames) that was a full redraw ten times a second on the
        event loop. Only the scrollbar depends on it, so it is updated alone; a scrollbar that comes or
        goes changes the table's region, and ``show_vertical_scrollbar`` asks for that layout itself."""
        size = Size(0, lines)
        if size == self.virtual_size:
            return
        if not self.size:       # not laid out yet: the layout computes the rest
            self.virtual_size = size
            return
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)
        self.scroll_y = self.scroll_y       # validated: within the new height

    def _strip(self, text: Text, width: int, cursor: bool) -> Strip:
        base: Style = self.rich_style
        if cursor:
            base = base + self.get_component_rich_style(self.CURSOR)
        return Strip(list(text.render(self.app.console)), text.cell_len).crop_extend(0, width, None).apply_style(base)

    def _refresh_changed(self, shifts: Shifts, touched: list[str], cursor_at: int | None) -> None:
        """After a change: the cursor on a row still there, the scroll kept on what was shown, and
        only lines that moved or changed on screen refreshed."""
        top, bottom = shifts.top, shifts.top + self.size.height
        if self._span(self._cursor) is None:
            # The cursor's row is gone (or filtered out): the row now in its place takes it.
            self._cursor = self._key_at(cursor_at if cursor_at is not None else 0)
            if self._cursor is not None:
                touched.append(self._cursor)
        if shifts.anchor != top:
            self.scroll_to(y=shifts.anchor, animate=False, immediate=True)
            self.refresh()
            return
        if shifts.first is not None and shifts.first < bottom:
            start = max(shifts.first, top)
            self.refresh_lines(start, bottom - start)
        for key in touched:
            span = self._span(key)
            if span is not None and span[0] < bottom and span[0] + span[1] > top:
                self.refresh_lines(*span)

    # -- cursor --------------------------------------------------------------------------------
    @property
    def cursor_key(self) -> str | None:
        return self._cursor if self._span(self._cursor) is not None else None

    def _set_cursor(self, key: str | None) -> None:
        if key == self._cursor:
            return
        old, self._cursor = self._cursor, key
        for k in (old, key):
            span = self._span(k)
            if span is not None:
                self.refresh_lines(*span)
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        span = self._span(self._cursor)
        if span is None:
            return
        height, top = self.size.height, int(self.scroll_offset.y)
        if span[0] < top:
            self.scroll_to(y=span[0], animate=False)
        elif height and span[0] + span[1] > top + height:
            self.scroll_to(y=span[0] + span[1] - height, animate=False)

    def action_page(self, direction: int) -> None:
        span = self._span(self._cursor)
        self._set_cursor(self._key_at((span[0] if span else 0) + direction * max(1, self.size.height - 1)))

    def action_cursor_edge(self, end: int) -> None:
        self._set_cursor(self._key_at(self._line_count() - 1 if end else 0))

    def on_click(self, event: Click) -> None:
        index = int(self.scroll_offset.y) + event.y
        if 0 <= index < self._line_count():
            self._set_cursor(self._key_at(index))
