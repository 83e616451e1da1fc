"""Injected faults as a client sees them (done-when 4): latency, 5xx, resets, partition, cut watches, NotReady."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.sandbox.conftest import wait_for


@pytest.fixture(scope="module")
def fsb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path_factory.mktemp("faults"), nodes=3, speed=50.0) as handle:
        yield handle


@pytest.fixture
def v1(fsb: SandboxHandle) -> Iterator[client.CoreV1Api]:
    api = config.new_client_from_config(str(fsb.kubeconfig_path))
    api.configuration.retries = 0  # see each failure as it happens, no silent urllib3 retry
    api.rest_client.pool_manager.connection_pool_kw["retries"] = False
    try:
        yield client.CoreV1Api(api)
    finally:
        fsb.clear_faults()
        api.close()


def _watch_in_thread(v1: client.CoreV1Api) -> tuple[threading.Thread, list[Any], threading.Event]:
    outcome: list[Any] = []
    started = threading.Event()

    def run() -> None:
        try:
            for _ in watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=30,
                                          _request_timeout=60):
                started.set()
            outcome.append("ended")
        except Exception as exc:  # what the client raises is the point of the test
            outcome.append(exc)

    v1.create_namespaced_config_map("default", {"metadata": {"generateName": "seed-"}})
    t = threading.Thread(target=run, daemon=True)
    t.start()
    assert started.wait(10), "watch did not start"
    return t, outcome, started


def test_latency_delays_every_request(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    # 1 s, not less: once cleared, a request must come back faster than the delay, and a request
    # on a machine busy with other test workers can take a few hundred ms by itself
    fsb.fault({"kind": "latency", "ms": 1000, "seconds": 30})
    t0 = time.monotonic()
    v1.list_namespace(_request_timeout=10)
    assert time.monotonic() - t0 >= 1.0
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        v1.list_namespace(_request_timeout=0.2)
    fsb.clear_faults()
    t0 = time.monotonic()
    v1.list_namespace(_request_timeout=10)
    assert time.monotonic() - t0 < 1.0


@pytest.mark.parametrize("code,reason", [(503, "ServiceUnavailable"), (500, "InternalError"),
                                         (429, "TooManyRequests")])
def test_error_rate_returns_status_errors(fsb: SandboxHandle, v1: client.CoreV1Api, code: int, reason: str) -> None:
    fsb.fault({"kind": "errors", "rate": 1.0, "code": str(code)})
    with pytest.raises(ApiException) as exc:
        v1.list_namespace(_request_timeout=10)
    assert exc.value.status == code and reason in exc.value.body


def test_partial_error_rate_fails_some_requests(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    fsb.fault({"kind": "errors", "rate": 0.5, "code": "503"})
    failures = 0
    for _ in range(40):
        try:
            v1.list_namespace(_request_timeout=10)
        except ApiException as exc:
            assert exc.status == 503
            failures += 1
    assert 5 <= failures <= 35


def test_connection_resets(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    fsb.fault({"kind": "errors", "rate": 1.0, "code": "reset"})
    with pytest.raises(urllib3.exceptions.ProtocolError) as exc:
        v1.list_namespace(_request_timeout=10)
    assert "Connection aborted" in str(exc.value) or "reset" in str(exc.value).lower()


def test_partition_drops_requests_and_open_watches_then_heals(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    t, outcome, _ = _watch_in_thread(v1)
    fsb.fault({"kind": "partition", "seconds": 1.5})
    t.join(timeout=10)
    assert outcome and isinstance(outcome[0], urllib3.exceptions.HTTPError), outcome
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        v1.list_namespace(_request_timeout=0.3)  # no answer at all, like a dropped route
    wait_for(lambda: _ok(v1), timeout=10, what="the partition to heal")


def test_partition_refuse_mode_resets_connections(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    fsb.fault({"kind": "partition", "seconds": 30, "mode": "refuse"})
    with pytest.raises(urllib3.exceptions.ProtocolError):
        v1.list_namespace(_request_timeout=5)
    fsb.clear_faults()
    assert _ok(v1)


def _ok(v1: client.CoreV1Api) -> bool:
    try:
        v1.list_namespace(_request_timeout=0.5)
        return True
    except (urllib3.exceptions.HTTPError, ApiException):
        return False


def test_cut_watches_breaks_open_streams(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    t, outcome, _ = _watch_in_thread(v1)
    assert fsb.fault({"kind": "cut-watches"})["cut"] >= 1
    t.join(timeout=10)
    assert outcome and isinstance(outcome[0], urllib3.exceptions.ProtocolError), outcome
    assert _ok(v1)  # only the streams were cut, the API still answers


def test_node_not_ready_and_heal(fsb: SandboxHandle, v1: client.CoreV1Api) -> None:
    def ready(name: str) -> str:
        node = v1.read_node(name, _request_timeout=5)
        return next(c.status for c in node.status.conditions if c.type == "Ready")

    wait_for(lambda: ready("node-2") == "True", what="node-2 Ready")
    fsb.fault({"kind": "node-not-ready", "node": "node-2"})
    wait_for(lambda: ready("node-2") != "True", what="node-2 NotReady")
    node = v1.read_node("node-2")
    cond = next(c for c in node.status.conditions if c.type == "Ready")
    assert cond.reason == "NodeStatusUnknown"
    fsb.clear_faults()
    wait_for(lambda: ready("node-2") == "True", what="node-2 Ready again")


def test_cli_up_status_fault_down(tmp_path: Path) -> None:
    state = tmp_path / "state"
    exe = [sys.executable, "-m", "digit_tui.cli", "sandbox", "--state-dir", str(state)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([*exe, *args], capture_output=True, text=True, timeout=60, env=env)
        if check:
            assert p.returncode == 0, p.stdout + p.stderr
        return p

    up = run("up", "--nodes", "2", "--speed", "50")
    try:
        kubeconfig = up.stdout.strip()
        assert kubeconfig == str(state / "kubeconfig") and len(up.stdout.splitlines()) == 1
        assert run("up").stdout.strip() == kubeconfig  # idempotent: the running one is reused
        st = wait_for(lambda: (s := run("status").stdout) and "nodes: 2 (2 ready)" in s and s,
                      what="status with 2 ready nodes")
        assert "running" in st and "https://127.0.0.1:" in st
        run("fault", "errors", "--rate", "1", "--code", "500")
        k = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(tmp_path / "c"),
                            "get", "ns"], capture_output=True, text=True, timeout=60)
        assert k.returncode == 1 and "InternalError" in k.stderr, k.stderr
        run("fault", "clear")
        k = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(tmp_path / "c"),
                            "get", "ns", "default", "-o", "name"], capture_output=True, text=True, timeout=60)
        assert k.stdout.strip() == "namespace/default", k.stderr
    finally:
        run("down")
    gone = run("status", check=False)
    assert gone.returncode == 1 and "not running" in gone.stdout
    assert not (state / "sandbox.pid").exists()
    bad = run("up", "--nodes", "0", check=False)
    assert bad.returncode == 2


@pytest.mark.parametrize("body", [{"kind": "partition", "seconds": -5}, {"kind": "latency", "ms": 10, "seconds": 0},
                                  {"kind": "node-not-ready", "node": "node-1", "seconds": "NaN"}])
def test_a_bad_fault_duration_is_refused_and_changes_nothing(fsb: SandboxHandle, v1: client.CoreV1Api,
                                                            body: dict[str, object]) -> None:
    with pytest.raises(RuntimeError, match="seconds must be"):   # a 400 with the reason, not a 500
        fsb.fault(body)
    assert v1.list_namespace(_request_timeout=3).items                 # no partition, no latency took hold
    ready = [c.status for n in v1.list_node(_request_timeout=3).items for c in n.status.conditions or []
             if c.type == "Ready"]
    assert ready and set(ready) == {"True"}
