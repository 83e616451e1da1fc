"""An in-process sandbox for controller tests: Store + ControllerManager on the
test's event loop (no HTTP), with helpers that read what a user would look at."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from digit_tui.sandbox import resources as R
from digit_tui.sandbox.manager import ControllerManager
from digit_tui.sandbox.simconfig import SimConfig
from digit_tui.sandbox.store import Store


class SimCluster:
    def __init__(self, store: Store, mgr: ControllerManager) -> None:
        self.store = store
        self.mgr = mgr

    async def wait(self, cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = cond()
            if last:
                return last
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; last={last!r}")

    def pod(self, name: str, ns: str = "egov") -> dict[str, Any]:
        return self.store.get(R.PODS, ns, name) or {}

    def pods(self, ns: str, **labels: str) -> list[dict[str, Any]]:
        sel = ",".join(f"{k}={v}" for k, v in labels.items()) or None
        return self.store.list(R.PODS, ns, label_selector=sel)[0]

    def events(self, ns: str, reason: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.store.list(R.EVENTS, ns)[0] if reason is None or e["reason"] == reason]

    def messages(self, name: str, ns: str = "egov") -> list[tuple[str, str, str]]:
        return [(e["type"], e["reason"], e["message"]) for e in self.events(ns)
                if e["involvedObject"]["name"] == name]

    def failed_scheduling(self, pod: str, ns: str = "egov") -> list[str]:
        return [e["message"] for e in self.events(ns, "FailedScheduling") if e["involvedObject"]["name"] == pod]


async def start_cluster(**config: Any) -> SimCluster:
    """Nodes, default namespaces and the ``egov`` namespace, delays divided by 50 unless ``speed`` says."""
    store = Store()
    mgr = ControllerManager(store, SimConfig(**{"speed": 50.0, **config}))
    await mgr.start()
    store.create(R.NAMESPACES, {"metadata": {"name": "egov"}})
    return SimCluster(store, mgr)
