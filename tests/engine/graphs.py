"""Synthetic task graphs for engine tests, loaded by the detached engine through
``--graph tests.engine.graphs:NAME``. Parameters come from the environment the
test gives the engine process (the engine inherits it)."""

from __future__ import annotations

import asyncio
import os
import random
import socket
from pathlib import Path
from typing import Any

from digit_tui.engine.errors import TransientError
from digit_tui.engine.task import Endpoint, RetryPolicy, Task
from digit_tui.infra import reads


def _workdir() -> Path:
    return Path(os.environ["DT_TEST_DIR"])


class AppendTask(Task):
    """ensure appends an idempotency-keyed line; check says whether it is there.

    Every ensure first records "start <key>" in an audit file, so a test can
    prove no ensure started after the line was already present.
    """

    def __init__(self, id: str, deps: list[str], delay: float) -> None:
        super().__init__(id, f"append {id}", phase="synthetic", deps=deps)
        self.delay = delay

    def _lines(self) -> list[str]:
        try:
            return (_workdir() / "data.txt").read_text().splitlines()
        except FileNotFoundError:
            return []

    async def check(self, ctx: Any) -> bool:
        return f"key={self.id}" in self._lines()

    async def ensure(self, ctx: Any) -> None:
        present = f"key={self.id}" in self._lines()
        with open(_workdir() / "audit.txt", "a") as f:
            f.write(f"start {self.id} present={present}\n")
        await asyncio.sleep(self.delay)
        fd = os.open(_workdir() / "data.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"key={self.id}\n".encode())  # one write(): a kill cannot tear the line
        finally:
            os.close(fd)
        ctx.publish("line", f"key={self.id}")


class WitnessedAppendTask(AppendTask):
    """An AppendTask whose check says what it reads (infra/reads.py): the data file."""

    witnessed = True

    async def check(self, ctx: Any) -> bool:
        reads.file(_workdir() / "data.txt")
        if os.environ.get("DT_FICKLE") == self.id:    # its ensure never makes it converge
            return False
        return await super().check(ctx)


def witnessed_graph(settings: Any) -> list[Task]:
    """Three witnessed tasks in a chain; with DT_BLIND=1 a fourth that is not witnessed."""
    tasks: list[Task] = [WitnessedAppendTask("w0", [], 0.0), WitnessedAppendTask("w1", ["w0"], 0.0),
                         WitnessedAppendTask("w2", ["w1"], 0.0)]
    if os.environ.get("DT_BLIND") == "1":
        tasks.append(AppendTask("blind", ["w2"], 0.0))
    return tasks


def kill_graph(settings: Any) -> list[Task]:
    """A layered DAG of DT_TASKS tasks (default 36), each depending on 1-3 earlier ones."""
    n = int(os.environ.get("DT_TASKS", "36"))
    delay = float(os.environ.get("DT_DELAY", "0.05"))
    rng = random.Random(7)
    tasks: list[Task] = []
    for i in range(n):
        deps = sorted({f"t{rng.randrange(i)}" for _ in range(rng.randint(1, 3))}) if i >= 4 else []
        tasks.append(AppendTask(f"t{i}", deps, delay * rng.uniform(0.5, 1.5)))
    return tasks


class GateTask(Task):
    """Waits until the test creates a gate file; done when its marker exists."""

    async def check(self, ctx: Any) -> bool:
        return (_workdir() / f"done-{self.id}").exists()

    async def ensure(self, ctx: Any) -> None:
        gate = _workdir() / "gate"
        while not gate.exists():
            await asyncio.sleep(0.05)
        (_workdir() / f"done-{self.id}").write_text("ok")


def gate_graph(settings: Any) -> list[Task]:
    return [GateTask("first", "wait for gate"), GateTask("second", "after first", deps=["first"])]


class TcpTask(Task):
    """Talks to a TCP server (DT_PORT): sends 'ping', expects 'pong'."""

    def __init__(self) -> None:
        port = int(os.environ["DT_PORT"])
        super().__init__("talk", "talk to the server", phase="network",
                         retry=RetryPolicy(attempts=3, base_delay=0.1, max_delay=0.5, network_wait=120),
                         timeout=10, endpoints=[Endpoint("127.0.0.1", port, "test server")])
        self.port = port

    async def check(self, ctx: Any) -> bool:
        return (_workdir() / "talked").exists()

    async def ensure(self, ctx: Any) -> None:
        def talk() -> str:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"ping\n")
                return s.recv(16).decode()
        answer = await ctx.run_sync(talk)
        if answer.strip() != "pong":
            raise TransientError(f"unexpected answer {answer!r}")
        (_workdir() / "talked").write_text(answer)


def network_graph(settings: Any) -> list[Task]:
    return [TcpTask()]


class FailTask(Task):
    async def ensure(self, ctx: Any) -> None:
        from digit_tui.engine.errors import PermanentError
        raise PermanentError("the chart does not render", remedy="fix the chart")


class OkTask(Task):
    async def check(self, ctx: Any) -> bool:
        return (_workdir() / f"ok-{self.id}").exists()

    async def ensure(self, ctx: Any) -> None:
        (_workdir() / f"ok-{self.id}").write_text("ok")


def failing_graph(settings: Any) -> list[Task]:
    return [FailTask("broken"), OkTask("child", deps=["broken"]), OkTask("grandchild", deps=["child"]),
            OkTask("independent")]


def skip_graph(settings: Any) -> list[Task]:
    """A failure with a dependant, and a gate that keeps the engine alive to take a skip."""
    return [FailTask("broken"), OkTask("child", deps=["broken"]), GateTask("held", "held open")]
