"""The terraform provider with the real terraform binary: cluster-terraform applies a module
whose sensitive output `kubeconfig` is a kubeconfig's text (here the in-process sandbox's, as a
cloud module gives its new cluster's); the cluster task writes it to <state_dir>/kubeconfig
(0600) and publishes that, the real kubectl uses it, a rerun changes nothing, and the
kubeconfig's token is in no journal row or event."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from digit_tui.answers.model import Storage, Target
from digit_tui.engine.plan import dry_run_all
from digit_tui.infra.terraform import Timeouts
from digit_tui.sandbox.runtime import SandboxHandle
from digit_tui.tasks.cluster import TASK_ID, TERRAFORM_TASK_ID, TerraformCluster, cluster_tasks
from tests.cluster.conftest import QUICK, Engine, kubectl, mode

FIXTURE = Path(__file__).parent / "tf_cluster"
TIMEOUTS = Timeouts(version=15, init=30, plan=30, apply=30, output=15, interrupt_grace=5)


@pytest.fixture
def spec(tmp_path: Path, shared_cluster: SandboxHandle) -> TerraformCluster:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: the machine image has /usr/local/bin/terraform")
    rc = tmp_path / "terraformrc"
    rc.write_text("")   # no operator CLI config (mirrors, credentials) leaks into the test
    workdir = Path(shutil.copytree(FIXTURE, tmp_path / "infra"))
    return TerraformCluster(workdir=workdir, variables={"kubeconfig": shared_cluster.kubeconfig_path.read_text()},
                            secret_variables=("kubeconfig",), env={"TF_CLI_CONFIG_FILE": str(rc)},
                            timeouts=TIMEOUTS, lock_timeout="0s")


async def test_terraform_output_becomes_the_published_kubeconfig(
        spec: TerraformCluster, shared_cluster: SandboxHandle, engine: Engine, tmp_path: Path) -> None:
    target = Target(provider="azure")
    graph = cluster_tasks(target, Storage(), engine.state, terraform=spec, checks=QUICK)
    assert [t.id for t in graph] == [TERRAFORM_TASK_ID, TASK_ID] and graph[1].deps == (TERRAFORM_TASK_ID,)
    plan = (await dry_run_all(graph))[TASK_ID]
    assert plan[0] == f"would write terraform's output kubeconfig (task {TERRAFORM_TASK_ID}) to " \
                      f"{engine.state / 'kubeconfig'} (0600)"

    assert await engine.run(graph) == "done"
    written = engine.state / "kubeconfig"
    assert written.read_text() == shared_cluster.kubeconfig_path.read_text() and mode(written) == 0o600
    out = engine.row().outputs
    assert out == {"kubeconfig": str(written), "context": "digit-sandbox", "server": shared_cluster.url,
                   "provider": "terraform"}
    assert engine.row(TERRAFORM_TASK_ID).outputs["cluster_name"] == "tf-test"
    assert kubectl(out["kubeconfig"], "get", "nodes", cache=tmp_path).returncode == 0
    # The var-file and plan live in the state directory, never in the working directory.
    assert (engine.state / "terraform" / TERRAFORM_TASK_ID).is_dir()

    assert await engine.run(cluster_tasks(target, Storage(), engine.state, terraform=spec, checks=QUICK)) == "done"
    assert engine.messages(TERRAFORM_TASK_ID, kind="check") == ["check: already converged"]
    assert engine.messages(TASK_ID, kind="check") == ["check: already converged"]

    engine.journal.close()
    token = shared_cluster.token
    for f in engine.state.glob("journal.db*"):
        assert token.encode() not in f.read_bytes(), f
    engine.journal = type(engine.journal).in_dir(engine.state)


async def test_an_output_that_is_no_kubeconfig_is_permanent(
        spec: TerraformCluster, engine: Engine) -> None:
    wrong = TerraformCluster(**{**spec.__dict__, "kubeconfig_output": "cluster_name"})
    assert await engine.run(cluster_tasks(Target(provider="aws"), Storage(), engine.state, terraform=wrong,
                                          checks=QUICK)) == "failed"
    row = engine.row()
    assert row.error == "terraform output cluster_name is not a kubeconfig (expected YAML with clusters, users " \
                        "and contexts)"
    assert not (engine.state / "kubeconfig").exists()
