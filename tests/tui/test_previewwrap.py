"""The configuration preview's wrapping (viewmodel/previewwrap.py): a wrapped comment goes on with
its own ``#``, a wrapped value goes on under the value with the dim mark, nothing is lost or wider
than the pane, and a line that fits is left as it is."""

from __future__ import annotations

import pytest
from rich.cells import cell_len

from digit_tui.viewmodel.previewwrap import MIN_WIDTH, VALUE_MARK, Row, wrap_line, wrap_lines

COMMENT = "# Written by the digit-tui guided install. The same file drives an unattended install:"
VALUE = "global.containerRegistry: registry.example.internal/mirror/egovernments-digit-images-and-more"
SAMPLES = (COMMENT, VALUE,
           "    #   digit-tui install --answers THIS-FILE --headless --state-dir /var/lib/digit-tui/x",
           "  - repo: git@github.com:egovernments/Digit-Core-with-a-very-long-name-indeed.git",
           "  description: a long sentence of a value that goes on and on beyond the width of forty",
           "  key: value  # and a trailing comment that says why the value is what it is, at length",
           "x" * 130, "  - " + "数据库" * 30, "#" * 90, "")


def words(text: str) -> list[str]:
    return text.split()


def test_a_line_that_fits_is_returned_as_it_is() -> None:
    assert wrap_line(COMMENT, len(COMMENT)) == [Row(COMMENT)]
    assert wrap_line("  key: value   ", 12) == [Row("  key: value")]      # only its trailing spaces were over
    assert wrap_lines(["a: 1", "", "# b"], 10) == [Row("a: 1"), Row(""), Row("# b")]


def test_a_comment_goes_on_at_its_indent_with_its_own_hash() -> None:
    rows = wrap_line(COMMENT, 40)
    assert [r.plain for r in rows] == ["# Written by the digit-tui guided", "# install. The same file drives an",
                                       "# unattended install:"]
    command = "    #   digit-tui install --answers THIS-FILE --headless --state-dir /var/lib/digit-tui/x"
    rows = wrap_line(command, 40)
    assert len(rows) > 1 and all(r.plain.startswith("    #   ") for r in rows)   # the command stays indented
    assert words(" ".join(r.plain.lstrip(" #") for r in rows)) == words(command.lstrip(" #"))


def test_a_value_goes_on_under_the_value_marked() -> None:
    line = "  description: a long sentence of a value that goes on and on beyond the width of forty"
    rows = wrap_line(line, 40)
    assert rows[0].plain == "  description: a long sentence of a"
    assert all(r.plain.startswith(" " * 15 + VALUE_MARK) for r in rows[1:])
    assert all(r.indent == 15 and r.mark == VALUE_MARK and r.continued for r in rows[1:])
    # A list item's value: under the item, after "- " and the key.
    rows = wrap_line("  - repo: git@github.com:egovernments/Digit-Core-with-a-very-long-name-indeed.git", 40)
    assert rows[0].plain == "  - repo: git@github.com:egovernments/Di" and rows[1].indent == 10


def test_the_first_row_keeps_some_of_the_value_beside_its_key() -> None:
    """A value with no space to break at is cut mid-word, not moved whole below a bare ``key:``."""
    rows = wrap_line("egov-config.db-url: jdbc:postgresql://a-long-database-host.internal:5432/egov_db", 60)
    assert rows[0].plain == "egov-config.db-url: jdbc:postgresql://a-long-database-host.i"
    assert rows[1].plain == " " * 20 + VALUE_MARK + "nternal:5432/egov_db"


def test_a_value_too_far_right_goes_on_a_step_in_from_its_line() -> None:
    rows = wrap_line(VALUE, 40)         # under the value (column 26) would leave 12 of 40 columns
    assert rows[0].plain == VALUE[:40]
    assert all(r.indent == 2 and r.mark == VALUE_MARK for r in rows[1:])


@pytest.mark.parametrize("width", [MIN_WIDTH, 13, 20, 33, 40, 57, 75, 76, 120])
def test_no_row_is_wider_than_the_pane_and_nothing_is_lost(width: int) -> None:
    for line in SAMPLES:
        rows = wrap_line(line, width)
        assert all(cell_len(r.plain) <= width for r in rows), (line, rows)
        assert not rows[0].continued and all(r.continued for r in rows[1:])
        if line.lstrip().startswith("#"):
            # Its own indent while that leaves room (a pane of 20 columns and more), else at the left.
            indent = line[:len(line) - len(line.lstrip())] if width >= 20 else ""
            assert all(r.plain.lstrip(" ").startswith("#") for r in rows[1:]), (width, rows)
            assert all(r.plain.startswith(indent + "#") for r in rows[1:]), (width, rows)
        # The text itself (a continuation's mark is not its text), but for the spaces at the breaks.
        assert "".join(r.text for r in rows).replace(" ", "") == line.replace(" ", ""), (width, rows)


def test_below_the_minimum_width_lines_are_left_to_the_pane() -> None:
    assert wrap_line(COMMENT, MIN_WIDTH - 1) == [Row(COMMENT)]
    assert wrap_line(COMMENT, 0) == [Row(COMMENT)]


def test_wide_characters_count_as_two_cells() -> None:
    rows = wrap_line("name: " + "数据库" * 10, 20)
    assert all(cell_len(r.plain) <= 20 for r in rows) and "".join(r.text for r in rows) == "name: " + "数据库" * 10
    assert cell_len(rows[0].plain) >= 19        # filled, not cut at 20 characters
