"""The operator's skip: a failed (or pending) task taken as done without running it, its dependants
released, the journal saying so, and a resume checking it again instead of trusting it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from digit_tui.engine.control import SKIPPED, is_skipped
from digit_tui.engine.errors import PermanentError
from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import FunctionTask, TaskState
from tests.engine.conftest import Env
from tests.support import wait_until, wait_until_async


async def never(ctx: Any) -> bool:
    return False


async def test_skipping_a_failed_task_runs_its_dependants_and_the_run_completes(tmp_path: Path) -> None:
    j = Journal.in_dir(tmp_path)
    run = j.create_run("t", "test", {}, None)
    ran: list[str] = []
    gate = asyncio.Event()

    async def broken(ctx: Any) -> None:
        ran.append(ctx.task_id)
        raise PermanentError("the chart does not render")

    async def ok(ctx: Any) -> None:
        ran.append(ctx.task_id)

    async def hold(ctx: Any) -> None:
        await gate.wait()
        ran.append(ctx.task_id)

    tasks = [FunctionTask("a", never, broken), FunctionTask("b", never, ok, deps=("a",)),
             FunctionTask("c", never, ok, deps=("b",)), FunctionTask("slow", never, hold),
             FunctionTask("later", never, ok, deps=("slow",))]
    sched = Scheduler(tasks, j, run)
    runner = asyncio.create_task(sched.run())
    await wait_until_async(lambda: sched.state.get("c") == TaskState.BLOCKED, timeout=20, what="c blocked by a")

    assert sched.skip("slow").startswith("task slow is running")       # a running task is not skipped
    assert sched.skip("nope") == "unknown task 'nope'"
    assert sched.skip("a") == "ok"
    await wait_until_async(lambda: sched.state.get("c") == TaskState.DONE, timeout=20, what="b and c run after the skip")
    assert sched.skip("a").startswith("task a is done")                # once is enough
    assert sched.skip("later") == "ok"                                 # a pending task: its turn never comes
    gate.set()
    assert await runner == "done"
    assert ran.count("a") == 1 and "later" not in ran and {"b", "c", "slow"} <= set(ran)
    rows = {t.id: t for t in j.tasks(run)}
    assert [tid for tid, t in rows.items() if is_skipped(t.state.value, t.message)] == ["a", "later"]
    assert any(e.message == f"done: {SKIPPED}" and e.level == "warning" for e in j.events(run, task="a"))
    assert any("a skipped by operator" in e.message for e in j.events(run, task="b"))
    assert sched.skipped == {"a", "later"}

    # A resume of the run checks the skipped task again: it fails again, its dependants wait for it.
    again = Scheduler(tasks, j, run)
    assert await again.run() == "failed"
    assert again.state["a"] == TaskState.FAILED and again.state["b"] == TaskState.BLOCKED
    assert ran.count("a") == 2
    j.close()


def test_skip_command_releases_the_dependants_and_status_says_skipped(env: Env) -> None:
    env.engine("tests.engine.graphs:skip_graph", output=False)
    wait_until(lambda: (env.state / "engine.sock").exists(), what="the engine's control socket")
    states = lambda: {t["id"]: t["state"] for t in env.status()["tasks"]}  # noqa: E731
    wait_until(lambda: states().get("child") == "blocked", what="child blocked by the failure")

    refused = env.cli("skip", "held", "--state-dir", str(env.state))
    assert refused.returncode == 1 and "task held is running" in refused.stderr
    r = env.cli("skip", "broken", "--state-dir", str(env.state))
    assert r.returncode == 0 and "skip: ok" in r.stdout, r.stderr
    wait_until(lambda: states().get("child") == "done", what="child run after the skip")
    (env.work / "gate").write_text("open")
    wait_until(lambda: env.status()["run"]["state"] == "done", what="the run to complete")
    assert not (env.work / "ok-broken").exists()
    shown = env.cli("status", "--state-dir", str(env.state))
    assert "skipped              broken: skipped by operator, not checked" in shown.stdout
    events = json.loads(env.cli("status", "--state-dir", str(env.state), "--json", "--events", "50").stdout)["events"]
    assert any("install done (1 task(s) skipped by the operator" in e["message"] for e in events if e["task"] is None)
