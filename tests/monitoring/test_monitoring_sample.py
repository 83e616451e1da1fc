"""The monitoring phase from the bundled sample's own charts on the sandbox, through the real engine
after helm-config, render and cluster-configs: every workload ready (checked with the real
kubectl), node-exporter and the Jaeger agent on every node, kube-state-metrics once (the operator
chart's subchart), Alertmanager reading the Secret that holds the secrets file's config, an edit of
that config in the secrets file reaching the Secret on the next run, a rerun that applies nothing.
A tree without the charts fails permanently, saying so.

The sandbox runs no Prometheus operator: the Prometheus and Alertmanager StatefulSets it would
create from the resources do not appear; the resources themselves are checked."""

from __future__ import annotations

import asyncio
import base64
import shutil
from pathlib import Path
from typing import Any

import yaml

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.tasks.monitoring import CONFIG_TASK, NO_CHARTS, monitoring_tasks
from digit_tui.tasks.release import CLUSTER_CONFIGS

from .conftest import QUICK, Engine, base_tasks, kubectl, not_ready, phase_config

MONITORING_CHARTS = ("prometheus-operator", "kube-state-metrics", "grafana", "jaeger", "prometheus-node-exporter")


def phase(config: Any) -> list[Any]:
    return [*base_tasks(config), *monitoring_tasks(config, after=[CLUSTER_CONFIGS], policy=QUICK)]


def alertmanager_secret(kc: Path, cache: Path) -> Any:
    secret = kubectl(kc, cache, "get", "secret", "alertmanager-config", "-n", "monitoring")
    return yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"]))


def test_the_samples_monitoring_stack_comes_up_ready_with_the_secrets_files_alertmanager_config(
        tmp_path: Path, cluster: Any, engine: Engine) -> None:
    config = phase_config(tmp_path, BUNDLED_SOURCE, cluster.kubeconfig_path, release=None)
    tasks = phase(config)
    assert [t.id for t in tasks][3:] == ["monitoring-render", "monitoring-prometheus-operator", "monitoring-grafana",
                                         "monitoring-jaeger", "monitoring-prometheus-node-exporter", CONFIG_TASK]
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    assert not_ready(kc, cache, "monitoring") == []
    items = kubectl(kc, cache, "get", "deployments,daemonsets", "-n", "monitoring")["items"]
    names = {i["metadata"]["name"] for i in items}
    assert {"prometheus-operator", "kube-state-metrics", "grafana", "jaeger-collector", "jaeger-query"} <= names
    nodes = len(kubectl(kc, cache, "get", "nodes")["items"])
    for ds in ("prometheus-node-exporter", "jaeger-agent"):
        status = next(i for i in items if i["metadata"]["name"] == ds)["status"]
        assert status["numberReady"] == status["desiredNumberScheduled"] == nodes, (ds, status)
    # kube-state-metrics: a chart of its own and the operator chart's subchart, deployed once
    assert "monitoring-kube-state-metrics" not in [t.id for t in tasks]
    ksm = kubectl(kc, cache, "get", "deployment", "kube-state-metrics", "-n", "monitoring")
    assert ksm["metadata"]["labels"]["digit.org/service"] == "prometheus-operator"
    for crd in ("prometheuses", "alertmanagers", "servicemonitors", "podmonitors", "prometheusrules"):
        assert kubectl(kc, cache, "get", "crd", f"{crd}.monitoring.coreos.com")["spec"]["versions"][0]["served"]
    prom = kubectl(kc, cache, "get", "prometheuses.monitoring.coreos.com", "-n", "monitoring")["items"]
    assert [p["spec"]["alerting"]["alertmanagers"][0]["name"] for p in prom] == ["prometheus-alertmanager"]
    monitors = {m["metadata"]["name"] for m in kubectl(kc, cache, "get", "servicemonitors.monitoring.coreos.com",
                                                         "-n", "monitoring")["items"]}
    assert {"kube-state-metrics", "prometheus-node-exporter", "jaeger-collector"} <= monitors
    # Jaeger reads Elasticsearch's URL from egov-config in monitoring (the sample env has no es-client)
    collector = kubectl(kc, cache, "get", "deployment", "jaeger-collector", "-n", "monitoring")
    env = {e["name"]: e for e in collector["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ES_SERVER_URLS"]["valueFrom"]["configMapKeyRef"] == {"name": "egov-config", "key": "es-indexer-host"}

    # Alertmanager reads the Secret that holds the secrets file's config (text in the generated file)
    alert = kubectl(kc, cache, "get", "alertmanagers.monitoring.coreos.com", "-n", "monitoring")["items"]
    assert [a["spec"]["configSecret"] for a in alert] == ["alertmanager-config"]
    secrets_path = tmp_path / "state/helm/environments/dev-secrets.yaml"
    secrets_file = yaml.safe_load(secrets_path.read_text())
    text = secrets_file["cluster-configs"]["secrets"]["alertmanager"]["config"]
    assert isinstance(text, str) and alertmanager_secret(kc, cache) == yaml.safe_load(text)
    # the sample's cluster-configs names no Alertmanager Secret (no secrets.alertmanager.name): no warning
    said = [e for e in engine.journal.events(engine.run_id, task="monitoring-render")
            if "Alertmanager reads Secret monitoring/alertmanager-config" in e.message]
    assert [e.level for e in said] == ["info"]

    again = phase(config)
    assert asyncio.run(engine.run(again)) == "done", engine.failures(again)
    assert engine.applied(again) == []

    # An operator's edit of the config in the secrets file reaches Alertmanager's Secret
    edited = yaml.safe_load(text)
    edited["receivers"].append({"name": "ops", "webhook_configs": [{"url": "http://alert-sink.monitoring:8080/"}]})
    edited["route"]["routes"] = [{"receiver": "ops", "matchers": ['severity="critical"']}]
    secrets_file["cluster-configs"]["secrets"]["alertmanager"]["config"] = yaml.safe_dump(edited, sort_keys=False)
    secrets_path.write_text(yaml.safe_dump(secrets_file, sort_keys=False))
    third = phase(config)
    assert asyncio.run(engine.run(third)) == "done", engine.failures(third)
    assert "monitoring-prometheus-operator" in engine.applied(third)
    assert alertmanager_secret(kc, cache) == edited
    assert not_ready(kc, cache, "monitoring") == []


def test_a_tree_without_monitoring_charts_fails_saying_so(tmp_path: Path, cluster: Any, engine: Engine) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(BUNDLED_SOURCE, tree)
    for chart in MONITORING_CHARTS:
        shutil.rmtree(tree / "deploy-as-code/helm/charts/backbone-services" / chart)
    config = phase_config(tmp_path, tree, cluster.kubeconfig_path, release=None)
    tasks = monitoring_tasks(config, after=[])
    assert [t.id for t in tasks] == ["monitoring"]
    assert asyncio.run(engine.run(tasks)) == "failed"
    row = engine.journal.task(engine.run_id, "monitoring")
    assert row is not None and row.error is not None and NO_CHARTS in row.error
    assert row.remedy is not None and "phases.monitoring: false" in row.remedy
