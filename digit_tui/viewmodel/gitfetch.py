"""Fetching a git DIGIT source from the guided flow: git's progress lines as a percentage, and
the fetch itself into the cache the install's render task reads.

The checkout goes where ``digit.source.git`` sends it at install time
(``<state_dir>/sources/<repo>-<hash>@<ref>``, digit/source.py ``fetch_git``): the render task
then finds it at the commit the ref names and does not fetch the tree a second time.
Run ``fetch`` off the event loop; it blocks until git is done, cancelled or past its deadline.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

FETCH_TIMEOUT = 300.0      # seconds for the whole fetch; a slow link gets the timeout's own message

# git's phases, in order, and the share of the whole each is given (receiving is most of a fetch).
PHASES: tuple[tuple[str, float, float], ...] = (
    ("Enumerating objects", 0.0, 0.05),
    ("Counting objects", 0.05, 0.15),
    ("Compressing objects", 0.15, 0.25),
    ("Receiving objects", 0.25, 0.9),
    ("Resolving deltas", 0.9, 1.0),
)
_LINE = re.compile(r"^(?:remote: )?(?P<phase>[A-Z][a-z]+ [a-z]+):\s+(?P<pct>\d{1,3})%(?: \((?P<n>\d+)/(?P<of>\d+)\))?")


@dataclass(frozen=True)
class FetchProgress:
    """One step of a fetch as the screen shows it."""

    text: str                    # git's line (scrubbed), or our own ("fetching URL@ref")
    phase: str | None = None     # "Receiving objects", when the line is one of git's counters
    percent: int | None = None   # of that phase
    overall: float | None = None  # 0..1 across the phases, for the bar

    @property
    def label(self) -> str:
        return f"{self.phase} {self.percent}%" if self.phase is not None else self.text


def parse_progress(line: str) -> FetchProgress:
    """A progress line of ``git fetch --progress`` (its own, or the server's with ``remote:``)."""
    match = _LINE.match(line.strip())
    if match is None:
        return FetchProgress(line.strip())
    phase, pct = match.group("phase"), min(int(match.group("pct")), 100)
    for name, start, end in PHASES:
        if name == phase:
            return FetchProgress(line.strip(), phase, pct, start + (end - start) * pct / 100)
    return FetchProgress(line.strip(), phase, pct)


@dataclass(frozen=True)
class Fetched:
    """A git source fetched for one environment: where it is and at which commit."""

    url: str
    ref: str
    environment: str
    checkout: Path
    commit: str


def fetch(url: str, ref: str, environment: str, state_dir: Path, report: Callable[[FetchProgress], None],
          cancel: threading.Event, *, timeout: float = FETCH_TIMEOUT) -> Fetched:
    """Fetch ``url``@``ref`` into ``state_dir``'s source cache (the typed Git* errors of gitcmd.py)."""
    from digit_tui.digit.gitcmd import RETRIED
    from digit_tui.digit.source import fetch_git
    from digit_tui.errors import TransientError

    try:
        checkout, commit = fetch_git(url, ref, state_dir / "sources", timeout=timeout, cancel=cancel,
                                     progress=lambda line: report(parse_progress(line)))
    except TransientError as exc:
        # The engine retries a transient failure; here nothing does until the operator asks.
        if exc.remedy:
            exc.remedy = exc.remedy.removesuffix(RETRIED) + "; then ctrl+g fetches again"
        raise
    return Fetched(url, ref, environment, checkout, commit)
