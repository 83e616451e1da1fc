"""The pure parts of the volumes phase: disks from terraform-shaped outputs, the PV specs each
chart family renders, the environment file's storage inputs, and why a claim is not bound."""

from __future__ import annotations

from typing import Any

import pytest

from digit_tui.digit.disks import DiskHints, disks_from_outputs
from digit_tui.digit.volumes import (
    DEFAULT_SIZES,
    DIGIT_DEVOPS,
    SAMPLE,
    DiskSize,
    claims,
    env_overrides,
    layout_limits,
    persistent_volumes,
    volume_refs,
)
from digit_tui.errors import InputError
from digit_tui.infra.kubeclaims import explain_claim, quantity_bytes
from digit_tui.sizing.model import VolumePlan
from digit_tui.tasks.volumes import sizes_from_plan

REPLICAS = {s: 3 for s in DEFAULT_SIZES}
AZURE = "/subscriptions/b4e1/resourceGroups/MC_egov/providers/Microsoft.Compute/disks/"


def digit_aws_outputs() -> dict[str, Any]:
    """What DIGIT's AWS infra-as-code outputs: one list of EBS IDs per component, and its zones."""
    return {"zookeeper_vol_ids": [f"vol-0zk{i}" for i in range(3)], "kafka_vol_ids": [f"vol-0kf{i}" for i in range(3)],
            "es_data_vol_ids": [f"vol-0ed{i}" for i in range(3)], "es_master_vol_ids": [f"vol-0em{i}" for i in range(3)],
            "availability_zones": ["ap-south-1a", "ap-south-1b"], "db_host": "db.internal"}


def by_name(pvs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {pv["metadata"]["name"]: pv for pv in pvs}


# -- disks from outputs ------------------------------------------------------------------------

def test_digit_aws_outputs_give_one_disk_per_replica_in_terraforms_zones() -> None:
    disks = disks_from_outputs("aws", digit_aws_outputs(), REPLICAS)
    kafka = disks.disks["kafka-v2"]
    assert [d.volume_id for d in kafka] == ["vol-0kf0", "vol-0kf1", "vol-0kf2"]
    # element(var.availability_zones, count.index), as DIGIT's storage module places them
    assert [d.zone for d in kafka] == ["ap-south-1a", "ap-south-1b", "ap-south-1a"]
    assert disks.sources["elasticsearch-data-v1"] == "terraform output es_data_vol_ids"


def test_a_map_output_keyed_by_component_and_object_items() -> None:
    outputs = {"volume_ids": {
        "zookeeper": [{"id": f"vol-z{i}", "availability_zone": "eu-west-1c"} for i in range(3)],
        "kafka": ["vol-k0", "vol-k1", "vol-k2", "vol-spare"],
        "es-data": ["vol-d0", "vol-d1", "vol-d2"], "es-master": ["vol-m0", "vol-m1", "vol-m2"]}}
    disks = disks_from_outputs("cinder", outputs, REPLICAS)
    assert [d.zone for d in disks.disks["zookeeper-v2"]] == ["eu-west-1c"] * 3
    assert [d.volume_id for d in disks.disks["kafka-v2"]] == ["vol-k0", "vol-k1", "vol-k2"]  # first 3 of 4
    assert disks.sources["kafka-v2"] == "terraform output volume_ids.kafka"


def test_azure_storage_ids_name_the_disks() -> None:
    outputs = {f"{stem}_storage_ids": [f"{AZURE}{stem}-{i}" for i in range(3)]
               for stem in ("zookeeper", "kafka", "es_data_v1", "es_master")}
    disks = disks_from_outputs("azure", outputs, REPLICAS)
    first = disks.disks["elasticsearch-data-v1"][0]
    assert first.volume_id == f"{AZURE}es_data_v1-0" and first.disk_name == "es_data_v1-0"


def test_iscsi_targets_from_an_output_or_from_the_iqn_prefix() -> None:
    outputs = {"kafka_iqns": [f"iqn.2010-06.com.nutanix:kube-tgt{i}" for i in range(3)],
               "es_data_iqns": [{"iqn": f"iqn.2010-06.com.nutanix:es-{i}", "lun": 2, "portal": "10.67.49.9:3260"}
                                for i in range(3)]}
    disks = disks_from_outputs("iscsi", outputs, REPLICAS, DiskHints(portal="10.67.49.8:3260",
                                                                     iqn_prefix="iqn.2024-01.in.gov.sdc"))
    assert [(d.target_portal, d.iqn) for d in disks.disks["kafka-v2"]][0] == \
        ("10.67.49.8:3260", "iqn.2010-06.com.nutanix:kube-tgt0")
    assert {(d.target_portal, d.lun) for d in disks.disks["elasticsearch-data-v1"]} == {("10.67.49.9:3260", 2)}
    assert [d.iqn for d in disks.disks["zookeeper-v2"]] == [f"iqn.2024-01.in.gov.sdc:zookeeper-v2-{i}" for i in range(3)]
    assert disks.sources["zookeeper-v2"] == "iqn_prefix iqn.2024-01.in.gov.sdc"


def test_too_few_disks_name_the_output_and_the_replicas() -> None:
    outputs = digit_aws_outputs()
    outputs["kafka_vol_ids"] = ["vol-0kf0", "vol-0kf1"]
    with pytest.raises(InputError) as err:
        disks_from_outputs("aws", outputs, REPLICAS)
    assert err.value.message == "terraform output kafka_vol_ids has 2 disk(s) for the 3 replicas of kafka-v2"


def test_a_missing_output_lists_what_terraform_has() -> None:
    outputs = digit_aws_outputs()
    del outputs["es_master_vol_ids"]
    with pytest.raises(InputError) as err:
        disks_from_outputs("aws", outputs, REPLICAS)
    assert "no terraform output lists the disks of elasticsearch-master-v1" in err.value.message
    assert "outputs present: availability_zones, db_host, es_data_vol_ids, kafka_vol_ids, zookeeper_vol_ids" \
        in err.value.message


@pytest.mark.parametrize("item,message", [
    ({"iqn": "not-an-iqn"}, "is not an iSCSI name"),
    ({"iqn": "iqn.2024-01.in.gov.sdc:a", "lun": 300}, "lun 300 is out of range"),
    ({"iqn": "iqn.2024-01.in.gov.sdc:a", "portal": "10.0.0.1:bad"}, "is not host[:port]"),
])
def test_bad_iscsi_targets_are_refused_before_any_pv(item: dict[str, Any], message: str) -> None:
    outputs = {f"{stem}_iqns": [item] * 3 for stem in ("zookeeper", "kafka", "es_data", "es_master")}
    with pytest.raises(InputError) as err:
        disks_from_outputs("iscsi", outputs, REPLICAS, DiskHints(portal="10.0.0.5:3260"))
    assert message in str(err.value)


def test_the_sizing_plan_sizes_the_disks() -> None:
    rows = [VolumePlan("kafka", "kafka-v2", 3, 100, "ULBs"), VolumePlan("kafka-v2/data", "kafka-v2", 3, 50, "chart"),
            VolumePlan("zookeeper", "zookeeper-v2", 3, 10, "min"), VolumePlan("filestore", "filestore", 1, 100, "min")]
    assert sizes_from_plan(rows) == {"kafka-v2": DiskSize(3, 100), "zookeeper-v2": DiskSize(3, 10)}


# -- PV specs ----------------------------------------------------------------------------------

def test_sample_pvs_are_pre_bound_csi_volumes_in_their_zones() -> None:
    sizes = {**DEFAULT_SIZES, "kafka-v2": DiskSize(3, 80)}
    pvs = by_name(persistent_volumes(SAMPLE, disks_from_outputs("aws", digit_aws_outputs(), REPLICAS), sizes))
    assert len(pvs) == 12
    pv = pvs["kafka-cluster-data-kafka-v2-1"]
    assert pv["spec"] == {
        "capacity": {"storage": "80Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "", "volumeMode": "Filesystem",
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "kafka-cluster",
                     "name": "data-kafka-v2-1"},
        "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-0kf1", "fsType": "ext4"},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["ap-south-1b"]}]}]}}}


def test_sample_iscsi_azure_and_nfs_sources() -> None:
    iqns = {f"{stem}_iqns": [f"iqn.2024-01.in.gov.sdc:{stem}-{i}" for i in range(3)]
            for stem in ("zookeeper", "kafka", "es_data", "es_master")}
    iscsi = by_name(persistent_volumes(SAMPLE, disks_from_outputs("iscsi", iqns, REPLICAS,
                                                                  DiskHints(portal="10.0.0.5")), DEFAULT_SIZES))
    assert iscsi["es-cluster-data-elasticsearch-master-v1-2"]["spec"]["iscsi"] == {
        "targetPortal": "10.0.0.5", "iqn": "iqn.2024-01.in.gov.sdc:es_master-2", "lun": 0, "fsType": "ext4",
        "readOnly": False}
    azure = {f"{stem}_storage_ids": [f"{AZURE}{stem}-{i}" for i in range(3)]
             for stem in ("zookeeper", "kafka", "es_data_v1", "es_master")}
    pv = by_name(persistent_volumes(SAMPLE, disks_from_outputs("azure", azure, REPLICAS), DEFAULT_SIZES))
    assert pv["zookeeper-cluster-data-zookeeper-v2-0"]["spec"]["csi"] == {
        "driver": "disk.csi.azure.com", "volumeHandle": f"{AZURE}zookeeper-0", "fsType": "ext4",
        "volumeAttributes": {"diskName": "zookeeper-0"}}
    exports = {f"{stem}_exports": [f"/exports/{stem}-{i}" for i in range(3)]
               for stem in ("zookeeper", "kafka", "es_data", "es_master")}
    nfs = by_name(persistent_volumes(SAMPLE, disks_from_outputs("nfs", exports, REPLICAS,
                                                                DiskHints(nfs_server="10.0.0.7")), DEFAULT_SIZES))
    assert nfs["kafka-cluster-data-kafka-v2-0"]["spec"]["nfs"] == {"server": "10.0.0.7", "path": "/exports/kafka-0"}


def test_digit_devops_pvs_are_named_like_their_claims() -> None:
    disks = disks_from_outputs("aws", digit_aws_outputs(), REPLICAS)
    pvs = by_name(persistent_volumes(DIGIT_DEVOPS, disks, DEFAULT_SIZES))
    assert sorted(pvs) == sorted(c.name for c in claims(DIGIT_DEVOPS, DEFAULT_SIZES))
    assert {"zookeeper-data-zookeeper-v2-0", "kafka-data-kafka-v2-2", "es-storage-elasticsearch-data-v1-1",
            "es-storage-elasticsearch-master-v1-0"} <= set(pvs)
    pv = pvs["kafka-data-kafka-v2-1"]
    assert pv["spec"]["awsElasticBlockStore"] == {"volumeID": "vol-0kf1", "fsType": "ext4"}
    assert pv["spec"]["claimRef"] == {"namespace": "kafka-cluster", "name": "kafka-data-kafka-v2-1"}
    assert pv["metadata"]["labels"]["topology.kubernetes.io/zone"] == "ap-south-1b"


def test_digit_devops_charts_cannot_mount_another_lun() -> None:
    outputs = {f"{stem}_iqns": [{"iqn": f"iqn.2024-01.in.gov.sdc:{stem}-{i}", "lun": 1} for i in range(3)]
               for stem in ("zookeeper", "kafka", "es_data", "es_master")}
    disks = disks_from_outputs("iscsi", outputs, REPLICAS, DiskHints(portal="10.0.0.5:3260"))
    assert layout_limits(SAMPLE, disks) is None
    assert layout_limits(DIGIT_DEVOPS, disks) == "zookeeper-v2: the DIGIT-DevOps charts mount LUN 0 only, " \
                                                 "the disks name LUN 1"


# -- the environment file's inputs ---------------------------------------------------------------

def test_volume_refs_are_what_envinputs_takes() -> None:
    from digit_tui.digit.envinputs import EnvInputs

    refs = volume_refs(disks_from_outputs("aws", digit_aws_outputs(), REPLICAS), DEFAULT_SIZES)
    assert refs["kafka-v2"][2] == {"size": "50Gi", "volume_id": "vol-0kf2", "zone": "ap-south-1a"}
    inputs = EnvInputs(environment="dev", domain="digit.local", db_host="db", storage_mode="static",
                       storage_provider="aws", volumes=refs)
    inputs.validate()


def test_digit_devops_env_blocks_turn_persistence_on_in_their_shape() -> None:
    iqns = {f"{stem}_iqns": [f"iqn.2024-01.in.gov.sdc:{stem}-{i}" for i in range(3)]
            for stem in ("zookeeper", "kafka", "es_data", "es_master")}
    disks = disks_from_outputs("iscsi", iqns, REPLICAS, DiskHints(portal="10.67.49.8:3260"))
    blocks = env_overrides(DIGIT_DEVOPS, DEFAULT_SIZES, disks)
    assert blocks["kafka-v2"] == {"replicas": 3, "persistence": {
        "enabled": True, "dataDirSize": "50Gi",
        "iscsi": {"targetPortal": "10.67.49.8:3260", "iqn": [f"iqn.2024-01.in.gov.sdc:kafka-{i}" for i in range(3)]}}}
    assert blocks["elasticsearch-master-v1"]["volumeClaimTemplate"] == {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}
    assert env_overrides(SAMPLE, DEFAULT_SIZES, disks)["zookeeper-v2"] == {"replicas": 3, "persistence": {"size": "5Gi"}}


# -- why a claim is not bound -------------------------------------------------------------------

def claim(name: str = "data-kafka-v2-0", size: str = "10Gi", modes: tuple[str, ...] = ("ReadWriteOnce",),
          cls: str | None = None, uid: str = "u-1") -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"metadata": {"name": name, "namespace": "kafka-cluster", "uid": uid}, "spec": spec,
            "status": {"phase": "Pending"}}


def pv(name: str, size: str = "10Gi", cls: str = "", ref: dict[str, str] | None = None, phase: str = "Available",
       modes: tuple[str, ...] = ("ReadWriteOnce",)) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": cls}
    if ref:
        spec["claimRef"] = ref
    return {"metadata": {"name": name}, "spec": spec, "status": {"phase": phase}}


REF = {"namespace": "kafka-cluster", "name": "data-kafka-v2-0"}
STANDARD = {"metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "ebs.csi.aws.com"}


def explain(c: dict[str, Any] | None, pvs: list[dict[str, Any]], classes: list[dict[str, Any]] = (),  # type: ignore[assignment]
            expected: str | None = None, events: list[dict[str, Any]] = ()) -> Any:  # type: ignore[assignment]
    return explain_claim(c, namespace="kafka-cluster", name="data-kafka-v2-0", pvs=pvs, classes=classes,
                         events=events, expected_pv=expected)


@pytest.mark.parametrize("the_pv,reason", [
    (pv("kafka-0", "5Gi", ref=REF), "PV kafka-0 offers 5Gi, the claim asks 10Gi"),
    (pv("kafka-0", ref=REF, modes=("ReadOnlyMany",)), "PV kafka-0 offers access ReadOnlyMany, the claim asks ReadWriteOnce"),
    (pv("kafka-0", ref={"namespace": "kafka-cluster", "name": "data-kafka-v2-9"}),
     "PV kafka-0 is reserved for claim kafka-cluster/data-kafka-v2-9"),
])
def test_a_pre_created_pv_that_does_not_fit_is_named(the_pv: dict[str, Any], reason: str) -> None:
    state = explain(claim(), [the_pv], expected="kafka-0")
    assert (state.bound, state.reason, state.definite) == (False, reason, True)


def test_a_pv_kept_from_a_deleted_claim_says_how_to_hand_it_over() -> None:
    state = explain(claim(uid="u-new"), [pv("kafka-0", ref={**REF, "uid": "u-old"}, phase="Released")], expected="kafka-0")
    assert state.definite and state.reason.startswith("PV kafka-0 still belongs to a deleted claim of that name (Released")
    assert "kubectl patch pv kafka-0" in state.reason


def test_a_claim_bound_to_a_provisioned_volume_instead_of_the_disk() -> None:
    bound = {**claim(), "status": {"phase": "Bound"}}
    bound["spec"]["volumeName"] = "pvc-123"
    provisioned = pv("pvc-123", cls="standard")
    provisioned["metadata"]["annotations"] = {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"}
    state = explain(bound, [provisioned, pv("kafka-0", "5Gi", ref=REF)], [STANDARD], expected="kafka-0")
    assert not state.bound and state.definite
    assert state.reason == ("bound to PV pvc-123 (provisioned by ebs.csi.aws.com for StorageClass standard), not to "
                            "the pre-created disk's PV kafka-0; PV kafka-0 offers 5Gi, the claim asks 10Gi")


def test_dynamic_claims_without_a_way_to_bind() -> None:
    no_class = explain(claim(cls=""), [pv("small", "1Gi"), pv("smaller", "512Mi")], [STANDARD])
    assert no_class.definite and no_class.reason == (
        "no Available PV of 10Gi (ReadWriteOnce) without a StorageClass and no StorageClass to provision one "
        "(its storageClassName is \"\"); the largest, PV small offers 1Gi, the claim asks 10Gi")
    no_default = explain(claim(), [])
    assert no_default.definite and no_default.reason.endswith("(the cluster has no default StorageClass)")
    missing = explain(claim(cls="gold"), [], [STANDARD])
    assert missing.definite and missing.reason == "StorageClass gold does not exist (the cluster has: standard)"
    waiting = explain(claim(), [], [STANDARD])      # no class: the default's provisioner is at work
    assert not waiting.definite and waiting.reason == "waiting for ebs.csi.aws.com to provision 10Gi through StorageClass standard"


def test_quantities() -> None:
    assert quantity_bytes("50Gi") == 50 * 2**30 and quantity_bytes("1e9") == 10**9 and quantity_bytes("5G") == 5 * 10**9
    assert quantity_bytes("lots") is None


# -- what plan shows ------------------------------------------------------------------------------

async def test_dry_run_lists_the_pvs_it_would_create(tmp_path: Any) -> None:
    from pathlib import Path

    from digit_tui.engine.plan import dry_run_all
    from digit_tui.tasks.volumes import KubeAccess, StorageChoice, TerraformOutputs, volume_tasks

    nowhere = KubeAccess(Path(tmp_path) / "no-kubeconfig")      # a plan reaches no cluster
    iqns = {f"{stem}_iqns": [f"iqn.2024-01.in.gov.sdc:{stem}-{i}" for i in range(3)]
            for stem in ("zookeeper", "kafka", "es_data", "es_master")}
    given = volume_tasks(StorageChoice("static", "iscsi", iscsi_portal="10.0.0.5:3260"), kube=nowhere,
                         state_dir=tmp_path, terraform=TerraformOutputs(values=iqns))
    later = volume_tasks(StorageChoice("static", "aws"), kube=nowhere, state_dir=tmp_path, layout=DIGIT_DEVOPS,
                         terraform=TerraformOutputs(task="infra"), after=["prerequisites"])
    assert [t.id for t in given] == ["volumes", "volumes-bound"] and later[0].deps == ("prerequisites", "infra")
    plan = await dry_run_all(given)
    assert len(plan["volumes"]) == 12
    assert plan["volumes"][3] == ("would create PV kafka-cluster-data-kafka-v2-0 (50Gi, Retain) on iSCSI 10.0.0.5:3260 "
                                  "iqn.2024-01.in.gov.sdc:kafka-0 LUN 0, for claim kafka-cluster/data-kafka-v2-0")
    assert plan["volumes-bound"] == ["would wait up to 300s for the 12 claims of zookeeper-v2, kafka-v2, "
                                     "elasticsearch-data-v1, elasticsearch-master-v1 to bind to their pre-created "
                                     "PVs, naming any that does not and why"]
    (known_later, first, *_) = (await dry_run_all(later[:1]))["volumes"]
    assert known_later.startswith("  the disks are known after task infra runs (no terraform output lists")
    assert first == ("would create PV zookeeper-data-zookeeper-v2-0 (5Gi, Retain) on aws disk 0 of "
                     "zookeeper_vol_ids, for claim zookeeper-cluster/zookeeper-data-zookeeper-v2-0")
    dynamic = volume_tasks(StorageChoice("dynamic"), kube=nowhere, state_dir=tmp_path, layout=DIGIT_DEVOPS)
    # DIGIT's deployer installs those charts on emptyDir: the plan warns, the install goes on.
    lines = (await dry_run_all(dynamic[:1]))["volumes"]
    assert lines[0].startswith("would check that the cluster's default StorageClass exists")
    assert lines[1].startswith("warning: DIGIT-DevOps' classic backbone") and "would not outlive its pods" in lines[1]
