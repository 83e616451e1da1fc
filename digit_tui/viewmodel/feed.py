"""Read the journal incrementally for a screen: the run, its tasks, and only new events.

Used from one worker thread (a sqlite connection must stay on its thread).
Each poll costs one small query per table; events are read by sequence
number, so a long history is read once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

from digit_tui.engine.journal import Event, Journal, JournalError, RunRow, TaskRow
from digit_tui.engine.lock import pid_alive
from digit_tui.engine.netprobe import probe_all
from digit_tui.engine.task import Endpoint


@dataclass
class FeedUpdate:
    run: RunRow | None
    tasks: list[TaskRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)   # new since the previous update
    engine_alive: bool = False
    reset: bool = False                                 # a new run started: forget old events


class JournalFeed:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self._journal: Journal | None = None
        self._run_id: str | None = None
        self._last_seq = 0

    def _open(self) -> Journal | None:
        if self._journal is None:
            try:
                self._journal = Journal.in_dir(self.state_dir, readonly=True)
            except (JournalError, Exception):
                return None  # not written yet (the engine is starting) or mid-creation
        return self._journal

    def poll(self, *, max_events: int = 2000) -> FeedUpdate | None:
        """None while there is no journal yet."""
        j = self._open()
        if j is None:
            return None
        run = j.latest_run()
        if run is None:
            return FeedUpdate(run=None)
        alive = pid_alive(run.engine_pid)
        if not alive and run.state == "running":
            # Read again now that the engine is seen gone: one that wrote its final state and
            # exited after the first read would otherwise show as killed mid-run.
            run = j.run(run.id) or run
        reset = run.id != self._run_id
        if reset:
            self._run_id, self._last_seq = run.id, 0
        events = j.events(run.id, after=self._last_seq, limit=max_events)
        if events:
            self._last_seq = events[-1].seq
        return FeedUpdate(run=run, tasks=j.tasks(run.id), events=events,
                          engine_alive=alive, reset=reset)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


@dataclass
class NetStatus:
    ok: bool | None          # None: nothing to probe
    millis: float | None
    failed: str | None       # label of the first endpoint that did not answer
    detail: str = ""         # why, as the probe says it ("connection refused", "connected but ...")
    silent: bool = False     # it accepted the connection but did not answer (a partition, a wedged API)


MAX_PROBED = 6


def probe_endpoints(endpoints: list[Endpoint], timeout: float = 1.5) -> NetStatus:
    """Probe each endpoint the install depends on (the cluster API with a request, the rest with a
    TCP connect), all at once; the slowest answer is the figure shown. Runs on a worker thread."""
    eps = endpoints[:MAX_PROBED]
    if not eps:
        return NetStatus(ok=None, millis=None, failed=None)
    results = asyncio.run(probe_all(eps, timeout=timeout))
    bad = next((r for r in results if not r.ok), None)
    if bad is not None:
        return NetStatus(ok=False, millis=None, failed=str(bad.endpoint), detail=bad.detail,
                         silent=bad.connected)
    return NetStatus(ok=True, millis=max(r.millis or 0.0 for r in results), failed=None)


def format_for(seconds: float) -> str:
    """A duration as the operator reads it: "42s", "2m 10s", "1h 03m"."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def down_banner(net: NetStatus, since: float, now: float, width: int) -> str:
    """The install view's one line while an endpoint does not answer: which, since when (the clock
    and how long), and that the tasks needing it wait rather than fail. The longest wording that
    fits ``width`` is used; the status line below says "not answering" or "unreachable" anyway."""
    name = net.failed or "an endpoint"
    how = "not answering" if net.silent else "unreachable"
    when = f"since {time.strftime('%H:%M:%S', time.localtime(since))} for {format_for(now - since)}"
    for line in (f"✗ {name} {how} {when} — tasks that need it wait and continue by themselves",
                 f"✗ {name} {how} {when} — its tasks wait and continue by themselves",
                 f"✗ {name} down {when} — tasks wait, resume by themselves",
                 f"✗ {name} down {when} — tasks wait"):
        if len(line) <= width:
            return line
    return line[: max(1, width - 1)] + "…"
