"""The Jenkins phase from the real DIGIT-DevOps jenkins chart on the sandbox, through the real engine
after helm-config, render and cluster-configs: Jenkins ready, its JCasC (read from the applied
ConfigMaps with the real kubectl) holding the Job Builder seed job over the repositories given and
deploy-to-dev with Images and Cluster_Configs, the git key and this environment's kubeconfig in
Secrets, the URL and the password command in the journal, a rerun that applies nothing. The bundled
sample's own chart: test_jenkins_sample.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.tasks.jenkins import JenkinsSettings, jenkins_tasks
from digit_tui.tasks.release import CLUSTER_CONFIGS
from tests.jenkins.checks import REPOS, assert_secrets, assert_told_and_rerun_applies_nothing
from tests.monitoring.conftest import QUICK, Engine, base_tasks, kubectl, not_ready, phase_config


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

    password = assert_secrets(tmp_path, kc, cache)
    dep = kubectl(kc, cache, "get", "deployment", "jenkins", "-n", "jenkins")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for c in dep["spec"]["template"]["spec"]["initContainers"]
            for e in c.get("env") or [] if "secretKeyRef" in (e.get("valueFrom") or {})}
    assert "jenkins-admin" in refs

    assert_told_and_rerun_applies_nothing(config, settings, tasks, engine, password)


@pytest.mark.parametrize("bad", ["git@github.com:a/b.git'); evil('", "", "https://x/y z.git"])
def test_a_repository_that_is_no_git_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        JenkinsSettings(repositories=(bad,))
