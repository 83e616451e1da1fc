"""The existing provider against an in-process sandbox reached only through its kubeconfig, as
any cluster: Ready nodes pass and the kubeconfig is published as given (the real kubectl uses
it); a NotReady node, a missing StorageClass, no default StorageClass, refused credentials fail
permanently naming what is wrong; a partitioned API server makes the task wait for exactly that
server and finish by itself."""

from __future__ import annotations

import dataclasses

import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.answers.model import Storage
from digit_tui.engine.plan import dry_run_all
from digit_tui.engine.task import Endpoint, TaskState
from digit_tui.sandbox.runtime import SandboxHandle
from digit_tui.tasks.cluster import TASK_ID, ClusterChecks, ExistingClusterTask, cluster_tasks
from tests.cluster.conftest import ONCE, QUICK, Engine, existing, kubectl


def edited(handle: SandboxHandle, dest: Path, **user: str) -> Path:
    doc = yaml.safe_load(handle.kubeconfig_path.read_text())
    doc["users"][0]["user"].update(user)
    dest.write_text(yaml.safe_dump(doc))
    dest.chmod(0o600)
    return dest


async def test_a_ready_cluster_passes_and_its_kubeconfig_is_published_as_given(
        shared_cluster: SandboxHandle, engine: Engine, tmp_path: Path) -> None:
    kc = shared_cluster.kubeconfig_path
    graph = cluster_tasks(existing(kc), Storage(), engine.state, checks=QUICK)
    assert [type(t) for t in graph] == [ExistingClusterTask]
    plan = (await dry_run_all(graph))[TASK_ID]
    assert plan[0] == f"would use the kubeconfig {kc} as it is"
    assert plan[1].startswith("cluster now: Kubernetes v1.30.14 at https://127.0.0.1:")
    assert plan[2].startswith("would check 3 nodes Ready, and Kubernetes >= 1.22, every node Ready, "
                              "a default StorageClass")

    assert await engine.run(graph) == "done"
    out = engine.row().outputs
    assert out == {"kubeconfig": str(kc), "context": "digit-sandbox", "server": shared_cluster.url,
                   "provider": "existing"}
    assert not (engine.state / "kubeconfig").exists()       # nothing written for an existing cluster
    assert any("3/3 nodes Ready, default StorageClass standard" in m for m in engine.messages())
    got = kubectl(out["kubeconfig"], "--context", out["context"], "get", "nodes", "-o", "name", cache=tmp_path)
    assert got.returncode == 0 and len(got.stdout.split()) == 3, got.stderr

    assert await engine.run(cluster_tasks(existing(kc), Storage(), engine.state, checks=QUICK)) == "done"
    assert engine.messages(kind="check") == ["check: already converged"]


async def test_a_not_ready_node_is_named(own_cluster: SandboxHandle, engine: Engine) -> None:
    own_cluster.fault({"kind": "node-not-ready", "node": "node-2"})
    graph = cluster_tasks(existing(own_cluster.kubeconfig_path), Storage(), engine.state, checks=QUICK)
    assert "would wait (up to 0.5 s): 1 of 3 nodes are not Ready: node-2" in "\n".join(
        (await dry_run_all(graph))[TASK_ID])
    assert await engine.run(graph) == "failed"
    row = engine.row()
    assert row.error is not None and row.error.startswith("1 of 3 nodes are not Ready: node-2 (NodeStatusUnknown")
    assert "node-1" not in row.error and "(waited 0.5 s)" in row.error
    assert row.remedy is not None and "kubectl describe node node-2" in row.remedy
    assert row.attempts == 1     # permanent: not retried, and nothing published
    assert row.outputs == {}


async def test_a_node_back_within_the_wait_passes(own_cluster: SandboxHandle, engine: Engine) -> None:
    own_cluster.fault({"kind": "node-not-ready", "node": "node-3", "seconds": 1.0})
    patient = ClusterChecks(ready_wait=20.0, poll=0.1, read_timeout=5.0)
    assert await engine.run(cluster_tasks(existing(own_cluster.kubeconfig_path), Storage(), engine.state,
                                          checks=patient)) == "done"
    waited = [m for m in engine.messages() if "waiting up to 20 s" in m]
    assert waited and "node-3" in waited[0]


async def test_a_missing_storage_class_is_named(shared_cluster: SandboxHandle, engine: Engine) -> None:
    storage = Storage(storage_class="fast-ssd")
    assert await engine.run(cluster_tasks(existing(shared_cluster.kubeconfig_path), storage, engine.state,
                                          checks=QUICK)) == "failed"
    row = engine.row()
    assert row.error == ("the StorageClass fast-ssd named by storage.storage_class is not in the cluster "
                         "(it has: standard)")
    assert row.remedy is not None and "create the StorageClass fast-ssd" in row.remedy and row.attempts == 0


async def test_no_default_storage_class_is_named_and_a_named_one_passes(
        own_cluster: SandboxHandle, engine: Engine, tmp_path: Path) -> None:
    kc = own_cluster.kubeconfig_path
    off = kubectl(str(kc), "annotate", "storageclass", "standard", "--overwrite",
                  "storageclass.kubernetes.io/is-default-class=false", cache=tmp_path)
    assert off.returncode == 0, off.stderr
    assert await engine.run(cluster_tasks(existing(kc), Storage(), engine.state, checks=QUICK)) == "failed"
    assert engine.row().error == ("the cluster has no default StorageClass (it has: standard), and dynamic "
                                  "volumes need one")
    assert await engine.run(cluster_tasks(existing(kc), Storage(storage_class="standard"), engine.state,
                                          checks=QUICK)) == "done"
    # Static volumes (the volumes phase makes the PVs) need no StorageClass at all.
    static = Storage(mode="static", provider="iscsi", iscsi={"portal": "10.0.0.5"})
    assert await engine.run(cluster_tasks(existing(kc), static, engine.state, checks=QUICK)) == "done"


def _no_rights(handle: SandboxHandle) -> str:
    token = secrets.token_urlsafe(16)
    handle.call(lambda: handle.sandbox.server.no_rights_tokens.add(token))  # type: ignore[union-attr]
    return token


@pytest.mark.parametrize("case", ["wrong-token", "no-rights"])
async def test_refused_credentials_are_permanent_with_a_remedy(
        shared_cluster: SandboxHandle, engine: Engine, tmp_path: Path, case: str) -> None:
    token = "not-the-token-at-all" if case == "wrong-token" else _no_rights(shared_cluster)
    kc = edited(shared_cluster, tmp_path / "kubeconfig", token=token)
    assert await engine.run(cluster_tasks(existing(kc), Storage(), engine.state, checks=QUICK, retry=ONCE)) \
        == "failed"
    row = engine.row()
    expected: dict[str, Any] = {
        "wrong-token": (f"the token/credentials in {kc} were refused (401 Unauthorized)", "fresh kubeconfig or token"),
        "no-rights": ("forbidden (403): the kubeconfig's user lacks rights", "cluster-admin")}
    error, remedy = expected[case]
    assert row.state is TaskState.FAILED and error in (row.error or ""), row.error
    assert remedy in (row.remedy or "")
    assert not any("transient" in m or "waiting" in m for m in engine.messages())   # never retried
    assert token not in (row.error or "") + (row.remedy or "")


async def test_a_partitioned_api_server_is_waited_for(own_cluster: SandboxHandle, engine: Engine) -> None:
    own_cluster.fault({"kind": "partition", "seconds": 2.0, "mode": "refuse"})
    # Nodes may miss a heartbeat while the machine is busy: give them time to be Ready again.
    patient = dataclasses.replace(QUICK, ready_wait=15.0)
    graph = cluster_tasks(existing(own_cluster.kubeconfig_path), Storage(), engine.state, checks=patient, retry=ONCE)
    assert await engine.run(graph) == "done", engine.messages()
    port = int(own_cluster.url.rsplit(":", 1)[1])
    assert graph[0].endpoints == (Endpoint("127.0.0.1", port, "cluster API", scheme="https"),)
    waited = [m for m in engine.messages(kind="state") if m.startswith("waiting-for-network:")]
    assert waited and waited[0].endswith("waiting for cluster API"), waited
    assert any(m.startswith("network back after") for m in engine.messages())


async def test_a_kubeconfig_gone_since_validation_is_permanent(tmp_path: Path, engine: Engine) -> None:
    from digit_tui.answers.model import Target

    gone = tmp_path / "gone.yaml"
    target = Target.model_validate({"provider": "existing", "kubeconfig": str(gone)}, context={"check_files": False})
    assert await engine.run(cluster_tasks(target, Storage(), engine.state, checks=QUICK)) == "failed"
    row = engine.row()
    assert row.error == f"the kubeconfig {gone} does not exist" and row.attempts == 0
