"""cluster.mode: terraform end to end: the real terraform binary converges a working directory whose
output is the cluster's kubeconfig, the cluster task writes it 0600 into the state directory, and
the sample release deploys into that cluster; the secret variables never reach the journal.

The working directory is tests/cluster/tf_cluster: terraform's built-in ``terraform_data`` holds the
kubeconfig text the test passes as a secret variable (no cloud provider can be downloaded here),
output as sensitive text the way azurerm's ``kube_config_raw`` is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.release.conftest import Install

FIXTURE = Path(__file__).resolve().parents[1] / "cluster" / "tf_cluster"


def test_a_terraform_built_cluster_is_where_the_release_goes(tmp_path: Path, install: Install, cluster: Any) -> None:
    workdir = Path(shutil.copytree(FIXTURE, tmp_path / "infra"))
    kubeconfig_text = cluster.kubeconfig_path.read_text()
    token = next(u["user"]["token"] for u in yaml.safe_load(kubeconfig_text)["users"] if "token" in u["user"])
    secrets = tmp_path / "tf-secrets.json"
    secrets.write_text(json.dumps({"kubeconfig": kubeconfig_text}))
    secrets.chmod(0o600)
    install.answers.write_text(yaml.safe_dump({
        "environment": "dev", "target": {"provider": "azure"}, "cluster": {"mode": "terraform"},
        "terraform": {"dir": str(workdir), "variables": {"cluster_name": "dev-aks"},
                      "secret_variables_file": str(secrets)},
        "digit": {"domain": "digit.local", "modules": ["m_pgr"]}}, sort_keys=False))

    proc, _ = install.install(timeout=280)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    tasks = install.tasks()
    assert tasks["cluster-terraform"]["state"] == "done" and tasks["cluster"]["state"] == "done"
    assert tasks["cluster"]["outputs"]["provider"] == "terraform"
    written = install.state / "kubeconfig"
    assert written.stat().st_mode & 0o777 == 0o600 and written.read_text() == kubeconfig_text
    assert tasks["release-record"]["state"] == "done"
    journal = b"".join(p.read_bytes() for p in install.state.glob("journal.db*"))
    assert token.encode() not in journal

    # A rerun: terraform plans no change, nothing is applied.
    again, _ = install.install(timeout=200)
    assert again.returncode == 0, again.stderr
    assert install.applied() == set()
