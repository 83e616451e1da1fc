"""Start the engine of a state directory, or attach to the one that runs there.

Shared by `digit-tui install` (cli/install.py) and the TUI's guided flow, which starts an install
exactly as `install` does. Moved here from cli/install.py so that screens can call it; the CLI
turns ``EngineDidNotStart`` into its one-line message and exit code.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_tui import exitcodes

if TYPE_CHECKING:
    from digit_tui.engine.daemon import EngineProcess

SPAWN_LOCK = "install.lock"

# What the client was asked for beyond the answers (`install --skip-checks`, the warnings the TUI's
# prerequisites screen acknowledged), for the engine it starts: the detached engine reads the
# answers again, and inherits this variable from the client that spawns it.
ENGINE_OPTIONS_ENV = "DIGIT_TUI_ENGINE_OPTIONS"
_OPTIONS_LOCK = threading.Lock()    # the TUI starts engines from worker threads


@contextmanager
def engine_options(*, skip_checks: bool) -> Iterator[None]:
    """The options an engine started meanwhile receives; one starter at a time, the environment
    restored after."""
    with _OPTIONS_LOCK:
        before = os.environ.get(ENGINE_OPTIONS_ENV)
        os.environ[ENGINE_OPTIONS_ENV] = json.dumps({"skip_checks": skip_checks})
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(ENGINE_OPTIONS_ENV, None)
            else:
                os.environ[ENGINE_OPTIONS_ENV] = before


def take_engine_options() -> dict[str, Any]:
    """In the engine: the options of the client that started it (none when nothing was asked)."""
    try:
        options = json.loads(os.environ.pop(ENGINE_OPTIONS_ENV, "") or "{}")
    except ValueError:
        return {}
    return {"skip_checks": bool(options.get("skip_checks"))} if isinstance(options, dict) else {}


@dataclass
class Started:
    run_id: str
    pid: int
    attached: bool
    # The engine this client spawned (None when it attached): a long-lived client (the TUI) reaps
    # it, or a finished engine stays a zombie that looks alive to the install view.
    process: "EngineProcess | None" = None
    # The client found every task converged itself (``spec`` given): no engine was started.
    checked_here: bool = False


class EngineDidNotStart(RuntimeError):
    """The engine exited before opening its run, or did not start in time; ``code``: the exit code."""

    def __init__(self, message: str, code: int = exitcodes.FAILED) -> None:
        super().__init__(message)
        self.code = code


@contextmanager
def spawn_turn(state_dir: Path, timeout: float) -> Iterator[None]:
    """One client at a time looks for the engine and starts it: a second `install` started at the
    same instant waits here, then finds the first one's engine and attaches. Held for seconds at
    most; a client that is killed releases it with its process. Past ``timeout`` we go on
    regardless: the engine lock still keeps a second engine out."""
    fd = os.open(state_dir / SPAWN_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock


def start_or_attach(state_dir: Path, answers_path: str, graph: str, timeout: float = 30.0, *,
                    spec: Any = None) -> Started:
    """Attach to the engine of this state directory, or start one and wait until it has opened its run.

    ``spec`` (the InstallSpec the client validated from ``answers_path``): when no engine runs and
    the last run finished done, the client checks every task itself first (``converged_here``);
    only when one has work to do is the engine started, and it resumes that run. A converged rerun
    so costs one process start, not two. The engine started is handed the spec rather than
    reading and validating the answers again.

    Clients take turns (``spawn_turn``). Should two engines start anyway (the TUI
    starts one too), the one that loses the lock exits and this client attaches to
    the winner, as if it had come a moment later. A short install may already be
    over (even failed) by the time we look: what counts is a run owned by the
    engine we follow."""
    with spawn_turn(state_dir, timeout):
        return _find_or_spawn(state_dir, answers_path, graph, timeout, spec)


def converged_here(state_dir: Path, spec: Any) -> Started | None:
    """Check a finished install in this process; Started (with ``checked_here``) when every task
    is converged, None when there is work (the run is left interrupted, for the engine) or when
    this process cannot check (another engine holds the lock, the graph cannot be built: the
    engine reports that as usual). Ctrl-C meanwhile: KeyboardInterrupt, the run resumable."""
    import asyncio

    from digit_tui.engine.daemon import Engine
    from digit_tui.engine.journal import RunState
    from digit_tui.engine.lock import LockHeld
    from digit_tui.engine.scheduler import GraphError

    run = latest_run(state_dir)
    if run is None or run.state != RunState.DONE:
        return None  # a first install, or one to resume: the engine's work from the start
    engine = Engine(state_dir, spec, check_only=True)
    try:
        code = asyncio.run(engine.run())
    except (LockHeld, GraphError):
        return None
    if engine.interrupted:
        raise KeyboardInterrupt
    if code != exitcodes.OK or engine.run_id is None:
        return None
    return Started(engine.run_id, os.getpid(), attached=False, checked_here=True)


def _find_or_spawn(state_dir: Path, answers_path: str, graph: str, timeout: float,
                   spec: Any = None) -> Started:
    from digit_tui.engine import control, daemon
    from digit_tui.engine.lock import StateLock

    lock = StateLock(state_dir)
    proc: Any = None
    checked = False
    spawned_at = 0.0
    deadline = time.monotonic() + timeout
    patience = time.monotonic() + min(10.0, timeout / 3)
    while time.monotonic() < deadline:
        code = proc.poll() if proc is not None else None
        try:
            reply = control.send(state_dir, control.Request("ping"))
            pid = reply.pid or 0
            # Another engine answering while ours still starts: wait until ours has lost (exited) or
            # won, or ours would run a second install behind the client's back once the first ends.
            if reply.run and (proc is None or pid == proc.pid or code is not None):
                ours = proc is not None and pid == proc.pid
                return Started(reply.run, pid, attached=not ours, process=proc if ours else None)
        except ConnectionError:
            pass
        holder = lock.holder()
        if proc is None:
            # A live holder is an engine starting (lock taken, socket not up yet): give it a moment.
            # After that the pid may be a stranger's (reused after a kill): ours takes the lock over.
            if holder is None or time.monotonic() > patience:
                if spec is not None and holder is None and not checked:
                    checked = True  # once: after it, the engine resumes what it left
                    here = converged_here(state_dir, spec)
                    if here is not None:
                        return here
                proc = daemon.spawn(state_dir, answers_path, graph, spec)
                spawned_at = time.time()
        else:
            run = latest_run(state_dir)
            if run is not None and run.engine_pid == proc.pid:
                return Started(run.id, proc.pid, attached=False, process=proc)
            if code is not None and holder is None:
                if run is not None and run.engine_pid != proc.pid and run.updated >= spawned_at - 1:
                    # The winner of a simultaneous start ran its whole (short) install meanwhile.
                    return Started(run.id, run.engine_pid or 0, attached=True)
                log = state_dir / "logs" / "engine.log"
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
                raise EngineDidNotStart(f"engine exited with code {code} before starting: {' '.join(tail)} "
                                        f"(log: {log})", code or exitcodes.FAILED)
            # exited with a live holder: ours lost the lock; the winner answers a ping soon
        time.sleep(0.05)
    raise EngineDidNotStart(f"engine did not start within {timeout:g}s; see {state_dir}/logs/engine.log")


def latest_run(state_dir: Path, *, snapshot: bool = False) -> Any:
    """The journal's latest run (RunRow), or None when there is no journal or it is being created."""
    from digit_tui.engine.journal import Journal, JournalError

    if not (state_dir / Journal.FILENAME).exists():
        return None
    try:
        j = Journal.in_dir(state_dir, readonly=True, snapshot=snapshot)
    except (JournalError, sqlite3.Error):
        return None  # being created by the engine right now
    try:
        return j.latest_run()
    finally:
        j.close()
