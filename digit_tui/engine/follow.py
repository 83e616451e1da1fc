"""Read-side helpers for clients: find the run, stream its events, summarise it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from digit_tui.engine.journal import FINISHED_RUN_STATES, Event, Journal, RunRow
from digit_tui.engine.lock import pid_alive
from digit_tui.engine.rundoc import RunOptions
from digit_tui.engine.netwatch import PROBE_INTERVAL, PROBE_TIMEOUT, REPEAT_EVERY, ApiWatcher
from digit_tui.engine.task import TaskState

GLANCE = 0.03     # seconds between two looks at whether the journal changed

END_STATES = (*FINISHED_RUN_STATES, "interrupted")


def format_line(when: float, who: str, message: str) -> str:
    return f"{time.strftime('%H:%M:%S', time.localtime(when))} {who:<24} {message}"


def format_event(ev: Event) -> str:
    return format_line(ev.time, ev.task or "engine", ev.message)


@dataclass
class Summary:
    run: RunRow
    counts: dict[str, int]
    total: int
    engine_alive: bool

    @property
    def state(self) -> str:
        # A run still marked running whose engine is gone was interrupted (killed, host rebooted).
        if self.run.state == "running" and not self.engine_alive:
            return "interrupted"
        return self.run.state


def summarise(journal: Journal, run: RunRow) -> Summary:
    alive = pid_alive(run.engine_pid)
    if not alive and run.state == "running":
        # Read again now that the engine is seen gone: an engine that wrote its final state and
        # exited after ``run`` was read would otherwise look killed mid-run. Another engine may have
        # taken the run over meanwhile (a resume): then its liveness is the one that counts.
        again = journal.run(run.id) or run
        if again.engine_pid != run.engine_pid:
            alive = pid_alive(again.engine_pid)
        run = again
    tasks = journal.tasks(run.id)
    counts: dict[str, int] = {s.value: 0 for s in TaskState}
    for t in tasks:
        counts[t.state.value] += 1
    return Summary(run=run, counts=counts, total=len(tasks), engine_alive=alive)


def status_json(state_dir: Path, *, events: int = 20) -> dict[str, Any]:
    journal = Journal.in_dir(state_dir, readonly=True)
    try:
        run = journal.latest_run()
        if run is None:
            return {"state_dir": str(state_dir), "run": None}
        s = summarise(journal, run)
        tasks = journal.tasks(run.id)
        evs = journal.last_events(run.id, events) if events else []
        return {
            "state_dir": str(state_dir),
            "run": {"id": run.id, "state": s.state, "environment": run.environment,
                    "created": run.created, "updated": run.updated, "engine_pid": run.engine_pid,
                    "engine_alive": s.engine_alive, "paused": run.paused},
            "counts": s.counts,
            "total": s.total,
            "complete": s.state == "done",
            "tasks": [t.to_json() for t in tasks],
            "events": [{"seq": e.seq, "time": e.time, "task": e.task, "level": e.level,
                        "message": e.message} for e in evs],
        }
    finally:
        journal.close()


def follow(state_dir: Path, run_id: str, out: TextIO, *, poll: float = 0.2,
           should_stop: Callable[[], bool] = lambda: False,
           net_interval: float | None = PROBE_INTERVAL, net_timeout: float = PROBE_TIMEOUT,
           net_repeat: float = REPEAT_EVERY) -> str:
    """Print one line per journal event until the run ends; returns its final state.

    Meanwhile the cluster API the run names is probed every ``net_interval`` seconds (None: not at
    all) and a ``network`` line says when it stops answering, every ``net_repeat`` seconds while it
    lasts, and when it answers again: without them a partition is a silent stretch of output."""
    journal = Journal.in_dir(state_dir, readonly=True)
    watcher: ApiWatcher | None = None
    last = 0

    def write_events() -> None:
        nonlocal last
        for ev in journal.events(run_id, after=last):
            out.write(format_event(ev) + "\n")
            last = ev.seq

    try:
        first = journal.run(run_id)
        # A run already over (a rerun the client checked itself) has no network to watch: a probe
        # started now would only hold up the exit (stop() gives one in flight half a second).
        over = first is not None and summarise(journal, first).state in END_STATES
        if net_interval is not None and first is not None and not over:
            watcher = ApiWatcher(RunOptions.of(first.settings).api_endpoints, interval=net_interval, timeout=net_timeout,
                                 repeat=net_repeat).start()
        seen, read_at = -1, 0.0
        while True:
            # The journal is read when the engine committed something, and every ``poll`` seconds
            # regardless (an engine that died commits nothing, but its run then reads as ended);
            # asking whether it changed is cheap, so the end of a run is seen within a glance.
            version = journal.data_version()
            if version != seen or time.monotonic() - read_at >= poll:
                seen, read_at = version, time.monotonic()
                write_events()
                run = journal.run(run_id)
                assert run is not None
                s = summarise(journal, run)
                if s.state in END_STATES:
                    write_events()  # the closing lines
                    out.flush()
                    return s.state
            if watcher is not None:
                for when, message in watcher.lines():
                    out.write(format_line(when, "network", message) + "\n")
            out.flush()
            if should_stop():
                return "detached"
            time.sleep(GLANCE)
    finally:
        if watcher is not None:
            watcher.stop()
        journal.close()
