"""The Jenkins phase from the bundled sample's own jenkins chart on the sandbox, through the real
engine after helm-config, render and cluster-configs: Jenkins ready (its init container installing
the plugins ran, the Secrets it reads exist with their keys), its JCasC ConfigMap (read with the
real kubectl) holding the Job Builder seed job over the repositories given and
deployments/deploy-to-dev with Images and Cluster_Configs, the git read credential from Secret
jenkins-credentials and this environment's kubeconfig from Secret dev-kube-config, a rerun that
applies nothing. A tree without the chart fails permanently, saying so."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import yaml

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.tasks.jenkins import JenkinsSettings, jenkins_tasks
from digit_tui.tasks.release import CLUSTER_CONFIGS
from tests.jenkins.checks import REPOS, assert_secrets, assert_told_and_rerun_applies_nothing
from tests.monitoring.conftest import QUICK, Engine, base_tasks, kubectl, not_ready, phase_config


def test_the_samples_jenkins_comes_up_with_the_two_jobs_and_its_secrets(tmp_path: Path, cluster: Any,
                                                                         engine: Engine) -> None:
    config = phase_config(tmp_path, BUNDLED_SOURCE, cluster.kubeconfig_path, release=None)
    settings = JenkinsSettings(repositories=REPOS)
    tasks = [*base_tasks(config), *jenkins_tasks(config, settings, after=[CLUSTER_CONFIGS], policy=QUICK)]
    assert [t.id for t in tasks][3:] == ["jenkins-render", "jenkins"]
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    assert not_ready(kc, cache, "jenkins") == []

    casc = kubectl(kc, cache, "get", "configmap", "jenkins-jcasc", "-n", "jenkins")["data"]
    scripts = [j["script"] for j in yaml.safe_load(casc["jobs.yaml"])["jobs"]]
    builder = [s for s in scripts if 'pipelineJob("Job Builder")' in s]
    assert len(builder) == 1 and f"jobBuilder(urls: ['{REPOS[0]}','{REPOS[1]}'])" in builder[0]
    deploy = [s for s in scripts if "deploy-to-" in s]
    assert len(deploy) == 1 and 'pipelineJob("deployments/deploy-to-dev")' in deploy[0]
    assert 'stringParam("Images"' in deploy[0] and 'booleanParam("Cluster_Configs"' in deploy[0]
    assert "repo: 'git@github.com:egovernments/DIGIT-DevOps.git'" in deploy[0] and "environment: 'dev'" in deploy[0]
    creds = yaml.safe_load(casc["credentials.yaml"])["credentials"]["system"]["domainCredentials"][0]["credentials"]
    ssh = next(c["basicSSHUserPrivateKey"] for c in creds if "basicSSHUserPrivateKey" in c)
    assert ssh["id"] == "git_read" and ssh["privateKeySource"]["directEntry"]["privateKey"] == \
        "${GIT_READ_SSH_PRIVATE_KEY}"
    kubeconfig = next(c["file"] for c in creds if "file" in c)
    assert kubeconfig["id"] == "dev-kubeconfig"
    assert kubeconfig["secretBytes"] == "${readFileBase64:/var/jenkins_kube/dev/config}"
    system = yaml.safe_load(casc["jenkins.yaml"])
    assert system["jenkins"]["securityRealm"]["local"]["users"] == [
        {"id": "${JENKINS_ADMIN_ID}", "password": "${JENKINS_ADMIN_PASSWORD}"}]
    library = system["unclassified"]["globalLibraries"]["libraries"][0]
    assert library["retriever"]["modernSCM"]["scm"]["git"]["credentialsId"] == "git_read"

    # The variables and the file the JCasC reads come from the phase's Secrets
    pod = kubectl(kc, cache, "get", "deployment", "jenkins", "-n", "jenkins")["spec"]["template"]["spec"]
    jenkins = next(c for c in pod["containers"] if c["name"] == "jenkins")
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in jenkins["env"] if "valueFrom" in e}
    assert refs["GIT_READ_SSH_PRIVATE_KEY"] == {"name": "jenkins-credentials", "key": "gitReadSshPrivateKey"}
    assert refs["JENKINS_ADMIN_PASSWORD"] == {"name": "jenkins-admin", "key": "jenkins-admin-password"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    mount = next(m for m in jenkins["volumeMounts"] if m["mountPath"] == "/var/jenkins_kube/dev")
    assert volumes[mount["name"]]["secret"]["secretName"] == "dev-kube-config"
    assert [c["name"] for c in pod["initContainers"]] == ["install-plugins"]

    password = assert_secrets(tmp_path, kc, cache)
    assert_told_and_rerun_applies_nothing(config, settings, tasks, engine, password)


def test_a_tree_without_a_jenkins_chart_fails_saying_so(tmp_path: Path, cluster: Any, engine: Engine) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(BUNDLED_SOURCE, tree)
    shutil.rmtree(tree / "deploy-as-code/helm/charts/backbone-services/jenkins")
    config = phase_config(tmp_path, tree, cluster.kubeconfig_path, release=None)
    tasks = jenkins_tasks(config, JenkinsSettings(repositories=REPOS))
    assert asyncio.run(engine.run(tasks)) == "failed"
    row = engine.journal.task(engine.run_id, "jenkins")
    assert row is not None and row.error is not None and "no jenkins chart" in row.error
    assert row.remedy is not None and "phases.jenkins: false" in row.remedy
