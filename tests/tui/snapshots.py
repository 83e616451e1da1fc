"""Text snapshots of the TUI's screens: what the terminal shows, as plain lines, against a golden file.

``assert_snapshot`` waits until the screen satisfies the test's condition and has stopped changing,
checks that nothing on it is cut (as many lines as the terminal, none wider, the footer's every key),
masks what legitimately differs between runs (``MASKS``), and compares the lines with
``tests/tui/snapshots/<name>-<W>x<H>.txt``. A difference fails with a unified diff; a missing golden
fails too. Only ``--update-snapshots`` writes goldens (docs/testing.md says when to).

The masks are for values no test can hold still (the wall clock, this machine's ports and pids);
the state itself is made deterministic by the tests (journals and cluster objects written by hand,
frozen clocks, a state root of a fixed length). A mask takes the spaces beside its value with it
and aligns its placeholder in their width (``Mask``), so that what is aligned stays in place.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.cells import cell_len

GOLDEN_DIR = Path(__file__).resolve().parent / "snapshots"
UPDATE_COMMAND = ".venv/bin/python -m pytest tests/tui/test_snapshots.py --update-snapshots"
# The tests' private roots (tempfile.mkdtemp(prefix=ROOT_PREFIX, dir="/tmp"), not pytest's tmp_path,
# whose length changes with the run's number and the xdist worker): a fixed length, so a path wraps
# at the same column in every run, and one mask of the same length.
ROOT_PREFIX = "snap-"


@dataclass(frozen=True)
class Mask:
    """``pattern`` becomes ``replacement`` (its ``\\1``: the pattern's groups). A pattern that takes the
    spaces before its value (`` *`` first) has its replacement right-aligned in their width, one that
    takes the spaces after it (`` *`` last) left-aligned: a value of another length moves what is
    aligned beside it, and the replacement puts it back where it was."""

    why: str
    pattern: re.Pattern[str]
    replacement: str

    def apply(self, line: str) -> str:
        return self.pattern.sub(self._one, line)

    def _one(self, match: re.Match[str]) -> str:
        text, new = match.group(), match.expand(self.replacement)
        if text.startswith(" "):
            return f" {new}".rjust(len(text))
        if text.endswith(" "):
            return f"{new} ".ljust(len(text))
        return new


REPO = Path(__file__).resolve().parents[2]

MASKS: tuple[Mask, ...] = (
    Mask("the tests' private root (random letters)", re.compile(r"/tmp/snap-[A-Za-z0-9_]{8}"), "/tmp/snap-XXXXXXXX"),
    Mask("this checkout (the bundled sample's path)", re.compile(re.escape(str(REPO)) + r"(\S*) *"), r"<repo>\1"),
    Mask("a wall-clock time, or an elapsed hh:mm:ss", re.compile(r"\b\d{2}:\d{2}:\d{2}\b"), "hh:mm:ss"),
    Mask("a date", re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "yyyy-mm-dd"),
    Mask("an age against the wall clock (journals written just now)", re.compile(r" *\b\d+[smhd] ago\b"), "N ago"),
    Mask("a port on this machine (sandbox URLs, probes)", re.compile(r"\b127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
    Mask("a process id", re.compile(r"\bpid \d+\b"), "pid N"),
    Mask("a spinner's frame", re.compile(r"[\u2800-\u28ff]"), "⠿"),
)


def normalise(text: str) -> list[str]:
    """The screen's lines with ``MASKS`` applied and trailing spaces dropped."""
    out = []
    for line in text.splitlines():
        for mask in MASKS:
            line = mask.apply(line)
        out.append(line.rstrip())
    return out


def screen_lines(app: Any) -> list[str]:
    """What the terminal shows right now, a line per row (tests/tui/conftest.py screen_text)."""
    from tests.tui.conftest import screen_text

    return screen_text(app).split("\n")


def footer_keys(app: Any) -> list[list[str]]:
    """Per binding the screen's footer must show, its "key description" entries (a binding of several
    keys is shown with one of them); none without a footer."""
    from textual.widgets import Footer

    screen = app.screen
    if not screen.query(Footer):
        return []
    out: dict[tuple[str, str], list[str]] = {}
    for active in screen.active_bindings.values():
        b = active.binding
        if b.show and b.description:
            out.setdefault((b.action, b.description), []).append(f"{app.get_key_display(b)} {b.description}")
    return list(out.values())


def check_not_cut(app: Any, lines: list[str], size: tuple[int, int]) -> None:
    width, height = size
    shown = "\n".join(lines)
    assert len(lines) == height, f"{len(lines)} lines on a terminal of {height}:\n{shown}"
    wide = [line for line in lines if cell_len(line) > width]
    assert not wide, f"lines wider than {width} columns: {wide}"
    missing = [entries[0] for entries in footer_keys(app) if not any(e in lines[-1] for e in entries)]
    assert not missing, f"the footer does not show {missing}: {lines[-1]!r}"


async def settled(pilot: Any, ready: Callable[[str], bool], what: str, timeout: float = 20.0) -> list[str]:
    """The screen once ``ready`` holds and three reads in a row (0.1 s apart) are the same after masking."""
    deadline = time.monotonic() + timeout
    seen: list[list[str]] = []
    text = ""
    while time.monotonic() < deadline:
        await pilot.pause()
        lines = screen_lines(pilot.app)
        text = "\n".join(lines)
        if ready(text):
            seen.append(lines)
            if len(seen) >= 3 and normalise("\n".join(seen[-1])) == normalise("\n".join(seen[-2])) \
                    == normalise("\n".join(seen[-3])):
                return lines
        else:
            seen.clear()
        await pilot.pause(0.1)
    raise AssertionError(f"{what}: not ready and settled within {timeout} s; screen was:\n{text}")


def update_command() -> str:
    """How to write the goldens of the test running now (pytest names it in $PYTEST_CURRENT_TEST)."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    test_file = current.split("::", 1)[0]
    return f".venv/bin/python -m pytest {test_file} --update-snapshots" if test_file else UPDATE_COMMAND


def golden_path(name: str, size: tuple[int, int]) -> Path:
    return GOLDEN_DIR / f"{name}-{size[0]}x{size[1]}.txt"


def compare(name: str, size: tuple[int, int], lines: list[str], *, update: bool) -> None:
    """Compare the normalised ``lines`` with the golden of ``name`` at ``size`` (write it when ``update``)."""
    path = golden_path(name, size)
    got = normalise("\n".join(lines))
    wide = [line for line in got if cell_len(line) > size[0]]
    assert not wide, f"masked lines wider than {size[0]} columns (a mask too long): {wide}"
    if update:
        path.parent.mkdir(exist_ok=True)
        path.write_text("\n".join(got) + "\n", encoding="utf-8")
        return
    if not path.exists():
        raise AssertionError(f"no golden {path}; the screen is:\n"
                             + "\n".join(got) + f"\nlook at it, then write it with: {update_command()}")
    want = path.read_text(encoding="utf-8").splitlines()
    if got != want:
        diff = "\n".join(difflib.unified_diff(want, got, f"{path.name} (golden)", f"{path.name} (screen)",
                                              lineterm=""))
        raise AssertionError(f"the screen differs from its golden:\n{diff}\n"
                             f"if the change is wanted, look at the new screen and update the goldens: "
                             f"{update_command()}")


async def assert_snapshot(pilot: Any, name: str, size: tuple[int, int], ready: Callable[[str], bool], *,
                          update: bool, timeout: float = 20.0) -> list[str]:
    """Wait for the screen (``ready`` and settled), check that nothing is cut, compare with its golden."""
    lines = await settled(pilot, ready, f"{name} at {size[0]}x{size[1]}", timeout)
    check_not_cut(pilot.app, lines, size)
    compare(name, size, lines, update=update)
    return lines
