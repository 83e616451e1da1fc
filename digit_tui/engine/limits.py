"""How many tasks the engine runs at once, by what they spend their time on (``Task.load``).

An install's tasks mostly wait: a release task applies in a fraction of a second and then watches
its rollout for a minute, a prerequisite waits on SSH, the cluster phase on a cloud. Holding such
tasks to the machine's core count (or a fixed 4) leaves a DIGIT release queueing behind watches
that cost nothing. Work that computes here (rendering charts) is the opposite: more of it at once
than there are cores only makes each one slower.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from digit_tui.engine.task import Load

# Waiting tasks at once when the run sets no limit. Each holds one connection of the cluster
# client's pool (32 per host, infra/kube.py) for its watch, and one engine thread; an API server
# serves thousands of watches, so this bounds our own resources rather than the server's.
AUTO_WAIT = 32
THREAD_SLACK = 4    # threads beyond one per running task: a task may run a short call beside its wait


def usable_cores() -> int:
    """Cores this process may run on (its affinity, as a container or `taskset` limits it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Limits:
    cpu: int        # tasks of Load.CPU at once
    wait: int       # tasks of Load.WAIT at once
    total: int      # tasks at once, whatever their load

    @classmethod
    def of(cls, concurrency: int | None, cores: int | None = None) -> Limits:
        """The operator's ``concurrency`` is a cap on tasks at once (1: one after another), with
        computing tasks held to the cores as well; None: one computing task per core and
        AUTO_WAIT waiting ones."""
        n = cores if cores is not None else usable_cores()
        if concurrency is None:
            return cls(cpu=n, wait=AUTO_WAIT, total=n + AUTO_WAIT)
        c = max(1, concurrency)
        return cls(cpu=min(c, n), wait=c, total=c)

    def of_load(self, load: Load) -> int:
        return self.cpu if load is Load.CPU else self.wait

    def admits(self, load: Load, running: Mapping[Load, int], *, cores: int = 1, tasks: int | None = None) -> bool:
        """Whether one more task of ``load`` may start beside ``running``: tasks running by load, a
        computing task counted by the cores it keeps busy (``Task.cores``), ``tasks`` the number of
        tasks running (the sum of ``running`` when not given). A computing task wider than the
        limit still starts when no other one computes, or it would never start."""
        if (sum(running.values()) if tasks is None else tasks) >= self.total:
            return False
        busy = running.get(load, 0)
        if load is Load.CPU:
            return busy == 0 or busy + cores <= self.cpu
        return busy < self.of_load(load)

    @property
    def threads(self) -> int:
        """Worker threads for the tasks' blocking calls: a thread per task that may run at once.
        (asyncio's default pool has min(32, cores + 4): six on two cores, which would hold all
        but six waiting tasks in a queue however high the limits.)"""
        return min(self.total, self.cpu + self.wait) + THREAD_SLACK

    def __str__(self) -> str:
        return f"{self.total} tasks at once ({self.cpu} computing, {self.wait} waiting)"
