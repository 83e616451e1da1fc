"""Lines of YAML (the configuration preview's answers and environment files) wrapped to a width,
without Textual, so that a continuation cannot be read as YAML of its own.

A soft wrap would start a comment's second row without ``#`` (it reads as a key or a value) and
a long value's second row at the left (it reads as a new key). Here a comment continues on the
next row at its own indent with its own ``#`` (and the spacing after it: an indented command in a
comment stays indented); any other line continues under its value (after ``key: `` or ``- ``),
marked ``VALUE_MARK``, which the screen draws dim. A trailing comment (``key: v  # why``) is
part of its line, continued like the value. Rows break after the last space that fits, else
mid-word (URLs, base64). A line that fits is returned as it is.

Plain string work, linear in the text: it runs on the event loop at every change of the pane's
width. Widths are terminal cells (rich's measure, the one the pane renders with).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len, get_character_cell_size

VALUE_MARK = "↪ "           # a value's continuation; "↪" is one cell
MIN_WIDTH = 8               # narrower: lines are returned unwrapped (no room for a mark and text)
_MIN_ROOM = 12              # a continuation's text at the least, else its hang is given up


@dataclass(frozen=True, slots=True)
class Row:
    """One row on screen: a line's first (``mark`` empty), or its continuation, drawn as
    ``indent`` spaces, ``mark`` (a comment's ``#`` and spacing, or ``VALUE_MARK``), ``text``."""

    text: str
    indent: int = 0
    mark: str = ""

    @property
    def continued(self) -> bool:
        return bool(self.mark)

    @property
    def plain(self) -> str:
        return " " * self.indent + self.mark + self.text


def wrap_lines(lines: Iterable[str], width: int) -> list[Row]:
    """Every line's rows, in order."""
    rows: list[Row] = []
    for line in lines:
        rows += wrap_line(line, width)
    return rows


def wrap_line(line: str, width: int) -> list[Row]:
    """``line`` as rows of at most ``width`` cells; below ``MIN_WIDTH`` the line as it is."""
    if _cells(line) <= width or width < MIN_WIDTH:
        return [Row(line)]
    line = line.rstrip()
    if _cells(line) <= width:
        return [Row(line)]
    indent = len(line) - len(line.lstrip(" "))
    body = line[indent:]
    if body.startswith("#"):
        spacing = len(body) - len(body[1:].lstrip(" ")) - 1
        mark, hang = "#" + " " * max(spacing, 1), indent
    else:
        mark, hang = VALUE_MARK, indent + _value_column(body)
    # The first row breaks inside the value (or the comment's words): not between key and value.
    floor = hang + (len(mark) if mark.startswith("#") else 0)
    least = max(_MIN_ROOM, width // 2)
    if width - hang - _cells(mark) < least:
        # No room under the value: a step in from the line, as YAML nests (a comment: its indent).
        mark, hang = ("# ", indent) if mark.startswith("#") else (mark, indent + 2)
        hang = hang if width - hang - _cells(mark) >= least else 0
    room = width - hang - _cells(mark)
    end, start = _split(line, 0, width, floor)
    rows = [Row(line[:end])]
    while start < len(line):
        end, nxt = _split(line, start, room, start)
        rows.append(Row(line[start:end], hang, mark))
        start = nxt
    return rows


def _value_column(body: str) -> int:
    """Where the value of ``body`` (a line without its indent) starts: after each leading ``- ``
    and after a ``key: `` (a key without a value: its own indent, plus 2, as YAML nests)."""
    col = 0
    while body.startswith("- ", col):
        col += 2
    colon = body.find(": ", col)
    if colon >= 0 and " #" not in body[col:colon] and body[col:col + 1] not in ("'", '"', "{", "["):
        return colon + 2
    return col if col else 2 if body.endswith(":") else 0


def _split(line: str, start: int, room: int, floor: int) -> tuple[int, int]:
    """(end of the row that begins at ``start`` in ``room`` cells, start of the next row): at the
    last space after ``floor`` that fits (the spaces dropped at the break), else as much as fits
    (one character at the least)."""
    limit = _fit(line, start, room)
    if limit >= len(line):
        return len(line), len(line)
    cut = line.rfind(" ", floor, limit + 1)
    if cut > start and line[start:cut].strip():
        end = len(line[start:cut].rstrip(" ")) + start
        nxt = cut
        while nxt < len(line) and line[nxt] == " ":
            nxt += 1
        return end, nxt
    end = max(limit, start + 1)
    return end, end


def _fit(line: str, start: int, room: int) -> int:
    """The end of the longest ``line[start:end]`` of at most ``room`` cells."""
    if line.isascii():
        return min(len(line), start + room)
    used, end = 0, start
    while end < len(line):
        used += get_character_cell_size(line[end])
        if used > room:
            break
        end += 1
    return end


def _cells(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)
