"""What every Jenkins phase test checks, whichever chart it deploys: the Secrets, the journal, a rerun."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import yaml

from digit_tui.tasks.jenkins import JenkinsSettings, jenkins_tasks
from digit_tui.tasks.release import CLUSTER_CONFIGS
from tests.monitoring.conftest import QUICK, Engine, base_tasks, kubectl

REPOS = ("git@github.com:egovernments/core-services.git", "https://github.com/example/state-services.git")


def decoded(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def assert_secrets(tmp_path: Path, kc: Path, cache: Path) -> str:
    """The Secrets the phase applies hold the secrets file's git key, this environment's kubeconfig
    and the admin password kept in the state directory (0600); returns that password."""
    secrets_file = yaml.safe_load((tmp_path / "state/helm/environments/dev-secrets.yaml").read_text())
    creds = kubectl(kc, cache, "get", "secret", "jenkins-credentials", "-n", "jenkins")
    assert decoded(creds, "gitReadSshPrivateKey") == secrets_file["cluster-configs"]["secrets"]["git-sync"]["ssh"]
    kube = kubectl(kc, cache, "get", "secret", "dev-kube-config", "-n", "jenkins")
    assert decoded(kube, "config") == Path(kc).read_text()
    admin = kubectl(kc, cache, "get", "secret", "jenkins-admin", "-n", "jenkins")
    password = (tmp_path / "state/jenkins/admin-password").read_text().strip()
    assert decoded(admin, "jenkins-admin-password") == password and len(password) >= 24
    assert (tmp_path / "state/jenkins/admin-password").stat().st_mode & 0o077 == 0
    return password


def assert_told_and_rerun_applies_nothing(config: Any, settings: JenkinsSettings, tasks: list[Any], engine: Engine,
                                          password: str) -> None:
    """The journal says where Jenkins is and how to read the password (never the password itself);
    a rerun applies nothing and keeps the password."""
    told = engine.messages("jenkins")
    assert any(m.startswith("Jenkins: http://jenkins.jenkins:8080/") for m in told)
    assert any("get secret jenkins-admin" in m for m in told)
    assert not any(password in m for t in tasks for m in engine.messages(t.id))

    again = [*base_tasks(config), *jenkins_tasks(config, settings, after=[CLUSTER_CONFIGS], policy=QUICK)]
    assert asyncio.run(engine.run(again)) == "done", engine.failures(again)
    assert engine.applied(again) == []
    assert (Path(config.require_state_dir()) / "jenkins/admin-password").read_text().strip() == password

