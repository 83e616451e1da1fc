"""Helpers for the monitoring and Jenkins phase tests: the real DIGIT-DevOps tree, a sandbox, the
real engine (Scheduler + Journal) running helm-config -> render -> cluster-configs -> a phase, and
the real /usr/bin/kubectl."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import Task, TaskState
from digit_tui.infra.kubewait import WaitPolicy
from tests.realtree import real_tree

KUBECTL = "/usr/bin/kubectl"
# A workload the sandbox cannot start says why within a minute, rather than after DIGIT's ten.
QUICK = WaitPolicy(deadline=60.0)
MANIFEST = "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_tree(tmp_path_factory)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "sandbox", nodes=3, speed=50.0) as handle:
        yield handle


def phase_config(tmp: Path, source: Path, kubeconfig: Path, *, release: str | None = MANIFEST) -> Any:
    """An install configuration over ``source`` (a DIGIT-DevOps tree or the bundled sample) with
    no m_ module: the platform modules only, which the render needs for cluster-configs."""
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig

    digit: dict[str, Any] = {"domain": "digit.local", "modules": [], "source": {"path": str(source)}}
    if release:
        digit["release"] = release
    doc = {"environment": "dev", "target": {"provider": "sandbox", "kubeconfig": str(kubeconfig)}, "digit": digit}
    answers = tmp / "answers.yaml"
    answers.write_text(yaml.safe_dump(doc, sort_keys=False))
    return InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp / "state")


def base_tasks(config: Any) -> list[Task]:
    """helm-config -> render -> cluster-configs: what a phase needs before it (namespaces, Secrets)."""
    from digit_tui.tasks.helmconfig import HelmConfigTask
    from digit_tui.tasks.release import CLUSTER_CONFIGS, Cluster, ServiceTask
    from digit_tui.tasks.render import TASK_ID as RENDER, RenderTask

    return [HelmConfigTask(config, []), RenderTask(config),
            ServiceTask(CLUSTER_CONFIGS, [RENDER], cluster=Cluster(config))]


class Engine:
    """Runs task lists through the real scheduler, one run each, journalled in ``state``."""

    def __init__(self, state: Path) -> None:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.journal = Journal.in_dir(state)
        self.run_id = ""

    async def run(self, tasks: Sequence[Task]) -> str:
        self.run_id = self.journal.create_run("phasetest", "test", {}, None)
        return await Scheduler(tasks, self.journal, self.run_id, probe_interval=0.1).run()

    def messages(self, task_id: str, kind: str | None = None) -> list[str]:
        return [e.message for e in self.journal.events(self.run_id, task=task_id) if kind is None or e.kind == kind]

    def applied(self, tasks: Sequence[Task]) -> list[str]:
        """Tasks that ran ensure in the latest run (rather than being found converged)."""
        return [t.id for t in tasks if "check: not converged" in self.messages(t.id, "check")]

    def failures(self, tasks: Sequence[Task]) -> dict[str, list[str]]:
        rows = {t.id: self.journal.task(self.run_id, t.id) for t in tasks}
        return {i: [str(r.error if r else None), *self.messages(i)[-3:]] for i, r in rows.items()
                if r is None or r.state != TaskState.DONE}

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path / "state")
    yield e
    e.close()


def kubectl(kubeconfig: Path, cache: Path, *args: str) -> Any:
    r = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache),
                        "--request-timeout", "20s", *args, "-o", "json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def not_ready(kubeconfig: Path, cache: Path, namespace: str) -> list[str]:
    items = kubectl(kubeconfig, cache, "get", "deployments,statefulsets,daemonsets", "-n", namespace)["items"]
    out = []
    for i in items:
        status, spec = i.get("status") or {}, i.get("spec") or {}
        ok = (status.get("numberReady", 0) == status.get("desiredNumberScheduled", -1) if i["kind"] == "DaemonSet"
              else status.get("readyReplicas", 0) == spec.get("replicas", 1))
        if not ok:
            out.append(f"{i['kind']} {i['metadata']['name']}")
    return out
