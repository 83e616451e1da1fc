"""Engine speed figures: scheduler overhead, journal write rate, resume time.

    .venv/bin/python bench/engine.py [--tasks 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from digit_tui.engine.journal import Journal  # noqa: E402
from digit_tui.engine.scheduler import Scheduler  # noqa: E402
from digit_tui.engine.task import FunctionTask, TaskState  # noqa: E402


async def _false(ctx: Any) -> bool:
    return False


async def _true(ctx: Any) -> bool:
    return True


async def _noop(ctx: Any) -> None:
    return None


def graph(n: int, check: Any) -> list[FunctionTask]:
    rng = random.Random(1)
    tasks = []
    for i in range(n):
        deps = tuple(sorted({f"t{rng.randrange(i)}" for _ in range(rng.randint(0, 2))})) if i else ()
        tasks.append(FunctionTask(f"t{i}", check, _noop, deps=deps))
    return tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=1000)
    n = ap.parse_args().tasks
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        j = Journal.in_dir(d)
        run = j.create_run("bench", "bench", {}, None)
        t0 = time.perf_counter()
        final = asyncio.run(Scheduler(graph(n, _false), j, run, concurrency=4).run())
        elapsed = time.perf_counter() - t0
        assert final == "done"
        events = len(j.events(run, limit=10**9))
        print(f"scheduler: {n} no-op tasks in {elapsed:.2f} s = {elapsed / n * 1000:.2f} ms per task "
              f"(check + ensure + {events / n:.1f} journal commits each)")

        t0 = time.perf_counter()
        writes = 5000
        for i in range(writes):
            j.log(run, "t0", f"event {i}")
        el = time.perf_counter() - t0
        print(f"journal: {writes / el:,.0f} committed event writes per second (WAL, synchronous=NORMAL)")

        # Resume: a journal where every task is marked running (the engine was killed),
        # and a fresh engine that re-checks them all (check converged) to the end.
        for t in j.tasks(run):
            j.transition(run, t.id, TaskState.RUNNING, "killed mid-run")
        j.close()
        t0 = time.perf_counter()
        j2 = Journal.in_dir(d)
        final = asyncio.run(Scheduler(graph(n, _true), j2, run, concurrency=4).run())
        el = time.perf_counter() - t0
        assert final == "done"
        print(f"resume: {n}-task journal re-checked to done in {el:.2f} s")
        j2.close()


if __name__ == "__main__":
    main()
