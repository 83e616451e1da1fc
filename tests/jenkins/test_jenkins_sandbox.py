"""The Jenkins phase from the real DIGIT-DevOps jenkins chart on the sandbox, through the real engine
after helm-config, render and cluster-configs: Jenkins ready, its JCasC (read from the applied
ConfigMaps with the real kubectl) holding the Job Builder seed job over the repositories given and
deploy-to-dev with Images and Cluster_Configs, the git key and this environment's kubeconfig in
Secrets, the URL and the password command in the journal, a rerun that applies nothing."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.tasks.jenkins import JenkinsSettings, jenkins_tasks
from digit_tui.tasks.release import CLUSTER_CONFIGS
from tests.monitoring.conftest import QUICK, Engine, base_tasks, kubectl, not_ready, phase_config

REPOS = ("git@github.com:egovernments/core-services.git", "https://github.com/example/state-services.git")


def decoded(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


def test_real_jenkins_chart_comes_up_with_the_two_jobs_and_a_rerun_applies_nothing(
        tmp_path: Path, tree: Path, cluster: Any, engine: Engine) -> None:
    config = phase_config(tmp_path, tree, cluster.kubeconfig_path)
    settings = JenkinsSettings(repositories=REPOS)
    tasks = [*base_tasks(config), *jenkins_tasks(config, settings, after=[CLUSTER_CONFIGS], policy=QUICK)]
    assert [t.id for t in tasks][3:] == ["jenkins-render", "jenkins"]
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    assert not_ready(kc, cache, "jenkins") == []

    seed = kubectl(kc, cache, "get", "configmap", "jenkins-jenkins-config-seed-job-builder", "-n", "jenkins")
    text = seed["data"]["seed-job-builder.yaml"]
    assert 'pipelineJob("Job Builder")' in text
    assert f"jobBuilder(urls: ['{REPOS[0]}','{REPOS[1]}'])" in text
    deploy = kubectl(kc, cache, "get", "configmap", "jenkins-jenkins-config-seed-deployment-jobs", "-n", "jenkins")
    jobs = yaml.safe_load(deploy["data"]["seed-deployment-jobs.yaml"])["jobs"]
    scripts = [j["script"] for j in jobs]
    dev = [s for s in scripts if 'pipelineJob("deployments/deploy-to-dev")' in s]
    assert len(dev) == 1 and 'stringParam("Images"' in dev[0] and 'booleanParam("Cluster_Configs"' in dev[0]
    assert len([s for s in scripts if "deploy-to-" in s]) == 1     # only this environment's

    secrets_file = yaml.safe_load((tmp_path / "state/helm/environments/dev-secrets.yaml").read_text())
    creds = kubectl(kc, cache, "get", "secret", "jenkins-credentials", "-n", "jenkins")
    assert decoded(creds, "gitReadSshPrivateKey") == secrets_file["cluster-configs"]["secrets"]["git-sync"]["ssh"]
    kube = kubectl(kc, cache, "get", "secret", "dev-kube-config", "-n", "jenkins")
    assert decoded(kube, "config") == Path(kc).read_text()
    admin = kubectl(kc, cache, "get", "secret", "jenkins-admin", "-n", "jenkins")
    password = (tmp_path / "state/jenkins/admin-password").read_text().strip()
    assert decoded(admin, "jenkins-admin-password") == password and len(password) >= 24
    assert (tmp_path / "state/jenkins/admin-password").stat().st_mode & 0o077 == 0
    dep = kubectl(kc, cache, "get", "deployment", "jenkins", "-n", "jenkins")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for c in dep["spec"]["template"]["spec"]["initContainers"]
            for e in c.get("env") or [] if "secretKeyRef" in (e.get("valueFrom") or {})}
    assert "jenkins-admin" in refs

    told = engine.messages("jenkins")
    assert any(m.startswith("Jenkins: http://jenkins.jenkins:8080/") for m in told)
    assert any("get secret jenkins-admin" in m for m in told)
    assert not any(password in m for t in tasks for m in engine.messages(t.id))

    again = [*base_tasks(config), *jenkins_tasks(config, settings, after=[CLUSTER_CONFIGS], policy=QUICK)]
    assert asyncio.run(engine.run(again)) == "done", engine.failures(again)
    assert engine.applied(again) == []
    assert (tmp_path / "state/jenkins/admin-password").read_text().strip() == password


def test_the_bundled_sample_has_no_jenkins_chart(tmp_path: Path, cluster: Any, engine: Engine) -> None:
    config = phase_config(tmp_path, BUNDLED_SOURCE, cluster.kubeconfig_path, release=None)
    tasks = jenkins_tasks(config, JenkinsSettings(repositories=REPOS))
    assert asyncio.run(engine.run(tasks)) == "failed"
    row = engine.journal.task(engine.run_id, "jenkins")
    assert row is not None and row.error is not None and "no jenkins chart" in row.error


@pytest.mark.parametrize("bad", ["git@github.com:a/b.git'); evil('", "", "https://x/y z.git"])
def test_a_repository_that_is_no_git_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        JenkinsSettings(repositories=(bad,))
