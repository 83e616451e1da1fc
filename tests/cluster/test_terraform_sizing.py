"""The sizing plan reaches terraform: with the real terraform binary, the cluster-terraform task the
install graph builds from the answers (sizing.ulbs / preset, terraform.variables) writes the plan's
node count and size and the backbone's disk sizes into its 0600 var-file, under the operator's own
variables (theirs win); the module's outputs echo what it received. A rerun with the same answers
changes nothing; more ULBs show in the plan as a change of the disks only.

The module (tests/cluster/tf_sized) holds everything in terraform's built-in ``terraform_data``: no
cloud provider can be downloaded here. The cluster task checks the in-process sandbox whose
kubeconfig the module outputs, as a cloud module outputs its new cluster's."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import yaml

from digit_tui.answers.config import InstallConfig
from digit_tui.answers.loader import parse_answers
from digit_tui.engine.plan import dry_run_all
from digit_tui.infra.terraform import Timeouts
from digit_tui.sandbox.runtime import SandboxHandle
from digit_tui.sizing.install import install_plan
from digit_tui.tasks.cluster import TERRAFORM_TASK_ID, TerraformCluster, cluster_tasks
from digit_tui.tasks.graph import terraform_cluster
from digit_tui.tasks.terraform import VAR_FILE
from tests.cluster.conftest import QUICK, Engine, mode

FIXTURE = Path(__file__).parent / "tf_sized"
TIMEOUTS = Timeouts(version=15, init=30, plan=30, apply=30, output=15, interrupt_grace=5)


def answers_file(tmp_path: Path, kubeconfig: str, ulbs: int) -> Path:
    secrets = tmp_path / "tf-secrets.json"
    secrets.write_text(json.dumps({"kubeconfig": kubeconfig}))
    secrets.chmod(0o600)
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({
        "environment": "sized", "target": {"provider": "aws"}, "cluster": {"mode": "terraform"},
        "terraform": {"dir": "infra", "variables": {"node_cpus": 16}, "secret_variables_file": "tf-secrets.json"},
        "digit": {"domain": "digit.local"}, "database": {"mode": "external", "host": "10.0.0.9"},
        "sizing": {"ulbs": ulbs, "preset": "sdc-prod"}}, sort_keys=False))
    return path


def spec_for(path: Path, state: Path, rc: Path) -> tuple[InstallConfig, TerraformCluster]:
    """What `digit-tui install` does with the file: plan once, record the document, and the graph
    factory's configuration rebuilt from it."""
    answers = parse_answers(path.read_text(), path)
    document = InstallConfig.from_answers(answers, path, sizing=install_plan(answers, path)).to_document()
    config = InstallConfig.from_document(json.loads(json.dumps(document)), state)
    spec = terraform_cluster(config)
    assert spec is not None
    return config, dataclasses.replace(spec, env={"TF_CLI_CONFIG_FILE": str(rc)}, timeouts=TIMEOUTS, lock_timeout="0s")


async def test_the_sizing_plan_is_a_var_file_under_the_operators_variables(
        tmp_path: Path, shared_cluster: SandboxHandle, engine: Engine) -> None:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: the machine image has /usr/local/bin/terraform")
    rc = tmp_path / "terraformrc"
    rc.write_text("")
    shutil.copytree(FIXTURE, tmp_path / "infra")
    kubeconfig = shared_cluster.kubeconfig_path.read_text()
    config, spec = spec_for(answers_file(tmp_path, kubeconfig, ulbs=50), engine.state, rc)
    plan = config.sizing
    assert plan is not None and plan.preset == "sdc-prod" and plan.ulbs == 50
    kafka = plan.disk_sizes()["kafka-v2"]

    graph = cluster_tasks(config.answers.target, config.answers.storage, engine.state, terraform=spec, checks=QUICK)
    preview = (await dry_run_all(graph))[TERRAFORM_TASK_ID]
    assert f"node_count={plan.workers}" in preview[0] and f"kafka_volume_size_gb={kafka.gib}" in preview[0]
    assert "node_cpus" not in preview[0]                      # the operator's value, not the plan's
    assert any("declares no variable" in line and "node_memory_gib" in line for line in preview)

    assert await engine.run(graph) == "done"
    out = engine.row(TERRAFORM_TASK_ID).outputs
    assert out["node_count"] == plan.workers and out["node_flavor"] == plan.worker_flavor
    assert out["kafka_volume_size_gb"] == kafka.gib
    var_file = engine.state / "terraform" / TERRAFORM_TASK_ID / VAR_FILE
    written = json.loads(var_file.read_text())
    assert mode(var_file) == 0o600
    assert written["node_cpus"] == 16 and written["node_count"] == plan.workers        # theirs win, the plan fills in
    assert written["kafka_volume_count"] == kafka.replicas and "node_memory_gib" not in written
    assert kubeconfig not in " ".join(engine.messages(TERRAFORM_TASK_ID))

    # The same answers again: the same plan, terraform plans no change, nothing is applied.
    config, spec = spec_for(answers_file(tmp_path, kubeconfig, ulbs=50), engine.state, rc)
    again = cluster_tasks(config.answers.target, config.answers.storage, engine.state, terraform=spec, checks=QUICK)
    assert await engine.run(again) == "done"
    assert engine.messages(TERRAFORM_TASK_ID, kind="check") == ["check: already converged"]

    # More ULBs: more users (more workers) and more data (bigger disks), which terraform shows as
    # changes in place of the node pool and the disks; nothing is destroyed.
    config, spec = spec_for(answers_file(tmp_path, kubeconfig, ulbs=3000), engine.state, rc)
    assert config.sizing is not None and config.sizing.disk_sizes()["kafka-v2"].gib > kafka.gib
    assert config.sizing.workers > plan.workers
    bigger = cluster_tasks(config.answers.target, config.answers.storage, engine.state, terraform=spec, checks=QUICK)
    lines = (await dry_run_all(bigger))[TERRAFORM_TASK_ID]
    assert [line for line in lines if line.startswith("would ")] == [
        "would update in place terraform_data.kafka_disks", "would update in place terraform_data.node_pool"], lines
    assert lines[-1].endswith("Plan: 0 to add, 2 to change, 0 to destroy.")
