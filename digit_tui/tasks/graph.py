"""The install graph of the DIGIT release.

    prerequisites (config, network, tools, one per host) -> gate -> cluster
      -> helm-config -> render -> cluster-configs -> one task per service -> release-record

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

from collections.abc import Iterable
from urllib.parse import urlsplit

from digit_tui.answers.config import InstallConfig
from digit_tui.digit.selection import SourceNotFetched
from digit_tui.engine.rundoc import GraphInput
from digit_tui.engine.scheduler import GraphError
from digit_tui.engine.task import Endpoint, Task
from digit_tui.errors import InputError
from digit_tui.infra.kubewait import WaitPolicy
from digit_tui.tasks.helmconfig import HelmConfigTask
from digit_tui.tasks.release import CLUSTER_CONFIGS, Cluster, DEFAULT_DEADLINE, ReleaseRecordTask, ServiceTask
from digit_tui.tasks.render import TASK_ID as RENDER, RenderTask, open_release


def service_graph(config: InstallConfig) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Service -> the services it waits for, cluster-configs first; and service -> its module
    (InputError on a bad release). Services skipped on purpose (``digit.skip_services``) have no
    node: nothing waits for them."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.skips import check_skipped

    release = open_release(config, fetch=False)
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


def release_graph(config: InstallConfig, after: Iterable[str] = (), *,
                  policy: WaitPolicy | None = None) -> list[Task]:
    """helm-config -> render -> cluster-configs -> one task per service -> release-record, after ``after``."""
    # Static volumes come from the volume task's outputs: pass "volumes" in ``after`` once it exists.
    first = list(after)
    render = RenderTask(config, reshapes_graph=config.source.kind == "git", endpoints=source_endpoints(config))
    try:
        graph, modules = service_graph(config)
    except SourceNotFetched:
        return [HelmConfigTask(config, first), render]
    except InputError as exc:
        raise GraphError(str(exc)) from None
    policy = policy or WaitPolicy(deadline=DEFAULT_DEADLINE)
    cluster = Cluster(config)  # one connection and discovery cache for all release tasks of this engine
    tasks: list[Task] = [HelmConfigTask(config, first), render]
    for service, deps in graph.items():
        tasks.append(ServiceTask(service, [RENDER, *deps] if service != CLUSTER_CONFIGS else [RENDER],
                                 policy=policy, cluster=cluster, module=modules.get(service)))
    tasks.append(ReleaseRecordTask(list(graph), cluster=cluster))
    return tasks


def install_graph(config: InstallConfig) -> list[Task]:
    """The whole install: the prerequisites, the cluster once their gate has passed (its task
    publishes the kubeconfig every later task uses), then the release."""
    from digit_tui.tasks.cluster import TASK_ID as CLUSTER, cluster_tasks
    from digit_tui.tasks.preflight import GATE, preflight_tasks

    a = config.answers
    cluster = cluster_tasks(a.target, a.storage, config.require_state_dir(), after=[GATE])
    return preflight_tasks(config) + cluster + release_graph(config, after=[CLUSTER])


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
