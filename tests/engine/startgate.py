"""A graph whose factory waits for a start gate: the engine then holds the state lock
without answering on its control socket yet, as a real engine does while it loads a
large release. Loaded by the detached engine through ``--graph tests.engine.startgate:graph``."""

from __future__ import annotations

import time
from typing import Any

from digit_tui.engine.task import Task

from tests.engine.graphs import _workdir, gate_graph


def graph(settings: Any) -> list[Task]:
    deadline = time.monotonic() + 120  # never hang a test run for good
    while not (_workdir() / "start-gate").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return gate_graph(settings)
