"""The install graph of the DIGIT release.

    prerequisites (config, network, tools, one per host) -> gate
      -> helm-config -> render -> cluster-configs -> one task per service -> release-record

A git source that has not been fetched yet cannot name its services: the graph
is then ``helm-config -> render``, the render task fetches the source (where a
network failure is retried and journalled like any task's) and, being
``reshapes_graph``, has the engine rebuild the graph from the fetched tree.

A service depends on every service of the modules its module depends on (from
the release manifest), so the services of one module run in parallel and a
failed service blocks only what comes after it. ``release_tasks`` can be
placed after earlier phases (cluster, volumes, postgres) with ``after``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from digit_tui.digit.selection import SourceNotFetched
from digit_tui.engine.scheduler import GraphError
from digit_tui.engine.task import Endpoint, Task
from digit_tui.errors import InputError
from digit_tui.infra.kubewait import WaitPolicy
from digit_tui.tasks.helmconfig import HelmConfigTask
from digit_tui.tasks.release import CLUSTER_CONFIGS, Cluster, DEFAULT_DEADLINE, ReleaseRecordTask, ServiceTask
from digit_tui.tasks.render import TASK_ID as RENDER, RenderTask, open_release


def wait_policy(settings: Mapping[str, Any]) -> WaitPolicy:
    """Per-service readiness deadline: ``release.deadline`` in the settings when present."""
    opts = settings.get("release") or {}
    return WaitPolicy(deadline=float(opts.get("deadline") or DEFAULT_DEADLINE))


def service_graph(settings: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Service -> the services it waits for, cluster-configs first; and service -> its module
    (InputError on a bad release)."""
    from digit_tui.digit.chart_index import ChartIndex

    release = open_release(settings, fetch=False)
    graph = release.manifest.service_dependencies(release.modules, cluster_configs=CLUSTER_CONFIGS)
    # Every service needs a chart: say which one is missing now, not halfway through the install.
    index = ChartIndex.build(release.source.charts_dir)
    entries = release.manifest.services(release.modules)
    for entry in entries:
        try:
            index.lookup(entry.name)
        except InputError as exc:
            raise InputError(exc.message, path=release.manifest_path, line=entry.line, expected=exc.expected) from None
    # cluster-configs listed in a module would otherwise depend on itself.
    graph[CLUSTER_CONFIGS] = []
    return graph, {e.name: e.module for e in entries if e.name != CLUSTER_CONFIGS}


def source_endpoints(settings: Mapping[str, Any]) -> tuple[Endpoint, ...]:
    """The git server of a git source (https, ssh:// or scp-like ``git@host:path``)."""
    src = (settings.get("digit") or {}).get("source") or {}
    if src.get("kind") != "git":
        return ()
    url = str(src.get("git") or "")
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


def release_tasks(settings: Mapping[str, Any], after: Iterable[str] = ()) -> list[Task]:
    # Static volumes come from the volume task's outputs: pass "volumes" in ``after`` once it exists.
    first = list(after)
    git = ((settings.get("digit") or {}).get("source") or {}).get("kind") == "git"
    render = RenderTask(reshapes_graph=git, endpoints=source_endpoints(settings))
    try:
        graph, modules = service_graph(settings)
    except SourceNotFetched:
        return [HelmConfigTask(first), render]
    except InputError as exc:
        raise GraphError(str(exc)) from None
    policy = wait_policy(settings)
    cluster = Cluster()  # one connection and discovery cache for all release tasks of this engine
    tasks: list[Task] = [HelmConfigTask(first), render]
    for service, deps in graph.items():
        tasks.append(ServiceTask(service, [RENDER, *deps] if service != CLUSTER_CONFIGS else [RENDER],
                                 policy=policy, cluster=cluster, module=modules.get(service)))
    tasks.append(ReleaseRecordTask(list(graph), cluster=cluster))
    return tasks


def build_graph(settings: Mapping[str, Any]) -> list[Task]:
    """The graph factory the engine loads (``digit_tui.tasks.graph:build_graph``): the prerequisites,
    then the release once their gate has passed."""
    from digit_tui.tasks.preflight import GATE, preflight_tasks

    return preflight_tasks(settings) + release_tasks(settings, after=[GATE])
