"""Synthetic graphs for TUI tests, loaded by a real engine via ``--graph tests.tui.graphs:NAME``.

Parameters come from the environment (DT_TEST_DIR), which the engine inherits.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from digit_tui.engine.errors import PermanentError
from digit_tui.engine.task import Task


def _work() -> Path:
    return Path(os.environ["DT_TEST_DIR"])


class Marker(Task):
    """Done when its marker file exists; ensure writes it."""

    async def check(self, ctx: Any) -> bool:
        return (_work() / f"done-{self.id}").exists()

    async def ensure(self, ctx: Any) -> None:
        ctx.log(f"writing marker for {self.id}")
        (_work() / f"done-{self.id}").write_text("ok")


class Gate(Marker):
    """Runs until the test creates the file ``gate``: keeps the engine alive while the test looks."""

    async def ensure(self, ctx: Any) -> None:
        ctx.log("waiting for the gate file")
        while not (_work() / "gate").exists():
            await asyncio.sleep(0.05)
        await super().ensure(ctx)


class Fragile(Marker):
    """Fails permanently until the test creates ``fixed``; then a retry succeeds."""

    async def ensure(self, ctx: Any) -> None:
        if not (_work() / "fixed").exists():
            raise PermanentError("the chart does not render", remedy="fix values.yaml and retry")
        await super().ensure(ctx)


def control_graph(settings: Any) -> list[Task]:
    return [Marker("prep", "prepare", phase="prerequisites"),
            Gate("hold", "hold until the gate opens", phase="release/core", deps=["prep"]),
            Fragile("fragile", "fragile chart", phase="release/apps", deps=["prep"]),
            Marker("after", "after the fragile one", phase="release/apps", deps=["fragile"])]


def gate_graph(settings: Any) -> list[Task]:
    return [Marker("prep", "prepare the hosts", phase="prerequisites"),
            Gate("hold", "wait for the gate", phase="release", deps=["prep"]),
            Marker("last", "finish up", phase="release", deps=["hold"])]
