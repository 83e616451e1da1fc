"""The volumes phase on the sandbox, under the real engine: static PVs from terraform-shaped
outputs (and from the real terraform binary) bind to the claims of the backbone charts rendered
from the environment file made of the task's outputs; dynamic volumes bind through a
StorageClass; a missing StorageClass, a PV for another disk and a claim that cannot bind are
named with their reason.

Where the backbone is applied, a small ``backbone`` task stands in for the release's service
tasks (which need the whole helm-config -> render chain): it renders the same charts through the
same pipeline and applies their objects by server-side apply with the release's field manager.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from digit_tui.digit.disks import DiskHints, disks_from_outputs
from digit_tui.digit.volumes import DEFAULT_SIZES, DIGIT_DEVOPS, SAMPLE, ChartLayout, DiskSize, persistent_volumes
from digit_tui.engine.task import FunctionTask, Task, TaskState
from digit_tui.infra.kube import Kube
from digit_tui.tasks.volumes import (
    BOUND_TASK_ID,
    TASK_ID,
    KubeAccess,
    StorageChoice,
    TerraformOutputs,
    VolumesBoundTask,
    VolumesTask,
)
from tests.realtree import real_tree
from tests.volumes.charts import SAMPLE_BACKBONE, env_document, render_backbone
from tests.volumes.conftest import Engine, claim_of, prepare, statefulset

PORTAL = "10.67.49.8:3260"
STEMS = {"zookeeper-v2": "zookeeper", "kafka-v2": "kafka", "elasticsearch-data-v1": "es_data",
         "elasticsearch-master-v1": "es_master"}
SIZES = {**DEFAULT_SIZES, "kafka-v2": DiskSize(3, 20), "elasticsearch-data-v1": DiskSize(3, 30)}


def iqn_outputs() -> dict[str, Any]:
    """What an SDC team hands over for iSCSI: one list of target IQNs per component."""
    return {f"{stem}_iqns": [f"iqn.2010-06.com.nutanix:digit-{stem}-tgt{i}" for i in range(3)] for stem in STEMS.values()}


def rendered_backbone(charts: Path) -> Callable[[Any], list[dict[str, Any]]]:
    def render(outputs: Any) -> list[dict[str, Any]]:
        from digit_tui.digit.render import make_renderer

        with make_renderer("sdk") as renderer:
            objs = render_backbone(renderer, charts, env_document(outputs))
        # What the release applies of the backbone that matters here (the real charts' PDBs are
        # policy/v1beta1, which the release converts; not needed for volumes).
        return [o for svc in objs.values() for o in svc if o["kind"] in ("PersistentVolume", "StatefulSet", "Service")]
    return render


def backbone(kube: Kube, make: Callable[[Any], list[dict[str, Any]]]) -> FunctionTask:
    async def never(ctx: Any) -> bool:
        return False

    async def apply(ctx: Any) -> None:
        def run() -> None:
            for obj in make(ctx.output(TASK_ID)):
                kube.apply(obj)         # field manager digit-tui, as the release's service tasks
        await ctx.run_sync(run)

    return FunctionTask("backbone", never, apply, deps=(TASK_ID,))


def phase(access: KubeAccess, engine: Engine, storage: StorageChoice, *, layout: ChartLayout = SAMPLE,
          sizes: Any = SIZES, terraform: TerraformOutputs = TerraformOutputs(), grace: float = 0.5,
          deadline: float = 30.0, after: Sequence[str] = ()) -> list[Task]:
    return [VolumesTask(storage, sizes, access, engine.state_dir, layout=layout, terraform=terraform, deps=after),
            VolumesBoundTask(storage, sizes, access, engine.state_dir, layout=layout, deps=(TASK_ID, "backbone"),
                             deadline=deadline, grace=grace, interval=0.2)]


def bound_pairs(kube: Kube, names: Sequence[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for ns, name in names:
        c = claim_of(kube, ns, name) or {}
        out[f"{ns}/{name}"] = (c.get("spec") or {}).get("volumeName", "") if (c.get("status") or {}).get("phase") == "Bound" else ""
    return out


async def test_iscsi_disks_bind_to_the_sample_backbone_charts_claims(kube: Kube, access: KubeAccess,
                                                                     engine: Engine) -> None:
    storage = StorageChoice("static", "iscsi", iscsi_portal=PORTAL)
    tasks = [*phase(access, engine, storage, terraform=TerraformOutputs(values=iqn_outputs())),
             backbone(kube, rendered_backbone(SAMPLE_BACKBONE))]
    result, rows = await engine.run_tasks(tasks)
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}

    # Every claim of the sample's StatefulSets is bound to the PV made for its disk.
    published = rows[TASK_ID].outputs
    pairs = {c: pv for c, pv in published["claims"].items()}
    assert len(pairs) == 12 and pairs["kafka-cluster/data-kafka-v2-2"] == "kafka-cluster-data-kafka-v2-2"
    assert bound_pairs(kube, [tuple(c.split("/")) for c in pairs]) == pairs   # type: ignore[misc]
    assert rows[BOUND_TASK_ID].outputs["claims"] == pairs
    pv = kube.get("v1", "PersistentVolume", "es-cluster-data-elasticsearch-data-v1-1")
    assert pv["spec"]["iscsi"]["iqn"] == "iqn.2010-06.com.nutanix:digit-es_data-tgt1"
    assert pv["spec"]["capacity"]["storage"] == "30Gi" and pv["status"]["phase"] == "Bound"
    # The chart's own PV, applied over it by the release's manager, is the same PV: nothing changed.
    assert "digit-tui" in {f["manager"] for f in pv["metadata"]["managedFields"]}
    made = next(p for p in persistent_volumes(SAMPLE, disks_from_outputs("iscsi", iqn_outputs(), {
        s: 3 for s in SIZES}, DiskHints(portal=PORTAL)), SIZES) if p["metadata"]["name"] == pv["metadata"]["name"])
    live_ref = {k: v for k, v in pv["spec"]["claimRef"].items() if k not in ("uid", "resourceVersion")}
    assert {**pv["spec"], "claimRef": live_ref} == made["spec"]

    # The environment file's persistence blocks come from the published outputs, never pasted.
    env = env_document(published)
    assert env["kafka-v2"]["persistence"] == {"iscsi": [
        {"targetPortal": PORTAL, "iqn": f"iqn.2010-06.com.nutanix:digit-kafka-tgt{i}", "lun": 0, "size": "20Gi"}
        for i in range(3)], "size": "20Gi"}
    assert (engine.state_dir / "volumes" / "persistent-volumes.yaml").stat().st_mode & 0o777 == 0o600

    # A rerun changes nothing: both tasks find their work done.
    mark = len(engine.messages(TASK_ID))
    result, rows = await engine.run_tasks(tasks)
    assert result == "done"
    again = engine.messages(TASK_ID)[mark:]
    assert "check: already converged" in again and not any(m.startswith("PV ") for m in again)
    assert "check: already converged" in engine.messages(BOUND_TASK_ID)


async def test_cloud_disks_from_real_terraform_bind_to_digit_devops_charts_claims(
        kube: Kube, access: KubeAccess, engine: Engine, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.infra.test_terraform import FIXTURE, TIMEOUTS, expected_volume_ids

    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH (scripts/bootstrap.sh --tests checks for it)")
    (tmp_path / "terraformrc").write_text("")
    module = Path(shutil.copytree(FIXTURE, tmp_path / "infra"))
    from digit_tui.tasks.terraform import TerraformTask

    infra = TerraformTask("infra", module, {"environment": "tftest", "db_password": "tf-Secret-9f2c1e7a",
                                            "es_data_volumes": 3},
                          secret_variables=["db_password"], env={"TF_CLI_CONFIG_FILE": str(tmp_path / "terraformrc")},
                          timeouts=TIMEOUTS, lock_timeout="0s", private_dir=tmp_path / "tfprivate")
    charts = real_tree(tmp_path_factory) / "deploy-as-code" / "helm" / "charts" / "backbone-services"
    # The module outputs volume_ids = {zookeeper = [...], kafka = [...], ...}; the zones are the
    # operator's (DIGIT's AWS module takes them as a variable).
    terraform = TerraformOutputs(values={"availability_zones": ["ap-south-1a", "ap-south-1b"]}, task="infra")
    tasks = [infra, *phase(access, engine, StorageChoice("static", "aws"), layout=DIGIT_DEVOPS, terraform=terraform),
             backbone(kube, rendered_backbone(charts))]
    result, rows = await engine.run_tasks(tasks)
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}

    ids = expected_volume_ids({"zookeeper": 3, "kafka": 3, "es-data": 3, "es-master": 3})
    for svc, component, template in (("kafka-v2", "kafka", "kafka-data"), ("elasticsearch-data-v1", "es-data", "es-storage")):
        ns = "kafka-cluster" if svc == "kafka-v2" else "es-cluster"
        for i in range(3):
            name = f"{template}-{svc}-{i}"                  # as DIGIT-DevOps' StatefulSets name their claims
            assert bound_pairs(kube, [(ns, name)]) == {f"{ns}/{name}": name}
            pv = kube.get("v1", "PersistentVolume", name)
            assert pv["spec"]["awsElasticBlockStore"]["volumeID"] == ids[component][i]
            assert pv["metadata"]["labels"]["topology.kubernetes.io/zone"] == ["ap-south-1a", "ap-south-1b"][i % 2]
    env = env_document(rows[TASK_ID].outputs)
    assert env["zookeeper-v2"]["persistence"]["enabled"] is True
    assert [v["volumeId"] for v in env["zookeeper-v2"]["persistence"]["aws"]] == ids["zookeeper"]


async def test_dynamic_volumes_bind_through_the_storage_class(kube: Kube, access: KubeAccess, engine: Engine) -> None:
    kube.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"},
                "provisioner": "sandbox.digit-tui.io/local-path", "reclaimPolicy": "Delete"})
    storage = StorageChoice("dynamic", storage_class="fast")
    tasks = [*phase(access, engine, storage), backbone(kube, rendered_backbone(SAMPLE_BACKBONE))]
    result, rows = await engine.run_tasks(tasks)
    assert result == "done", {t: (r.state, r.error) for t, r in rows.items()}
    assert rows[TASK_ID].outputs["storage_class"] == "fast" and rows[TASK_ID].outputs["volumes"] == {}
    claim = claim_of(kube, "zookeeper-cluster", "data-zookeeper-v2-0")
    assert claim["spec"]["storageClassName"] == "fast" and claim["spec"]["volumeName"].startswith("pvc-")
    assert claim["status"]["capacity"] == {"storage": "5Gi"}
    assert len(rows[BOUND_TASK_ID].outputs["claims"]) == 12
    assert all(pv.startswith("pvc-") for pv in rows[BOUND_TASK_ID].outputs["claims"].values())


async def test_a_missing_storage_class_is_named_with_those_that_exist(kube: Kube, access: KubeAccess, engine: Engine,
                                                                      tmp_path: Path) -> None:
    task = VolumesTask(StorageChoice("dynamic", storage_class="gold"), SIZES, access, engine.state_dir)
    result, rows = await engine.run_tasks([task])
    assert result == "failed"
    assert rows[TASK_ID].error == "StorageClass gold does not exist (the cluster has: standard)"
    assert "storage.storage_class" in (rows[TASK_ID].remedy or "")

    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "bare", nodes=1, speed=50.0, storage_class="") as bare:
        k = prepare(bare.kubeconfig_path)
        k.apply({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "slow"},
                 "provisioner": "sandbox.digit-tui.io/local-path"})
        k.close()
        no_default = VolumesTask(StorageChoice("dynamic"), SIZES, KubeAccess(Path(bare.kubeconfig_path)),
                                 engine.state_dir)
        engine.run = engine.journal.create_run("voltest", "test", {}, None)
        result, rows = await engine.run_tasks([no_default])
    assert result == "failed"
    assert rows[TASK_ID].error == "the cluster has no default StorageClass (it has: slow)"
    assert "is-default-class=true" in (rows[TASK_ID].remedy or "")


async def test_unbindable_claims_are_named_with_their_reason(kube: Kube, access: KubeAccess, engine: Engine) -> None:
    sizes = {**SIZES, "kafka-v2": DiskSize(3, 5)}
    storage = StorageChoice("static", "iscsi", iscsi_portal=PORTAL)

    def stateful(outputs: Any) -> list[dict[str, Any]]:
        return [statefulset("kafka-v2", "kafka-cluster", "data", size="10Gi", storage_class=""),
                statefulset("zookeeper-v2", "zookeeper-cluster", "data", size="5Gi", modes=("ReadWriteMany",),
                            storage_class=""),
                statefulset("elasticsearch-data-v1", "es-cluster", "data", size="30Gi", storage_class=""),
                statefulset("elasticsearch-master-v1", "es-cluster", "data", size="5Gi", storage_class="")]

    tasks = [*phase(access, engine, storage, sizes=sizes, terraform=TerraformOutputs(values=iqn_outputs()),
                    deadline=60.0), backbone(kube, stateful)]
    start = time.monotonic()
    result, rows = await engine.run_tasks(tasks)
    assert result == "failed" and rows[BOUND_TASK_ID].state == TaskState.FAILED
    assert time.monotonic() - start < 30      # a reason waiting cannot change: no need to wait out the deadline
    error = rows[BOUND_TASK_ID].error or ""
    assert error.startswith("6 of the backbone's claims did not bind: ")
    assert "kafka-cluster/data-kafka-v2-0: PV kafka-cluster-data-kafka-v2-0 offers 5Gi, the claim asks 10Gi" in error
    assert ("zookeeper-cluster/data-zookeeper-v2-2: PV zookeeper-cluster-data-zookeeper-v2-2 offers access "
            "ReadWriteOnce, the claim asks ReadWriteMany") in error
    assert "elasticsearch" not in error


async def test_a_claim_bound_to_a_new_volume_instead_of_its_disk_is_named(kube: Kube, access: KubeAccess,
                                                                          engine: Engine) -> None:
    """DIGIT-DevOps' claims carry no storageClassName: with a default class, a claim its disk does
    not fit gets a fresh dynamic volume, Bound and empty, instead of the disk's data."""
    sizes = {"kafka-v2": DiskSize(3, 5)}
    outputs = {"kafka_vol_ids": ["vol-0aa", "vol-0bb", "vol-0cc"]}

    def stateful(_: Any) -> list[dict[str, Any]]:
        return [statefulset("kafka-v2", "kafka-cluster", "kafka-data", size="50Gi")]

    tasks = [*phase(access, engine, StorageChoice("static", "aws"), layout=DIGIT_DEVOPS, sizes=sizes,
                    terraform=TerraformOutputs(values=outputs)), backbone(kube, stateful)]
    result, rows = await engine.run_tasks(tasks)
    assert result == "failed"
    error = rows[BOUND_TASK_ID].error or ""
    assert "kafka-cluster/kafka-data-kafka-v2-1: bound to PV pvc-" in error
    assert ("(provisioned by sandbox.digit-tui.io/local-path for StorageClass standard), not to the pre-created "
            "disk's PV kafka-data-kafka-v2-1; PV kafka-data-kafka-v2-1 offers 5Gi, the claim asks 50Gi") in error


async def test_a_pv_for_another_disk_is_refused(kube: Kube, access: KubeAccess, engine: Engine) -> None:
    kube.apply({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "kafka-cluster-data-kafka-v2-0"},
                "spec": {"capacity": {"storage": "20Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                         "claimRef": {"namespace": "kafka-cluster", "name": "data-kafka-v2-0"},
                         "iscsi": {"targetPortal": PORTAL, "iqn": "iqn.2010-06.com.nutanix:old-tgt", "lun": 0}}})
    task = VolumesTask(StorageChoice("static", "iscsi", iscsi_portal=PORTAL), SIZES, access, engine.state_dir,
                       terraform=TerraformOutputs(values=iqn_outputs()))
    result, rows = await engine.run_tasks([task])
    assert result == "failed"
    assert rows[TASK_ID].error == ("PV kafka-cluster-data-kafka-v2-0 already exists for another disk (iscsi "
                                   "iqn.2010-06.com.nutanix:old-tgt); the outputs name iscsi "
                                   "iqn.2010-06.com.nutanix:digit-kafka-tgt0, and a PV's disk cannot change")
    assert "kubectl delete pv kafka-cluster-data-kafka-v2-0" in (rows[TASK_ID].remedy or "")
    assert kube.get("v1", "PersistentVolume", "zookeeper-cluster-data-zookeeper-v2-0") is None  # nothing half-made
