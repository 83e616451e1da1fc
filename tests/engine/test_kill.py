"""The engine survives SIGKILL at any moment and never redoes finished work."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter

from .conftest import Env, wait_until

GRAPH = "tests.engine.graphs:kill_graph"


def _lines(env: Env) -> list[str]:
    try:
        return (env.work / "data.txt").read_text().splitlines()
    except FileNotFoundError:
        return []


def test_sigkill_at_random_moments_then_resume(env: Env) -> None:
    n = 40
    env.environ.update(DT_TASKS=str(n), DT_DELAY="0.15")
    # Four at a time, not the engine's default of 32 waiting tasks: with most of the graph running at
    # once, a few kills would cover the whole install and most moments would go untested.
    env.answers.write_text(env.answers.read_text() + "engine:\n  concurrency: 4\n")
    rng = random.Random(2026)
    kills = 0
    while kills < 12 and len(_lines(env)) < n - 3:
        proc = env.engine(GRAPH)
        target = len(_lines(env)) + rng.randint(1, 2)
        wait_until(lambda: len(_lines(env)) >= target or proc.poll() is not None, timeout=30,
                   what="progress before the kill")
        time.sleep(rng.uniform(0, 0.06))  # land anywhere: inside ensure, between write and commit...
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=10)
    assert kills >= 10, f"only {kills} kills landed while the engine was working"

    proc = env.engine(GRAPH)  # the last restart runs to the end
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err

    counts = Counter(_lines(env))
    assert sorted(counts) == sorted(f"key=t{i}" for i in range(n)), "a line is missing"
    assert all(c == 1 for c in counts.values()), f"lines written twice: {[k for k, c in counts.items() if c > 1]}"

    audit = (env.work / "audit.txt").read_text().splitlines()
    assert not [a for a in audit if a.endswith("present=True")], "ensure ran after its check had converged"

    st = env.status()
    assert st["run"]["state"] == "done"
    assert st["counts"]["done"] == n
    assert all(t["state"] == "done" for t in st["tasks"])
