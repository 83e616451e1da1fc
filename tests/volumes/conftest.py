"""Fixtures for the volumes phase: a sandbox on port 0, a kube client with the backbone's
namespaces, the real engine (journal + scheduler) to run the tasks, and StatefulSets shaped like
the backbone's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from digit_tui.digit.volumes import BACKBONE
from digit_tui.engine.journal import Journal, TaskRow
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import Task
from digit_tui.infra.kube import Kube
from digit_tui.tasks.volumes import KubeAccess

NAMESPACES = sorted({s.namespace for s in BACKBONE})


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    """A fresh sandbox (2 nodes, delays /50, default StorageClass ``standard``)."""
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "sandbox", nodes=2, speed=50.0) as handle:
        yield handle


def prepare(kubeconfig: Path) -> Kube:
    kube = Kube(kubeconfig)
    for ns in NAMESPACES:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return kube


@pytest.fixture
def kube(sandbox: Any) -> Iterator[Kube]:
    k = prepare(sandbox.kubeconfig_path)
    yield k
    k.close()


@pytest.fixture
def access(sandbox: Any) -> KubeAccess:
    return KubeAccess(Path(sandbox.kubeconfig_path))


@dataclass
class Engine:
    journal: Journal
    run: str
    state_dir: Path

    async def run_tasks(self, tasks: Sequence[Task]) -> tuple[str, dict[str, TaskRow]]:
        result = await Scheduler(list(tasks), self.journal, self.run, probe_interval=0.2).run()
        return result, {t.id: t for t in self.journal.tasks(self.run)}

    def messages(self, task: str) -> list[str]:
        return [e.message for e in self.journal.events(self.run, task=task, limit=100000)]


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    j = Journal.in_dir(state)
    yield Engine(j, j.create_run("voltest", "test", {}, None), state)
    j.close()


def statefulset(service: str, namespace: str, template: str, *, replicas: int = 3, size: str = "10Gi",
                modes: Sequence[str] = ("ReadWriteOnce",), storage_class: str | None = None) -> dict[str, Any]:
    """A small StatefulSet whose volumeClaimTemplate is named like the backbone chart's."""
    claim: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        claim["storageClassName"] = storage_class
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": service, "namespace": namespace},
            "spec": {"serviceName": f"{service}-headless", "replicas": replicas, "podManagementPolicy": "Parallel",
                     "selector": {"matchLabels": {"app": service}},
                     "template": {"metadata": {"labels": {"app": service}}, "spec": {"containers": [
                         {"name": service, "image": f"egovio/{service}:test",
                          "resources": {"requests": {"memory": "64Mi"}},
                          "volumeMounts": [{"name": template, "mountPath": "/data"}]}]}},
                     "volumeClaimTemplates": [{"metadata": {"name": template}, "spec": claim}]}}


def claim_of(kube: Kube, namespace: str, name: str) -> dict[str, Any] | None:
    return kube.get("v1", "PersistentVolumeClaim", name, namespace)
