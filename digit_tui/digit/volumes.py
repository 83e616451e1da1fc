"""DIGIT's stateful backbone storage: the claims its charts create, the PersistentVolumes that
pre-created disks become, and what the environment file's ``persistence`` blocks say.

Two chart families name and shape this storage differently, and both are supported:

* ``sample`` (the bundled digit-sample, through ``common.statefulset``): claim template ``data``,
  claims ``data-<service>-<i>``, PVs ``<namespace>-data-<service>-<i>`` with
  ``storageClassName: ""``, CSI sources for the clouds, and the env file's
  ``persistence.<provider>`` list of one entry per replica plus ``persistence.size``;
* ``digit-devops`` (DIGIT-DevOps' classic backbone charts): claims ``zookeeper-data-zookeeper-v2-<i>``,
  ``kafka-data-kafka-v2-<i>``, ``es-storage-elasticsearch-{data,master}-v1-<i>``, PVs named like
  the claims, in-tree sources (``awsElasticBlockStore``, ``azureDisk``, ``cinder``, ``iscsi``),
  and ``persistence.enabled`` / ``dataDirSize`` / ``aws`` / ``azure`` / ``openstack`` (plain IDs) /
  ``iscsi: {targetPortal, iqn: [...]}`` in the env file.

A PV built here is field for field what the family's chart renders from the persistence block
built here, so the release applying the chart's PV later changes nothing (a PV's volume source
cannot change once created). Pure: no cluster, no engine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

Obj = dict[str, Any]

PROVIDERS: tuple[str, ...] = ("iscsi", "nfs", "aws", "azure", "cinder")
# Providers the environment file (digit/envinputs.py) and the charts can express; NFS volumes are
# only pre-bound PVs (no chart renders them).
ENV_FILE_PROVIDERS: tuple[str, ...] = ("iscsi", "aws", "azure", "cinder")
DEFAULT_FS = "ext4"     # both chart families' default
ZONE_KEY = "topology.kubernetes.io/zone"
LEGACY_ZONE_KEY = "failure-domain.beta.kubernetes.io/zone"
RWO = "ReadWriteOnce"


@dataclass(frozen=True)
class StatefulService:
    """One backbone StatefulSet with a data disk per replica."""

    service: str        # the release manifest's and the StatefulSet's name
    namespace: str
    component: str      # the sizing plan's volume row (kafka, es-data ...) and key of map outputs
    output_stems: tuple[str, ...]   # how DIGIT's terraform names its outputs: <stem>_vol_ids ...


BACKBONE: tuple[StatefulService, ...] = (
    StatefulService("zookeeper-v2", "zookeeper-cluster", "zookeeper", ("zookeeper", "zk")),
    StatefulService("kafka-v2", "kafka-cluster", "kafka", ("kafka",)),
    StatefulService("elasticsearch-data-v1", "es-cluster", "es-data", ("es_data_v1", "es_data")),
    StatefulService("elasticsearch-master-v1", "es-cluster", "es-master", ("es_master_v1", "es_master")),
)
BY_SERVICE: Mapping[str, StatefulService] = MappingProxyType({s.service: s for s in BACKBONE})


@dataclass(frozen=True)
class DiskSize:
    """How many disks a stateful service needs (its replicas) and how big each is (GiB)."""

    replicas: int
    gib: int

    @property
    def quantity(self) -> str:
        return f"{self.gib}Gi"


# digit-facts' backbone table (SDC dev / generic dev): used when no sizing plan is given.
DEFAULT_SIZES: Mapping[str, DiskSize] = MappingProxyType({
    "zookeeper-v2": DiskSize(3, 5),
    "kafka-v2": DiskSize(3, 50),
    "elasticsearch-data-v1": DiskSize(3, 50),
    "elasticsearch-master-v1": DiskSize(3, 5),
})


@dataclass(frozen=True)
class Disk:
    """One pre-created disk for one replica.

    aws and cinder: ``volume_id`` (and ``zone``); azure: ``volume_id`` is the managed disk's
    resource ID (its URI) and ``disk_name`` its name; iscsi: ``target_portal``, ``iqn``, ``lun``;
    nfs: ``server`` and ``path``."""

    volume_id: str = ""
    zone: str = ""
    disk_name: str = ""
    target_portal: str = ""
    iqn: str = ""
    lun: int = 0
    server: str = ""
    path: str = ""
    fs_type: str = ""   # "" is ext4

    def describe(self, provider: str) -> str:
        """The disk in one short phrase, for plans and messages."""
        if provider == "iscsi":
            return f"iSCSI {self.target_portal} {self.iqn} LUN {self.lun}"
        if provider == "nfs":
            return f"NFS {self.server}:{self.path}"
        zone = f" in {self.zone}" if self.zone else ""
        name = {"aws": "EBS volume", "azure": "Azure disk", "cinder": "Cinder volume"}[provider]
        return f"{name} {self.disk_name or self.volume_id}{zone}"


@dataclass(frozen=True)
class DiskSet:
    """The disks of every stateful service for one provider, in ordinal order."""

    provider: str
    disks: Mapping[str, tuple[Disk, ...]]
    sources: Mapping[str, str] = field(default_factory=dict)    # service -> where the disks came from


@dataclass(frozen=True)
class ChartLayout:
    """How one family of DIGIT charts names a stateful service's claims and PVs."""

    family: Literal["sample", "digit-devops"]
    claim_templates: Mapping[str, str]     # service -> volumeClaimTemplate name

    def template(self, service: str) -> str:
        return self.claim_templates[service]

    def claim_name(self, service: str, ordinal: int) -> str:
        # What the StatefulSet controller names the claim of pod <service>-<ordinal>.
        return f"{self.template(service)}-{service}-{ordinal}"

    def pv_name(self, service: str, ordinal: int) -> str:
        claim = self.claim_name(service, ordinal)
        return f"{BY_SERVICE[service].namespace}-{claim}" if self.family == "sample" else claim


SAMPLE = ChartLayout("sample", MappingProxyType({s.service: "data" for s in BACKBONE}))
DIGIT_DEVOPS = ChartLayout("digit-devops", MappingProxyType({
    "zookeeper-v2": "zookeeper-data",
    "kafka-v2": "kafka-data",
    "elasticsearch-data-v1": "es-storage",
    "elasticsearch-master-v1": "es-storage",
}))
LAYOUTS: Mapping[str, ChartLayout] = MappingProxyType({"sample": SAMPLE, "digit-devops": DIGIT_DEVOPS})


def detect_layout(charts_dir: str | Path) -> ChartLayout:
    """The family of a chart tree: ``sample`` when its kafka-v2 StatefulSet comes from the common
    chart's ``common.statefulset``, else DIGIT-DevOps' own backbone charts."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.errors import InputError

    try:
        chart = ChartIndex.build(charts_dir).lookup("kafka-v2").chart_dir
    except InputError:
        return DIGIT_DEVOPS
    for template in sorted((chart / "templates").glob("*.yaml")):
        if re.search(r"include\s+\"common\.statefulset\"", template.read_text(encoding="utf-8", errors="replace")):
            return SAMPLE
    return DIGIT_DEVOPS


# -- claims ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A claim a backbone StatefulSet creates, and the PV meant for it (static volumes)."""

    service: str
    namespace: str
    name: str
    ordinal: int
    pv: str


def claims(layout: ChartLayout, sizes: Mapping[str, DiskSize]) -> list[Claim]:
    out: list[Claim] = []
    for svc in BACKBONE:
        size = sizes.get(svc.service)
        for i in range(size.replicas if size else 0):
            out.append(Claim(svc.service, svc.namespace, layout.claim_name(svc.service, i), i,
                             layout.pv_name(svc.service, i)))
    return out


# -- PersistentVolumes ----------------------------------------------------------------------

def persistent_volumes(layout: ChartLayout, disks: DiskSet, sizes: Mapping[str, DiskSize]) -> list[Obj]:
    """One PV per replica of each stateful service, pre-bound (``claimRef``) to the claim its
    StatefulSet will create, reclaim policy Retain: the data outlives the claim."""
    out: list[Obj] = []
    for claim in claims(layout, sizes):
        disk = disks.disks[claim.service][claim.ordinal]
        size = sizes[claim.service].quantity
        build = _sample_pv if layout.family == "sample" else _devops_pv
        out.append(build(claim, disk, disks.provider, size))
    return out


def _sample_pv(claim: Claim, disk: Disk, provider: str, size: str) -> Obj:
    # What charts/common's common.statefulset renders for persistence.<provider>[i].
    fs = disk.fs_type or DEFAULT_FS
    spec: Obj = {
        "capacity": {"storage": size},
        "accessModes": [RWO],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "volumeMode": "Filesystem",
        "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": claim.namespace,
                     "name": claim.name},
    }
    if provider == "aws":
        spec["csi"] = {"driver": "ebs.csi.aws.com", "volumeHandle": disk.volume_id, "fsType": fs}
    elif provider == "azure":
        spec["csi"] = {"driver": "disk.csi.azure.com", "volumeHandle": disk.volume_id, "fsType": fs,
                       "volumeAttributes": {"diskName": disk.disk_name}}
    elif provider == "cinder":
        spec["csi"] = {"driver": "cinder.csi.openstack.org", "volumeHandle": disk.volume_id, "fsType": fs}
    elif provider == "iscsi":
        spec["iscsi"] = {"targetPortal": disk.target_portal, "iqn": disk.iqn, "lun": disk.lun, "fsType": fs,
                         "readOnly": False}
    else:
        spec["nfs"] = {"server": disk.server, "path": disk.path}
    if disk.zone and provider != "nfs":
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": ZONE_KEY, "operator": "In", "values": [disk.zone]}]}]}}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": claim.pv, "labels": {"app": claim.service}}, "spec": spec}


def _devops_pv(claim: Claim, disk: Disk, provider: str, size: str) -> Obj:
    # What DIGIT-DevOps' backbone templates/persistentvolume.yaml renders. Their iSCSI source says
    # readOnly: true; for a PV the kubelet takes read-only from the pod's claim, not from there.
    labels: Obj = {"app": claim.service}
    spec: Obj = {
        "capacity": {"storage": size},
        "accessModes": [RWO],
        "persistentVolumeReclaimPolicy": "Retain",
        "claimRef": {"namespace": claim.namespace, "name": claim.name},
    }
    if provider == "aws":
        labels[LEGACY_ZONE_KEY] = labels[ZONE_KEY] = disk.zone
        spec["awsElasticBlockStore"] = {"volumeID": disk.volume_id, "fsType": DEFAULT_FS}
    elif provider == "azure":
        spec["azureDisk"] = {"cachingMode": "ReadWrite", "diskName": disk.disk_name, "diskURI": disk.volume_id,
                             "kind": "Managed", "fsType": DEFAULT_FS}
    elif provider == "cinder":
        spec["cinder"] = {"fsType": DEFAULT_FS, "volumeID": disk.volume_id}
    elif provider == "iscsi":
        spec["iscsi"] = {"targetPortal": disk.target_portal, "iqn": disk.iqn, "lun": 0, "fsType": DEFAULT_FS,
                         "readOnly": True}
    else:
        spec["nfs"] = {"server": disk.server, "path": disk.path}
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": claim.pv, "labels": labels},
            "spec": spec}


def pv_source(pv: Mapping[str, Any]) -> tuple[str, Any]:
    """(source kind, its fields) of a PV: the part a cluster never lets change."""
    spec = pv.get("spec") or {}
    for kind in ("csi", "iscsi", "nfs", "awsElasticBlockStore", "azureDisk", "cinder", "hostPath", "local"):
        if kind in spec:
            return kind, spec[kind]
    return "", None


# -- what the environment file needs ----------------------------------------------------------

def volume_refs(disks: DiskSet, sizes: Mapping[str, DiskSize]) -> dict[str, list[Obj]]:
    """``EnvInputs.volumes``: service -> one ``VolumeRef`` mapping per replica (digit/envinputs.py),
    JSON-serialisable. Empty for NFS, which the environment file cannot express."""
    if disks.provider not in ENV_FILE_PROVIDERS:
        return {}
    out: dict[str, list[Obj]] = {}
    for svc in BACKBONE:
        size = sizes.get(svc.service)
        if size is None:
            continue
        refs: list[Obj] = []
        for disk in disks.disks[svc.service][:size.replicas]:
            ref: Obj = {"size": size.quantity}
            if disks.provider in ("aws", "cinder"):
                ref.update(volume_id=disk.volume_id)
            elif disks.provider == "azure":
                ref.update(disk_name=disk.disk_name, disk_uri=disk.volume_id)
            else:
                ref.update(target_portal=disk.target_portal, iqn=disk.iqn, lun=disk.lun)
            if disk.zone and disks.provider != "iscsi":
                ref["zone"] = disk.zone
            if disk.fs_type and disk.fs_type != DEFAULT_FS:
                ref["fs_type"] = disk.fs_type
            refs.append(ref)
        out[svc.service] = refs
    return out


def env_overrides(layout: ChartLayout, sizes: Mapping[str, DiskSize], disks: DiskSet | None = None) -> dict[str, Obj]:
    """Service -> the subtree of its env-file block the family's charts read for storage, beyond
    what ``envfile`` writes from ``volume_refs`` (``EnvInputs.service_overrides``): the replicas
    (one per disk) and, for the sample, the claim size; for DIGIT-DevOps' charts also ``persistence.enabled`` (off by default for kafka
    and zookeeper), ``dataDirSize``, the provider key in their shape (``openstack`` IDs, one
    ``iscsi`` portal with a list of IQNs) and Elasticsearch's ``volumeClaimTemplate``."""
    out: dict[str, Obj] = {}
    for svc in BACKBONE:
        size = sizes.get(svc.service)
        if size is None:
            continue
        # One disk per replica: the StatefulSet runs as many replicas as the sizes give disks.
        if layout.family == "sample":
            out[svc.service] = {"replicas": size.replicas, "persistence": {"size": size.quantity}}
            continue
        if disks is None:
            continue    # see unsupported(): these charts have no dynamic volumes
        persistence: Obj = {"enabled": True, "dataDirSize": size.quantity}
        if disks.provider in ENV_FILE_PROVIDERS:
            mine = disks.disks[svc.service][:size.replicas]
            if disks.provider == "aws":
                persistence["aws"] = [{"volumeId": d.volume_id, "zone": d.zone} for d in mine]
            elif disks.provider == "azure":
                persistence["azure"] = [{"diskName": d.disk_name, "diskUri": d.volume_id} for d in mine]
            elif disks.provider == "cinder":
                persistence["openstack"] = [d.volume_id for d in mine]
            else:
                persistence["iscsi"] = {"targetPortal": mine[0].target_portal, "iqn": [d.iqn for d in mine]}
        block: Obj = {"replicas": size.replicas, "persistence": persistence}
        if svc.service.startswith("elasticsearch-"):
            template: Obj = {"accessModes": [RWO], "resources": {"requests": {"storage": size.quantity}}}
            block["volumeClaimTemplate"] = template
        out[svc.service] = block
    return out


def unsupported(layout: ChartLayout, mode: str) -> str | None:
    """Why the family's charts cannot keep the backbone's data this way (None when they can)."""
    if layout.family == "digit-devops" and mode == "dynamic":
        return ("DIGIT-DevOps' classic backbone charts (zookeeper-v2, kafka-v2, elasticsearch) take static volumes "
                "only: with persistence enabled they render one PersistentVolume per replica that must name a disk, "
                "and with it off the data lives in an emptyDir")
    return None


def layout_limits(layout: ChartLayout, disks: DiskSet) -> str | None:
    """Why the family's charts cannot render these disks (None when they can): DIGIT-DevOps'
    templates give every iSCSI volume of a service one portal and LUN 0, and take ext4 only."""
    if layout.family != "digit-devops":
        return None
    for service, mine in disks.disks.items():
        if disks.provider == "iscsi":
            portals = sorted({d.target_portal for d in mine})
            if len(portals) > 1:
                return f"{service}: the DIGIT-DevOps charts give all iSCSI volumes of a service one portal, " \
                       f"the disks name {', '.join(portals)}"
            luns = sorted({d.lun for d in mine} - {0})
            if luns:
                return f"{service}: the DIGIT-DevOps charts mount LUN 0 only, the disks name LUN {luns[0]}"
        odd = sorted({d.fs_type for d in mine} - {"", DEFAULT_FS})
        if odd:
            return f"{service}: the DIGIT-DevOps charts format volumes ext4 only, the disks ask {odd[0]}"
    return None
