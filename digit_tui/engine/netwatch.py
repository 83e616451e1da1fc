"""The headless follower's watch on the cluster API: probe it in the background, say when it stops
answering, every so often while it lasts, and when it answers again.

``ApiWaitReport`` is pure (probe results and a clock in, messages out); ``ApiWatcher`` runs the probe
on a thread of its own so a probe hanging up to its timeout never holds up the event lines.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from digit_tui.engine.netprobe import ProbeResult, probe_all
from digit_tui.engine.task import Endpoint

PROBE_INTERVAL = 5.0      # seconds between probe rounds
PROBE_TIMEOUT = 3.0       # per probe; a partitioned API is "down" after this long
REPEAT_EVERY = 30.0       # while it lasts, a reminder this often


@dataclass
class _Outage:
    since: float
    next_reminder: float


class ApiWaitReport:
    """Turns successive probe rounds into the lines an operator reads."""

    def __init__(self, repeat: float = REPEAT_EVERY) -> None:
        self.repeat = repeat
        self._down: dict[Endpoint, _Outage] = {}

    def observe(self, results: Sequence[ProbeResult], now: float) -> list[str]:
        lines: list[str] = []
        for r in results:
            name = r.endpoint.describe()
            outage = self._down.get(r.endpoint)
            if r.ok:
                if outage is not None:
                    del self._down[r.endpoint]
                    lines.append(f"{name} answering again after {now - outage.since:.0f}s")
            elif outage is None:
                self._down[r.endpoint] = _Outage(since=now, next_reminder=now + self.repeat)
                lines.append(f"{name} not answering: {r.detail}")
            elif now >= outage.next_reminder:
                while outage.next_reminder <= now:
                    outage.next_reminder += self.repeat
                lines.append(f"{name} still not answering after {now - outage.since:.0f}s")
        return lines


class ApiWatcher:
    """Probe ``endpoints`` every ``interval`` seconds on a daemon thread; ``lines()`` returns what to print."""

    def __init__(self, endpoints: Sequence[Endpoint], *, interval: float = PROBE_INTERVAL,
                 timeout: float = PROBE_TIMEOUT, repeat: float = REPEAT_EVERY) -> None:
        self.endpoints = list(dict.fromkeys(endpoints))
        self.interval = interval
        self.timeout = timeout   # rounds run one after the other: a slow one delays the next
        self._report = ApiWaitReport(repeat)
        self._out: queue.SimpleQueue[tuple[float, str]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="api-watch", daemon=True)

    def start(self) -> "ApiWatcher":
        if self.endpoints:
            self._thread.start()
        return self

    def stop(self) -> None:
        # Not waited for beyond a moment: a probe in flight during a partition would hold up the exit
        # for its whole timeout, and the daemon thread prints nothing itself.
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def lines(self) -> list[tuple[float, str]]:
        """(wall-clock time, message) of everything reported since the last call."""
        out: list[tuple[float, str]] = []
        while True:
            try:
                out.append(self._out.get_nowait())
            except queue.Empty:
                return out

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while not self._stop.is_set():
                started, wall = time.monotonic(), time.time()
                results = loop.run_until_complete(probe_all(self.endpoints, timeout=self.timeout))
                for message in self._report.observe(results, started):
                    self._out.put((wall, message))
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        finally:
            loop.close()
