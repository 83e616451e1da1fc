"""Waiting for the network, in-process against real sockets: a parked task waits only for its
own endpoints, reports while it waits, resumes the moment they answer, and an operator's
`retry` cuts the wait short. Also: graphs that grow once a task has produced what names the
rest (a fetched source)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from digit_tui.engine.errors import TransientError
from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import Endpoint, FunctionTask, RetryPolicy, Task, TaskState

FAST = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.05, network_wait=60)


def journal(tmp_path: Path) -> tuple[Journal, str]:
    j = Journal.in_dir(tmp_path)
    return j, j.create_run("t", "test", {}, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def never(ctx: Any) -> bool:
    return False


async def nothing(ctx: Any) -> None:
    pass


async def wait_for(cond: Any, timeout: float = 20.0, what: str = "") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def messages(j: Journal, run: str, task: str) -> list[str]:
    return [e.message for e in j.events(run, after=0) if e.task == task]


async def test_a_parked_task_waits_only_for_its_own_endpoint_and_resumes_when_it_answers(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    api_port, unrelated_port = free_port(), free_port()      # both closed to begin with
    server: asyncio.Server | None = None

    async def call_api(ctx: Any) -> None:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", api_port)
        except OSError as exc:
            raise TransientError(f"cluster API unreachable ({exc.strerror})") from None
        w.close()

    task = FunctionTask("apply", never, call_api, retry=FAST, endpoints=(Endpoint("127.0.0.1", api_port, "api"),))
    # Another host of the install being down (a closed SSH port) must not keep it parked.
    unrelated = FunctionTask("ssh", never, nothing, deps=("apply",),
                             endpoints=(Endpoint("127.0.0.1", unrelated_port, "ssh worker-1"),))
    sched = Scheduler([task, unrelated], j, run, probe_interval=0.05)
    runner = asyncio.create_task(sched.run())
    try:
        await wait_for(lambda: sched.state.get("apply") == TaskState.WAITING_NETWORK, what="the task to park")
        assert j.task(run, "apply").message.endswith("waiting for api")       # not "ssh worker-1"
        assert "ssh worker-1" not in " ".join(messages(j, run, "apply"))
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", api_port)
        assert await asyncio.wait_for(runner, 10) == "done"                   # the unrelated port stays closed
    finally:
        runner.cancel()
        if server is not None:
            server.close()
    assert any(m.startswith("network back after") for m in messages(j, run, "apply"))


async def test_a_long_wait_reports_while_it_lasts(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    port = free_port()

    async def down(ctx: Any) -> None:
        raise TransientError("cluster API unreachable (connection refused)", remedy="start the VPN client")

    task = FunctionTask("apply", never, down, retry=RetryPolicy(attempts=1, network_wait=1.2),
                        endpoints=(Endpoint("127.0.0.1", port, "cluster API"),))
    final = await Scheduler([task], j, run, probe_interval=0.05, wait_report_interval=0.3).run()
    assert final == "failed"
    said = messages(j, run, "apply")
    waits = [m for m in said if m.startswith("still waiting for the network after")]
    assert 2 <= len(waits) <= 5, said
    assert "cluster API: connection refused" in waits[0]
    assert any("network did not come back within 1.2s" in m for m in said)
    assert j.task(run, "apply").remedy == "start the VPN client"     # the error's own, not a generic one


async def test_retry_of_a_waiting_task_tries_again_at_once(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    port = free_port()                       # never opened: only the operator's retry gets it going
    fixed = False
    attempts = 0

    async def flaky(ctx: Any) -> None:
        nonlocal attempts
        attempts += 1
        if not fixed:
            raise TransientError("timed out talking to the API")

    task = FunctionTask("apply", never, flaky, retry=FAST, endpoints=(Endpoint("127.0.0.1", port, "api"),))
    sched = Scheduler([task], j, run, probe_interval=0.05)
    runner = asyncio.create_task(sched.run())
    try:
        await wait_for(lambda: sched.state.get("apply") == TaskState.WAITING_NETWORK, what="the task to park")
        assert sched.retry("running-task-that-does-not-exist").startswith("unknown task")
        fixed = True
        assert sched.retry("apply") == "ok"
        assert await asyncio.wait_for(runner, 10) == "done"
    finally:
        runner.cancel()
    assert attempts == 2
    assert "retry requested by operator: trying again now" in messages(j, run, "apply")


async def test_retry_cuts_a_backoff_short(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    calls = 0

    async def once_broken(ctx: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TransientError("HTTP 503")

    slow = RetryPolicy(attempts=3, base_delay=600, max_delay=600, jitter=0)
    sched = Scheduler([FunctionTask("apply", never, once_broken, retry=slow)], j, run)
    runner = asyncio.create_task(sched.run())
    try:
        await wait_for(lambda: sched.state.get("apply") == TaskState.RETRYING, what="the backoff")
        assert sched.retry("apply") == "ok"
        assert await asyncio.wait_for(runner, 10) == "done"                   # not after 600 s
    finally:
        runner.cancel()


class Grower:
    """A graph factory whose shape depends on a file the first task writes (like a fetched source)."""

    def __init__(self, work: Path, bad: bool = False) -> None:
        self.work = work
        self.bad = bad
        self.ran: list[str] = []

    def task(self, tid: str, deps: Sequence[str] = (), reshapes: bool = False) -> Task:
        async def check(ctx: Any) -> bool:
            return (self.work / tid).exists()

        async def ensure(ctx: Any) -> None:
            self.ran.append(tid)
            if tid == "fetch":
                (self.work / "services").write_text("svc-a svc-b")
            (self.work / tid).write_text("done")

        t = FunctionTask(tid, check, ensure, deps=tuple(deps))
        t.reshapes_graph = reshapes
        return t

    def __call__(self) -> list[Task]:
        tasks = [self.task("fetch", reshapes=True)]
        listed = self.work / "services"
        if listed.exists():
            if self.bad:
                raise ValueError("release manifest: line 60: mapping values are not allowed here")
            names = listed.read_text().split()
            tasks += [self.task(n, ["fetch"]) for n in names]
            tasks.append(self.task("record", names))
        return tasks


async def test_a_task_that_reshapes_the_graph_adds_the_tasks_it_names(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    grow = Grower(tmp_path)
    first = grow()
    assert [t.id for t in first] == ["fetch"]
    final = await Scheduler(first, j, run, rebuild=grow).run()
    assert final == "done"
    assert grow.ran == ["fetch", "svc-a", "svc-b", "record"]
    assert [t.id for t in j.tasks(run)] == ["fetch", "svc-a", "svc-b", "record"]
    assert all(t.state == TaskState.DONE for t in j.tasks(run))

    # A resumed engine builds the whole graph at once and finds everything converged.
    grow.ran.clear()
    assert await Scheduler(grow(), j, run, rebuild=grow).run() == "done"
    assert grow.ran == []


async def test_a_graph_that_cannot_be_rebuilt_fails_the_task_that_reshaped_it(tmp_path: Path) -> None:
    j, run = journal(tmp_path)
    grow = Grower(tmp_path, bad=True)
    final = await Scheduler(grow(), j, run, rebuild=grow).run()
    assert final == "failed"
    row = j.task(run, "fetch")
    assert row.state == TaskState.FAILED
    assert "line 60: mapping values are not allowed here" in (row.error or "")


def test_an_adapter_error_that_says_it_is_transient_is_retried_and_keeps_its_remedy() -> None:
    from digit_tui.engine.errors import ErrorKind, classify, remedy_for
    from digit_tui.infra.ssh import SshError, SshErrorKind

    refused = SshError(SshErrorKind.REFUSED, "worker-1: connection refused", remedy="start sshd on worker-1")
    changed = SshError(SshErrorKind.HOST_KEY_CHANGED, "worker-1: host key changed", remedy="verify the VM")
    assert classify(refused) is ErrorKind.TRANSIENT and remedy_for(refused) == "start sshd on worker-1"
    assert classify(changed) is ErrorKind.PERMANENT and remedy_for(changed) == "verify the VM"
