"""What the prerequisites' network check and the engine's network probe watch: the database's port
only where the database exists before the install (mode external), never a database VM's, which
the install itself sets up (before it, nothing listens there)."""

from __future__ import annotations

from pathlib import Path

from digit_tui.answers import parse_answers
from digit_tui.answers.settings import network_endpoints

BASE = ("version: 1\nenvironment: sdc\ntarget: {provider: sdc, kubeconfig: KUBECONFIG}\ndigit: {domain: egov.example.test}\n"
        "hosts:\n  - {name: db-1, address: 10.20.0.31, user: ubuntu, ssh_key: KEY, roles: [db]}\n"
        "  - {name: worker-1, address: 10.20.0.21, user: ubuntu, ssh_key: KEY, roles: [worker]}\n")


def endpoints(tmp_path: Path, database: str) -> set[tuple[str, int, str]]:
    key = tmp_path / "key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters: [{name: k, cluster: {server: "
                          "'https://10.20.0.10:6443'}}]\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                          "users: [{name: u, user: {token: t}}]\n")
    text = BASE.replace("KEY", str(key)).replace("KUBECONFIG", str(kubeconfig)) + database
    answers = parse_answers(text, tmp_path / "answers.yaml")
    return {(e.host, e.port, e.label) for e in network_endpoints(answers)}


def test_a_database_vm_is_watched_by_its_ssh_port_not_its_database_port(tmp_path: Path) -> None:
    watched = endpoints(tmp_path, "database: {mode: vm}\n")
    assert ("10.20.0.31", 22, "ssh db-1") in watched
    assert not any(port == 5432 for _, port, _ in watched)


def test_an_external_database_is_watched_on_its_port(tmp_path: Path) -> None:
    watched = endpoints(tmp_path, "database: {mode: external, host: 10.30.0.5}\n")
    assert ("10.30.0.5", 5432, "postgres") in watched
