"""What the environment and secrets files are generated from.

``EnvInputs`` gathers the operator's answers (domain, tenant, database,
registry, storage) and the volume task's outputs (one ``VolumeRef`` per replica
of each stateful backbone service). ``validate()`` checks everything before a
file is written, so a bad answer is reported as one line naming the field,
never as a Helm error at deploy time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digit_tui.errors import InputError

STORAGE_MODES: tuple[str, ...] = ("static", "dynamic")
STORAGE_PROVIDERS: tuple[str, ...] = ("iscsi", "aws", "azure", "cinder")

# DIGIT's classic namespaces (digit-facts: cluster-configs.namespaces.values).
DEFAULT_NAMESPACES: tuple[str, ...] = (
    "backbone",
    "cert-manager",
    "egov",
    "es-cluster",
    "kafka-cluster",
    "logging",
    "monitoring",
    "playground",
    "zookeeper-cluster",
)

# Replica counts of the sample release (digit-facts' backbone table; zuul runs 3).
# Static storage needs one volume per replica, so validation reads this too.
DEFAULT_REPLICAS: Mapping[str, int] = MappingProxyType(
    {
        "zookeeper-v2": 3,
        "kafka-v2": 3,
        "elasticsearch-data-v1": 3,
        "elasticsearch-master-v1": 3,
        "redis": 1,
        "nginx-ingress": 1,
        "zuul": 3,
        "egov-mdms-service": 1,
        "egov-enc-service": 1,
        "egov-user": 1,
        "egov-persister": 1,
        "egov-indexer": 1,
        "egov-workflow-v2": 1,
        "egov-localization": 1,
        "egov-idgen": 1,
        "egov-hrms": 1,
        "billing-service": 1,
        "digit-ui": 1,
        "pgr-services": 1,
        "property-services": 1,
    }
)

# The services that keep data on volumes (classic static PVs).
STATEFUL_SERVICES: tuple[str, ...] = (
    "zookeeper-v2",
    "kafka-v2",
    "elasticsearch-data-v1",
    "elasticsearch-master-v1",
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
_TENANT = re.compile(r"^[a-z][a-z0-9]*(\.[a-z0-9]+)*$")
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_IQN = re.compile(r"^(iqn\.\d{4}-\d{2}\.[^\s]+|eui\.[0-9A-Fa-f]{16}|naa\.[0-9A-Fa-f]{16,32})$")
_PORTAL = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


@dataclass(frozen=True)
class VolumeRef:
    """One pre-created disk for one replica, as the volume task reports it.

    aws and cinder use ``volume_id`` (and ``zone``); azure ``disk_name`` and
    ``disk_uri``; iscsi ``target_portal``, ``iqn`` and ``lun``.
    """

    volume_id: str = ""
    zone: str = ""
    size: str = ""
    disk_name: str = ""
    disk_uri: str = ""
    target_portal: str = ""
    iqn: str = ""
    lun: int = 0
    fs_type: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | VolumeRef, where: str = "volume") -> VolumeRef:
        if isinstance(data, VolumeRef):
            return data
        if not isinstance(data, Mapping):
            raise InputError(f"{where} is not a mapping", expected="volume_id/zone/size or target_portal/iqn/lun")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise InputError(f"{where} has unknown field(s) {', '.join(unknown)}", expected=", ".join(sorted(known)))
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key == "lun":
                try:
                    values[key] = int(value)
                except (TypeError, ValueError):
                    raise InputError(f"{where}.lun is not an integer", expected="a LUN number such as 0") from None
            else:
                values[key] = "" if value is None else str(value)
        return cls(**values)

    def persistence_entry(self, provider: str) -> dict[str, Any]:
        """The entry under ``<svc>.persistence.<provider>`` in DIGIT's key names."""
        entry: dict[str, Any]
        if provider in ("aws", "cinder"):
            entry = {"volumeId": self.volume_id}
            if self.zone:
                entry["zone"] = self.zone
        elif provider == "azure":
            entry = {"diskName": self.disk_name, "diskUri": self.disk_uri}
            if self.zone:
                entry["zone"] = self.zone
        else:
            entry = {"targetPortal": self.target_portal, "iqn": self.iqn, "lun": self.lun}
        if self.size:
            entry["size"] = self.size
        if self.fs_type:
            entry["fsType"] = self.fs_type
        return entry

    def check(self, provider: str, where: str) -> None:
        missing: list[str] = []
        if provider in ("aws", "cinder"):
            missing = [] if self.volume_id else ["volume_id"]
        elif provider == "azure":
            missing = [name for name in ("disk_name", "disk_uri") if not getattr(self, name)]
        elif provider == "iscsi":
            missing = [name for name in ("target_portal", "iqn") if not getattr(self, name)]
        if missing:
            raise InputError(f"{where} lacks {', '.join(missing)} for storage provider {provider}")
        if provider == "iscsi":
            if not _PORTAL.match(self.target_portal):
                raise InputError(f"{where}.target_portal {self.target_portal!r} is not host[:port]", expected="e.g. 10.0.0.5:3260")
            if not _IQN.match(self.iqn):
                raise InputError(f"{where}.iqn {self.iqn!r} is not an iSCSI name", expected="iqn.YYYY-MM.reversed.domain:target")
            if self.lun < 0:
                raise InputError(f"{where}.lun is negative", expected="a LUN number >= 0")
        if self.size and not _QUANTITY.match(self.size):
            raise InputError(f"{where}.size {self.size!r} is not a Kubernetes quantity", expected="e.g. 50Gi")


@dataclass(frozen=True)
class EnvInputs:
    """Everything ``environments/<env>.yaml`` and ``<env>-secrets.yaml`` are made from."""

    environment: str
    domain: str
    state_tenant_id: str = "pb"
    container_registry: str = "egovio"
    namespaces: tuple[str, ...] = DEFAULT_NAMESPACES
    db_host: str = ""
    db_port: int = 5432
    db_name: str = "egov"
    # IPs of an external database: rendered as Service db-service + manual Endpoints.
    db_ips: tuple[str, ...] = ()
    storage_mode: str = "dynamic"
    storage_provider: str = "iscsi"
    storage_class: str = ""
    # service -> one VolumeRef per replica (static mode), from the volume task.
    volumes: Mapping[str, Sequence[VolumeRef]] = field(default_factory=dict)
    # service -> subtree merged over the generated per-service block (e.g. replicas, heap).
    service_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    timezone: str = "Asia/Kolkata"
    setup: str = "digit-tui"
    tracing_enabled: bool = False
    https: bool = True
    cert_issuer: str = ""
    # Services that get a block in the environment file; defaults to the sample release.
    services: tuple[str, ...] = tuple(DEFAULT_REPLICAS)

    def __post_init__(self) -> None:
        # Accept plain lists and dicts from callers; keep the instance immutable-ish and hashable-free.
        for name in ("namespaces", "db_ips", "services"):
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        volumes = {
            str(svc): tuple(VolumeRef.from_mapping(ref, f"volumes.{svc}[{i}]") for i, ref in enumerate(refs))
            for svc, refs in self.volumes.items()
        }
        object.__setattr__(self, "volumes", MappingProxyType(volumes))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> EnvInputs:
        """Build from plain data (answers file, JSON), converting volume references."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(str(k) for k in data if k not in known)
        if unknown:
            raise InputError(f"unknown environment input(s) {', '.join(unknown)}", expected=", ".join(sorted(known)))
        values = dict(data)
        for name in ("namespaces", "db_ips", "services"):
            if name in values and values[name] is not None:
                if isinstance(values[name], str | bytes) or not isinstance(values[name], Sequence):
                    raise InputError(f"{name} is not a list")
                values[name] = tuple(str(v) for v in values[name])
        raw_volumes = values.get("volumes") or {}
        if not isinstance(raw_volumes, Mapping):
            raise InputError("volumes is not a mapping", expected="service: [volume, ...]")
        volumes: dict[str, tuple[VolumeRef, ...]] = {}
        for service, refs in raw_volumes.items():
            if isinstance(refs, str | bytes | Mapping) or not isinstance(refs, Sequence):
                raise InputError(f"volumes.{service} is not a list", expected="one volume per replica")
            volumes[str(service)] = tuple(
                VolumeRef.from_mapping(ref, f"volumes.{service}[{i}]") for i, ref in enumerate(refs)
            )
        values["volumes"] = volumes
        if "db_port" in values:
            try:
                values["db_port"] = int(values["db_port"])
            except (TypeError, ValueError):
                raise InputError("db_port is not a number", expected="1-65535") from None
        return cls(**values)

    def replicas_of(self, service: str) -> int | None:
        override = self.service_overrides.get(service, {})
        if isinstance(override, Mapping) and "replicas" in override:
            try:
                return int(override["replicas"])
            except (TypeError, ValueError):
                raise InputError(f"service_overrides.{service}.replicas is not a number") from None
        return DEFAULT_REPLICAS.get(service)

    @property
    def effective_db_host(self) -> str:
        return self.db_host or ("db-service.egov" if self.db_ips else "")

    @property
    def jdbc_url(self) -> str:
        host = self.effective_db_host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # IPv6 literal
        return f"jdbc:postgresql://{host}:{self.db_port}/{self.db_name}"

    def validate(self) -> None:
        """Raise ``InputError`` naming the first bad field."""
        if not _DNS_LABEL.match(self.environment) or len(self.environment) > 40:
            raise InputError(f"environment {self.environment!r} is not a DNS label", expected="lowercase letters, digits and '-', at most 40")
        if not _HOSTNAME.match(self.domain):
            raise InputError(f"domain {self.domain!r} is not a host name", expected="e.g. digit.example.gov.in")
        if not _TENANT.match(self.state_tenant_id):
            raise InputError(f"state tenant id {self.state_tenant_id!r} is invalid", expected="lowercase letters and digits, e.g. pb")
        if not _REGISTRY.match(self.container_registry) or "://" in self.container_registry:
            raise InputError(f"container registry {self.container_registry!r} is invalid", expected="host[/path] or a Docker Hub org such as egovio")
        for ns in self.namespaces:
            if not _DNS_LABEL.match(ns):
                raise InputError(f"namespace {ns!r} is not a DNS label")
        if "egov" not in self.namespaces:
            raise InputError("namespaces must include egov", expected="egov holds egov-config and the db Secret")
        self._validate_db()
        self._validate_storage()
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InputError(f"timezone {self.timezone!r} is unknown", expected="an IANA zone such as Asia/Kolkata") from None
        for service, override in self.service_overrides.items():
            if not isinstance(override, Mapping):
                raise InputError(f"service_overrides.{service} is not a mapping")
            self.replicas_of(service)

    def _validate_db(self) -> None:
        if not self.effective_db_host:
            raise InputError("database host is missing", expected="db_host, or db_ips for an external database")
        if self.db_host and not (_HOSTNAME.match(self.db_host.lower()) or is_ip(self.db_host)):
            raise InputError(f"db host {self.db_host!r} is not a host name or IP")
        if not 1 <= self.db_port <= 65535:
            raise InputError(f"db port {self.db_port} is out of range", expected="1-65535")
        if not _DB_NAME.match(self.db_name):
            raise InputError(f"db name {self.db_name!r} is invalid", expected="letters, digits and underscore (no hyphens)")
        for ip in self.db_ips:
            if not is_ip(ip):
                raise InputError(f"db_ips entry {ip!r} is not an IP address")

    def _validate_storage(self) -> None:
        if self.storage_mode not in STORAGE_MODES:
            raise InputError(f"storage mode {self.storage_mode!r} is unknown", expected=" or ".join(STORAGE_MODES))
        if self.storage_mode == "dynamic":
            if self.volumes:
                raise InputError("volumes are given but storage mode is dynamic", expected="storage_mode: static, or no volumes")
            if self.storage_class and not _DNS_LABEL.match(self.storage_class):
                raise InputError(f"storage class {self.storage_class!r} is not a valid name")
            return
        if self.storage_provider not in STORAGE_PROVIDERS:
            raise InputError(f"storage provider {self.storage_provider!r} is unknown", expected=", ".join(STORAGE_PROVIDERS))
        if not self.volumes:
            raise InputError("storage mode is static but no volumes are given", expected="the volume task's outputs per service")
        for service, refs in self.volumes.items():
            for i, ref in enumerate(refs):
                ref.check(self.storage_provider, f"volumes.{service}[{i}]")
            wanted = self.replicas_of(service)
            if wanted is not None and len(refs) < wanted:
                raise InputError(
                    f"volumes.{service} has {len(refs)} volume(s) for {wanted} replicas",
                    expected="one volume per replica",
                )
        missing = [svc for svc in STATEFUL_SERVICES if svc in self.services and svc not in self.volumes]
        if missing:
            raise InputError(f"static storage: no volumes for {', '.join(missing)}", expected="one volume per replica of each stateful service")


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address (brackets allowed), as opposed to a host name."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True
