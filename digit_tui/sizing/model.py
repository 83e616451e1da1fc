"""Data that crosses the sizing boundary: inputs, workloads, flavors and the plan.

Plain frozen dataclasses: the planner runs on every keystroke of the sizing
screen, so these stay cheap to build and compare; ``Plan.to_dict`` gives the
JSON shape that ``digit-tui size --json`` prints and the TUI reads.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from digit_tui.errors import InputError
from digit_tui.sizing.quantity import GI, fmt_cpu, fmt_mem

Tier = Literal["dev", "uat", "prod"]
TIERS: tuple[str, ...] = ("dev", "uat", "prod")
DbMode = Literal["vm", "managed", "in-cluster"]
DB_MODES: tuple[str, ...] = ("vm", "managed", "in-cluster")

_FLAVOR = re.compile(
    r"^\s*(?P<cpu>\d+(?:\.\d+)?)\s*C?\s*/\s*(?P<mem>\d+(?:\.\d+)?)\s*G(?:i|B)?"
    r"(?:\s*/\s*(?P<disk>\d+)\s*G(?:i|B)?)?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Flavor:
    """A VM shape as the SDC writes it: ``8C/16G`` or ``4C/16G/100G`` (GB taken as GiB)."""

    cpu_m: int
    mem_b: int
    disk_gb: int | None = None

    @classmethod
    def parse(cls, text: str) -> Flavor:
        match = _FLAVOR.match(str(text))
        if not match:
            raise InputError(f"not a node flavor: {text!r}", expected="CPUs/memory such as 8C/16G or 4C/16G/100G")
        cpu_m = int(float(match["cpu"]) * 1000)
        mem_b = int(float(match["mem"]) * GI)
        if cpu_m <= 0 or mem_b <= 0:
            raise InputError(f"node flavor must have CPU and memory: {text!r}", expected="e.g. 8C/16G")
        disk = int(match["disk"]) if match["disk"] else None
        return cls(cpu_m, mem_b, disk)

    @property
    def name(self) -> str:
        cpu = fmt_cpu(self.cpu_m)
        mem = self.mem_b / GI
        mem_s = f"{mem:.0f}" if mem == int(mem) else f"{mem:g}"
        base = f"{cpu}C/{mem_s}G"
        return f"{base}/{self.disk_gb}G" if self.disk_gb else base

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class ClaimSize:
    """A disk a workload asks for: one per replica (volumeClaimTemplate) or shared."""

    name: str
    size_b: int
    per_replica: bool = True


@dataclass(frozen=True, slots=True)
class Workload:
    """One pod template with its replica count, as the scheduler will see it.

    ``cpu_m``/``mem_b`` are the effective per-pod requests (app containers
    summed, init containers by the max rule, sidecars and overhead added).
    ``unset`` is True when some container sets no request at all: the
    scheduler counts that as zero, the planner adds a stated default.
    """

    service: str
    module: str
    kind: str
    namespace: str
    name: str
    replicas: int
    cpu_m: int
    mem_b: int
    unset: bool = False
    claims: tuple[ClaimSize, ...] = ()
    request_path: bool = False
    daemonset: bool = False
    one_per_node: bool = False


@dataclass(frozen=True, slots=True)
class Assumption:
    key: str
    text: str
    source: str


@dataclass(frozen=True, slots=True)
class ServiceLine:
    """A row of the per-service breakdown."""

    service: str
    module: str
    kind: str
    chart_replicas: int
    replicas: int
    cpu_m: int
    mem_b: int

    @property
    def total_cpu_m(self) -> int:
        return self.cpu_m * self.replicas

    @property
    def total_mem_b(self) -> int:
        return self.mem_b * self.replicas


@dataclass(frozen=True, slots=True)
class VolumePlan:
    """One row of the SDC-style volume table: ``kafka 3 × 50G``."""

    name: str
    workload: str
    count: int
    size_gb: int
    basis: str

    @property
    def total_gb(self) -> int:
        return self.count * self.size_gb


@dataclass(frozen=True, slots=True)
class VmPlan:
    role: str
    count: int
    flavor: Flavor
    note: str = ""


@dataclass(frozen=True, slots=True)
class SizingInputs:
    ulbs: int
    tier: str = "dev"
    modules: tuple[str, ...] | None = None     # None: every module of the release
    users: int | None = None                   # None: the preset's default for the tier and ULBs
    flavor: str = "suggest"
    kafka_retention_days: int | None = None
    es_retention_days: int | None = None
    ha: bool | None = None
    managed_control_plane: bool | None = None
    db_mode: str | None = None

    def validate(self) -> None:
        if not isinstance(self.ulbs, int) or self.ulbs < 0:
            raise InputError(f"--ulbs must be a whole number of 0 or more, got {self.ulbs!r}", expected="e.g. --ulbs 120")
        if self.tier not in TIERS:
            raise InputError(f"unknown tier {self.tier!r}", expected="one of " + ", ".join(TIERS))
        if self.users is not None and self.users < 1:
            raise InputError(f"--users must be 1 or more, got {self.users}", expected="peak concurrent users, e.g. 500")
        for label, days in (("--retention-days", self.kafka_retention_days), ("--es-retention-days", self.es_retention_days)):
            if days is not None and days < 1:
                raise InputError(f"{label} must be 1 or more, got {days}", expected="days of data to keep")
        if self.db_mode is not None and self.db_mode not in DB_MODES:
            raise InputError(f"unknown DB mode {self.db_mode!r}", expected="one of " + ", ".join(DB_MODES))
        if self.flavor != "suggest":
            Flavor.parse(self.flavor)


@dataclass(frozen=True, slots=True)
class Totals:
    vms: int
    cpu_m: int
    mem_b: int
    disk_gb: int


@dataclass(slots=True)
class Plan:
    preset: str
    tier: str
    ulbs: int
    users: int
    modules: tuple[str, ...]
    ha: bool
    flavor: Flavor
    flavor_suggested: bool
    masters: VmPlan | None
    workers: int
    workers_packed: int                     # before the N+1 spare
    worker_utilisation: tuple[float, float]  # cpu, memory share of the workers' allocatable
    volumes: list[VolumePlan]
    postgres: VmPlan | None
    postgres_disk_gb: int
    lb: VmPlan | None
    jenkins: VmPlan | None
    services: list[ServiceLine]
    assumptions: list[Assumption]
    totals: Totals
    reference: str = ""
    pods: int = 0
    largest_pod: tuple[str, int, int] = ("", 0, 0)
    flavor_candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def worker_vm(self) -> VmPlan:
        return VmPlan("worker", self.workers, self.flavor)

    def to_dict(self) -> dict[str, Any]:
        def vm(v: VmPlan | None) -> dict[str, Any] | None:
            if v is None:
                return None
            return {"count": v.count, "flavor": v.flavor.name, "cpu": v.flavor.cpu_m / 1000,
                    "memory_gib": round(v.flavor.mem_b / GI, 2), "disk_gb": v.flavor.disk_gb, "note": v.note}

        return {
            "preset": self.preset,
            "tier": self.tier,
            "ulbs": self.ulbs,
            "users": self.users,
            "modules": list(self.modules),
            "ha": self.ha,
            "masters": vm(self.masters),
            "workers": {"count": self.workers, "packed": self.workers_packed, "flavor": self.flavor.name,
                        "suggested": self.flavor_suggested, "cpu": self.flavor.cpu_m / 1000,
                        "memory_gib": round(self.flavor.mem_b / GI, 2),
                        "utilisation": {"cpu": round(self.worker_utilisation[0], 3),
                                        "memory": round(self.worker_utilisation[1], 3)}},
            "volumes": [asdict(v) | {"total_gb": v.total_gb} for v in self.volumes],
            "postgres": {**(vm(self.postgres) or {"count": 0}), "disk_gb": self.postgres_disk_gb},
            "lb": vm(self.lb),
            "jenkins": vm(self.jenkins),
            "services": [
                {"service": s.service, "module": s.module, "kind": s.kind, "chart_replicas": s.chart_replicas,
                 "replicas": s.replicas, "cpu_m": s.cpu_m, "memory": fmt_mem(s.mem_b), "memory_b": s.mem_b}
                for s in self.services
            ],
            "pods": self.pods,
            "largest_pod": {"name": self.largest_pod[0], "cpu_m": self.largest_pod[1],
                            "memory": fmt_mem(self.largest_pod[2])},
            "flavor_candidates": self.flavor_candidates,
            "totals": {"vms": self.totals.vms, "cpu": self.totals.cpu_m / 1000,
                       "memory_gib": round(self.totals.mem_b / GI, 1), "disk_gb": self.totals.disk_gb},
            "reference": self.reference,
            "assumptions": [asdict(a) for a in self.assumptions],
        }
