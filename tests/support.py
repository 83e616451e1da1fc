"""Shared test helpers: waiting on conditions with a deadline, and an isolated
install (answers file, state dir, work dir) driving the real ``digit-tui``
command and the detached engine as subprocesses."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

MINIMAL_ANSWERS = """\
version: 1
environment: enginetest
target:
  provider: sandbox
digit:
  domain: egov.example.test
"""


def worker_index() -> int:
    """0 when the suite runs in one process, N for pytest-xdist's worker ``gwN``: what a fixture adds
    to a fixed resource it must name (a subnet, a port range) so that workers running side by side
    (``make test`` runs several) never pick the same one."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0


def wait_until(cond: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, what: str = "") -> Any:
    """Poll ``cond`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or cond} (last: {value!r})")
        time.sleep(interval)


async def wait_until_async(cond: Callable[[], Any], timeout: float = 30.0, interval: float = 0.02,
                           what: str = "") -> Any:
    """``wait_until`` for a coroutine test: polls without blocking the event loop the code under test
    shares with it."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or cond} (last: {value!r})")
        await asyncio.sleep(interval)


class EngineEnv:
    """One isolated install; synthetic graphs (``tests.engine.graphs``) work in ``work``."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.work = tmp / "work"
        self.work.mkdir()
        self.state = tmp / "state"          # created by the engine or the test, never here
        self.answers = tmp / "answers.yaml"
        self.answers.write_text(MINIMAL_ANSWERS)
        self.environ = dict(os.environ, DT_TEST_DIR=str(self.work), PYTHONPATH=str(REPO),
                            XDG_STATE_HOME=str(tmp / "xdg"))
        self.procs: list[subprocess.Popen[Any]] = []

    def cli(self, *args: str, timeout: float = 60, **kw: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "digit_tui.cli", *args], env=self.environ,
                              capture_output=True, text=True, timeout=timeout, cwd=REPO, **kw)

    def engine(self, graph: str, *, output: bool = True) -> subprocess.Popen[str]:
        """Start an engine process directly (as `install` does, minus the detaching)."""
        self.state.mkdir(exist_ok=True, mode=0o700)
        pipe = subprocess.PIPE if output else subprocess.DEVNULL
        proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "engine", "--state-dir", str(self.state),
                                 "--answers", str(self.answers), "--graph", graph],
                                env=self.environ, cwd=REPO, stdout=pipe, stderr=pipe, text=True,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def status(self, timeout: float = 30) -> dict[str, Any]:
        """`status --json`; while it says an engine is starting (it holds the lock and has recorded
        no run yet: a moment a loaded machine stretches past status's own wait), asked again until
        ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.cli("status", "--state-dir", str(self.state), "--json", "--events", "0")
            assert r.returncode == 0, r.stderr
            doc: dict[str, Any] = json.loads(r.stdout)
            if "engine_starting" not in doc or time.monotonic() > deadline:
                return doc

    def runs(self) -> list[str]:
        """The journal's run ids, oldest first (read-only)."""
        import sqlite3

        db = sqlite3.connect(f"file:{self.state / 'journal.db'}?mode=ro", uri=True)
        try:
            return [r[0] for r in db.execute("SELECT id FROM runs ORDER BY created, rowid")]
        finally:
            db.close()

    def engine_pid(self) -> int | None:
        try:
            text = (self.state / "engine.lock").read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def cleanup(self) -> None:
        """Never leave an engine behind."""
        pids = {p.pid for p in self.procs}
        pid = self.engine_pid()
        if pid:
            pids.add(pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def write_journal(state: Path, *, tasks: int = 1, events: int = 0, message_len: int = 200) -> Path:
    """A real journal in ``state``, written by the engine's own Journal class with ``tasks`` tasks
    and ``events`` events of one run, then closed (no -wal left); its path."""
    import sqlite3

    from digit_tui.engine.journal import Journal

    state.mkdir(mode=0o700, exist_ok=True)
    j = Journal.in_dir(state)
    run = j.create_run("enginetest", "g", {}, None)
    j.sync_tasks(run, [(f"t{i}", "T", "p", []) for i in range(tasks)])
    j.close()
    if events:  # one transaction: the engine's one-commit-per-event would take seconds
        db = sqlite3.connect(state / Journal.FILENAME)
        with db:
            db.executemany("INSERT INTO events (run_id, time, task, level, kind, message) VALUES (?,?,?,?,?,?)",
                           [(run, 0.0, "t0", "info", "log", "x" * message_len)] * events)
        db.close()
    return state / Journal.FILENAME
