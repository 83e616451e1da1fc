"""The install graph of the DIGIT release.

    prerequisites (config, network, tools, one per host) -> gate -> [kubeadm phases ->] cluster -> volumes
                                                                 -> postgres (external / vm)
      -> helm-config -> render -> cluster-configs -> one task per service (and volumes-bound)
      -> release-record;  monitoring and Jenkins after cluster-configs when the answers ask for them;
      cluster-configs -> [postgres-render -> postgres-in-cluster ->] postgres-from-cluster, which the
      services with a migration image wait for

A git source that has not been fetched yet cannot name its services: the graph
is then ``helm-config -> render``, the render task fetches the source (where a
network failure is retried and journalled like any task's) and, being
``reshapes_graph``, has the engine rebuild the graph from the fetched tree.

A service depends on every service of the modules its module depends on (from
the release manifest), so the services of one module run in parallel and a
failed service blocks only what comes after it. ``release_graph`` can be
placed after earlier phases (cluster, volumes, postgres) with ``after``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from digit_tui.answers.config import InstallConfig
from digit_tui.digit.selection import Release, SourceNotFetched
from digit_tui.engine.rundoc import GraphInput
from digit_tui.engine.scheduler import GraphError
from digit_tui.engine.task import Endpoint, Task
from digit_tui.errors import InputError
from digit_tui.infra.kubewait import WaitPolicy
from digit_tui.tasks.helmconfig import HelmConfigTask
from digit_tui.tasks.release import CLUSTER_CONFIGS, Cluster, DEFAULT_DEADLINE, ReleaseRecordTask, ServiceTask
from digit_tui.tasks.render import TASK_ID as RENDER, RenderTask, open_release

if TYPE_CHECKING:
    from digit_tui.tasks.cluster import TerraformCluster


def service_graph(config: InstallConfig, release: Release | None = None) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Service -> the services it waits for, cluster-configs first; and service -> its module
    (InputError on a bad release). Services skipped on purpose (``digit.skip_services``) have no
    node: nothing waits for them."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.skips import check_skipped

    release = release or open_release(config, fetch=False)
    skip = check_skipped(release.manifest, release.modules, config.skip_services, config.answers_file)
    graph = release.manifest.service_dependencies(release.modules, cluster_configs=CLUSTER_CONFIGS, skip=skip)
    # Every service needs a chart: say which one is missing now, not halfway through the install.
    index = ChartIndex.build(release.source.charts_dir)
    entries = release.manifest.services(release.modules, skip=skip)
    for entry in entries:
        try:
            index.lookup(entry.name)
        except InputError as exc:
            raise InputError(exc.message, path=release.manifest_path, line=entry.line, expected=exc.expected) from None
    if CLUSTER_CONFIGS in graph:
        # cluster-configs listed in a module would otherwise depend on itself.
        graph[CLUSTER_CONFIGS] = []
    return graph, {e.name: e.module for e in entries if e.name != CLUSTER_CONFIGS}


def source_endpoints(config: InstallConfig) -> tuple[Endpoint, ...]:
    """The git server of a git source (https, ssh:// or scp-like ``git@host:path``)."""
    if config.source.kind != "git":
        return ()
    url = str(config.source.git or "")
    if "://" not in url:  # scp-like syntax: user@host:path
        host = url.split("@", 1)[-1].split(":", 1)[0]
        return (Endpoint(host, 22, f"git {host}"),) if host else ()
    parts = urlsplit(url)
    default = {"https": 443, "http": 80, "ssh": 22, "git": 9418}.get(parts.scheme)
    try:
        port = parts.port or default
    except ValueError:
        return ()
    if not parts.hostname or port is None:
        return ()  # file:// and the like: nothing to probe
    return (Endpoint(parts.hostname, port, f"git {parts.hostname}"),)


def release_graph(config: InstallConfig, after: Iterable[str] = (), *, policy: WaitPolicy | None = None,
                  volumes: bool = False, cluster_configs_after: Iterable[str] = (), extras: bool = False,
                  database: bool = False) -> list[Task]:
    """[volumes ->] helm-config -> render -> cluster-configs -> one task per service [, volumes-bound]
    -> release-record, after ``after``. ``volumes``: with the volumes phase, whose tasks reach the
    cluster the cluster phase published (so only in a graph that has it). ``database``: with the
    database's tasks inside the cluster (in-cluster Postgres, the check from a pod; see
    tasks/postgres_cluster.py), after ``cluster_configs_after``; the services with a migration
    image wait for that check."""
    first = list(after)
    render = RenderTask(config, reshapes_graph=config.source.kind == "git", endpoints=source_endpoints(config))
    try:
        release = open_release(config, fetch=False)
        graph, modules = service_graph(config, release)
    except SourceNotFetched:
        return [HelmConfigTask(config, first), render]
    except InputError as exc:
        raise GraphError(str(exc)) from None
    policy = policy or WaitPolicy(deadline=DEFAULT_DEADLINE)
    # One connection, discovery cache and set of lists for every task of this engine that reaches the
    # cluster the cluster phase published: the release's, the volumes' and the database's.
    cluster = Cluster(config)
    phase = volume_phase(config, release, graph, after=first, cluster=cluster) if volumes else []
    tasks: list[Task] = [*phase, HelmConfigTask(config, first + [t.id for t in phase[:1]]), render]
    db_tasks: list[Task] = []
    if database:
        from digit_tui.tasks.postgres_cluster import cluster_database_tasks

        db_tasks = cluster_database_tasks(config, release, graph, database_checked=list(cluster_configs_after),
                                          cluster=cluster)
    # Services with a Flyway migration image use the database from their first start.
    db_users = {e.name for e in release.manifest.services(release.modules) if e.migrates} if db_tasks else set()
    for service, deps in graph.items():
        needs = [RENDER, *deps] if service != CLUSTER_CONFIGS else [RENDER, *cluster_configs_after]
        if service in db_users:
            needs.append(db_tasks[-1].id)
        tasks.append(ServiceTask(service, needs, policy=policy, cluster=cluster, module=modules.get(service)))
    tasks += db_tasks
    tasks.append(ReleaseRecordTask([*graph, *(t.id for t in phase[1:]), *(t.id for t in db_tasks)], cluster=cluster))
    if extras:
        tasks += extra_phases(config, release, graph)
    return tasks


def extra_phases(config: InstallConfig, release: Release, graph: Mapping[str, list[str]]) -> list[Task]:
    """Monitoring (``phases.monitoring``, on by default for tier prod) after cluster-configs, which
    renders its namespace and Alertmanager's Secret; Jenkins (``phases.jenkins``) after the env files
    (the secrets file holds the default git key). Both from the DIGIT source's own charts."""
    from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG

    out: list[Task] = []
    after = [CLUSTER_CONFIGS] if CLUSTER_CONFIGS in graph else [RENDER]
    if config.monitoring:
        from digit_tui.tasks.monitoring import monitoring_tasks

        out += monitoring_tasks(config, release, after=after)
    jenkins = config.answers.jenkins
    if config.answers.phases.jenkins and jenkins is not None:
        from digit_tui.tasks.jenkins import JenkinsSettings, jenkins_tasks

        settings = JenkinsSettings(repositories=tuple(jenkins.repositories), deploy_repository=jenkins.deploy_repository,
                                   admin_user=jenkins.admin_user, git_key_file=jenkins.git_key_file,
                                   namespace=jenkins.namespace)
        out += jenkins_tasks(config, settings, release, after=[HELM_CONFIG, *after])
    return out


def volume_phase(config: InstallConfig, release: Release, graph: Mapping[str, list[str]], *,
                 after: Iterable[str], cluster: Cluster | None = None) -> list[Task]:
    """``volumes`` (StorageClass checked, or static PVs created; helm-config reads its outputs) and,
    when the release's backbone charts make claims, ``volumes-bound`` after cluster-configs, which
    names a claim that does not bind and why. Only the backbone services this release deploys."""
    from digit_tui.digit.volumes import DEFAULT_SIZES, detect_layout, unsupported
    from digit_tui.tasks.cluster import TERRAFORM_TASK_ID
    from digit_tui.tasks.volumes import TerraformOutputs, volume_tasks

    planned = config.sizing.disk_sizes() if config.sizing is not None else DEFAULT_SIZES
    sizes = {svc: size for svc, size in planned.items() if svc in graph}
    if not sizes:
        return []
    layout = detect_layout(release.source.charts_dir)
    state_dir = config.require_state_dir()
    storage = config.answers.storage
    # The disks: as handed over in the answers, else the outputs of the terraform that made them.
    made_by_terraform = storage.disks is None and config.answers.cluster.mode == "terraform"
    disks = TerraformOutputs(values=storage.disk_outputs(), names=storage.output_names(),
                             task=TERRAFORM_TASK_ID if made_by_terraform else None,
                             source="terraform output " if storage.disks is None else "storage.")
    tasks = volume_tasks(storage, kube=None, state_dir=state_dir, sizes=sizes, layout=layout, terraform=disks,
                         after=list(after), bound_after=[CLUSTER_CONFIGS] if CLUSTER_CONFIGS in graph else [],
                         shared=cluster)
    # With charts that keep the data in an emptyDir there is no claim to wait for.
    return tasks if unsupported(layout, config.answers.storage.mode) is None else tasks[:1]


def install_graph(config: InstallConfig) -> list[Task]:
    """The whole install: the prerequisites, the cluster once their gate has passed (its task
    publishes the kubeconfig every later task uses), the database beside it, then the release."""
    from digit_tui.tasks.cluster import TASK_ID as CLUSTER, cluster_tasks
    from digit_tui.tasks.preflight import GATE, preflight_tasks

    a = config.answers
    if a.cluster.mode == "kubeadm":
        cluster = kubeadm_phase(config, after=[GATE])
    else:
        cluster = cluster_tasks(a.target, a.storage, config.require_state_dir(), after=[GATE],
                                terraform=terraform_cluster(config))
    database = postgres_phase(config, after=[GATE])
    release = release_graph(config, after=[CLUSTER], volumes=True, extras=True, database=True,
                            cluster_configs_after=[t.id for t in database[-1:]])
    return preflight_tasks(config) + cluster + database + release


def terraform_cluster(config: InstallConfig) -> TerraformCluster | None:
    """The terraform working directory that builds the cluster (``cluster.mode: terraform``), with
    its plain variables and those of ``secret_variables_file`` (read here, masked by the task)."""
    import json

    from digit_tui.tasks.cluster import TerraformCluster

    tf = config.answers.terraform
    if config.answers.cluster.mode != "terraform" or tf is None:
        return None
    secrets: dict[str, object] = {}
    if tf.secret_variables_file is not None:
        try:
            secrets = json.loads(tf.secret_variables_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GraphError(f"{tf.secret_variables_file}: cannot read the secret variables ({exc.__class__.__name__}); "
                             "fix the file and run `digit-tui install` again") from None
    both = sorted(set(secrets) & set(tf.variables))
    if both:
        raise GraphError(f"terraform variable {both[0]} is both in terraform.variables and in "
                         f"{tf.secret_variables_file}: keep it in one place")
    planned = config.sizing.terraform_variables() if config.sizing is not None else {}
    return TerraformCluster(workdir=tf.dir, variables={**tf.variables, **secrets}, secret_variables=tuple(secrets),
                            kubeconfig_output=tf.kubeconfig_output, planned_variables=planned)


def kubeadm_phase(config: InstallConfig, *, after: Iterable[str]) -> list[Task]:
    """The cluster built on the VMs over SSH (prepare, init, CNI, joins, the admin kubeconfig
    fetched into the state directory), then the cluster task checking it like any cluster."""
    from digit_tui.tasks.cluster import KubeadmClusterTask
    from digit_tui.tasks.kubeadm import KUBECONFIG, kubeadm_tasks
    from digit_tui.tasks.kubeadm_fleet import CniSettings, LbSettings

    from digit_tui.infra.kubeadm.packages import Packages

    a = config.answers
    state_dir = config.require_state_dir()
    c = a.cluster
    packages = Packages(kubernetes_version=c.kubernetes_version, repository=c.package_repository,
                        key_file=c.package_key_file, trusted=c.package_repository_trusted)
    try:
        built = kubeadm_tasks(a.hosts, a.cluster, state_dir, environment=a.environment, after=list(after),
                              packages=packages, image_repository=c.image_repository,
                              cni=CniSettings(manifest=c.cni_manifest, daemonset=c.cni_daemonset)
                              if c.cni_manifest is not None and c.cni_daemonset is not None else CniSettings(),
                              lb=LbSettings(install=c.lb_install, api_allow=tuple(c.api_allow)))
    except InputError as exc:
        raise GraphError(str(exc)) from None
    return [*built, KubeadmClusterTask(a.target, a.storage, state_dir, deps=[KUBECONFIG])]


def postgres_phase(config: InstallConfig, *, after: Iterable[str]) -> list[Task]:
    """An external database checked from the jump host, or PostgreSQL converged on the db VM
    (``database.mode`` external / vm); none for in-cluster, whose tasks follow cluster-configs
    (``release_graph(database=True)``). Without a
    ``password_file`` the password is the one helm-config generated into the secrets file, so the
    phase waits for it; cluster-configs (the ``db`` Secret's consumers) waits for the phase."""
    a = config.answers
    if a.database.mode == "in-cluster":
        return []       # before the imports: the VM's and the jump host's modules are not needed then

    from digit_tui.digit.secretsfile import secrets_file_path
    from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG, helm_dir
    from digit_tui.tasks.postgres import password_source, postgres_tasks
    nodes = [h.address for h in a.hosts if {"master", "worker"} & set(h.roles)]
    if a.database.mode == "vm" and not nodes:
        raise GraphError("database.mode vm needs the cluster's nodes in hosts (roles master / worker): their "
                         "addresses are what pg_hba.conf lets in")
    deps = [*after] + ([] if a.database.password_file is not None else [HELM_CONFIG])
    password = password_source(a.database, secrets_file_path(helm_dir(config), config.environment))
    try:
        return postgres_tasks(a.database, db_host=a.database_primary, node_cidrs=nodes,
                              state_dir=config.require_state_dir(), password=password, deps=deps,
                              standby=a.database_standby)
    except ValueError as exc:
        raise GraphError(str(exc)) from None


def config_of(run: GraphInput) -> InstallConfig:
    try:
        return InstallConfig.from_document(run.document, run.state_dir)
    except (ValueError, KeyError, TypeError) as exc:
        raise GraphError(f"the run's configuration cannot be read ({exc}); start the install again with "
                         "`digit-tui install --answers FILE`") from None


def build_graph(run: GraphInput) -> list[Task]:
    """The graph factory the engine loads (``digit_tui.tasks.graph:build_graph``)."""
    return install_graph(config_of(run))


def release_tasks(run: GraphInput) -> list[Task]:
    """The release alone (``install --graph digit_tui.tasks.graph:release_tasks``), for a cluster
    whose prerequisites are known to hold."""
    return release_graph(config_of(run))
