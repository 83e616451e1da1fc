"""`digit-tui health --once --json` against a real sandbox, and the pure fault model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from digit_tui.health.model import build_model, classify_pod
from digit_tui.health.watcher import fetch_once
from digit_tui.sandbox.runtime import start_sandbox
from tests.tui.conftest import REPO, wait_until


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digit_tui.cli", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_health_once_json_reports_faults_and_exits_1(tmp_path: Path) -> None:
    from kubernetes import client, config

    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    try:
        api = config.new_client_from_config(str(h.kubeconfig_path))
        client.CoreV1Api(api).create_namespaced_pod("default", {
            "metadata": {"name": "bad-image"},
            "spec": {"containers": [{"name": "c", "image": "egovio/does-not-exist:v1"}]}})
        api.close()
        wait_until(lambda: build_model(fetch_once(h.kubeconfig_path, None)).faults, what="the fault to show")
        r = _cli("health", "--kubeconfig", str(h.kubeconfig_path), "--once", "--json")
        assert r.returncode == 1, r.stderr
        report = json.loads(r.stdout)
        assert report["reachable"] is True and report["healthy"] is False
        assert report["summary"]["nodes"] == {"ready": 1, "total": 1}
        [fault] = report["faults"]
        assert fault["name"] == "bad-image" and fault["fault"] in ("ImagePullBackOff", "ErrImagePull")
    finally:
        h.stop()
    # The same kubeconfig with the cluster gone: exit 4 (nothing could be checked), and the JSON says why.
    r = _cli("health", "--kubeconfig", str(h.kubeconfig_path), "--once", "--json")
    assert r.returncode == 4
    assert json.loads(r.stdout)["reachable"] is False
    assert "cluster unreachable" in r.stderr


def test_health_bad_kubeconfig_is_bad_input(tmp_path: Path) -> None:
    r = _cli("health", "--kubeconfig", str(tmp_path / "nope"), "--once", "--json")
    assert r.returncode == 2 and "kubeconfig not found" in r.stderr


def _pod(**status: object) -> dict:
    return {"metadata": {"namespace": "egov", "name": "p", "creationTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c"}]}, "status": status}


def test_model_classifies_the_faults_an_operator_must_act_on() -> None:
    crash = classify_pod(_pod(phase="Running", containerStatuses=[{
        "name": "c", "ready": False, "restartCount": 7, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]))
    assert (crash.fault, crash.restarts, crash.reason) == ("CrashLoopBackOff", 7, "last exit code 1 (Error)")
    cfg = classify_pod(_pod(phase="Pending", containerStatuses=[{
        "name": "c", "ready": False, "state": {"waiting": {"reason": "CreateContainerConfigError",
                                                           "message": 'secret "db" not found'}}}]))
    assert cfg.fault == "CreateContainerConfigError" and "secret" in (cfg.reason or "")
    pending = classify_pod(_pod(phase="Pending"), [{"reason": "FailedScheduling",
                                                    "message": "0/6 nodes are available: 6 Insufficient memory."}])
    assert pending.fault == "FailedScheduling" and pending.status == "Pending"
    assert pending.reason == "0/6 nodes are available: 6 Insufficient memory."
    creating = classify_pod(_pod(phase="Pending", containerStatuses=[{
        "name": "c", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}]),
        now=1704067210.0)
    assert creating.fault is None and creating.status == "ContainerCreating"
    not_ready = classify_pod(_pod(phase="Running", startTime="2024-01-01T00:00:00Z", containerStatuses=[{
        "name": "c", "ready": False, "state": {"running": {}}}]), now=1704067200.0 + 600)
    assert not_ready.fault == "NotReady" and not_ready.ready == "0/1"
    young = classify_pod(_pod(phase="Running", startTime="2024-01-01T00:00:00Z", containerStatuses=[{
        "name": "c", "ready": False, "state": {"running": {}}}]), now=1704067200.0 + 30)
    assert young.fault is None  # still starting: not a fault yet


def test_health_reads_the_kubeconfig_kubectl_would_and_says_which(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, HOME=str(tmp_path / "home"))
    env.pop("KUBECONFIG", None)
    r = subprocess.run([sys.executable, "-m", "digit_tui.cli", "health", "--once", "--json"], capture_output=True,
                       text=True, timeout=60, cwd=REPO, env=env)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no kubeconfig to read" in r.stderr and "--kubeconfig" in r.stderr

    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    try:
        env["KUBECONFIG"] = f"{tmp_path / 'missing'}{os.pathsep}{h.kubeconfig_path}"
        r = subprocess.run([sys.executable, "-m", "digit_tui.cli", "health", "--once", "--json"],
                           capture_output=True, text=True, timeout=60, cwd=REPO, env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["reachable"] is True
        assert f"using the kubeconfig {h.kubeconfig_path} (from $KUBECONFIG)" in r.stderr
    finally:
        h.stop()
