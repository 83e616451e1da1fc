"""A kubeconfig that cannot work says why, at once: a wrong CA, a refused token, a user without
rights and an unknown host are permanent errors with a remedy of their own; a closed port is
"connection refused" and transient. Through a real `install --headless` against the sandbox, and
through `health --once` and `size --check-kubeconfig`, which use the same classification.
None of them shows urllib3's MaxRetryError."""

from __future__ import annotations

import base64
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.release.conftest import ALL_MODULES, REPO, Install


@dataclass(frozen=True)
class Case:
    name: str
    error: str          # what the failed task's error must say
    remedy: str         # what its remedy must say
    health: str         # what `health --once` must say
    transient: bool = False


CASES = [
    Case("wrong-ca", "the cluster's certificate is not signed by the CA in {kc}", "certificate-authority",
         "TLS certificate not trusted (certificate verify failed"),
    Case("wrong-token", "the token/credentials in {kc} were refused (401 Unauthorized)", "fresh kubeconfig or token",
         "credentials refused (401)"),
    Case("no-rights", "forbidden (403): the kubeconfig's user lacks rights", "role binding", "forbidden (403)"),
    Case("unknown-host", "no such host no-such-host.invalid: check the server URL in {kc} or DNS/VPN",
         "VPN / DNS", "no such host no-such-host.invalid"),
    Case("closed-port", "connection refused by the cluster API at https://127.0.0.1:", "check the port",
         "connection refused", transient=True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broken_kubeconfig(cluster: Any, case: str, dest: Path) -> Path:
    """The sandbox's kubeconfig with one thing wrong."""
    from digit_tui.sandbox import pki

    doc = yaml.safe_load(cluster.kubeconfig_path.read_text())
    server = doc["clusters"][0]["cluster"]
    user = doc["users"][0]["user"]
    edits: dict[str, Callable[[], None]] = {
        # a CA from another sandbox: the server's certificate is not signed by it
        "wrong-ca": lambda: server.__setitem__("certificate-authority-data", base64.b64encode(
            Path(pki.ensure_pki(dest.parent / "other-ca").ca_cert).read_bytes()).decode()),
        "wrong-token": lambda: user.__setitem__("token", "not-the-token"),
        "no-rights": lambda: user.__setitem__("token", no_rights_token(cluster)),
        "unknown-host": lambda: server.__setitem__("server", cluster.url.replace("127.0.0.1", "no-such-host.invalid")),
        "closed-port": lambda: server.__setitem__("server", f"https://127.0.0.1:{free_port()}"),
    }
    edits[case]()
    dest.write_text(yaml.safe_dump(doc))
    dest.chmod(0o600)
    return dest


RELEASE_ONLY = "digit_tui.tasks.graph:release_tasks"


def no_rights_token(cluster: Any) -> str:
    """A token the sandbox authenticates but grants nothing (RBAC's answer: 403)."""
    token = secrets.token_urlsafe(16)
    cluster.call(lambda: cluster.sandbox.server.no_rights_tokens.add(token))
    return token


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digit_tui.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_install_says_what_is_wrong_with_the_kubeconfig(tmp_path: Path, cluster: Any, case: Case) -> None:
    kubeconfig = broken_kubeconfig(cluster, case.name, tmp_path / "kubeconfig")
    inst = Install(tmp_path, kubeconfig)
    inst.answers.write_text(yaml.safe_dump({
        "environment": "dev", "target": {"provider": "sandbox", "kubeconfig": str(kubeconfig)},
        "digit": {"domain": "digit.local", "modules": ALL_MODULES},
        # a closed port would otherwise park the task for the network (the default hour)
        "engine": {"network_wait": 0}}, sort_keys=False))
    # The release's own classification: with the whole graph, the prerequisites would stop a
    # closed port or an unknown host first (test_the_prerequisites_stop_an_unreachable_api_first).
    start = time.monotonic()
    proc = inst.cli("install", "--answers", str(inst.answers), "--headless", "--state-dir", str(inst.state),
                    "--graph", RELEASE_ONLY, timeout=60)
    took = time.monotonic() - start
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert took < 30
    task = inst.tasks()["cluster-configs"]
    assert task["state"] == "failed"
    assert case.error.format(kc=kubeconfig) in task["error"], task
    assert case.remedy in (task["remedy"] or "") or case.transient, task
    events = inst.events()
    retried = [m for t, m in events if t == "cluster-configs" and "(transient;" in m]
    if case.transient:
        assert retried and "connection refused" in retried[0]   # retried as a network problem
    else:
        assert not retried                                      # failed at the first answer
        assert case.remedy in proc.stdout + proc.stderr         # and the operator sees the remedy
    shown = proc.stdout + proc.stderr + "\n".join(m for _, m in events)
    shown += (inst.state / "logs" / "engine.log").read_text()
    assert "MaxRetryError" not in shown and "Traceback" not in shown


@pytest.mark.parametrize("case", [c for c in CASES if c.transient or c.name == "unknown-host"],
                         ids=lambda c: c.name)
def test_the_prerequisites_stop_an_unreachable_api_first(tmp_path: Path, cluster: Any, case: Case) -> None:
    kubeconfig = broken_kubeconfig(cluster, case.name, tmp_path / "kubeconfig")
    inst = Install(tmp_path, kubeconfig)
    inst.answers.write_text(yaml.safe_dump({
        "environment": "dev", "target": {"provider": "sandbox", "kubeconfig": str(kubeconfig)},
        "digit": {"domain": "digit.local", "modules": []}, "engine": {"network_wait": 0}}, sort_keys=False))
    proc, took = inst.install(timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert took < 30
    tasks = inst.tasks()
    assert tasks["prerequisites-network"]["state"] == "failed"
    assert "cluster API" in tasks["prerequisites-network"]["error"]
    assert tasks["cluster-configs"]["state"] == "blocked" and inst.applied() <= {"prerequisites-network"}
    assert "MaxRetryError" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_health_says_the_same_in_one_line(tmp_path: Path, cluster: Any, case: Case) -> None:
    kubeconfig = broken_kubeconfig(cluster, case.name, tmp_path / "kubeconfig")
    proc = cli("health", "--kubeconfig", str(kubeconfig), "--once")
    assert proc.returncode == 4     # the cluster could not be read: nothing was checked
    [line] = proc.stderr.strip().splitlines()
    assert case.health in line and "MaxRetryError" not in line


def test_size_check_on_a_closed_port_is_one_line_and_exit_1(tmp_path: Path, cluster: Any) -> None:
    kubeconfig = broken_kubeconfig(cluster, "closed-port", tmp_path / "kubeconfig")
    proc = cli("size", "--check-kubeconfig", str(kubeconfig))
    assert proc.returncode == 1
    [line] = proc.stderr.strip().splitlines()
    assert "connection refused" in line and "MaxRetryError" not in line and "Traceback" not in proc.stderr


def test_size_check_reads_the_cluster_with_the_same_classification(tmp_path: Path, cluster: Any) -> None:
    from digit_tui.sizing.fit import ClusterReadError, nodes_from_cluster

    for case in CASES:
        kubeconfig = broken_kubeconfig(cluster, case.name, tmp_path / f"{case.name}.kubeconfig")
        with pytest.raises(ClusterReadError) as info:
            nodes_from_cluster(str(kubeconfig))
        text = str(info.value)
        assert len(text.splitlines()) == 1 and "MaxRetryError" not in text
        assert case.error.format(kc=kubeconfig) in text and case.remedy in text
