"""The engine process: holds the state lock, runs the graph, serves commands.

It is started detached (its own session, no terminal) by ``spawn`` so that a
dropped SSH session or a closed terminal does not stop the install; clients
attach by reading the journal and talk to it over the control socket.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Protocol

from digit_tui import exitcodes
from digit_tui.atomic import atomic_write
from digit_tui.engine import unchanged
from digit_tui.engine.control import ControlServer, Reply, Request
from digit_tui.engine.journal import FINISHED_RUN_STATES, Journal, RunState
from digit_tui.engine.lock import LockHeld, StateLock
from digit_tui.engine.redact import Redactor
from digit_tui.engine.scheduler import GraphError, Scheduler
from digit_tui.engine.rundoc import GraphInput, RunOptions
from digit_tui.engine.task import GraphFactory, Task, TaskState
from digit_tui.infra.reads import ReadLog, observing

LOG_NAME = "engine.log"
SPEC_NAME = "engine-spec.json"      # the client's validated spec, handed to the engine it starts
CONFIRM_TIMEOUT = 30.0              # seconds for the checks after an install (unchanged.CONFIRM_WAIT covers it)

log = logging.getLogger("digit_tui.engine")


@dataclass
class InstallSpec:
    """What one install is about: the run's configuration document (opaque to the engine but for
    the keys engine/rundoc.py reads), the answers file it came from and the graph factory."""

    environment: str
    settings: dict[str, Any]
    answers_path: str
    graph: str                  # "module:function" of the task graph; the CLI names it


def load_graph_factory(ref: str) -> GraphFactory:
    module_name, _, func = ref.partition(":")
    if not func:
        raise GraphError(f"graph factory {ref!r} must look like module:function")
    try:
        module = importlib.import_module(module_name)
        factory: GraphFactory = getattr(module, func)
        return factory
    except (ImportError, AttributeError) as exc:
        raise GraphError(f"cannot load graph factory {ref!r}: {exc}") from exc


class _RedactFilter(logging.Filter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = ()
        return True


def _private_file(path: Path) -> None:
    """Create ``path`` 0600 (or tighten it): the log names hosts, paths and errors of the install."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    os.chmod(path, 0o600)


def _setup_logging(state_dir: Path, redact: Redactor) -> None:
    logs = state_dir / "logs"
    logs.mkdir(exist_ok=True, mode=0o700)
    _private_file(logs / LOG_NAME)
    handler = logging.FileHandler(logs / LOG_NAME)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactFilter(redact))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


class Engine:
    """One engine lifetime over one state directory."""

    def __init__(self, state_dir: Path, spec: InstallSpec, *, tasks: Sequence[Task] | None = None,
                 check_only: bool = False) -> None:
        self.state_dir = Path(state_dir)
        # Only check (a client deciding a rerun): the first task with work to do ends the run,
        # interrupted, for the detached engine to resume.
        self.check_only = check_only
        self.spec = spec
        self.redact = Redactor()
        self._tasks = tasks
        self.scheduler: Scheduler | None = None
        self._confirming: Scheduler | None = None     # the checks after an install that applied
        self.run_id: str | None = None
        self._interrupted = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def work_found(self) -> str | None:
        """check_only: the task whose check found work (the run is left to an engine)."""
        sched = self.scheduler
        return sched.work_found if sched is not None and not self._interrupted else None

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def interrupt(self) -> None:
        """Stop the install because this process is stopping (SIGTERM, Ctrl-C): resumable, not cancelled.

        Safe to call from any thread."""
        self._interrupted = True
        sched = self._confirming or self.scheduler
        if self._loop is not None and sched is not None:
            try:
                self._loop.call_soon_threadsafe(sched.cancel)
            except RuntimeError:  # the loop has closed: the run is over, there is nothing to stop
                pass

    def _handle(self, req: Request) -> Reply:
        sched = self.scheduler
        cmd = req.cmd
        if cmd == "ping":
            return Reply(True, pid=os.getpid(), run=self.run_id)
        if sched is None:
            return Reply(False, "engine is starting")
        if cmd == "pause":
            sched.pause()
        elif cmd == "resume":
            sched.resume()
        elif cmd == "cancel":
            sched.cancel()
        elif cmd in ("retry", "skip"):
            result = (sched.retry if cmd == "retry" else sched.skip)(req.task or "")
            if result != "ok":
                return Reply(False, result)
        else:
            return Reply(False, f"unknown command {cmd!r}")
        return Reply(True)

    async def run(self) -> int:
        lock = StateLock(self.state_dir)
        lock.acquire()  # LockHeld propagates: the caller reports the holder
        # Whatever this run does, the record of the last converged one no longer describes the cluster.
        unchanged.forget(self.state_dir)
        journal = Journal.in_dir(self.state_dir, redactor=self.redact)
        control = ControlServer(self.state_dir, self._handle)
        confirm = False
        try:
            if lock.took_over_from:
                log.info("took over the stale lock of engine pid %s", lock.took_over_from)
            graph_input = GraphInput(self.spec.settings, self.state_dir)
            factory = load_graph_factory(self.spec.graph) if self._tasks is None else None
            tasks = self._graph(factory, graph_input)
            run = journal.latest_run()
            recorded: dict[str, Any] = {}
            if run is None or run.state in FINISHED_RUN_STATES:
                if run is not None:  # what the last run finished is checked in one pass, not in order
                    recorded = {t.id: t.outputs for t in journal.tasks(run.id) if t.state == TaskState.DONE}
                self.run_id = journal.create_run(self.spec.environment, self.spec.graph, self.spec.settings,
                                                 self.spec.answers_path)
                journal.set_run_state(self.run_id, RunState.RUNNING, engine_pid=os.getpid(),
                                      message=f"install started (engine pid {os.getpid()})")
            else:
                self.run_id = run.id
                note = f"resuming run {run.id} (engine pid {os.getpid()})"
                if lock.took_over_from:
                    note += f"; previous engine pid {lock.took_over_from} is gone"
                journal.set_run_state(self.run_id, RunState.RUNNING, engine_pid=os.getpid(), message=note)
            options = RunOptions.of(self.spec.settings)
            self.scheduler = self._scheduler(tasks, journal, self.run_id, options, factory, graph_input,
                                             recorded=recorded, check_only=self.check_only)
            log.info("run %s: up to %s", self.run_id, self.scheduler.limits)
            await control.start()
            self._loop = asyncio.get_running_loop()
            if self._interrupted:  # interrupt() came before there was a loop to hand the cancel to
                self.scheduler.cancel()
            if threading.current_thread() is threading.main_thread():  # not when run inside a client
                self._loop.add_signal_handler(signal.SIGTERM, self.interrupt)
                self._loop.add_signal_handler(signal.SIGINT, self.interrupt)
            reads, began = ReadLog(), time.time()
            with observing(reads):      # what the checks read, for the next run (engine/unchanged.py)
                final = await self.scheduler.run()
            if final == RunState.DONE and self.work_found is None:
                confirm = self._confirmable(self.scheduler)
                if not confirm:
                    self._record_converged(self.scheduler, reads, began, options)
            if confirm:     # said before the run is done, so that a rerun started at once waits for it
                atomic_write(self.state_dir / unchanged.CONFIRMING, f"{os.getpid()}\n", 0o600)
            if self._interrupted and final == RunState.CANCELLED:
                final = RunState.INTERRUPTED
            message = f"install {final}"
            if self.scheduler.skipped:
                message += f" ({len(self.scheduler.skipped)} task(s) skipped by the operator, not checked)"
            if self.work_found is not None:
                message = f"checked: {self.work_found} has work to do; the engine takes over"
            journal.set_run_state(self.run_id, final, message=message)
            log.info("run %s finished: %s", self.run_id, final)
            if confirm:
                await control.stop()    # the run is over: a client starting now does not attach to it
                await self._confirm(graph_input, factory, options)
            return {RunState.DONE: exitcodes.OK, RunState.FAILED: exitcodes.FAILED}.get(final, exitcodes.INTERRUPTED)
        finally:
            await control.stop()
            journal.close()
            lock.release()
            if confirm:
                (self.state_dir / unchanged.CONFIRMING).unlink(missing_ok=True)

    def _graph(self, factory: GraphFactory | None, graph_input: GraphInput) -> list[Task]:
        return factory(graph_input) if factory is not None else list(self._tasks or ())

    def _scheduler(self, tasks: list[Task], journal: Journal, run_id: str, options: RunOptions,
                   factory: GraphFactory | None, graph_input: GraphInput, *, recorded: dict[str, Any],
                   check_only: bool) -> Scheduler:
        return Scheduler(tasks, journal, run_id, limits=options.limits, redactor=self.redact,
                         network_wait=options.network_wait,
                         rebuild=(lambda: factory(graph_input)) if factory is not None else None,
                         recorded=recorded, check_only=check_only)

    def _confirmable(self, sched: Scheduler) -> bool:
        """An install that applied something and could otherwise be recorded: worth its checks again."""
        return (bool(sched.applied) and not self.check_only and not self._interrupted
                and self._unrecordable(sched) is None)

    @staticmethod
    def _unrecordable(sched: Scheduler) -> str | None:
        """Why no run of this graph can be recorded as converged, whatever its checks read (None: it can)."""
        blind = [t.id for t in sched.tasks.values() if not t.witnessed]
        return ("tasks were skipped" if sched.skipped else
                f"{len(blind)} task(s) read what cannot be compared later ({', '.join(blind[:3])})" if blind else None)

    async def _confirm(self, graph_input: GraphInput, factory: GraphFactory | None, options: RunOptions) -> None:
        """After an install that applied: every task's check once more, so that the next rerun can
        decide in one pass (engine/unchanged.py) instead of checking every task itself. What the
        install's own checks read describes the cluster before it applied, so it cannot serve.

        The run is journaled done before this starts (the client following it has exited); these
        checks go to a scratch journal, with the graph built anew, so that every client a task
        makes records into this pass's log. A check that finds work, fails or takes longer than
        ``CONFIRM_TIMEOUT`` leaves no record: the next rerun checks in full, as before."""
        for left in self.state_dir.glob(".confirm-*"):     # a killed engine's (the lock is ours: none runs)
            shutil.rmtree(left, ignore_errors=True)
        scratch = Path(tempfile.mkdtemp(prefix=".confirm-", dir=self.state_dir))
        journal: Journal | None = None
        try:
            journal = Journal(scratch / "journal.db", redactor=self.redact)
            install = self.scheduler
            assert install is not None
            run_id = journal.create_run(self.spec.environment, self.spec.graph, self.spec.settings,
                                        self.spec.answers_path)
            sched = self._scheduler(self._graph(factory, graph_input), journal, run_id, options, factory, graph_input,
                                    recorded={tid: dict(out) for tid, out in install.outputs.items()},
                                    check_only=True)
            self._confirming = sched
            if self._interrupted:
                return
            reads, began = ReadLog(), time.time()
            with observing(reads):
                final = await asyncio.wait_for(sched.run(), CONFIRM_TIMEOUT)
            if final == RunState.DONE and sched.work_found is None and not self._interrupted:
                self._record_converged(sched, reads, began, options)
            else:
                log.info("run %s: the checks after the install found %s; no converged record, the next run "
                         "checks every task", self.run_id, sched.work_found or f"the run {final}")
        except Exception as exc:    # the install is done whatever this finds: only the record is lost
            log.warning("run %s: the checks after the install did not finish (%s: %s); no converged record",
                        self.run_id, type(exc).__name__, exc)
        finally:
            self._confirming = None
            if journal is not None:
                journal.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def _record_converged(self, sched: Scheduler, reads: ReadLog, began: float, options: RunOptions) -> None:
        """When every task converged by its check and every check is witnessed, record what they read."""
        assert self.run_id is not None
        why = ("tasks were applied" if sched.applied else
               self._unrecordable(sched) or unchanged.why_not_recordable(reads))
        if why is not None:
            log.info("run %s: no converged record (%s); the next run checks every task", self.run_id, why)
            return
        unchanged.write(self.state_dir, run_id=self.run_id, graph=self.spec.graph, answers_path=self.spec.answers_path,
                        options={"skip_checks": options.skip_checks}, log=reads, checked=began)
        log.info("run %s: every task converged by its check; recorded what the checks read (%s)", self.run_id,
                 unchanged.RECORD)


def engine_main(state_dir: Path, spec: InstallSpec) -> int:
    """Entry of the detached engine process (``digit-tui engine``)."""
    state_dir = Path(state_dir)
    engine = Engine(state_dir, spec)
    _setup_logging(state_dir, engine.redact)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # belt and braces: we have no terminal anyway
    try:
        return asyncio.run(engine.run())
    except LockHeld as exc:
        print(f"digit-tui engine: {exc}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    except GraphError as exc:
        print(f"digit-tui engine: {exc}", file=sys.stderr)
        log.error("%s", exc)
        return exitcodes.BAD_INPUT


def write_spec(state_dir: Path, spec: InstallSpec) -> Path:
    """The spec a client validated, for the engine it starts (0600, like the journal that records the
    same document): the engine then does not read and validate the answers a second time."""
    path = Path(state_dir) / SPEC_NAME
    atomic_write(path, json.dumps({"environment": spec.environment, "settings": spec.settings,
                                   "answers_path": spec.answers_path, "graph": spec.graph}), mode=0o600)
    return path


def read_spec(path: Path) -> InstallSpec:
    """The spec ``write_spec`` left, taken (the file is removed: it is one engine's start);
    ValueError or OSError when it is not one."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    path.unlink(missing_ok=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("settings"), dict):
        raise ValueError(f"{path} is not an engine spec")
    return InstallSpec(environment=str(doc["environment"]), settings=doc["settings"],
                       answers_path=str(doc["answers_path"]), graph=str(doc["graph"]))


class EngineProcess(Protocol):
    """The engine a client started, as launch and the TUI's reaper use it: subprocess.Popen, or
    ForkedEngine."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


class ForkedEngine:
    """An engine forked from this client (``spawn``): Popen's pid, poll and wait over os.waitpid."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def _reap(self, flags: int) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, flags)
            except ChildProcessError:   # reaped elsewhere: its code is unknown, it is over
                self.returncode = exitcodes.FAILED
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def poll(self) -> int | None:
        return self._reap(os.WNOHANG)

    def wait(self, timeout: float | None = None) -> int:
        if timeout is None:
            code = self._reap(0)
            assert code is not None
            return code
        deadline = time.monotonic() + timeout
        while (code := self.poll()) is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["digit-tui", "engine"], timeout)
            time.sleep(0.05)
        return code


def _can_fork() -> bool:
    """Forking is only safe from a single-threaded client: a lock another thread holds at the fork
    stays held for ever in the child. The TUI starts engines from worker threads and so execs one."""
    return hasattr(os, "fork") and threading.active_count() == 1


def _forked_engine_main(state_dir: Path, spec: InstallSpec, log_path: Path) -> NoReturn:
    """The child of ``spawn``'s fork: detach as ``start_new_session``/``close_fds`` would, then run
    the engine on the spec and exit without returning into the client's code."""
    code = exitcodes.FAILED
    try:
        os.setsid()
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        # What the client left unreferenced is finalised first (closing its own descriptors); every
        # descriptor left is then closed, the spawn turn's flock among them, so the engine holds
        # only what it opens itself. What stays referenced lives as long as this process.
        gc.collect()
        os.closerange(3, os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 65536)
        try:
            Path("/proc/self/comm").write_text("digit-tui-eng")   # ps -o comm: what this process is
        except OSError:
            pass
        code = engine_main(state_dir, spec)
    except BaseException:   # noqa: B036 — whatever happens, this process must not return into the client
        traceback.print_exc()
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def spawn(state_dir: Path, answers_path: str, graph: str, spec: InstallSpec | None = None) -> EngineProcess:
    """Start the engine detached from this terminal; it outlives the caller. With ``spec`` (what the
    caller validated from ``answers_path``) the engine takes it instead of reading the answers.

    A single-threaded client with a spec forks the engine: the child already holds the validated
    answers and the modules they needed, where a fresh interpreter would start, import and
    validate again (about half a second of a first install). Otherwise a new interpreter runs
    ``digit-tui engine``."""
    logs = Path(state_dir).resolve() / "logs"
    logs.mkdir(parents=True, exist_ok=True, mode=0o700)
    _private_file(logs / LOG_NAME)
    if spec is not None and _can_fork():
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _forked_engine_main(logs.parent, spec, logs / LOG_NAME)
        return ForkedEngine(pid)
    handed = ["--spec", str(write_spec(state_dir, spec))] if spec is not None else []
    out = open(logs / LOG_NAME, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "digit_tui.cli", "engine", "--state-dir", str(state_dir),
             "--answers", answers_path, "--graph", graph, *handed],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True,
            cwd="/",
        )
    finally:
        out.close()
