"""The scheduler in-process: concurrency, failure isolation, timeouts, retries,
cancellation, outputs and redaction, all observed through the journal."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from digit_tui.engine.errors import PermanentError, TransientError
from digit_tui.engine.journal import Journal
from digit_tui.engine.limits import AUTO_WAIT, Limits
from digit_tui.engine.scheduler import GraphError, Scheduler, validate_graph
from digit_tui.engine.task import FunctionTask, Load, RetryPolicy, Task, TaskState
from tests.support import wait_until_async


def journal(tmp_path: Path) -> tuple[Journal, str]:
    j = Journal.in_dir(tmp_path)
    return j, j.create_run("t", "test", {}, None)


async def never(ctx: Any) -> bool:
    return False


def states(j: Journal, run: str) -> dict[str, str]:
    return {t.id: t.state.value for t in j.tasks(run)}


async def test_independent_tasks_run_concurrently_up_to_the_limit(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    live = 0
    peak = 0

    async def work(ctx: Any) -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0.05)
        live -= 1

    tasks = [FunctionTask(f"t{i}", never, work) for i in range(10)]
    final = await Scheduler(tasks, j, run, concurrency=3).run()
    assert final == "done"
    assert peak == 3


async def test_failure_blocks_only_dependants(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    ran: list[str] = []

    async def ok(ctx: Any) -> None:
        ran.append(ctx.task_id)

    async def broken(ctx: Any) -> None:
        raise PermanentError("image egovio/egov-user:v9 cannot be pulled", remedy="fix the tag")

    tasks = [FunctionTask("a", never, broken), FunctionTask("b", never, ok, deps=("a",)),
             FunctionTask("c", never, ok, deps=("b",)), FunctionTask("x", never, ok),
             FunctionTask("y", never, ok, deps=("x",))]
    final = await Scheduler(tasks, j, run).run()
    assert final == "failed"
    assert states(j, run) == {"a": "failed", "b": "blocked", "c": "blocked", "x": "done", "y": "done"}
    assert sorted(ran) == ["x", "y"]
    a = j.task(run, "a")
    assert a is not None and a.error == "image egovio/egov-user:v9 cannot be pulled" and a.remedy == "fix the tag"
    assert a.attempts == 1  # permanent: never retried


async def test_transient_errors_retry_with_backoff_then_succeed(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    calls = 0

    async def flaky(ctx: Any) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionResetError(104, "Connection reset by peer")

    t = FunctionTask("flaky", never, flaky, retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.02))
    assert await Scheduler([t], j, run).run() == "done"
    assert calls == 3
    msgs = [e.message for e in j.events(run, task="flaky")]
    assert sum("retrying in" in m for m in msgs) == 2


async def test_timeout_is_a_transient_failure_with_a_clear_message(tmp_path: Path) -> None:
    j, run = journal(tmp_path)

    async def slow(ctx: Any) -> None:
        await asyncio.sleep(10)

    t = FunctionTask("slow", never, slow, timeout=0.05,
                     retry=RetryPolicy(attempts=2, base_delay=0.01, network_wait=0.2))
    assert await Scheduler([t], j, run, probe_interval=0.05).run() == "failed"
    row = j.task(run, "slow")
    assert row is not None and row.state == TaskState.FAILED
    assert "network did not come back" in (row.error or "")
    assert any("ensure timed out after 0.05s" in e.message for e in j.events(run, task="slow"))


async def test_converged_task_is_not_ensured_and_outputs_flow_to_dependants(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    seen: dict[str, Any] = {}

    async def converged(ctx: Any) -> bool:
        ctx.publish("volume_ids", ["vol-1", "vol-2"])
        return True

    async def must_not_run(ctx: Any) -> None:
        raise AssertionError("ensure after convergence")

    async def reader(ctx: Any) -> None:
        seen.update(ctx.output("terraform"))

    tasks = [FunctionTask("terraform", converged, must_not_run), FunctionTask("volumes", never, reader, deps=("terraform",))]
    assert await Scheduler(tasks, j, run).run() == "done"
    assert seen == {"volume_ids": ["vol-1", "vol-2"]}
    assert j.task(run, "terraform").outputs == {"volume_ids": ["vol-1", "vol-2"]}  # type: ignore[union-attr]


async def test_cancel_stops_running_tasks_and_leaves_a_resumable_journal(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    started = asyncio.Event()

    async def forever(ctx: Any) -> None:
        started.set()
        await asyncio.sleep(60)

    tasks = [FunctionTask("long", never, forever), FunctionTask("after", never, forever, deps=("long",))]
    sched = Scheduler(tasks, j, run)
    runner = asyncio.create_task(sched.run())
    await asyncio.wait_for(started.wait(), 5)
    sched.cancel()
    assert await asyncio.wait_for(runner, 5) == "cancelled"
    assert states(j, run) == {"long": "cancelled", "after": "cancelled"}


async def test_retry_command_reruns_a_failed_task_and_its_blocked_dependants(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    fixed = asyncio.Event()
    gate = asyncio.Event()

    async def sometimes(ctx: Any) -> None:
        if not fixed.is_set():
            raise PermanentError("bad tag")

    async def ok(ctx: Any) -> None:
        pass

    async def hold(ctx: Any) -> None:
        await gate.wait()

    async def broken(ctx: Any) -> None:
        raise PermanentError("unrelated failure")

    tasks = [FunctionTask("a", never, sometimes), FunctionTask("b", never, ok, deps=("a",)),
             FunctionTask("slow", never, hold), FunctionTask("z", never, broken),
             FunctionTask("w", never, ok, deps=("z",))]
    sched = Scheduler(tasks, j, run)
    runner = asyncio.create_task(sched.run())
    await wait_until_async(lambda: sched.state.get("b") == TaskState.BLOCKED == sched.state.get("w"), timeout=20,
                           what="b and w blocked")
    assert sched.retry("b").startswith("task b is blocked") is False  # blocked tasks can be retried too
    fixed.set()
    assert sched.retry("a") == "ok"
    await wait_until_async(lambda: sched.state.get("b") == TaskState.DONE, timeout=20, what="b done after the retry")
    gate.set()
    assert await runner == "failed"  # z still failed
    assert states(j, run) == {"a": "done", "b": "done", "slow": "done", "z": "failed", "w": "blocked"}
    w_events = [e.message for e in j.events(run, task="w")]
    assert not any("retry of a" in m for m in w_events), "an unrelated blocked task was touched"
    assert j.task(run, "a").attempts == 2  # type: ignore[union-attr]  # history kept across the retry


def test_graph_validation_names_cycles_and_unknown_deps() -> None:
    async def noop(ctx: Any) -> None:
        pass

    with pytest.raises(GraphError, match="cycle: .*a.*b"):
        validate_graph([FunctionTask("a", never, noop, deps=("b",)), FunctionTask("b", never, noop, deps=("a",))])
    with pytest.raises(GraphError, match="unknown task 'zz'"):
        validate_graph([FunctionTask("a", never, noop, deps=("zz",))])


async def test_secrets_never_reach_the_journal(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    password = "Zq8-very-secret-Pw"

    async def leaky(ctx: Any) -> None:
        ctx.secret(password)
        ctx.log(f"connecting with {password}")
        await ctx.run_sync(lambda: ctx.log(f"from a thread: {password}"))
        ctx.publish("dsn", f"postgres://egov:{password}@db:5432/egov")
        raise TransientError(f"FATAL: password authentication failed, password={password}")

    t = FunctionTask("db", never, leaky, retry=RetryPolicy(attempts=1, network_wait=0))
    await Scheduler([t], j, run).run()
    # the thread's line reaches the journal through call_soon_threadsafe: wait for it to land
    await wait_until_async(lambda: any("from a thread:" in e.message for e in j.events(run)), timeout=10,
                           what="the log line written from a thread")
    j.close()
    raw = (tmp_path / "journal.db").read_bytes()
    for extra in tmp_path.glob("journal.db-*"):
        raw += extra.read_bytes()
    assert password.encode() not in raw
    j2 = Journal.in_dir(tmp_path, readonly=True)
    assert any("from a thread: ••••••" in e.message for e in j2.events(run))


class Recorder(Task):
    async def ensure(self, ctx: Any) -> None:
        pass


def test_journal_schema_is_versioned(tmp_path: Path) -> None:
    j, _ = journal(tmp_path)
    j._db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    j.close()
    from digit_tui.engine.journal import JournalError
    with pytest.raises(JournalError, match="newer digit-tui"):
        Journal.in_dir(tmp_path)


async def test_an_interruption_before_the_scheduler_exists_still_stops_the_run(tmp_path: Path) -> None:
    """Ctrl-C while the engine is still starting (no loop, no scheduler yet): the run stops
    resumably instead of running on unnoticed, and nothing is attempted."""
    from digit_tui.engine.daemon import Engine, InstallSpec

    ran: list[str] = []

    async def work(ctx: Any) -> None:
        ran.append(ctx.task_id)

    engine = Engine(tmp_path, InstallSpec("t", {}, "answers.yaml", "none:none"),
                    tasks=[FunctionTask("a", never, work), FunctionTask("b", never, work, deps=("a",))])
    engine.interrupt()
    code = await engine.run()
    j = Journal.in_dir(tmp_path, readonly=True)
    try:
        run = j.latest_run()
        assert run is not None and run.state == "interrupted"
        assert states(j, run.id) == {"a": "cancelled", "b": "cancelled"}
    finally:
        j.close()
    assert code == 3 and ran == []


async def test_computing_tasks_are_held_to_their_limit_while_waiting_tasks_run_beside_them(tmp_path: Path) -> None:
    """Rendering (Load.CPU) one at a time on a one-core limit, while every waiting task runs at
    once: the computing tasks do not start until all five waiting ones have, so a shared limit
    (or one that lets the computing class fill the slots first) would never get there."""
    j, run = journal(tmp_path)
    cpu_live = cpu_peak = 0
    waiting_started = 0
    all_waiting = asyncio.Event()

    async def compute(ctx: Any) -> None:
        nonlocal cpu_live, cpu_peak
        cpu_live += 1
        cpu_peak = max(cpu_peak, cpu_live)
        await asyncio.wait_for(all_waiting.wait(), 10)
        await asyncio.sleep(0)
        cpu_live -= 1

    async def wait(ctx: Any) -> None:
        nonlocal waiting_started
        waiting_started += 1
        if waiting_started == 5:
            all_waiting.set()
        await asyncio.wait_for(all_waiting.wait(), 10)

    tasks = [FunctionTask(f"render{i}", never, compute, load=Load.CPU) for i in range(3)]
    tasks += [FunctionTask(f"service{i}", never, wait) for i in range(5)]
    final = await Scheduler(tasks, j, run, limits=Limits(cpu=1, wait=8, total=9)).run()
    assert final == "done"
    assert cpu_peak == 1
    assert states(j, run) == {t.id: "done" for t in tasks}


async def test_a_computing_task_on_every_core_runs_alone_among_computing_tasks(tmp_path: Path) -> None:
    """The release's render keeps every core busy (its services side by side): a phase's render
    started beside it only slows it, on the install's longest chain. On two cores a two-core task
    runs with no other computing task beside it (the longest chain's goes first), two one-core
    tasks run together, and waiting tasks are not held up by either."""
    j, run = journal(tmp_path)
    live: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    waited = asyncio.Event()

    def computing(name: str) -> Any:
        async def work(ctx: Any) -> None:
            live.append(name)
            overlaps.append(tuple(sorted(live)))
            await asyncio.wait_for(waited.wait(), 10)
            await asyncio.sleep(0.01)
            overlaps.append(tuple(sorted(live)))
            live.remove(name)
        return work

    async def wait(ctx: Any) -> None:
        waited.set()

    wide = FunctionTask("render", never, computing("render"), load=Load.CPU, cores=2)
    after = FunctionTask("after-render", never, computing("after-render"), deps=("render",))   # the longer chain
    narrow = [FunctionTask(f"chart{i}", never, computing(f"chart{i}"), load=Load.CPU) for i in range(2)]
    tasks = [wide, after, *narrow, FunctionTask("service", never, wait)]
    assert await Scheduler(tasks, j, run, limits=Limits(cpu=2, wait=8, total=10)).run() == "done"
    computed = {"render", "chart0", "chart1"}
    assert not [o for o in overlaps if "render" in o and len(set(o) & computed) > 1], overlaps
    assert ("chart0", "chart1") in overlaps, "two one-core tasks fill the two cores together"
    assert overlaps[0] == ("render",), "the task on the longest chain computes first"
    assert states(j, run) == {t.id: "done" for t in tasks}


async def test_an_explicit_concurrency_caps_every_task_and_one_means_one_at_a_time(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    live = peak = 0

    async def work(ctx: Any) -> None:
        nonlocal live, peak
        live += 1
        peak = max(peak, live)
        await asyncio.sleep(0)
        live -= 1

    tasks = [FunctionTask(f"r{i}", never, work, load=Load.CPU) for i in range(2)]
    tasks += [FunctionTask(f"w{i}", never, work) for i in range(4)]
    assert await Scheduler(tasks, j, run, concurrency=1).run() == "done"
    assert peak == 1
    assert Limits.of(1, cores=8) == Limits(cpu=1, wait=1, total=1)
    assert Limits.of(None, cores=2) == Limits(cpu=2, wait=AUTO_WAIT, total=2 + AUTO_WAIT)


async def test_a_dependant_starts_as_soon_as_its_dependency_is_done_while_others_still_run(tmp_path: Path) -> None:
    """``slow`` finishes only once ``after`` has started: a scheduler that waited for a round of
    tasks to end before starting the next would never start ``after``."""
    j, run = journal(tmp_path)
    after_started = asyncio.Event()

    async def quick(ctx: Any) -> None:
        pass

    async def slow(ctx: Any) -> None:
        await asyncio.wait_for(after_started.wait(), 10)

    async def after(ctx: Any) -> None:
        after_started.set()

    tasks = [FunctionTask("slow", never, slow), FunctionTask("first", never, quick),
             FunctionTask("after", never, after, deps=("first",))]
    assert await Scheduler(tasks, j, run, concurrency=2).run() == "done"
    assert states(j, run) == {"slow": "done", "first": "done", "after": "done"}


async def test_the_longest_chain_starts_first_when_not_all_ready_tasks_can(tmp_path: Path) -> None:
    """Two slots, three ready tasks: the two heading chains start, the lone leaf waits."""
    j, run = journal(tmp_path)
    started: list[str] = []

    async def work(ctx: Any) -> None:
        started.append(ctx.task_id)

    tasks = [FunctionTask("leaf", never, work), FunctionTask("a", never, work), FunctionTask("b", never, work),
             FunctionTask("a2", never, work, deps=("a",)), FunctionTask("a3", never, work, deps=("a2",)),
             FunctionTask("b2", never, work, deps=("b",))]
    assert await Scheduler(tasks, j, run, concurrency=2).run() == "done"
    assert set(started[:2]) == {"a", "b"}
    assert started.index("leaf") > started.index("a")


async def test_waiting_tasks_blocked_in_threads_all_run_at_once(tmp_path: Path) -> None:
    """Twelve tasks each block a thread (a watch, an SSH command) until all twelve are blocked:
    asyncio's default pool has min(32, cores + 4) threads, six on two cores, and would queue the
    rest behind the first six forever (the barrier breaks after its timeout and the tasks fail)."""
    import threading

    j, run = journal(tmp_path)
    barrier = threading.Barrier(12, timeout=10)

    async def block(ctx: Any) -> None:
        await ctx.run_sync(barrier.wait)

    tasks = [FunctionTask(f"watch{i}", never, block, retry=RetryPolicy(attempts=1, network_wait=0))
             for i in range(12)]
    assert await Scheduler(tasks, j, run, limits=Limits(cpu=1, wait=16, total=17)).run() == "done"


async def test_finished_work_is_checked_in_one_pass_not_along_its_chain(tmp_path: Path) -> None:
    """A rerun: a -> b -> c finished before (their outputs recorded). Every check waits until all
    three are in flight, which only happens when they are checked at once; each runs once, and
    nothing is ensured."""
    j, run = journal(tmp_path)
    in_flight = 0
    all_in = asyncio.Event()
    checks: list[str] = []

    async def check(ctx: Any) -> bool:
        nonlocal in_flight
        checks.append(ctx.task_id)
        in_flight += 1
        if in_flight == 3:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 10)
        ctx.publish("seen", dict(ctx.output("a")) if ctx.task_id != "a" else {"v": 1})
        return True

    async def must_not_run(ctx: Any) -> None:
        raise AssertionError("ensure of a converged task")

    tasks = [FunctionTask("a", check, must_not_run), FunctionTask("b", check, must_not_run, deps=("a",)),
             FunctionTask("c", check, must_not_run, deps=("b",))]
    recorded = {"a": {"seen": {"v": 1}}, "b": {"seen": {"seen": {"v": 1}}}, "c": {"seen": {"seen": {"v": 1}}}}
    assert await Scheduler(tasks, j, run, recorded=recorded).run() == "done"
    assert sorted(checks) == ["a", "b", "c"]
    assert j.task(run, "b").outputs == {"seen": {"seen": {"v": 1}}}  # type: ignore[union-attr]


async def test_a_check_ahead_that_read_an_output_which_changed_is_checked_again(tmp_path: Path) -> None:
    """``a`` publishes v=2 now where it recorded v=1: ``b``, checked ahead with v=1, is checked
    again with what ``a`` publishes now, and that is the verdict that counts."""
    j, run = journal(tmp_path)
    b_saw: list[Any] = []

    async def check_a(ctx: Any) -> bool:
        ctx.publish("v", 2)
        return True

    async def check_b(ctx: Any) -> bool:
        b_saw.append(ctx.output("a").get("v"))
        return ctx.output("a").get("v") == 2

    ensured: list[str] = []

    async def ensure(ctx: Any) -> None:
        ensured.append(ctx.task_id)

    tasks = [FunctionTask("a", check_a, ensure), FunctionTask("b", check_b, ensure, deps=("a",))]
    assert await Scheduler(tasks, j, run, recorded={"a": {"v": 1}, "b": {}}).run() == "done"
    assert b_saw == [1, 2]
    assert ensured == []


async def test_a_check_ahead_still_running_when_its_input_changed_is_not_waited_for(tmp_path: Path) -> None:
    """``b``'s check ahead, given the v=1 ``a`` recorded, hangs (a cluster that is no more); ``a``
    now publishes v=2, so in its turn ``b`` is checked again at once instead of waiting for it."""
    j, run = journal(tmp_path)
    forever = asyncio.Event()

    async def check_a(ctx: Any) -> bool:
        ctx.publish("v", 2)
        return True

    async def check_b(ctx: Any) -> bool:
        if ctx.output("a").get("v") == 1:
            await forever.wait()
        return True

    async def must_not_run(ctx: Any) -> None:
        raise AssertionError("ensure of a converged task")

    tasks = [FunctionTask("a", check_a, must_not_run), FunctionTask("b", check_b, must_not_run, deps=("a",))]
    sched = Scheduler(tasks, j, run, recorded={"a": {"v": 1}, "b": {}})
    assert await asyncio.wait_for(sched.run(), 10) == "done"


async def test_a_task_that_grows_the_graph_with_a_dependency_of_its_own_runs_again_after_it(tmp_path: Path) -> None:
    """A render whose fetched source shows a volumes task it should have waited for (helm-config
    sizes the env file from it): it runs again after the new dependency, not finished on what it
    made without it, so the next install finds it converged."""
    j, run = journal(tmp_path)
    ran: list[str] = []

    async def work(ctx: Any) -> None:
        ran.append(ctx.task_id)

    def render(deps: tuple[str, ...]) -> FunctionTask:
        t = FunctionTask("render", never, work, deps=deps)
        t.reshapes_graph = True
        return t

    first = [FunctionTask("config", never, work), render(("config",))]
    grown = [FunctionTask("volumes", never, work), FunctionTask("config", never, work, deps=("volumes",)),
             render(("config",)), FunctionTask("service", never, work, deps=("render",))]
    final = await Scheduler(first, j, run, rebuild=lambda: grown).run()
    assert final == "done"
    assert ran == ["config", "render", "volumes", "config", "render", "service"]
    assert any("the install graph grew: runs again after config" in e.message for e in j.events(run, after=0,
                                                                                                 task="render"))
