"""The sandbox's volume binder matches a pre-bound PV as Kubernetes' persistentvolume-controller
does: ``claimRef`` naming the claim is not enough, the PV must still have the capacity, access
modes and volume mode the claim asks (its class is not compared). A claim it does not fit falls
through to the ordinary matching: with no class, FailedBinding; with a class, provisioning."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from digit_tui.sandbox import resources as R
from tests.sandbox.simcluster import SimCluster, start_cluster


@pytest.fixture
async def cluster() -> AsyncIterator[SimCluster]:
    c = await start_cluster()
    yield c
    await c.mgr.stop()


def claim(name: str, size: str, cls: str | None, modes: tuple[str, ...] = ("ReadWriteOnce",)) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"metadata": {"name": name, "namespace": "egov"}, "spec": spec}


def prebound(name: str, size: str, claim_name: str, modes: tuple[str, ...] = ("ReadWriteOnce",)) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {
        "capacity": {"storage": size}, "accessModes": list(modes), "storageClassName": "",
        "claimRef": {"namespace": "egov", "name": claim_name},
        "iscsi": {"targetPortal": "10.0.0.5:3260", "iqn": f"iqn.2024-01.in.gov.sdc:{name}", "lun": 0}}}


@pytest.mark.parametrize("pv_size,pv_modes", [("5Gi", ("ReadWriteOnce",)), ("10Gi", ("ReadOnlyMany",))])
async def test_a_pre_bound_pv_that_does_not_fit_leaves_the_claim_pending(
        cluster: SimCluster, pv_size: str, pv_modes: tuple[str, ...]) -> None:
    s = cluster.store
    s.create(R.PVS, prebound("disk-0", pv_size, "data-kafka-v2-0", pv_modes))
    s.create(R.PVCS, claim("data-kafka-v2-0", "10Gi", cls=""))
    await cluster.wait(lambda: any(r == "FailedBinding" for _, r, _ in cluster.messages("data-kafka-v2-0")),
                       what="FailedBinding")
    assert s.get(R.PVCS, "egov", "data-kafka-v2-0")["status"]["phase"] == "Pending"
    assert s.get(R.PVS, None, "disk-0")["status"]["phase"] == "Available"
    assert ("Normal", "FailedBinding", "no persistent volumes available for this claim and no storage class is set") \
        in cluster.messages("data-kafka-v2-0")


async def test_a_claim_with_a_class_gets_a_provisioned_volume_when_its_disk_does_not_fit(cluster: SimCluster) -> None:
    s = cluster.store
    s.create(R.PVS, prebound("disk-0", "5Gi", "kafka-data-kafka-v2-0"))
    s.create(R.PVCS, claim("kafka-data-kafka-v2-0", "50Gi", cls=None))     # the default class applies
    await cluster.wait(lambda: s.get(R.PVCS, "egov", "kafka-data-kafka-v2-0")["status"].get("phase") == "Bound",
                       what="bound")
    bound = s.get(R.PVCS, "egov", "kafka-data-kafka-v2-0")
    assert bound["spec"]["volumeName"] == f"pvc-{bound['metadata']['uid']}"


async def test_a_pre_bound_pv_that_fits_binds_whatever_the_claims_class(cluster: SimCluster) -> None:
    s = cluster.store
    s.create(R.PVS, prebound("disk-0", "60Gi", "kafka-data-kafka-v2-0"))
    s.create(R.PVCS, claim("kafka-data-kafka-v2-0", "50Gi", cls="standard"))
    await cluster.wait(lambda: s.get(R.PVCS, "egov", "kafka-data-kafka-v2-0")["status"].get("phase") == "Bound",
                       what="bound")
    assert s.get(R.PVCS, "egov", "kafka-data-kafka-v2-0")["spec"]["volumeName"] == "disk-0"
