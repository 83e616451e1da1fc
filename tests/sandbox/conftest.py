"""Fixtures: a sandbox cluster on 127.0.0.1 port 0, reached through its kubeconfig like a real one."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.support import wait_until

KUBECTL = "/usr/bin/kubectl"


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05, what: str = "condition") -> Any:
    return wait_until(cond, timeout=timeout, interval=interval, what=what)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """One in-process sandbox per test module (3 nodes, delays /50)."""
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), nodes=3, speed=50.0) as handle:
        yield handle


@pytest.fixture
def fresh_sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A sandbox of its own, for tests that inject faults or change the cluster's shape."""
    with start_sandbox(tmp_path / "sandbox", nodes=3, speed=50.0) as handle:
        yield handle


class Kubectl:
    def __init__(self, handle: SandboxHandle, cache_dir: Path) -> None:
        self.handle = handle
        self.cache_dir = cache_dir

    def __call__(self, *args: str, check: bool = True, timeout: float = 60.0,
                 stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [KUBECTL, "--kubeconfig", str(self.handle.kubeconfig_path), "--cache-dir", str(self.cache_dir),
               "--request-timeout", "20s", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc


@pytest.fixture
def kubectl(sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(sandbox, tmp_path_factory.mktemp("kubecache"))


@pytest.fixture
def api_client(sandbox: SandboxHandle) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(str(sandbox.kubeconfig_path))
    try:
        yield client
    finally:
        client.close()
