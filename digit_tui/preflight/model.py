"""What preflight reads (a typed view of the install's configuration) and what it says (check results)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_tui.engine.task import Endpoint
from digit_tui.infra.hostfacts import HostFacts, Interface
from digit_tui.preflight.thresholds import Tier, tier_of

if TYPE_CHECKING:
    from digit_tui.answers.config import InstallConfig
    from digit_tui.answers.sizingplan import SizingPlan

PASSPHRASE_ENV = "DIGIT_TUI_SSH_PASSPHRASE"
KNOWN_HOSTS = "known_hosts"


class Status(str, Enum):
    PASS = "pass"
    WARN = "warn"       # to be acknowledged (--skip-checks) before an install goes on
    FAIL = "fail"
    INFO = "info"       # said, never decides anything

    @property
    def mark(self) -> str:
        return {"pass": "✓", "warn": "!", "fail": "✗", "info": "·"}[self.value]


@dataclass(frozen=True)
class CheckResult:
    group: str                  # config, network, host, fleet, tools
    check: str                  # reachable, ssh-port, vpn, host-key, login, sudo, cpu, memory, ...
    status: Status
    message: str
    subject: str = ""           # the host's name, the endpoint's label, the tool
    remedy: str | None = None
    latency_ms: float | None = None
    # A failure that waiting may cure (the network): the engine retries and waits instead of failing.
    transient: bool = False

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(**{**data, "status": Status(data["status"])})


def count(results: Iterable[CheckResult]) -> dict[str, int]:
    out = {s.value: 0 for s in Status}
    for r in results:
        out[r.status.value] += 1
    return out


def passed(results: Sequence[CheckResult], acknowledged: bool) -> bool:
    """No failure, and no warning unless the operator acknowledged them (--skip-checks)."""
    statuses = {r.status for r in results}
    return Status.FAIL not in statuses and (acknowledged or Status.WARN not in statuses)


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    port: int
    user: str
    ssh_key: Path
    roles: tuple[str, ...]

    @property
    def where(self) -> str:
        return self.address if self.port == 22 else f"{self.address}:{self.port}"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.address, self.port, f"ssh {self.name}")

    @property
    def is_node(self) -> bool:
        """A Kubernetes node by its roles (what kubeadm needs unique across hosts)."""
        return bool({"master", "worker"} & set(self.roles))


@dataclass(frozen=True)
class PreflightPlan:
    """What preflight acts on, built from the install's configuration (``from_config``)."""

    environment: str
    tier: Tier
    provider: str
    cluster_mode: str                       # existing or kubeadm
    hosts: tuple[HostSpec, ...]
    endpoints: tuple[Endpoint, ...]         # everything the answers name, SSH ports included
    vpn_gateway: str | None = None          # as written (a gateway without a port is not probed)
    api_endpoint: str | None = None
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"
    database_mode: str = "in-cluster"
    database_host: str | None = None
    database_standby: str | None = None     # the hosts entry made the database's streaming standby
    sops_candidates: tuple[Path, ...] = ()  # environment / secrets files that may be sops-encrypted
    skip_checks: bool = False
    state_dir: Path | None = None
    sizing: SizingPlan | None = None        # the install's plan: worker hosts are compared with it

    @property
    def known_hosts(self) -> Path | None:
        return self.state_dir / KNOWN_HOSTS if self.state_dir is not None else None

    @property
    def kubeadm(self) -> bool:
        return self.cluster_mode == "kubeadm"

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)

    @classmethod
    def from_config(cls, config: InstallConfig, *, tier: str | None = None,
                    skip_checks: bool | None = None) -> PreflightPlan:
        a = config.answers
        hosts = tuple(HostSpec(h.name, h.address, h.port, h.user, Path(h.ssh_key).expanduser(), tuple(h.roles))
                      for h in a.hosts)
        files = tuple(p for p in (a.digit.environment_file, a.digit.secrets_file) if p is not None)
        return cls(
            environment=a.environment,
            tier=tier_of(tier or config.preflight.tier or a.sizing.tier),
            provider=a.target.provider,
            cluster_mode=a.cluster.mode,
            hosts=hosts, endpoints=config.endpoints,
            vpn_gateway=a.network.vpn_gateway, api_endpoint=a.cluster.api_endpoint,
            pod_cidr=a.cluster.pod_cidr, service_cidr=a.cluster.service_cidr,
            database_mode=a.database.mode, database_host=a.database.host, database_standby=a.database.standby,
            sops_candidates=files,
            skip_checks=config.preflight.skip_checks if skip_checks is None else skip_checks,
            state_dir=config.state_dir,
            sizing=config.sizing,
        )


# ---- host facts as JSON (published by the host tasks, printed by --json) ---------------------


def facts_to_json(facts: HostFacts) -> dict[str, Any]:
    d = asdict(facts)
    d["disk_free"] = dict(facts.disk_free)
    d["interfaces"] = [{"name": i.name, "mac": i.mac} for i in facts.interfaces]
    d["ports_in_use"] = list(facts.ports_in_use)
    d["ports_checked"] = list(facts.ports_checked)
    return d


def facts_from_json(data: Mapping[str, Any]) -> HostFacts:
    d = dict(data)
    d["interfaces"] = tuple(Interface(str(i["name"]), str(i["mac"])) for i in d.get("interfaces") or [])
    d["disk_free"] = {str(k): int(v) for k, v in (d.get("disk_free") or {}).items()}
    d["ports_in_use"] = tuple(d.get("ports_in_use") or ())
    d["ports_checked"] = tuple(d.get("ports_checked") or ())
    return HostFacts(**d)


@dataclass
class HostOutcome:
    """One host's results, and its facts when they could be read."""

    name: str
    results: list[CheckResult] = field(default_factory=list)
    facts: HostFacts | None = None
    is_node: bool = False       # already a Kubernetes node (a rerun): its ports are its own
