"""The PVs the volume task creates are, field for field, the ones the release's own charts render
from the environment file made of the task's outputs: the bundled sample's and DIGIT-DevOps' real
backbone charts. The release re-applying a chart's PV must change nothing, since a PV's disk can
never change once it exists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.digit.disks import DiskHints, disks_from_outputs
from digit_tui.digit.volumes import (DEFAULT_SIZES, DIGIT_DEVOPS, SAMPLE, DiskSize, claims, detect_layout,
                                     persistent_volumes, pv_source, unsupported)
from digit_tui.tasks.volumes import StorageChoice, storage_outputs
from tests.realtree import real_tree
from tests.volumes.charts import SAMPLE_BACKBONE, SAMPLE_CHARTS, env_document, of_kind, render_backbone
from tests.volumes.test_specs import AZURE, REPLICAS, digit_aws_outputs

SIZES = {**DEFAULT_SIZES, "kafka-v2": DiskSize(3, 80), "elasticsearch-data-v1": DiskSize(3, 60)}
STEMS = ("zookeeper", "kafka", "es_data", "es_master")


def outputs_for(provider: str) -> tuple[dict[str, Any], DiskHints]:
    if provider == "aws":
        return digit_aws_outputs(), DiskHints()
    if provider == "cinder":
        return {k: v for k, v in digit_aws_outputs().items() if k != "availability_zones"}, DiskHints()
    if provider == "azure":
        return {f"{s}_storage_ids": [f"{AZURE}{s}-{i}" for i in range(3)] for s in STEMS}, DiskHints()
    return ({f"{s}_iqns": [f"iqn.2010-06.com.nutanix:k8s-{s}-tgt{i}" for i in range(3)] for s in STEMS},
            DiskHints(portal="10.67.49.8:3260"))


@pytest.fixture(scope="module")
def renderer() -> Iterator[Any]:
    from digit_tui.digit.render import make_renderer

    with make_renderer("sdk") as r:
        yield r


@pytest.fixture(scope="module")
def devops_charts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_tree(tmp_path_factory) / "deploy-as-code" / "helm" / "charts" / "backbone-services"


def test_each_tree_is_recognised(devops_charts: Path) -> None:
    assert detect_layout(SAMPLE_CHARTS) is SAMPLE
    assert detect_layout(devops_charts) is DIGIT_DEVOPS


@pytest.mark.parametrize("provider", ["aws", "iscsi"])
def test_the_sample_charts_render_the_same_pvs_and_claims(renderer: Any, provider: str) -> None:
    outputs, hints = outputs_for(provider)
    disks = disks_from_outputs(provider, outputs, REPLICAS, hints)
    published = storage_outputs(StorageChoice("static", provider), SAMPLE, SIZES, disks, "")
    rendered = render_backbone(renderer, SAMPLE_BACKBONE, env_document(published))
    mine = persistent_volumes(SAMPLE, disks, SIZES)
    theirs = of_kind(rendered, "PersistentVolume")
    assert sorted(theirs, key=lambda p: p["metadata"]["name"]) == sorted(mine, key=lambda p: p["metadata"]["name"])
    asked = {f"{t['metadata']['name']}-{sts['metadata']['name']}-{i}": t["spec"]["resources"]["requests"]["storage"]
             for sts in of_kind(rendered, "StatefulSet") for t in sts["spec"]["volumeClaimTemplates"]
             for i in range(sts["spec"]["replicas"])}
    assert asked == {c.name: SIZES[c.service].quantity for c in claims(SAMPLE, SIZES)}


@pytest.mark.parametrize("provider", ["aws", "azure", "cinder", "iscsi"])
def test_digit_devops_charts_render_the_same_pvs_and_claims(renderer: Any, devops_charts: Path, provider: str) -> None:
    outputs, hints = outputs_for(provider)
    disks = disks_from_outputs(provider, outputs, REPLICAS, hints)
    published = storage_outputs(StorageChoice("static", provider), DIGIT_DEVOPS, SIZES, disks, "")
    rendered = render_backbone(renderer, devops_charts, env_document(published))
    mine = persistent_volumes(DIGIT_DEVOPS, disks, SIZES)
    theirs = of_kind(rendered, "PersistentVolume")
    assert sorted(theirs, key=lambda p: p["metadata"]["name"]) == sorted(mine, key=lambda p: p["metadata"]["name"])
    asked = {f"{t['metadata']['name']}-{sts['metadata']['name']}-{i}": t["spec"]["resources"]["requests"]["storage"]
             for sts in of_kind(rendered, "StatefulSet") for t in sts["spec"]["volumeClaimTemplates"]
             for i in range(int(sts["spec"]["replicas"]))}
    assert asked == {c.name: SIZES[c.service].quantity for c in claims(DIGIT_DEVOPS, SIZES)}


def test_dynamic_storage_sizes_the_sample_claims(renderer: Any) -> None:
    published = storage_outputs(StorageChoice("dynamic"), SAMPLE, SIZES, None, "standard")
    rendered = render_backbone(renderer, SAMPLE_BACKBONE, env_document(published))
    assert not of_kind(rendered, "PersistentVolume")
    for sts in of_kind(rendered, "StatefulSet"):
        (template,) = sts["spec"]["volumeClaimTemplates"]
        assert template["spec"]["resources"]["requests"]["storage"] == SIZES[sts["metadata"]["name"]].quantity
        assert template["spec"]["storageClassName"] == "standard"


def test_digit_devops_charts_have_no_dynamic_volumes(renderer: Any, devops_charts: Path) -> None:
    """Why the volume task refuses dynamic storage with these charts: persistence on renders a
    PersistentVolume per replica with no disk in it (an API server refuses a PV without a volume
    source), persistence off puts the data in an emptyDir."""
    assert unsupported(DIGIT_DEVOPS, "dynamic") and unsupported(SAMPLE, "dynamic") is None
    env = env_document(storage_outputs(StorageChoice("dynamic"), SAMPLE, SIZES, None, ""))
    for svc in ("kafka-v2", "zookeeper-v2", "elasticsearch-data-v1"):
        env[svc]["persistence"] = {"enabled": True, "dataDirSize": "50Gi"}
    rendered = render_backbone(renderer, devops_charts, env)
    pvs = of_kind(rendered, "PersistentVolume")
    assert pvs and all(pv_source(pv) == ("", None) for pv in pvs)
