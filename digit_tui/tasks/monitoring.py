"""The monitoring phase: DIGIT's own monitoring charts, rendered and applied the release's way.

    monitoring-render -> monitoring-prometheus-operator (CRDs first: Prometheus, Alertmanager,
    ServiceMonitor...; the operator, kube-state-metrics) -> monitoring-grafana, monitoring-jaeger,
    monitoring-node-exporter (those the source has, other than the operator chart's subcharts)
    -> monitoring-alertmanager-config

Charts come from the DIGIT source (``backbone-services/prometheus-operator``, ``grafana``,
``jaeger``, ``kube-state-metrics``, a node-exporter chart when the tree has one: DIGIT-DevOps' or
the bundled sample's small ones), rendered with the generated env and secrets files
(:mod:`digit_tui.tasks.phasecharts`). Alertmanager's config is DIGIT's:
``cluster-configs.secrets.alertmanager.config`` in the secrets file, written by this phase into
Secret ``monitoring/alertmanager-config``, which the Alertmanager resource names (not the Secret
DIGIT's cluster-configs chart renders from it: that one is a YAML string when the config is given
as text, as the generated secrets file gives it); the last task checks it against the secrets
file. The phase comes after cluster-configs, which creates the monitoring namespace and
egov-config there. A source without the charts gets one task that fails permanently, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from digit_tui import yamldump
from digit_tui.answers.config import InstallConfig
from digit_tui.digit.selection import Release
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import PermanentError
from digit_tui.infra.kubewait import WaitPolicy
from digit_tui.tasks.phasecharts import (
    PhaseChart, PhaseInputs, PhaseRenderTask, PhaseServiceTask, PhaseUnavailable, missing_charts,
)
from digit_tui.tasks.release import DEFAULT_DEADLINE, Cluster, _call

PHASE = "monitoring"
OPERATOR = "prometheus-operator"
OPTIONAL = ("grafana", "jaeger", "kube-state-metrics")
NODE_EXPORTERS = ("prometheus-node-exporter", "node-exporter")   # DIGIT's trees name it either way, or lack it
CONFIG_TASK = "monitoring-alertmanager-config"
CONFIG_KEY = "alertmanager.yaml"    # the key the operator reads
CONFIG_SECRET = "alertmanager-config"
TEXT_CONFIG_NOTE = ("the secrets file gives cluster-configs.secrets.alertmanager.config as text, which DIGIT's "
                    "cluster-configs chart renders into Secret {chart_secret} as a YAML string Alertmanager cannot "
                    "read: Alertmanager reads Secret {where}, written from the parsed config")
CONFIG_NOTE = "Alertmanager reads Secret {where}, written from the secrets file's cluster-configs.secrets.alertmanager.config"
NO_CHARTS = "the DIGIT source has no monitoring charts"
NO_CHARTS_REMEDY = ("set phases.monitoring: false, or use a DIGIT-DevOps tree with "
                    "deploy-as-code/helm/charts/backbone-services/prometheus-operator (and grafana, jaeger)")


@dataclass(frozen=True)
class AlertmanagerConfig:
    """Alertmanager's config as DIGIT keeps it: the secrets file's ``cluster-configs.secrets.alertmanager``
    (``config``, and the namespace cluster-configs renders its Secret into)."""

    namespace: str
    config: Mapping[str, Any]
    as_text: bool                   # the secrets file gives the config as YAML text, not as a map
    chart_secret: str | None = None  # the Secret the source's cluster-configs chart names for it (DIGIT's)

    @classmethod
    def from_values(cls, base: Mapping[str, Any], defaults: Mapping[str, Any]) -> AlertmanagerConfig:
        from digit_tui.digit.render import merge_values

        merged = merge_values(dict(defaults), dict(base))
        entry = ((merged.get("cluster-configs") or {}).get("secrets") or {}).get("alertmanager") or {}
        config = entry.get("config")
        as_text = isinstance(config, str)
        if as_text:
            try:
                config = yaml.safe_load(str(config))
            except yaml.YAMLError as exc:
                raise PermanentError(f"cluster-configs.secrets.alertmanager.config in the secrets file is not "
                                     f"YAML ({str(exc).splitlines()[0]})",
                                     remedy="give Alertmanager's config (route, receivers) there as a map") from None
        if not isinstance(config, Mapping) or not config.get("route") or not config.get("receivers"):
            raise PermanentError("the secrets file has no usable cluster-configs.secrets.alertmanager.config "
                                 "(a map with route and receivers): Alertmanager would run without a config",
                                 remedy="put Alertmanager's config (route, receivers) under "
                                        "cluster-configs.secrets.alertmanager.config in the secrets file, "
                                        "or delete the generated secrets file so helm-config writes one")
        namespace = entry.get("namespace") or PHASE
        if isinstance(namespace, list):
            namespace = namespace[0]
        return cls(str(namespace), dict(config), as_text, str(entry["name"]) if entry.get("name") else None)

    def note(self) -> tuple[str, str]:
        """What the render says about where Alertmanager's config comes from, and at which level:
        a warning where the source's own cluster-configs chart would have written it unreadably."""
        where = f"{self.namespace}/{CONFIG_SECRET}"
        if self.as_text and self.chart_secret:
            return "warning", TEXT_CONFIG_NOTE.format(chart_secret=f"{self.namespace}/{self.chart_secret}",
                                                      where=where)
        return "info", CONFIG_NOTE.format(where=where)

    def secret(self) -> dict[str, Any]:
        """The Secret Alertmanager reads. Our own rather than cluster-configs': that chart renders
        a config given as text into a YAML string (``|`` and the text), which Alertmanager cannot read."""
        import base64

        text = yamldump.safe_dump(dict(self.config), sort_keys=False)
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": CONFIG_SECRET, "namespace": self.namespace},
                "data": {CONFIG_KEY: base64.b64encode(text.encode()).decode()}}


def _cluster_configs_defaults(config: InstallConfig) -> dict[str, Any]:
    """The cluster-configs chart's own values: they name the Alertmanager Secret it renders."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.pipeline import CLUSTER_CONFIGS, load_values_file

    ref = ChartIndex.build(config.open_release(fetch=False).source.charts_dir).lookup(CLUSTER_CONFIGS)
    values_file = ref.chart_dir / "values.yaml"
    return load_values_file(values_file) if values_file.is_file() else {}


def _resources_as_text(config: InstallConfig, service: str) -> dict[str, Any]:
    """DIGIT's grafana chart gives ``resources`` as a map where its common chart expects a
    template string (it fails "wrong type for value; expected string"): the same limits, as text."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.pipeline import load_values_file

    ref = ChartIndex.build(config.open_release(fetch=False).source.charts_dir).lookup(service)
    own = load_values_file(ref.chart_dir / "values.yaml") if (ref.chart_dir / "values.yaml").is_file() else {}
    uses_common = (ref.chart_dir / "Chart.yaml").is_file() and "common" in (ref.chart_dir / "Chart.yaml").read_text()
    resources = own.get("resources")
    if uses_common and isinstance(resources, Mapping):
        return {"resources": yamldump.safe_dump(dict(resources), sort_keys=True)}
    return {}


def _uses_git_sync(config: InstallConfig, service: str) -> bool:
    """Whether the chart's own values clone something with git-sync (DIGIT's grafana: its dashboards)."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.pipeline import load_values_file

    ref = ChartIndex.build(config.open_release(fetch=False).source.charts_dir).lookup(service)
    own = load_values_file(ref.chart_dir / "values.yaml") if (ref.chart_dir / "values.yaml").is_file() else {}
    git_sync = (own.get("initContainers") or {}).get("gitSync") or {}
    return isinstance(git_sync, Mapping) and bool(git_sync.get("enabled"))


def monitoring_charts(config: InstallConfig, inputs: PhaseInputs, present: Sequence[str],
                      log: Callable[[str, str], None] | None = None) -> list[PhaseChart]:
    """The phase's charts and the values the phase sets on them, in apply order. ``log(level, line)``."""
    alert = AlertmanagerConfig.from_values(inputs.base, _cluster_configs_defaults(config))
    if log is not None:
        log(*alert.note())
    charts = [PhaseChart(OPERATOR, {"alertmanager": {"alertmanagerSpec": {
        "useExistingSecret": True, "configSecret": CONFIG_SECRET}}}, objects=(alert.secret(),))]
    for name in present:
        if name != OPERATOR:
            values = _resources_as_text(config, name)
            if name == "jaeger":
                values.update(_jaeger_storage(inputs.base))
            objects = ((_git_creds(inputs.base, _cluster_configs_defaults(config)),)
                       if name == "grafana" and _uses_git_sync(config, name) else ())
            charts.append(PhaseChart(name, values, objects=tuple(o for o in objects if o)))
    return charts


def _git_creds(base: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any] | None:
    """DIGIT's grafana chart clones its dashboards with git-sync, mounting Secret git-creds in its own
    namespace; cluster-configs renders that Secret only into ``git-sync.namespace`` (egov in the
    generated environment). The same key, from the secrets file, in the monitoring namespace."""
    import base64

    from digit_tui.digit.render import merge_values

    entry = ((merge_values(dict(defaults), dict(base)).get("cluster-configs") or {}).get("secrets") or {}
             ).get("git-sync") or {}
    namespaces = entry.get("namespace") or []
    namespaces = [namespaces] if isinstance(namespaces, str) else list(namespaces)
    if not entry.get("ssh") or PHASE in namespaces:
        return None     # no key to copy, or cluster-configs renders it there already

    def b64(value: Any) -> str:
        return base64.b64encode(str(value or "").encode()).decode()

    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": str(entry.get("name") or "git-creds"), "namespace": PHASE},
            "data": {"ssh": b64(entry.get("ssh")), "known_hosts": b64(entry.get("known-hosts"))}}


def _jaeger_storage(base: Mapping[str, Any]) -> dict[str, Any]:
    """DIGIT's jaeger chart reads Elasticsearch's URL from key ``es-client`` (or ``es-client-infra``)
    of ConfigMap egov-service-host; an environment without them (the generated one) gets the
    collector and query pointed at egov-config's ``es-indexer-host``, the same Elasticsearch."""
    hosts = ((((base.get("cluster-configs") or {}).get("configmaps") or {}).get("egov-service-host") or {})
             .get("data") or {})
    if "es-client" in hosts or "es-client-infra" in hosts:
        return {}
    env = ("- name: ES_SERVER_URLS\n  valueFrom:\n    configMapKeyRef:\n      name: egov-config\n"
           "      key: es-indexer-host\n")
    return {"storage": {"env": env}}


def monitoring_tasks(config: InstallConfig, release: Release | None = None, *, after: Iterable[str] = (),
                     policy: WaitPolicy | None = None) -> list[Task]:
    """The monitoring phase's tasks, after ``after`` (which must include cluster-configs: it creates
    the monitoring namespace and egov-config there). ``release``: the opened release, to look up the
    charts in (opened from ``config`` when not given). Charts that are subcharts of the operator's
    (kube-state-metrics in DIGIT's tree) get no task of their own."""
    after = list(after)
    if release is not None:
        charts_dir = release.source.charts_dir
    else:
        charts_dir = config.open_release(fetch=False).source.charts_dir
    wanted = [OPERATOR, *OPTIONAL, *NODE_EXPORTERS]
    missing = set(missing_charts(config, wanted))
    present = [n for n in wanted if n not in missing]
    if OPERATOR not in present:
        detail = NO_CHARTS if not present else f"the DIGIT source has no {OPERATOR} chart (Prometheus, Alertmanager)"
        return [PhaseUnavailable(PHASE, after, f"{detail} under {charts_dir}", NO_CHARTS_REMEDY)]
    bundled = _subcharts(charts_dir, OPERATOR)
    # kube-state-metrics (in DIGIT's tree) comes as the operator chart's subchart: one copy, its.
    present = [n for n in present if n == OPERATOR or n not in bundled]
    exporters = [n for n in NODE_EXPORTERS if n in present or n in bundled][:1]
    present = [n for n in present if n not in NODE_EXPORTERS or n in exporters]
    policy = policy or WaitPolicy(deadline=DEFAULT_DEADLINE)
    cluster = Cluster(config)
    render = _MonitoringRender(config, present, after, no_exporter=not exporters,
                               bundled=sorted(bundled & {*OPTIONAL, *NODE_EXPORTERS}))
    first = PhaseServiceTask(OPERATOR, [render.id], cluster=cluster, phase=PHASE, task_id=f"{PHASE}-{OPERATOR}",
                             title="Deploy Prometheus, Alertmanager and the operator (CRDs first)", policy=policy)
    rest = [PhaseServiceTask(n, [first.id], cluster=cluster, phase=PHASE, task_id=f"{PHASE}-{n}",
                             title=f"Deploy {n}", policy=policy) for n in present if n != OPERATOR]
    return [render, first, *rest, AlertmanagerConfigTask(config, [first.id], cluster=cluster)]


def _subcharts(charts_dir: Path, service: str) -> set[str]:
    """The charts ``service``'s chart pulls in as dependencies (requirements.yaml or Chart.yaml)."""
    from digit_tui.digit.chart_index import ChartIndex

    chart_dir = ChartIndex.build(charts_dir).lookup(service).chart_dir
    names: set[str] = set()
    for file in ("requirements.yaml", "Chart.yaml"):
        try:
            doc = yaml.safe_load((chart_dir / file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            continue
        names.update(str(d.get("name")) for d in doc.get("dependencies") or [] if isinstance(d, dict))
    return names


class _MonitoringRender(PhaseRenderTask):
    def __init__(self, config: InstallConfig, present: Sequence[str], after: Iterable[str], *,
                 no_exporter: bool, bundled: Sequence[str]) -> None:
        self._log: Callable[[str, str], None] | None = None
        super().__init__(config, PHASE, lambda inputs: monitoring_charts(config, inputs, present, self._log), after,
                         title="Render the monitoring charts")
        self.present = tuple(present)
        self.no_exporter = no_exporter
        self.bundled = tuple(bundled)

    async def ensure(self, ctx: TaskContext) -> None:
        if self.no_exporter:
            ctx.log("the DIGIT source has no node-exporter chart (prometheus-node-exporter, node-exporter): "
                    "node metrics are not collected", level="warning")
        self._log = lambda level, line: ctx.log(line, level=level)
        try:
            await super().ensure(ctx)
        finally:
            self._log = None

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        lines = [f"would render {', '.join(self.present)} from the DIGIT source with the generated env and "
                 "secrets files; Alertmanager's config from cluster-configs.secrets.alertmanager"]
        if self.bundled:
            lines.append(f"  {', '.join(self.bundled)}: deployed by the {OPERATOR} chart (its subcharts)")
        if self.no_exporter:
            lines.append("  the source has no node-exporter chart: node metrics are not collected")
        return lines


class AlertmanagerConfigTask(Task):
    """Alertmanager's config in the cluster is the secrets file's: the Secret holds it and every
    Alertmanager resource names that Secret. A check of what the operator's task applied, so a rerun
    (or an operator's hand edit) is caught; ensure cannot repair what it finds, it says what."""

    def __init__(self, config: InstallConfig, deps: Iterable[str], *, cluster: Cluster) -> None:
        super().__init__(CONFIG_TASK, "Check Alertmanager's config against the secrets file", PHASE, tuple(deps),
                         retry=RetryPolicy(attempts=3, base_delay=1.0), timeout=60.0)
        self.config = config
        self.cluster = cluster

    def _expected(self, ctx: TaskContext) -> AlertmanagerConfig:
        from digit_tui.digit.pipeline import base_values
        from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG

        out = ctx.output(HELM_CONFIG)
        base = base_values(str(out["env_file"]), out.get("secrets_file"), keep=True)     # helm-config's own files
        return AlertmanagerConfig.from_values(base, _cluster_configs_defaults(self.config))

    def _state(self, ctx: TaskContext) -> str | None:
        """None when the cluster matches, else what differs (never the config's values)."""
        import base64

        want = self._expected(ctx)
        kube = self.cluster.for_task(self, ctx)
        where = f"Secret {want.namespace}/{CONFIG_SECRET}"

        def look() -> str | None:
            secret = kube.get("v1", "Secret", CONFIG_SECRET, want.namespace)
            if secret is None:
                return f"{where} (Alertmanager's config) is missing"
            raw = (secret.get("data") or {}).get(CONFIG_KEY)
            if raw is None or yaml.safe_load(base64.b64decode(raw)) != dict(want.config):
                return f"{where} does not hold the secrets file's cluster-configs.secrets.alertmanager.config"
            managers = kube.list(kube.resource("monitoring.coreos.com/v1", "Alertmanager"), want.namespace)[0]
            if not managers:
                return f"no Alertmanager resource in namespace {want.namespace}"
            wrong = [str(a["metadata"]["name"]) for a in managers
                     if (a.get("spec") or {}).get("configSecret") != CONFIG_SECRET]
            if wrong:
                return f"Alertmanager {', '.join(wrong)} does not read {where}"
            return None

        return _call("check Alertmanager's config", kube, look)

    async def check(self, ctx: TaskContext) -> bool:
        why = await ctx.run_sync(self._state, ctx)
        if why:
            ctx.log(f"check: {why}")
        return why is None

    async def ensure(self, ctx: TaskContext) -> None:
        why = await ctx.run_sync(self._state, ctx)
        if why is not None:
            raise PermanentError(why, remedy="run `digit-tui install` again: the monitoring-prometheus-operator "
                                             "task applies it from the secrets file")

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would check that Alertmanager reads Secret {CONFIG_SECRET}, holding the secrets file's "
                "cluster-configs.secrets.alertmanager.config"]
