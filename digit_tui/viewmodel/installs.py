"""The installs the welcome screen offers to resume: every state directory under the state root,
with its status read from its journal, read-only.

"Read-only" is strict: a journal no engine has open is read as an immutable snapshot (no -wal or
-shm file appears beside it), so listing installs never changes one.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from digit_tui.engine.journal import Journal, JournalError
from digit_tui.engine.task import TaskState
from digit_tui.errors import InputError


@dataclass(frozen=True)
class InstallStatus:
    state_dir: Path
    environment: str
    state: str                  # a SYMBOL key: done, running, waiting-for-network, paused, interrupted,
                                # failed, cancelled, pending (no run yet), blocked (journal unusable)
    text: str                   # "12/40 tasks done, waiting for network", "failed: egov-user", "done"
    done: int = 0
    total: int = 0
    updated: float | None = None
    engine_alive: bool = False
    answers_path: str | None = None
    graph: str | None = None

    @property
    def resumable(self) -> bool:
        """The engine is gone and the run did not finish: `install` (or the welcome screen) resumes it."""
        return not self.engine_alive and self.state in ("interrupted", "failed", "cancelled")

    @property
    def usable(self) -> bool:
        return self.state not in ("blocked", "pending")


def find_installs(root: Path) -> list[InstallStatus]:
    """Every directory of ``root`` holding a journal, most recently active first."""
    if not root.is_dir():
        return []
    found = [install_status(d) for d in sorted(root.iterdir()) if (d / Journal.FILENAME).is_file()]
    return sorted(found, key=lambda s: -(s.updated or 0.0))


def install_status(state_dir: Path) -> InstallStatus:
    from digit_tui.engine.follow import summarise

    name = state_dir.name
    try:
        journal = Journal.in_dir(state_dir, snapshot=True)
    except (JournalError, InputError, OSError, sqlite3.Error) as exc:
        return InstallStatus(state_dir, name, "blocked", f"journal unusable: {exc}")
    try:
        run = journal.latest_run()
        if run is None:
            return InstallStatus(state_dir, name, "pending", "no run yet")
        summary = summarise(journal, run)
        tasks = journal.tasks(run.id)
    except (JournalError, InputError, OSError, sqlite3.Error) as exc:
        return InstallStatus(state_dir, name, "blocked", f"journal unusable: {exc}")
    finally:
        journal.close()
    counts, total = summary.counts, summary.total
    done = counts[TaskState.DONE.value]
    failed = [t.id for t in tasks if t.state == TaskState.FAILED]
    waiting = counts[TaskState.WAITING_NETWORK.value]
    run_state = summary.state            # a run marked running whose engine is gone: interrupted
    progress = f"{done}/{total} tasks done"
    if run_state == "done":
        state, text = "done", "done"
    elif run_state == "failed" or (failed and not summary.engine_alive):
        state, text = "failed", "failed: " + _names(failed)
    elif run_state == "cancelled":
        state, text = "cancelled", f"cancelled at {progress}"
    elif run_state == "interrupted":
        state, text = "interrupted", f"stopped at {progress} (engine not running)"
    else:
        notes = []
        if waiting:
            notes.append("waiting for network")
        if run.paused:
            notes.append("paused")
        if failed:
            notes.append("failed: " + _names(failed))
        state = "waiting-for-network" if waiting else "paused" if run.paused else "failed" if failed else "running"
        text = ", ".join([progress, *notes])
    return InstallStatus(state_dir, run.environment or name, state, text, done=done, total=total,
                         updated=run.updated, engine_alive=summary.engine_alive, answers_path=run.answers_path,
                         graph=run.graph)


def _names(ids: list[str], most: int = 3) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def ago(when: float | None, now: float | None = None) -> str:
    """"3m ago", "2h ago"; "–" when unknown."""
    if when is None:
        return "–"
    s = max(0, int((now if now is not None else time.time()) - when))
    if s < 60:
        return f"{s}s ago"
    if s < 3600:
        return f"{s // 60}m ago"
    if s < 172800:
        return f"{s // 3600}h ago"
    return f"{s // 86400}d ago"
