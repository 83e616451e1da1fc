"""The backbone's pre-created disks, read from terraform-shaped outputs.

DIGIT's infra-as-code outputs one list per component: ``kafka_vol_ids``,
``zookeeper_vol_ids``, ``es_data_vol_ids``, ``es_master_vol_ids`` (AWS, OpenStack),
``kafka_storage_ids``, ``es_data_v1_storage_ids`` ... (Azure: managed disk resource IDs). Other
modules output one map keyed by component or service (``volume_ids = {kafka = [...], ...}``), and
an SDC team hands its iSCSI targets over the same way (``kafka_iqns``). An item is an ID (an IQN;
``server:/path`` for NFS) or an object carrying the disk's attributes (``id``/``volume_id``,
``zone``/``availability_zone``, ``iqn``, ``lun``, ``portal``, ``server``, ``path`` ...).

Zones: DIGIT's AWS module puts volume ``i`` in ``element(var.availability_zones, i)``; an
``availability_zones`` output is read the same way. iSCSI without an IQN output: the answers'
``iqn_prefix`` names targets ``<prefix>:<service>-<i>``. Errors are ``InputError`` naming the
output and what it lacks; values are never quoted beyond IDs (outputs marked sensitive are not
disk IDs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from digit_tui.digit.envinputs import VolumeRef
from digit_tui.digit.volumes import BACKBONE, PROVIDERS, Disk, DiskSet, StatefulService
from digit_tui.errors import InputError

# <stem>_<suffix>: what DIGIT's modules and SDC hand-overs call the per-component lists.
SUFFIXES: tuple[str, ...] = ("vol_ids", "volume_ids", "storage_ids", "disk_ids", "iqns", "exports", "volumes", "disks")
# One map output keyed by component or service.
MAP_OUTPUTS: tuple[str, ...] = ("volume_ids", "storage_ids", "disk_ids", "iqns", "volumes", "disks")
ZONES_OUTPUT = "availability_zones"
MAX_LUN = 255   # what the Kubernetes API accepts

_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "volume_id": ("volume_id", "volumeId", "volumeID", "id", "disk_id", "disk_uri", "diskUri", "uri"),
    "zone": ("zone", "availability_zone", "az"),
    "disk_name": ("disk_name", "diskName", "name"),
    "target_portal": ("target_portal", "targetPortal", "portal"),
    "iqn": ("iqn", "target_iqn"),
    "lun": ("lun",),
    "server": ("server", "host"),
    "path": ("path", "export"),
    "fs_type": ("fs_type", "fsType"),
})


@dataclass(frozen=True)
class DiskHints:
    """What the answers add to the outputs: the iSCSI portal and IQN prefix, an NFS server, and
    output names that differ from DIGIT's (service -> output name)."""

    portal: str = ""
    iqn_prefix: str = ""
    nfs_server: str = ""
    output_names: Mapping[str, str] = field(default_factory=dict)
    # How messages name where a list came from: "terraform output kafka_vol_ids", or, for disks
    # handed over in the answers (read as one map output named "disks"), "storage.disks.kafka".
    source: str = "terraform output "


def candidate_outputs(svc: StatefulService) -> list[str]:
    return [f"{stem}_{suffix}" for stem in svc.output_stems for suffix in SUFFIXES]


def disks_from_outputs(provider: str, outputs: Mapping[str, Any], replicas: Mapping[str, int],
                       hints: DiskHints = DiskHints()) -> DiskSet:
    """The disks of each stateful service in ``replicas`` (service -> how many it needs)."""
    if provider not in PROVIDERS:
        raise InputError(f"storage provider {provider!r} has no pre-created disks", expected=", ".join(PROVIDERS))
    zones = _zones(outputs)
    disks: dict[str, tuple[Disk, ...]] = {}
    sources: dict[str, str] = {}
    for svc in BACKBONE:
        want = replicas.get(svc.service, 0)
        if want <= 0:
            continue
        name, items = _find(svc, outputs, hints)
        if items is None:
            if provider == "iscsi" and hints.iqn_prefix:
                items = [f"{hints.iqn_prefix}:{svc.service}-{i}" for i in range(want)]
                name = f"iqn_prefix {hints.iqn_prefix}"
            elif not hints.source.startswith("terraform"):
                raise InputError(f"{hints.source}disks names no disks for {svc.service}",
                                 expected=f"{svc.component}: one disk per replica of {svc.service}")
            else:
                looked = hints.output_names.get(svc.service) or ", ".join(candidate_outputs(svc)[:4]) + " ..."
                present = ", ".join(sorted(outputs)) or "none"
                raise InputError(f"no terraform output lists the disks of {svc.service} (looked for {looked}; "
                                 f"outputs present: {present})",
                                 expected=f"an output such as {svc.output_stems[0]}_vol_ids with one disk per "
                                          f"replica, or a map volume_ids = {{{svc.component} = [...]}}")
        where = name if name.startswith("iqn_prefix") else f"{hints.source}{name}"
        if len(items) < want:
            raise InputError(f"{where} has {len(items)} disk(s) for the {want} replicas of {svc.service}",
                             expected="one disk per replica")
        parsed = tuple(_disk(provider, item, i, hints, zones, f"{where}[{i}]") for i, item in enumerate(items[:want]))
        disks[svc.service] = parsed
        sources[svc.service] = where
    return DiskSet(provider, MappingProxyType(disks), MappingProxyType(sources))


def parse_disk(provider: str, item: Any, index: int, hints: DiskHints = DiskHints(), where: str = "disk") -> Disk:
    """One disk as an output item gives it (an ID or an object), completed and checked; InputError
    naming ``where`` when it cannot be used (the answers' ``storage.disks`` are checked with it)."""
    if provider not in PROVIDERS:
        raise InputError(f"storage provider {provider!r} has no pre-created disks", expected=", ".join(PROVIDERS))
    return _disk(provider, item, index, hints, [], where)


def _zones(outputs: Mapping[str, Any]) -> list[str]:
    value = outputs.get(ZONES_OUTPUT)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [str(z) for z in value if isinstance(z, str) and z]
    return []


def _as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InputError(f"{where} is not a list", expected="one disk per replica, in ordinal order")
    return list(value)


def _find(svc: StatefulService, outputs: Mapping[str, Any], hints: DiskHints) -> tuple[str, list[Any] | None]:
    named = hints.output_names.get(svc.service)
    if named:
        if named not in outputs:
            raise InputError(f"terraform has no output {named} (named for the disks of {svc.service})",
                             expected="one of " + (", ".join(sorted(outputs)) or "(no outputs)"))
        return named, _as_list(outputs[named], f"terraform output {named}")
    for name in candidate_outputs(svc):
        if name in outputs:
            return name, _as_list(outputs[name], f"terraform output {name}")
    for name in MAP_OUTPUTS:
        value = outputs.get(name)
        if isinstance(value, Mapping):
            for key in (svc.component, svc.service, svc.component.replace("-", "_")):
                if key in value:
                    return f"{name}.{key}", _as_list(value[key], f"terraform output {name}.{key}")
    return "", None


def _field(item: Mapping[str, Any], name: str) -> Any:
    for key in _ALIASES[name]:
        if key in item and item[key] not in (None, ""):
            return item[key]
    return None


def _disk(provider: str, item: Any, index: int, hints: DiskHints, zones: list[str], where: str) -> Disk:
    values: dict[str, Any] = {}
    if isinstance(item, Mapping):
        for name in _ALIASES:
            found = _field(item, name)
            if found is not None:
                values[name] = found
    elif isinstance(item, str) and item.strip():
        text = item.strip()
        if provider == "iscsi":
            values["iqn"] = text
        elif provider == "nfs":
            server, sep, path = text.partition(":")
            if sep and path.startswith("/"):
                values.update(server=server, path=path)
            else:
                values["path"] = text
        else:
            values["volume_id"] = text
    else:
        raise InputError(f"{where} is neither a disk ID nor an object with its attributes")
    try:
        lun = int(values.pop("lun", 0))
    except (TypeError, ValueError):
        raise InputError(f"{where}.lun is not a number", expected="a LUN such as 0") from None
    disk = Disk(**{k: str(v) for k, v in values.items()}, lun=lun)
    if not disk.zone and zones and provider in ("aws", "azure", "cinder"):
        disk = replace(disk, zone=zones[index % len(zones)])
    return _complete(provider, disk, hints, where)


def _complete(provider: str, disk: Disk, hints: DiskHints, where: str) -> Disk:
    """The disk with what the answers add, checked as the environment file and the API will."""
    if provider == "azure" and disk.volume_id and not disk.disk_name:
        # A managed disk's resource ID ends in .../providers/Microsoft.Compute/disks/<name>.
        disk = replace(disk, disk_name=disk.volume_id.rstrip("/").rsplit("/", 1)[-1])
    if provider == "iscsi" and not disk.target_portal:
        if not hints.portal:
            raise InputError(f"{where} names no iSCSI portal and the answers give none",
                             expected="storage.iscsi.portal: HOST[:PORT]")
        disk = replace(disk, target_portal=hints.portal)
    if provider == "nfs":
        if not disk.server:
            if not hints.nfs_server:
                raise InputError(f"{where} names no NFS server", expected="server:/path, or an NFS server in the answers")
            disk = replace(disk, server=hints.nfs_server)
        if not disk.path.startswith("/"):
            raise InputError(f"{where}: NFS path {disk.path!r} is not absolute", expected="server:/export/path")
        return disk
    if provider in ("aws", "azure", "cinder") and (not disk.volume_id or any(c.isspace() for c in disk.volume_id)):
        raise InputError(f"{where} has no usable volume ID", expected="the disk's ID as the cloud names it")
    if provider == "iscsi" and not 0 <= disk.lun <= MAX_LUN:
        raise InputError(f"{where}.lun {disk.lun} is out of range", expected=f"0-{MAX_LUN}")
    # What the environment file will say about it must pass its own validation.
    ref = VolumeRef(volume_id=disk.volume_id, zone=disk.zone, disk_name=disk.disk_name, disk_uri=disk.volume_id,
                    target_portal=disk.target_portal, iqn=disk.iqn, lun=disk.lun)
    ref.check(provider, where)
    return disk
