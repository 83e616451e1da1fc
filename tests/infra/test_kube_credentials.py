"""infra/kube.py's writes through the kubernetes library against the sandbox: a kubeconfig with a
token does not apply itself again before every request (the library's refresh hook, which only
re-sets the same values, is dropped), and an exec plugin's credential that expires is still fetched
again by the library when it does."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.infra.kube import Kube


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path_factory.mktemp("kubecred") / "sandbox", nodes=1, speed=50.0) as handle:
        yield handle


def config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
            "data": {"k": name}}


def test_a_token_kubeconfig_writes_without_reapplying_itself(cluster: Any) -> None:
    with Kube(cluster.kubeconfig_path) as kube:
        assert kube.api.configuration.refresh_api_key_hook is None
        live = kube.apply(config_map("cred-token"))
        assert live["data"] == {"k": "cred-token"}
        kube.request("DELETE", "/api/v1/namespaces/default/configmaps/cred-token")


def test_an_expiring_exec_credential_is_fetched_again(cluster: Any, tmp_path: Path) -> None:
    """The plugin's credential expires within the library's five-minute margin: every request runs
    it again, as the library does for a credential about to expire."""
    token = yaml.safe_load(cluster.kubeconfig_path.read_text())["users"][0]["user"]["token"]
    runs = tmp_path / "runs"
    expires = (datetime.now(timezone.utc) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": token, "expirationTimestamp": expires}}
    plugin = tmp_path / "plugin"
    plugin.write_text(f"#!/bin/sh\necho run >> '{runs}'\necho '{json.dumps(credential)}'\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR)
    doc = yaml.safe_load(cluster.kubeconfig_path.read_text())
    user = doc["users"][0]["user"]
    user.pop("token")
    user["exec"] = {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin),
                    "interactiveMode": "Never"}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(doc))
    kubeconfig.chmod(0o600)

    with Kube(kubeconfig) as kube:
        kube.apply(config_map("cred-exec"))
        before = len(runs.read_text().splitlines())
        kube.apply(config_map("cred-exec"))
        kube.request("DELETE", "/api/v1/namespaces/default/configmaps/cred-exec")
        assert len(runs.read_text().splitlines()) >= before + 2
