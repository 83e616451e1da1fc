"""What preflight reads (a typed view of the engine settings) and what it says (check results)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from digit_tui.engine.netprobe import endpoint_from_settings
from digit_tui.engine.task import Endpoint
from digit_tui.infra.hostfacts import HostFacts, Interface
from digit_tui.preflight.thresholds import Tier, tier_of

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
    """The settings preflight acts on, typed; built from the engine settings (``answers_to_settings``)."""

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
    sops_candidates: tuple[Path, ...] = ()  # environment / secrets files that may be sops-encrypted
    skip_checks: bool = False
    state_dir: Path | None = None

    @property
    def known_hosts(self) -> Path | None:
        return self.state_dir / KNOWN_HOSTS if self.state_dir is not None else None

    @property
    def kubeadm(self) -> bool:
        return self.cluster_mode == "kubeadm"

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], *, tier: str | None = None,
                      skip_checks: bool | None = None) -> PreflightPlan:
        options = settings.get("preflight") or {}
        sizing = settings.get("sizing") or {}
        target = settings.get("target") or {}
        cluster = settings.get("cluster") or {}
        database = settings.get("database") or {}
        digit = settings.get("digit") or {}
        network = settings.get("network") or {}
        hosts = tuple(HostSpec(str(h["name"]), str(h["address"]), int(h.get("port") or 22), str(h["user"]),
                               Path(str(h["ssh_key"])).expanduser(), tuple(h.get("roles") or ()))
                      for h in settings.get("hosts") or [])
        endpoints = tuple(endpoint_from_settings(e) for e in settings.get("endpoints") or [] if isinstance(e, Mapping))
        files = tuple(Path(str(digit[k])) for k in ("environment_file", "secrets_file") if digit.get(k))
        state = settings.get("state_dir")
        return cls(
            environment=str(settings.get("environment") or ""),
            tier=tier_of(tier or options.get("tier") or sizing.get("tier")),
            provider=str(target.get("provider") or ""),
            cluster_mode=str(cluster.get("mode") or "existing"),
            hosts=hosts, endpoints=endpoints,
            vpn_gateway=network.get("vpn_gateway"), api_endpoint=cluster.get("api_endpoint"),
            pod_cidr=str(cluster.get("pod_cidr") or "10.244.0.0/16"),
            service_cidr=str(cluster.get("service_cidr") or "10.96.0.0/12"),
            database_mode=str(database.get("mode") or "in-cluster"), database_host=database.get("host"),
            sops_candidates=files,
            skip_checks=bool(options.get("skip_checks")) if skip_checks is None else skip_checks,
            state_dir=Path(str(state)) if state else None,
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
