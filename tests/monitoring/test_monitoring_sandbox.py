"""The monitoring phase from the real DIGIT-DevOps charts on the sandbox (Kubernetes 1.30), through
the real engine after helm-config, render and cluster-configs: every workload ready (checked with
the real kubectl), CRDs served, Alertmanager's config the secrets file's, a rerun that applies
nothing. The bundled sample's own charts: test_monitoring_sample.py."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import yaml

from digit_tui.tasks.monitoring import CONFIG_TASK, monitoring_tasks
from digit_tui.tasks.release import CLUSTER_CONFIGS, RELEASE_TASK, Cluster, ReleaseRecordTask

from .conftest import QUICK, Engine, base_tasks, kubectl, not_ready, phase_config


def with_record(config: Any, tasks: list[Any]) -> list[Any]:
    """``tasks`` then the release record, after all of them (as the graph's last release task)."""
    return [*tasks, ReleaseRecordTask([t.id for t in tasks], cluster=Cluster(config))]


def test_real_monitoring_charts_come_up_ready_and_a_rerun_applies_nothing(tmp_path: Path, tree: Path,
                                                                          cluster: Any, engine: Engine) -> None:
    config = phase_config(tmp_path, tree, cluster.kubeconfig_path)
    tasks = with_record(config, [*base_tasks(config), *monitoring_tasks(config, after=[CLUSTER_CONFIGS], policy=QUICK)])
    ids = [t.id for t in tasks[:-1]]
    assert ids[3:] == ["monitoring-render", "monitoring-prometheus-operator", "monitoring-grafana",
                       "monitoring-jaeger", CONFIG_TASK]
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)
    cache = tmp_path / "kcache"
    assert not_ready(cluster.kubeconfig_path, cache, "monitoring") == []
    names = {i["metadata"]["name"] for i in kubectl(cluster.kubeconfig_path, cache, "get", "deployments,daemonsets",
                                                    "-n", "monitoring")["items"]}
    assert {"prometheus-operator", "kube-state-metrics", "grafana", "jaeger-collector", "jaeger-query",
            "jaeger-agent"} <= names
    # DIGIT's tree at this commit has no node-exporter chart: said, as a warning
    assert any("no node-exporter chart" in m for m in engine.messages("monitoring-render"))
    crd = kubectl(cluster.kubeconfig_path, cache, "get", "crd", "alertmanagers.monitoring.coreos.com")
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"

    # Alertmanager reads the Secret the phase wrote from the secrets file
    alert = kubectl(cluster.kubeconfig_path, cache, "get", "alertmanagers.monitoring.coreos.com", "-n", "monitoring")
    assert [a["spec"]["configSecret"] for a in alert["items"]] == ["alertmanager-config"]
    secret = kubectl(cluster.kubeconfig_path, cache, "get", "secret", "alertmanager-config", "-n", "monitoring")
    secrets_file = yaml.safe_load((tmp_path / "state/helm/environments/dev-secrets.yaml").read_text())
    want = secrets_file["cluster-configs"]["secrets"]["alertmanager"]["config"]
    want = yaml.safe_load(want) if isinstance(want, str) else want
    assert want["route"]["receiver"] == "null"
    assert yaml.safe_load(base64.b64decode(secret["data"]["alertmanager.yaml"])) == want
    # the text config, which DIGIT's cluster-configs writes unreadably into alertmanager-main, is said so
    assert any("Secret monitoring/alertmanager-main as a YAML string" in e.message and e.level == "warning"
               for e in engine.journal.events(engine.run_id, task="monitoring-render"))

    # the release record, which prunes objects of services no longer released, left the phase's alone
    assert not any("pruning service" in m for m in engine.messages(RELEASE_TASK))
    again = with_record(config, [*base_tasks(config), *monitoring_tasks(config, after=[CLUSTER_CONFIGS], policy=QUICK)])
    assert asyncio.run(engine.run(again)) == "done", engine.failures(again)
    assert engine.applied(again) == []

