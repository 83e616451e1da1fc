"""The volumes phase as the install graph builds it from the answers, on the sandbox: the disks
sized by the sizing plan, the static PVs made from terraform's outputs (the real terraform binary)
or from the IQNs an SDC team handed over in ``storage.disks``, and the environment file's
``persistence`` blocks written by the real helm-config task from what the volumes task published.

The backbone's StatefulSets come from the bundled sample's charts rendered with that environment
file and applied by a small stand-in for the release's service tasks (which need the whole
render -> cluster-configs chain); the sandbox's StatefulSet controller makes their claims and its
volume controller binds them, as Kubernetes' does (pre-bound PVs by claimRef, else a
StorageClass)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.answers.config import InstallConfig
from digit_tui.answers.loader import parse_answers
from digit_tui.digit.volumes import BACKBONE
from digit_tui.engine.task import FunctionTask, Task
from digit_tui.infra.kube import Kube
from digit_tui.infra.terraform import Timeouts
from digit_tui.sizing.install import install_plan
from digit_tui.tasks.cluster import TERRAFORM_TASK_ID, ClusterChecks, cluster_tasks
from digit_tui.tasks.graph import service_graph, terraform_cluster, volume_phase
from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG, HelmConfigTask
from digit_tui.tasks.render import open_release
from digit_tui.tasks.volumes import BOUND_TASK_ID, TASK_ID
from tests.volumes.charts import SAMPLE_BACKBONE, render_backbone
from tests.volumes.conftest import Engine, claim_of

QUICK = ClusterChecks(ready_wait=0.5, poll=0.1, read_timeout=5.0)
TF_DISKS = Path(__file__).parent / "tf_disks"
TIMEOUTS = Timeouts(version=15, init=30, plan=30, apply=30, output=15, interrupt_grace=5)
PORTAL = "10.67.49.8:3260"


def configure(path: Path, text: dict[str, Any], state: Path) -> InstallConfig:
    """What `digit-tui install` does with the file (plan once, record), as the graph factory rebuilds it."""
    path.write_text(yaml.safe_dump(text, sort_keys=False))
    answers = parse_answers(path.read_text(), path)
    document = InstallConfig.from_answers(answers, path, sizing=install_plan(answers, path)).to_document()
    return InstallConfig.from_document(json.loads(json.dumps(document)), state)


def backbone(kube: Kube) -> FunctionTask:
    """The release's backbone services, in short: the sample's charts rendered with the environment
    file helm-config wrote, applied by server-side apply."""
    async def never(ctx: Any) -> bool:
        return False

    async def apply(ctx: Any) -> None:
        def run() -> None:
            from digit_tui.digit.render import make_renderer

            env = yaml.safe_load(Path(ctx.output(HELM_CONFIG)["env_file"]).read_text())
            with make_renderer("sdk") as renderer:
                objs = render_backbone(renderer, SAMPLE_BACKBONE, env)
            for svc in objs.values():
                for obj in svc:
                    if obj["kind"] in ("PersistentVolume", "StatefulSet", "Service"):
                        kube.apply(obj)
        await ctx.run_sync(run)

    return FunctionTask("backbone", never, apply, deps=(HELM_CONFIG,))


def install_tasks(config: InstallConfig, kube: Kube, cluster: Sequence[Task]) -> list[Task]:
    """cluster -> volumes -> helm-config -> backbone, volumes-bound beside it: the install graph's
    wiring (volume_phase, the HelmConfigTask after volumes), the release's services replaced."""
    release = open_release(config, fetch=False)
    graph, _ = service_graph(config, release)
    volumes, bound = volume_phase(config, release, graph, after=["cluster"])
    bound.deps = (TASK_ID, "backbone")      # in the install: after cluster-configs, beside the backbone
    for t in (volumes, bound):
        t.retry = dataclasses.replace(t.retry, attempts=1)
    bound.deadline, bound.grace, bound.interval = 30.0, 1.0, 0.2    # type: ignore[attr-defined]
    return [*cluster, volumes, HelmConfigTask(config, ["cluster", TASK_ID]), backbone(kube), bound]


def bound_to(kube: Kube, namespace: str, claim: str) -> str:
    c = claim_of(kube, namespace, claim) or {}
    return str((c.get("spec") or {}).get("volumeName") or "") if (c.get("status") or {}).get("phase") == "Bound" else ""


async def test_terraform_made_disks_sized_by_the_plan_bind_and_reach_the_env_file(
        kube: Kube, sandbox: Any, engine: Engine, tmp_path: Path) -> None:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: the machine image has /usr/local/bin/terraform")
    (tmp_path / "terraformrc").write_text("")
    shutil.copytree(TF_DISKS, tmp_path / "infra")
    secrets = tmp_path / "tf-secrets.json"
    secrets.write_text(json.dumps({"kubeconfig": Path(sandbox.kubeconfig_path).read_text()}))
    secrets.chmod(0o600)
    # The quickstart preset plans one replica, so one disk, per backbone service; nobody names a disk.
    config = configure(tmp_path / "answers.yaml", {
        "environment": "dev", "target": {"provider": "aws"}, "cluster": {"mode": "terraform"},
        "terraform": {"dir": "infra", "secret_variables_file": "tf-secrets.json"},
        "digit": {"domain": "digit.local"}, "database": {"mode": "external", "host": "10.0.0.9"},
        "storage": {"mode": "static", "provider": "aws"}, "sizing": {"preset": "quickstart"}}, engine.state_dir)
    assert config.sizing is not None
    sizes = config.sizing.disk_sizes()
    assert {s: d.replicas for s, d in sizes.items()} == {s.service: 1 for s in BACKBONE}
    spec = terraform_cluster(config)
    assert spec is not None
    spec = dataclasses.replace(spec, env={"TF_CLI_CONFIG_FILE": str(tmp_path / "terraformrc")}, timeouts=TIMEOUTS,
                               lock_timeout="0s")
    cluster = cluster_tasks(config.answers.target, config.answers.storage, engine.state_dir, terraform=spec,
                            checks=QUICK)
    tasks = install_tasks(config, kube, cluster)
    assert TERRAFORM_TASK_ID in tasks[2].deps        # the volumes task reads the terraform outputs

    result, rows = await engine.run_tasks(tasks)
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}
    outputs = rows[TERRAFORM_TASK_ID].outputs
    kafka_id = outputs["kafka_vol_ids"][0]
    assert len(outputs["kafka_vol_ids"]) == 1                    # terraform made the disks the plan counts
    pv = kube.get("v1", "PersistentVolume", "kafka-cluster-data-kafka-v2-0")
    assert pv is not None and pv["spec"]["csi"]["volumeHandle"] == kafka_id
    assert pv["spec"]["capacity"]["storage"] == f"{sizes['kafka-v2'].gib}Gi"
    for svc in BACKBONE:
        claim = f"data-{svc.service}-0"
        assert bound_to(kube, svc.namespace, claim) == f"{svc.namespace}-{claim}", claim
        assert claim_of(kube, svc.namespace, f"data-{svc.service}-1") is None      # one replica, as planned
    # The environment file says exactly that; nobody pasted an ID.
    env = yaml.safe_load(Path(rows[HELM_CONFIG].outputs["env_file"]).read_text())
    assert env["kafka-v2"]["replicas"] == 1
    assert env["kafka-v2"]["persistence"] == {"aws": [{"volumeId": kafka_id, "zone": "ap-south-1a",
                                                       "size": f"{sizes['kafka-v2'].gib}Gi"}],
                                              "size": f"{sizes['kafka-v2'].gib}Gi"}
    assert [v["volumeId"] for v in env["zookeeper-v2"]["persistence"]["aws"]] == outputs["zookeeper_vol_ids"]

    # A rerun changes nothing: terraform plans no change, no PV is applied, the env file stays.
    marks = {t: len(engine.messages(t)) for t in (TERRAFORM_TASK_ID, TASK_ID, HELM_CONFIG, BOUND_TASK_ID)}
    result, rows = await engine.run_tasks(install_tasks(config, kube, cluster))
    assert result == "done"
    for task, mark in marks.items():
        again = engine.messages(task)[mark:]
        assert "check: already converged" in again and not any(m.startswith(("PV ", "wrote ")) for m in again), \
            (task, again)


async def test_handed_over_iscsi_targets_bind_on_an_existing_cluster(
        kube: Kube, sandbox: Any, engine: Engine, tmp_path: Path) -> None:
    iqns = {c: [f"iqn.2010-06.com.nutanix:digit-{c}-tgt{i}" for i in range(3)]
            for c in ("zookeeper", "kafka", "es-data", "es-master")}
    config = configure(tmp_path / "answers.yaml", {
        "environment": "dev", "target": {"provider": "sdc", "kubeconfig": str(sandbox.kubeconfig_path)},
        "digit": {"domain": "digit.local"},
        "storage": {"mode": "static", "provider": "iscsi", "iscsi": {"portal": PORTAL}, "disks": iqns},
        "sizing": {"ulbs": 200, "preset": "sdc-dev"}}, engine.state_dir)
    assert config.sizing is not None
    sizes = config.sizing.disk_sizes()
    cluster = cluster_tasks(config.answers.target, config.answers.storage, engine.state_dir, checks=QUICK)
    result, rows = await engine.run_tasks(install_tasks(config, kube, cluster))
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}
    for i in range(3):
        assert bound_to(kube, "kafka-cluster", f"data-kafka-v2-{i}") == f"kafka-cluster-data-kafka-v2-{i}"
    pv = kube.get("v1", "PersistentVolume", "es-cluster-data-elasticsearch-data-v1-2")
    assert pv is not None and pv["spec"]["iscsi"] == {"targetPortal": PORTAL, "lun": 0, "fsType": "ext4",
                                                      "readOnly": False,
                                                      "iqn": "iqn.2010-06.com.nutanix:digit-es-data-tgt2"}
    assert pv["spec"]["claimRef"]["name"] == "data-elasticsearch-data-v1-2" and pv["spec"]["storageClassName"] == ""
    env = yaml.safe_load(Path(rows[HELM_CONFIG].outputs["env_file"]).read_text())
    size = f"{sizes['kafka-v2'].gib}Gi"
    assert env["kafka-v2"]["persistence"] == {
        "iscsi": [{"targetPortal": PORTAL, "iqn": iqns["kafka"][i], "lun": 0, "size": size} for i in range(3)],
        "size": size}


async def test_dynamic_volumes_are_sized_by_the_plan_and_bind_through_the_class(
        kube: Kube, sandbox: Any, engine: Engine, tmp_path: Path) -> None:
    kube.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
                "provisioner": "sandbox.digit-tui.io/local-path", "reclaimPolicy": "Delete"})
    config = configure(tmp_path / "answers.yaml", {
        "environment": "dev", "target": {"provider": "sdc", "kubeconfig": str(sandbox.kubeconfig_path)},
        "digit": {"domain": "digit.local"}, "database": {"mode": "external", "host": "10.0.0.9"},
        "storage": {"storage_class": "fast"},
        "sizing": {"ulbs": 2000, "preset": "sdc-dev"}}, engine.state_dir)
    assert config.sizing is not None
    kafka = config.sizing.disk_sizes()["kafka-v2"]
    assert kafka.gib > 50                       # 2000 ULBs grow it past the dev minimum
    cluster = cluster_tasks(config.answers.target, config.answers.storage, engine.state_dir, checks=QUICK)
    result, rows = await engine.run_tasks(install_tasks(config, kube, cluster))
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}
    env = yaml.safe_load(Path(rows[HELM_CONFIG].outputs["env_file"]).read_text())
    assert env["kafka-v2"]["persistence"] == {"storageClassName": "fast", "size": kafka.quantity}
    claim = claim_of(kube, "kafka-cluster", "data-kafka-v2-0")
    assert claim is not None and claim["spec"]["storageClassName"] == "fast"
    assert claim["spec"]["resources"]["requests"]["storage"] == kafka.quantity
    assert bound_to(kube, "kafka-cluster", "data-kafka-v2-0").startswith("pvc-")


async def test_nfs_exports_become_pre_bound_pvs_and_the_env_file_stays_dynamic(
        kube: Kube, sandbox: Any, engine: Engine, tmp_path: Path) -> None:
    """No chart renders an NFS volume: the PVs are pre-bound to the claims, which bind to them
    whatever class they carry (as Kubernetes binds a pre-bound PV), and the env file says nothing
    of them but the claim sizes."""
    exports = {c: [f"/exports/digit/{c}-{i}" for i in range(3)] for c in ("zookeeper", "kafka", "es-data", "es-master")}
    config = configure(tmp_path / "answers.yaml", {
        "environment": "dev", "target": {"provider": "sdc", "kubeconfig": str(sandbox.kubeconfig_path)},
        "digit": {"domain": "digit.local"},
        "storage": {"mode": "static", "provider": "nfs", "nfs": {"server": "10.20.0.60"}, "disks": exports}},
        engine.state_dir)
    cluster = cluster_tasks(config.answers.target, config.answers.storage, engine.state_dir, checks=QUICK)
    result, rows = await engine.run_tasks(install_tasks(config, kube, cluster))
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}
    pv = kube.get("v1", "PersistentVolume", "zookeeper-cluster-data-zookeeper-v2-1")
    assert pv is not None and pv["spec"]["nfs"] == {"server": "10.20.0.60", "path": "/exports/digit/zookeeper-1"}
    assert bound_to(kube, "zookeeper-cluster", "data-zookeeper-v2-1") == "zookeeper-cluster-data-zookeeper-v2-1"
    env = yaml.safe_load(Path(rows[HELM_CONFIG].outputs["env_file"]).read_text())
    assert env["zookeeper-v2"]["persistence"] == {"size": "5Gi"}


async def test_too_few_handed_over_disks_are_named_against_the_plan(
        kube: Kube, sandbox: Any, engine: Engine, tmp_path: Path) -> None:
    config = configure(tmp_path / "answers.yaml", {
        "environment": "dev", "target": {"provider": "sdc", "kubeconfig": str(sandbox.kubeconfig_path)},
        "digit": {"domain": "digit.local"},
        "storage": {"mode": "static", "provider": "aws", "disks": {
            "zookeeper": ["vol-0z0", "vol-0z1", "vol-0z2"], "kafka": ["vol-0k0", "vol-0k1"]}}}, engine.state_dir)
    cluster = cluster_tasks(config.answers.target, config.answers.storage, engine.state_dir, checks=QUICK)
    result, rows = await engine.run_tasks(install_tasks(config, kube, cluster))
    assert result == "failed"
    assert rows[TASK_ID].error == ("the disks for static aws volumes: storage.disks.kafka has 2 disk(s) for the 3 "
                                   "replicas of kafka-v2")
    assert "in storage.disks of the answers (as many disks as the sizing plan's replicas)" in (rows[TASK_ID].remedy or "")
    assert kube.get("v1", "PersistentVolume", "zookeeper-cluster-data-zookeeper-v2-0") is None   # nothing half-made
    assert HELM_CONFIG in rows and rows[HELM_CONFIG].state != "done"


async def test_static_storage_in_a_graph_without_the_volumes_phase_is_refused(engine: Engine, tmp_path: Path) -> None:
    """`install --graph ...:release_tasks` has no volumes phase: nobody would make the PVs, so
    helm-config refuses rather than write an environment file that says dynamic."""
    config = configure(tmp_path / "answers.yaml", {
        "environment": "dev", "target": {"provider": "sandbox"}, "digit": {"domain": "digit.local"},
        "storage": {"mode": "static", "provider": "iscsi", "iscsi": {"portal": PORTAL, "iqn_prefix": "iqn.2024-01.in.gov.sdc"}}},
        engine.state_dir)
    result, rows = await engine.run_tasks([HelmConfigTask(config, [])])
    assert result == "failed"
    assert rows[HELM_CONFIG].error == "storage.mode: static needs the volumes phase, which this install graph does not have"
    assert not (engine.state_dir / "helm").exists() or not any((engine.state_dir / "helm").rglob("dev.yaml"))
