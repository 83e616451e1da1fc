"""Dry run of a whole graph for ``digit-tui plan``: no task changes anything."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from digit_tui.engine.task import Task


_P = ParamSpec("_P")
_R = TypeVar("_R")


class _PlanContext:
    """A context whose writes go nowhere: plan must not touch the journal or the world."""

    def __init__(self, task: Task) -> None:
        self.task_id = task.id
        self.run_id = "plan"

    def output(self, task_id: str) -> Mapping[str, Any]:
        return {}

    def publish(self, key: str, value: Any) -> None:
        pass

    def log(self, message: str, level: str = "info") -> None:
        pass

    def progress(self, done: int, total: int, message: str = "") -> None:
        pass

    def secret(self, value: str) -> str:
        return value

    async def run_sync(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        return await asyncio.to_thread(fn, *args, **kwargs)


async def dry_run_all(tasks: Sequence[Task], timeout: float | None = None) -> dict[str, list[str]]:
    """Each task's dry run, within ``timeout`` or else the task's own attempt timeout (a cloud
    ``terraform plan`` can take minutes)."""
    out: dict[str, list[str]] = {}
    for t in tasks:
        try:
            out[t.id] = await asyncio.wait_for(t.dry_run(_PlanContext(t)), timeout or t.timeout)
        except Exception as exc:  # one task's dry run failing must not hide the rest of the plan
            out[t.id] = [f"(dry run failed: {exc})"]
    return out
