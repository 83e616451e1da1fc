"""The Jenkins phase: the source's jenkins chart, configured from the answers, applied the release's way.

    jenkins-render -> jenkins (apply, wait ready, print the URL and how to read the admin password)

The chart (``backbone-services/jenkins``: DIGIT-DevOps' or the bundled sample's small one) is
configured entirely by JCasC, from values DIGIT's ``ci.yaml`` sets under ``jenkins:`` (the chart
merges that block over its own values):

- ``jobBuilder.repos``: the seed job "Job Builder" over the repositories the operator lists;
- ``deploymentJobs``: one ``deployments/deploy-to-<env>`` job, with the ``Images`` and
  ``Cluster_Configs`` parameters, for this environment;
- ``deployjobBuilder.repo``: the DevOps repository the self-provision job reads.

Secrets it reads, built here and applied with the chart (never logged): ``jenkins-credentials``
(``gitReadSshPrivateKey``: the git read key, from ``git_key_file`` or the secrets file's
``git-sync`` key), ``<env>-kube-config`` (this environment's kubeconfig, as DIGIT's cluster-configs
names it) and ``jenkins-admin`` (the admin user and a password generated once into
``<state_dir>/jenkins/admin-password``, 0600).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digit_tui.answers.config import InstallConfig
from digit_tui.atomic import atomic_write
from digit_tui.digit.selection import Release
from digit_tui.engine.task import Task, TaskContext
from digit_tui.errors import PermanentError
from digit_tui.infra.kubewait import WaitPolicy
from digit_tui.tasks.phasecharts import (
    PhaseChart, PhaseInputs, PhaseRenderTask, PhaseServiceTask, PhaseUnavailable, missing_charts, phase_dir,
)
from digit_tui.tasks.release import DEFAULT_DEADLINE, Cluster, kube_target

PHASE = "jenkins"
CHART = "jenkins"
TASK_ID = "jenkins"
ADMIN_SECRET = "jenkins-admin"
CREDENTIALS_SECRET = "jenkins-credentials"   # the name DIGIT's chart reads its git key and OAuth keys from
DIGIT_DEVOPS = "git@github.com:egovernments/DIGIT-DevOps.git"
HTTP_PORT = 8080
# The URLs go into Groovy string literals inside JCasC: nothing that could close one.
_GIT_URL = re.compile(r"^(?:[a-z+]+://)?[A-Za-z0-9._~@:/+-]+$")
NO_CHART_REMEDY = ("set phases.jenkins: false, or use a DIGIT-DevOps tree with "
                   "deploy-as-code/helm/charts/backbone-services/jenkins")


@dataclass(frozen=True)
class JenkinsSettings:
    """What the operator chooses for Jenkins (proposed answers section ``jenkins``)."""

    repositories: tuple[str, ...]                     # git URLs the Job Builder reads build-config.yml from
    deploy_repository: str = DIGIT_DEVOPS             # the DevOps repository with the deployment config
    admin_user: str = "admin"
    git_key_file: Path | None = None                  # the git read key; default: the secrets file's git-sync key
    namespace: str = "jenkins"
    extra: Mapping[str, Any] = field(default_factory=dict)   # more chart values (under ``jenkins:``)

    def __post_init__(self) -> None:
        if not self.repositories:
            raise ValueError("jenkins.repositories: list at least one git repository for the Job Builder")
        for url in (*self.repositories, self.deploy_repository):
            if not _GIT_URL.match(url):
                raise ValueError(f"jenkins: {url!r} is not a git URL (git@host:org/repo.git or https://...)")
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.admin_user):
            raise ValueError("jenkins.admin_user: letters, digits, '.', '_' and '-' only")


def _b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _secret(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace},
            "data": {k: _b64(v) for k, v in data.items()}}


def admin_password(state_dir: Path) -> str:
    """Generated once, kept in the state directory: a render that changed it on every run would
    restart Jenkins on every rerun (the chart's own default is a new random one each time)."""
    path = state_dir / PHASE / "admin-password"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    atomic_write(path, value + "\n", mode=0o600)
    return value


def _git_key(settings: JenkinsSettings, base: Mapping[str, Any]) -> str:
    if settings.git_key_file is not None:
        try:
            return settings.git_key_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise PermanentError(f"cannot read the git read key {settings.git_key_file}: {exc.strerror}",
                                 remedy="give jenkins.git_key_file as a readable SSH private key file") from None
    key = ((((base.get("cluster-configs") or {}).get("secrets") or {}).get("git-sync") or {}).get("ssh"))
    if not key:
        raise PermanentError("no git read key for Jenkins: jenkins.git_key_file is not set and the secrets file has "
                             "no cluster-configs.secrets.git-sync.ssh",
                             remedy="set jenkins.git_key_file to an SSH key with read access to the repositories")
    return str(key)


def jenkins_values(config: InstallConfig, settings: JenkinsSettings) -> dict[str, Any]:
    """The chart values the answers give, in the shape DIGIT's ci.yaml gives them."""
    from digit_tui.digit.render import merge_values

    block = merge_values({
        "jobBuilder": {"repos": ",".join(f"'{url}'" for url in settings.repositories)},
        "deployjobBuilder": {"repo": f"'{settings.deploy_repository}'"},
        "deploymentJobs": [{"name": config.environment}],
        "oauth": {"enabled": False},
        "namespaceOverride": settings.namespace,
        "master": {"useSecurity": True, "adminUser": settings.admin_user,
                   "admin": {"existingSecret": ADMIN_SECRET}},
    }, dict(settings.extra))
    # The chart merges ``jenkins:`` over its values in a helper, after some templates read them:
    # the same values at the top too, so each template sees them whichever it reads.
    return {**block, CHART: block}


def jenkins_chart(config: InstallConfig, settings: JenkinsSettings, inputs: PhaseInputs) -> PhaseChart:
    target = kube_target(config, inputs.cluster_outputs)
    try:
        kubeconfig = Path(target.kubeconfig).read_text(encoding="utf-8")
    except OSError as exc:
        raise PermanentError(f"cannot read the kubeconfig {target.kubeconfig} for Jenkins' deploy job: "
                             f"{exc.strerror}", remedy="run `digit-tui install` again once the cluster phase "
                                                       "has written it") from None
    ns = settings.namespace
    objects = (
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        _secret(ADMIN_SECRET, ns, {"jenkins-admin-user": settings.admin_user,
                                   "jenkins-admin-password": admin_password(config.require_state_dir())}),
        # The chart's Deployment reads all four keys: the OAuth and Slack ones stay empty (no OAuth).
        _secret(CREDENTIALS_SECRET, ns, {"gitReadSshPrivateKey": _git_key(settings, inputs.base),
                                         "clientID": "", "clientSecret": "", "slackToken": ""}),
        _secret(f"{config.environment}-kube-config", ns, {"config": kubeconfig}),
    )
    return PhaseChart(CHART, jenkins_values(config, settings), objects=objects)


def jenkins_tasks(config: InstallConfig, settings: JenkinsSettings, release: Release | None = None, *,
                  after: Iterable[str] = (), policy: WaitPolicy | None = None) -> list[Task]:
    """The Jenkins phase's tasks, after ``after`` (helm-config is always a dependency: the secrets
    file holds the default git key)."""
    after = list(after)
    if missing_charts(config, [CHART]):
        charts_dir = (release.source if release else config.open_release(fetch=False).source).charts_dir
        return [PhaseUnavailable(PHASE, after, f"the DIGIT source has no jenkins chart under {charts_dir}",
                                 NO_CHART_REMEDY)]
    render = PhaseRenderTask(config, PHASE, lambda inputs: [jenkins_chart(config, settings, inputs)], after,
                             title="Render the Jenkins chart")
    return [render, JenkinsTask(settings, [render.id], cluster=Cluster(config),
                                policy=policy or WaitPolicy(deadline=DEFAULT_DEADLINE))]


class JenkinsTask(PhaseServiceTask):
    """Apply the Jenkins chart, wait until ready, say where it is and how to log in."""

    witnessed = False   # its check reads Jenkins itself, not only what infra.reads records

    def __init__(self, settings: JenkinsSettings, deps: Iterable[str], *, cluster: Cluster,
                 policy: WaitPolicy) -> None:
        super().__init__(CHART, deps, cluster=cluster, phase=PHASE, task_id=TASK_ID,
                         title="Deploy Jenkins (JCasC: Job Builder, deploy-to-<env>)", policy=policy)
        self.settings = settings

    def _where(self, ctx: TaskContext) -> tuple[str, list[str]]:
        from digit_tui.tasks.phasecharts import load_phase_rendered

        ns = self.settings.namespace
        _, objects = load_phase_rendered(self.cluster.config.require_state_dir(), PHASE, CHART)
        hosts = [str(r.get("host")) for o in objects if o.get("kind") == "Ingress"
                 for r in (o.get("spec") or {}).get("rules") or [] if r.get("host")]
        url = f"https://{hosts[0]}/" if hosts else f"http://jenkins.{ns}:{HTTP_PORT}/"
        lines = [f"Jenkins: {url}" + ("" if hosts else " (in the cluster; from here: "
                                                        f"kubectl -n {ns} port-forward svc/jenkins {HTTP_PORT}:{HTTP_PORT}, "
                                                        f"then http://localhost:{HTTP_PORT}/)"),
                 f"admin user {self.settings.admin_user}; its password: kubectl -n {ns} get secret {ADMIN_SECRET} "
                 "-o jsonpath='{.data.jenkins-admin-password}' | base64 -d"]
        return url, lines

    def _tell(self, ctx: TaskContext) -> None:
        url, lines = self._where(ctx)
        for line in lines:
            ctx.log(line)
        ctx.publish("url", url)

    async def check(self, ctx: TaskContext) -> bool:
        ok = await super().check(ctx)
        if ok:
            self._tell(ctx)
        return ok

    async def ensure(self, ctx: TaskContext) -> None:
        await super().ensure(ctx)
        self._tell(ctx)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        repos = ", ".join(self.settings.repositories)
        return [f"would deploy the source's jenkins chart into namespace {self.settings.namespace}: JCasC seed job "
                f"\"Job Builder\" over {repos}, deployments/deploy-to-<env> (Images, Cluster_Configs); the git read "
                "key and this environment's kubeconfig in Secrets; then wait until ready and print its URL",
                f"  rendered into {phase_dir(Path('<state dir>'), PHASE)}/"]
