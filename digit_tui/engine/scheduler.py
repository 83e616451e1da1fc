"""Runs a task graph: asyncio over graphlib, bounded concurrency, retries,
network waits, pause / resume / retry / cancel.

A failure stops only the tasks that depend on it; independent branches run
to the end. Every state change is committed to the journal before the task
moves on, so a killed engine resumes from exactly what the journal says.

How many tasks run at once depends on what they spend their time on (``Task.load``,
engine/limits.py): computing tasks are held to the cores, waiting ones are not. A task starts
the moment its last dependency is done; when more are ready than may start, the one heading
the longest chain of tasks still to come goes first, so the critical path is never queued
behind work that has time to spare.

Work a previous run finished (``recorded``: its tasks' outputs) is checked in one pass, all at
once, each check given the outputs its dependencies recorded last time; a task is taken as done
when it converged and every output it read is what the task that publishes it publishes now.
The others are checked again in order, once what they depend on is done. A rerun of a finished
install then costs its slowest check, not the sum of the checks along its longest chain.

``check_only``: the run only checks; the first task that is not converged (or whose check fails)
ends it as interrupted, with every unfinished task pending, for an engine to resume. A client
decides a converged rerun so without starting the engine (engine/launch.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import graphlib
import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, ParamSpec, TypeVar

from digit_tui.engine.control import SKIPPED
from digit_tui.engine.errors import ErrorKind, classify, remedy_for
from digit_tui.engine.journal import Journal, RunState
from digit_tui.engine.limits import Limits
from digit_tui.engine.netprobe import probe_all
from digit_tui.engine.redact import Redactor
from digit_tui.engine.task import Load, Task, TaskState
from digit_tui.infra import reads


OPERATOR_RETRY = "retrying now, as the operator asked"


class GraphError(ValueError):
    pass


def validate_graph(tasks: Sequence[Task]) -> list[str]:
    """Topological order of task ids; GraphError on duplicates, unknown deps or cycles."""
    ids: dict[str, Task] = {}
    for t in tasks:
        if t.id in ids:
            raise GraphError(f"duplicate task id {t.id!r}")
        ids[t.id] = t
    for t in tasks:
        for d in t.deps:
            if d not in ids:
                raise GraphError(f"task {t.id!r} depends on unknown task {d!r}")
    sorter = graphlib.TopologicalSorter({t.id: t.deps for t in tasks})
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        raise GraphError("task dependency cycle: " + " -> ".join(cycle)) from None


def chain_lengths(tasks: Mapping[str, Task], order: Sequence[str]) -> dict[str, int]:
    """Task id -> how many tasks the longest chain starting at it holds (itself and its dependants',
    transitively): the work that cannot begin before it has finished."""
    below: dict[str, list[str]] = {tid: [] for tid in order}
    for tid in order:
        for d in tasks[tid].deps:
            below.setdefault(d, []).append(tid)
    length: dict[str, int] = {}
    for tid in reversed(order):  # dependants come later in a topological order: theirs are known
        length[tid] = 1 + max((length.get(c, 0) for c in below[tid]), default=0)
    return length


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _as_json(value: Any) -> Any:
    """``value`` as the journal gives it back (tuples become lists), for comparing outputs."""
    return json.loads(json.dumps(value, sort_keys=True))


class RunContext:
    """The ``TaskContext`` the engine hands to one task.

    With ``assumed`` (a check ahead of its dependencies), the outputs of a task not done in this
    run are the ones it recorded before; what was read is kept in ``seen``, to be compared with
    what those tasks publish now."""

    def __init__(self, sched: "Scheduler", task: Task,
                 assumed: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._sched = sched
        self.task_id = task.id
        self.run_id = sched.run_id
        self.outputs: dict[str, Any] = {}
        self._assumed = assumed
        self.seen: dict[str, Any] = {}

    def output(self, task_id: str) -> Mapping[str, Any]:
        if self._assumed is None:
            return self._sched.outputs.get(task_id, {})
        value: Mapping[str, Any]
        if self._sched.state.get(task_id) == TaskState.DONE:
            value = self._sched.outputs.get(task_id, {})
        else:
            value = self._assumed.get(task_id, {})
        self.seen[task_id] = value
        return value

    def publish(self, key: str, value: Any) -> None:
        json.dumps(value)  # fail now, in the task, not at commit time
        self.outputs[key] = value

    def log(self, message: str, level: str = "info") -> None:
        self._sched.call_in_loop(self._sched.journal.log, self.run_id, self.task_id, message, level=level)

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._sched.call_in_loop(self._sched.journal.progress, self.run_id, self.task_id, done, total, message)

    def secret(self, value: str) -> str:
        self._sched.redactor.add(value)
        return value

    async def run_sync(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return await self._sched.in_thread(fn, *args, **kwargs)


class Scheduler:
    def __init__(self, tasks: Sequence[Task], journal: Journal, run_id: str, *,
                 concurrency: int | None = None, limits: Limits | None = None,
                 redactor: Redactor | None = None, probe_interval: float = 1.0,
                 rng: random.Random | None = None,
                 network_wait: float | None | Literal["task"] = "task",
                 rebuild: Callable[[], Sequence[Task]] | None = None,
                 wait_report_interval: float = 30.0,
                 recorded: Mapping[str, Mapping[str, Any]] | None = None,
                 check_only: bool = False) -> None:
        self.order = validate_graph(tasks)
        self.tasks = {t.id: t for t in tasks}
        self.chains = chain_lengths(self.tasks, self.order)
        self.journal = journal
        self.run_id = run_id
        # ``concurrency``: a cap on tasks at once (1: one after another); neither: automatic limits.
        self.limits = limits or Limits.of(concurrency)
        self.redactor = redactor or journal.redact
        self.probe_interval = probe_interval
        # The operator's answers (engine.network_wait) override each task's own limit; None waits forever.
        self.network_wait = network_wait
        # Called (in a thread) after a task with ``reshapes_graph`` converges: the graph it returns
        # replaces the current one, keeping the state of every task it still holds.
        self.rebuild = rebuild
        self.wait_report_interval = wait_report_interval
        self.rng = rng or random.Random()
        self.state: dict[str, TaskState] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        # Outputs of tasks a previous run (or this one, before a restart) finished: checked ahead.
        self.recorded: dict[str, Mapping[str, Any]] = dict(recorded or {})
        # Checks started ahead of their turn, with the context each reads its dependencies' outputs through.
        self._ahead: dict[str, tuple[asyncio.Task[RunContext | None], RunContext]] = {}
        self.check_only = check_only
        self.work_found: str | None = None    # check_only: the first task that is not converged
        self.paused = False
        self.applied: set[str] = set()        # tasks whose ensure ran in this engine's lifetime
        self.skipped: set[str] = set()        # done because the operator said so, in this engine's lifetime
        self._cancelled = False
        self._interrupted_by_operator = False
        self._running: dict[str, asyncio.Task[None]] = {}
        self._retry_now: dict[str, asyncio.Event] = {}   # set by `retry` to cut a backoff or network wait short
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- plumbing ---------------------------------------------------------
    def call_in_loop(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Journal writes happen on the loop thread only (one sqlite connection)."""
        if self._loop is None or threading.get_ident() == self._loop_thread:
            fn(*args, **kw)
        else:
            self._loop.call_soon_threadsafe(lambda: fn(*args, **kw))

    async def in_thread(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run blocking task code on the engine's own threads, as many as tasks may run at once."""
        if self._executor is None:  # not inside run()
            return await asyncio.to_thread(fn, *args, **kwargs)
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _set(self, tid: str, state: TaskState, message: str, **kw: Any) -> None:
        self.journal.transition(self.run_id, tid, state, message, **kw)
        self.state[tid] = state

    # -- commands (called on the loop thread, e.g. from the control socket) -
    def pause(self) -> None:
        if not self.paused:
            self.paused = True
            self.journal.set_paused(self.run_id, True)

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.journal.set_paused(self.run_id, False)
            self._poke()

    def retry(self, task_id: str) -> str:
        if task_id not in self.tasks:
            return f"unknown task {task_id!r}"
        st = self.state.get(task_id)
        if st in (TaskState.WAITING_NETWORK, TaskState.RETRYING):
            # The task is alive and between attempts: try again now instead of at the next probe.
            self.journal.log(self.run_id, task_id, "retry requested by operator: trying again now")
            self._retry_now.setdefault(task_id, asyncio.Event()).set()
            return "ok"
        if st not in (TaskState.FAILED, TaskState.BLOCKED, TaskState.CANCELLED):
            return (f"task {task_id} is {st.value if st else 'unknown'}; only failed, blocked, cancelled, retrying "
                    "or waiting tasks can be retried")
        self._set(task_id, TaskState.PENDING, "retry requested by operator")
        downstream = {task_id}
        for tid in self.order:  # topological: a dependant comes after what it depends on
            if downstream.intersection(self.tasks[tid].deps):
                downstream.add(tid)
                if self.state[tid] == TaskState.BLOCKED:  # blocked by it: another chance too
                    self._set(tid, TaskState.PENDING, f"retry of {task_id} requested")
        self._poke()
        return "ok"

    def skip(self, task_id: str) -> str:
        """Take a failed, blocked, cancelled or pending task as done without running it: its dependants
        start as if it had converged (reading no outputs of it but what it published before). The
        journal says "done: skipped by operator"; nothing trusts it later: a resume or a rerun checks
        it like any other task."""
        if task_id not in self.tasks:
            return f"unknown task {task_id!r}"
        st = self.state.get(task_id)
        if st not in (TaskState.FAILED, TaskState.BLOCKED, TaskState.CANCELLED, TaskState.PENDING):
            return (f"task {task_id} is {st.value if st else 'unknown'}; only failed, blocked, cancelled or "
                    "pending tasks can be skipped")
        ahead = self._ahead.pop(task_id, None)
        if ahead is not None:  # its turn will not come: what its check finds does not matter
            ahead[0].cancel()
        self.skipped.add(task_id)
        self._set(task_id, TaskState.DONE, SKIPPED, level="warning", outputs=self.outputs.get(task_id, {}))
        for tid in self.order:  # topological: what a dependant waits on is settled before it is looked at
            if self.state.get(tid) == TaskState.BLOCKED and not any(
                    self.state.get(d) in (TaskState.FAILED, TaskState.BLOCKED, TaskState.CANCELLED)
                    for d in self.tasks[tid].deps):
                self._set(tid, TaskState.PENDING, f"{task_id} skipped by operator: no longer blocked")
        self._poke()
        return "ok"

    async def _pause_between_attempts(self, task_id: str, seconds: float) -> bool:
        """Sleep ``seconds`` unless the operator asks for a retry first; True when they did."""
        event = self._retry_now.setdefault(task_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except asyncio.TimeoutError:
            return False
        event.clear()
        return True

    def cancel(self) -> None:
        if self._cancelled:  # a second request must not cut short a task's own clean-up
            self._interrupted_by_operator = True
            return
        self._cancelled = True
        self._interrupted_by_operator = self.work_found is None
        for t in [*self._running.values(), *(a for a, _ in self._ahead.values())]:
            t.cancel()
        self._poke()

    # -- main loop --------------------------------------------------------
    def _load(self) -> None:
        self.journal.sync_tasks(self.run_id, [(tid, self.tasks[tid].title, self.tasks[tid].phase,
                                               list(self.tasks[tid].deps)) for tid in self.order])
        for row in self.journal.tasks(self.run_id):
            self.state[row.id] = row.state
            if row.outputs:
                self.outputs[row.id] = row.outputs
            if row.state == TaskState.DONE:
                self.recorded[row.id] = row.outputs
            # Anything not known to be converged goes back to pending; done tasks are
            # re-checked (cheaply) by the normal path rather than trusted blindly.
            if row.state != TaskState.PENDING:
                note = {TaskState.DONE: "re-checking finished task on resume"}.get(
                    row.state, f"resuming after {row.state.value}")
                self._set(row.id, TaskState.PENDING, note)
        run = self.journal.run(self.run_id)
        self.paused = bool(run and run.paused)

    def _ready(self) -> list[str]:
        ready = []
        for tid in self.order:
            if self.state[tid] != TaskState.PENDING:
                continue
            deps = [self.state[d] for d in self.tasks[tid].deps]
            if any(s in (TaskState.FAILED, TaskState.BLOCKED, TaskState.CANCELLED) for s in deps):
                bad = [d for d in self.tasks[tid].deps if self.state[d] != TaskState.DONE]
                self._set(tid, TaskState.BLOCKED, f"not attempted: dependency {', '.join(bad)} did not finish",
                          level="warning")
                continue
            if all(s == TaskState.DONE for s in deps):
                ready.append(tid)
        # Stable: among chains of one length, the topological order decides.
        ready.sort(key=lambda tid: -self.chains.get(tid, 1))
        return ready

    def _start_ready(self, ready: list[str]) -> None:
        """Start what the limits admit: a full class of load does not hold up the other one."""
        running: Counter[Load] = Counter()    # by load; computing tasks by the cores they keep busy
        for tid in self._running:
            running[self.tasks[tid].load] += self._weight(self.tasks[tid])
        for tid in ready:
            if len(self._running) >= self.limits.total:
                break
            task = self.tasks[tid]
            weight = self._weight(task)
            if not self.limits.admits(task.load, running, cores=weight, tasks=len(self._running)):
                continue
            running[task.load] += weight
            self._running[tid] = asyncio.create_task(self._guard(tid), name=f"task:{tid}")

    @staticmethod
    def _weight(task: Task) -> int:
        return max(1, task.cores) if task.load is Load.CPU else 1

    async def run(self) -> RunState:
        """Run to the end; returns the run's final state (done, failed or cancelled)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._load()
        if not self.paused:
            self._check_ahead()
        # Checks ahead of their turn need threads beside those of the tasks whose turn it is.
        self._executor = ThreadPoolExecutor(max_workers=self.limits.threads + min(len(self._ahead), self.limits.total),
                                            thread_name_prefix="task")
        try:
            while True:
                if self._cancelled:
                    break
                ready = self._ready()
                if not self.paused:
                    self._start_ready(ready)
                if not self._running and not ready and not self.paused:
                    break  # nothing running, nothing startable: the run is over
                self._wake.clear()
                await self._wake.wait()
        finally:
            if self._running:
                for t in self._running.values():
                    # Cancelled once already (cancel()): a second request would cut short the
                    # task's own clean-up, such as stopping a terraform apply gracefully.
                    if not t.cancelling():
                        t.cancel()
                await asyncio.gather(*self._running.values(), return_exceptions=True)
            await self._stop_checks_ahead()  # of tasks that never had their turn (blocked, cancelled)
            # A cancelled task's thread ends on its own (its stop event, a watch timeout); the run
            # does not wait for it.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        return self._final_state()

    # -- checking finished work in one pass ----------------------------------
    def _check_ahead(self) -> None:
        """Start the checks of work finished before, all at once (within the limits); each task's
        turn in the normal order then takes its check's verdict instead of checking again."""
        known = self.recorded
        ahead = [tid for tid in self.order if self.state[tid] == TaskState.PENDING and tid in known
                 and all(self.state.get(d) == TaskState.DONE or d in known for d in self.tasks[tid].deps)]
        if len(ahead) < 2:
            return  # nothing to overlap
        gates = {load: asyncio.Semaphore(self.limits.of_load(load)) for load in Load}
        slots = asyncio.Semaphore(self.limits.total)

        async def one(task: Task, ctx: RunContext) -> RunContext | None:
            async with slots, gates[task.load]:
                try:
                    return ctx if await asyncio.wait_for(task.check(ctx), task.timeout) else None
                except asyncio.CancelledError:
                    raise
                except Exception:
                    return None  # checked again in its turn, where the error is classified and reported

        ahead.sort(key=lambda tid: -self.chains.get(tid, 1))
        for tid in ahead:
            ctx = RunContext(self, self.tasks[tid], assumed=known)
            self._ahead[tid] = (asyncio.create_task(one(self.tasks[tid], ctx), name=f"check:{tid}"), ctx)

    async def _checked_ahead(self, task: Task) -> RunContext | None:
        """The context of this task's check ahead when it converged and everything it read is what
        the tasks that publish it have published in this run; None: check it now."""
        entry = self._ahead.pop(task.id, None)
        if entry is None:
            return None
        pending, reading = entry
        if not pending.done() and self._stale(task, reading):
            # What it has read (or its dependencies publish) changed: whatever it finds is moot, and
            # it may be waiting on what no longer exists (the address of a cluster built anew).
            pending.cancel()
            return None
        ctx = await pending
        if ctx is None or self._stale(task, ctx):
            return None
        return ctx

    def _stale(self, task: Task, ctx: RunContext) -> bool:
        """Whether a check ahead read (or will read, of its dependencies) other outputs than those
        published in this run: of a task not done yet, or done with different outputs."""
        read = list(ctx.seen.items())  # one step under the GIL: the check may be reading in a thread
        if any(self.state.get(src) != TaskState.DONE or _as_json(self.outputs.get(src, {})) != _as_json(value)
               for src, value in read):
            return True
        return any(_as_json(self.outputs.get(d, {})) != _as_json(self.recorded.get(d, {})) for d in task.deps)

    async def _stop_checks_ahead(self) -> None:
        left = [a for a, _ in self._ahead.values()]
        self._ahead.clear()
        for t in left:
            t.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def _hand_over(self, task: Task) -> None:
        """check_only: ``task`` has work to do; stop here and leave the run to an engine."""
        if self.work_found is None:
            self.work_found = task.id
            self._set(task.id, TaskState.PENDING, "not converged: left to the engine")
            self._cancelled = True
            this = asyncio.current_task()  # the task saying so returns by itself
            for t in [*self._running.values(), *(a for a, _ in self._ahead.values())]:
                if t is not this:
                    t.cancel()
            self._poke()

    def _final_state(self) -> RunState:
        if self.work_found is not None and not self._interrupted_by_operator:
            return RunState.INTERRUPTED  # pending tasks stay pending: the engine resumes them
        states = set(self.state.values())
        if self._cancelled or TaskState.CANCELLED in states:
            for tid, st in self.state.items():
                if st == TaskState.PENDING:
                    self._set(tid, TaskState.CANCELLED, "install cancelled before this task started")
            return RunState.CANCELLED
        if states <= {TaskState.DONE}:
            return RunState.DONE
        return RunState.FAILED

    async def _guard(self, tid: str) -> None:
        try:
            await self._run_task(self.tasks[tid])
        except asyncio.CancelledError:
            if self.work_found is not None and not self._interrupted_by_operator:
                self._set(tid, TaskState.PENDING, f"left to the engine ({self.work_found} has work to do)")
            else:
                self._set(tid, TaskState.CANCELLED, "cancelled", level="warning")
        except Exception as exc:  # a bug in the engine itself must not hang the run
            self._set(tid, TaskState.FAILED, f"internal error: {type(exc).__name__}: {exc}",
                      level="error", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._running.pop(tid, None)
            self._poke()

    async def _run_task(self, task: Task) -> None:
        ctx = RunContext(self, task)
        policy = task.retry
        failures = 0
        parked_since: float | None = None  # first network wait; the policy's limit counts from here
        self._set(task.id, TaskState.RUNNING, "checking")
        ahead = await self._checked_ahead(task)
        if ahead is not None:
            self.journal.log(self.run_id, task.id, "check: already converged", kind="check")
            if await self._reshape(task):
                self._finish(task, ahead, "already converged")
            return
        while True:
            phase = "check"
            try:
                converged = await asyncio.wait_for(task.check(ctx), task.timeout)
                if converged:
                    self.journal.log(self.run_id, task.id, "check: already converged", kind="check")
                    if await self._reshape(task):
                        self._finish(task, ctx, "already converged")
                    return
                self.journal.log(self.run_id, task.id, "check: not converged", kind="check")
                if self.check_only:
                    self._hand_over(task)
                    return
                phase = "ensure"
                self.applied.add(task.id)
                reads.cannot(f"{task.id} applied")     # no record of this run: stop taking digests
                self._set(task.id, TaskState.RUNNING, "applying", attempt=True)
                await asyncio.wait_for(task.ensure(ctx), task.timeout)
                if await self._reshape(task):
                    self._finish(task, ctx, "completed")
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.check_only:  # retries, waits and failures are the engine's to journal
                    self._hand_over(task)
                    return
                if isinstance(exc, (asyncio.TimeoutError, TimeoutError)) and not str(exc):
                    text = f"{phase} timed out after {task.timeout:g}s"
                else:
                    text = f"{exc}" or type(exc).__name__
                kind = classify(exc)
                if kind is ErrorKind.PERMANENT:
                    remedy = remedy_for(exc)
                    self._set(task.id, TaskState.FAILED, text, level="error", error=text, remedy=remedy)
                    return
                failures += 1
                if failures < policy.attempts:
                    delay = policy.delay(failures, self.rng.random())
                    self._set(task.id, TaskState.RETRYING,
                              f"{text} (transient; attempt {failures}/{policy.attempts}, retrying in {delay:.1f}s)",
                              level="warning", error=text)
                    await self._pause_between_attempts(task.id, delay)
                    self._set(task.id, TaskState.RUNNING, "retrying")
                    continue
                if parked_since is None:
                    parked_since = asyncio.get_running_loop().time()
                why = await self._wait_for_network(task, text, parked_since, remedy_for(exc))
                if why is None:
                    return
                failures = 0
                self._set(task.id, TaskState.RUNNING, why)

    def _finish(self, task: Task, ctx: RunContext, message: str) -> None:
        outputs = dict(self.outputs.get(task.id, {}))
        outputs.update(ctx.outputs)
        self.outputs[task.id] = outputs
        self._set(task.id, TaskState.DONE, message, outputs=outputs)

    # -- graphs that grow ---------------------------------------------------
    async def _reshape(self, task: Task) -> bool:
        """After a converged ``reshapes_graph`` task: rebuild the graph. False when the task must not
        finish now: the rebuild failed (the task failed), or the grown graph gave the task itself
        dependencies that are not done (it goes back to pending and runs again after them: what it
        produced was made without them, e.g. a render before the volumes task that sizes the env file)."""
        if not task.reshapes_graph or self.rebuild is None:
            return True
        try:
            tasks = list(await asyncio.to_thread(self.rebuild))
            order = validate_graph(tasks)
        except Exception as exc:  # a bad manifest in a fetched source, say: this task's failure
            text = f"{exc}" or type(exc).__name__
            self._set(task.id, TaskState.FAILED, f"the install graph cannot be built from what this task produced: "
                      f"{text}", level="error", error=text, remedy=remedy_for(exc))
            return False
        self._adopt(tasks, order)
        waiting = [d for d in self.tasks[task.id].deps if self.state.get(d) != TaskState.DONE] \
            if task.id in self.tasks else []
        if waiting:
            self._set(task.id, TaskState.PENDING, f"the install graph grew: runs again after {', '.join(waiting)}")
            return False
        return True

    def _adopt(self, tasks: Sequence[Task], order: list[str]) -> None:
        new = {t.id: t for t in tasks}
        # A running task the new graph no longer has finishes under its old definition.
        kept = [tid for tid in self.order if tid not in new and tid in self._running]
        for tid in kept:
            new[tid] = self.tasks[tid]
        gone = [tid for tid in self.tasks if tid not in new]
        added = [tid for tid in order if tid not in self.tasks]
        self.tasks = new
        self.order = order + kept
        self.chains = chain_lengths(new, self.order)
        for tid in gone:
            self.state.pop(tid, None)
            self.outputs.pop(tid, None)
        self.journal.sync_tasks(self.run_id, [(tid, new[tid].title, new[tid].phase, list(new[tid].deps))
                                              for tid in self.order])
        for tid in added:
            self.state[tid] = TaskState.PENDING
        for tid in self.order:
            # Work already finished stays finished unless it now waits for something new.
            if self.state[tid] == TaskState.DONE and any(self.state[d] != TaskState.DONE for d in new[tid].deps):
                self._set(tid, TaskState.PENDING, "the install graph grew: re-checking after new dependencies")
        self.journal.log(self.run_id, None, f"install graph rebuilt: {len(self.order)} tasks, {len(added)} new"
                         + (f", {len(gone)} removed" if gone else ""))
        self._poke()

    # -- waiting for the network ------------------------------------------
    async def _wait_for_network(self, task: Task, reason: str, start: float,
                                remedy: str | None = None) -> str | None:
        """Park the task until its own endpoints answer or the operator retries it; says which
        ("network is back; retrying"), or None (task failed) after the policy's limit.

        Only the task's endpoints count: an unrelated host being down must not keep a task
        parked whose own target is back."""
        endpoints = tuple(dict.fromkeys(task.endpoints))
        limit = task.retry.network_wait if self.network_wait == "task" else self.network_wait
        names = ", ".join(str(e) for e in endpoints) or "(no endpoint to probe; retrying periodically)"
        self._set(task.id, TaskState.WAITING_NETWORK, f"{reason}; waiting for {names}", level="warning",
                  error=reason)
        loop = asyncio.get_running_loop()
        interval = self.probe_interval
        next_report = loop.time() + self.wait_report_interval
        while True:
            waited = loop.time() - start
            if limit is not None and waited >= limit:
                msg = f"network did not come back within {limit:g}s: {reason}"
                # The error's own remedy ("set up a provider mirror") says more than a generic one.
                self._set(task.id, TaskState.FAILED, msg, level="error", error=msg,
                          remedy=remedy or "check the VPN and the endpoints, then run `digit-tui install` again "
                                           "to resume")
                return None
            if not endpoints:
                if await self._pause_between_attempts(task.id, min(task.retry.max_delay, max(interval, 1.0))):
                    return OPERATOR_RETRY
                return "retrying (no endpoint to probe)"
            results = await probe_all(endpoints, timeout=min(2.0, max(0.2, interval)))
            if all(r.ok for r in results):
                self.journal.log(self.run_id, task.id, f"network back after {waited:.1f}s: " +
                                 ", ".join(f"{r.endpoint} {r.detail}" for r in results))
                return "network is back; retrying"
            if loop.time() >= next_report:
                next_report += self.wait_report_interval
                down = "; ".join(f"{r.endpoint}: {r.detail}" for r in results if not r.ok)
                self.journal.log(self.run_id, task.id, f"still waiting for the network after {waited:.0f}s ({down})",
                                 level="warning")
            if await self._pause_between_attempts(task.id, interval):
                return OPERATOR_RETRY
