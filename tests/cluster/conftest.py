"""Helpers for the cluster phase's tests: the real engine (Scheduler + Journal) over a state
directory, sandboxes (in-process for the existing provider, `digit-tui sandbox up` processes for
the sandbox provider), and the real /usr/bin/kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from digit_tui.answers.model import Target
from digit_tui.engine.journal import Journal, TaskRow
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import RetryPolicy, Task
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from digit_tui.tasks.cluster import ClusterChecks
from digit_tui.tasks.cluster_sandbox import SandboxSpec

REPO = Path(__file__).resolve().parents[2]
KUBECTL = "/usr/bin/kubectl"
FAST_SANDBOX = SandboxSpec(speed=50.0, start_timeout=30.0)
QUICK = ClusterChecks(ready_wait=0.5, poll=0.1, read_timeout=5.0)
ONCE = RetryPolicy(attempts=1, base_delay=0.1, max_delay=0.5, network_wait=20.0)


class Engine:
    """Runs task lists through the real scheduler, one run each, journalled in ``state``."""

    def __init__(self, state: Path) -> None:
        self.state = state
        state.mkdir(mode=0o700, exist_ok=True)
        self.journal = Journal.in_dir(state)
        self.run_id = ""

    async def run(self, tasks: Sequence[Task], **kw: Any) -> str:
        self.run_id = self.journal.create_run("clustertest", "test", {}, None)
        kw.setdefault("probe_interval", 0.1)
        return await Scheduler(tasks, self.journal, self.run_id, **kw).run()

    def row(self, task_id: str = "cluster") -> TaskRow:
        row = self.journal.task(self.run_id, task_id)
        assert row is not None
        return row

    def messages(self, task_id: str = "cluster", kind: str | None = None) -> list[str]:
        return [e.message for e in self.journal.events(self.run_id, task=task_id) if kind is None or e.kind == kind]

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path / "state")
    yield e
    e.close()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """An in-process sandbox for tests that only read (3 nodes, delays /50)."""
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), nodes=3, speed=50.0) as handle:
        yield handle


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox of its own, for tests that break a node or change StorageClasses."""
    with start_sandbox(tmp_path / "own-sandbox", nodes=3, speed=50.0) as handle:
        yield handle


def existing(kubeconfig: Path, context: str | None = None) -> Target:
    return Target.model_validate({"provider": "existing", "kubeconfig": str(kubeconfig), "context": context})


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digit_tui.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))


def sandbox_status(sandbox_dir: Path) -> dict[str, Any]:
    r = cli("sandbox", "--state-dir", str(sandbox_dir), "status", "--json")
    return json.loads(r.stdout)


def kubectl(kubeconfig: str, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    """The real kubectl, told the kubeconfig explicitly; $KUBECONFIG names a file that is no cluster."""
    env = dict(os.environ, KUBECONFIG=str(cache / "not-a-kubeconfig"), HOME=str(cache))
    return subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "--cache-dir", str(cache / "kubecache"),
                           "--request-timeout", "20s", *args], capture_output=True, text=True, timeout=60, env=env)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777
