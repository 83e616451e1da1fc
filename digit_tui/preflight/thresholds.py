"""Every number preflight compares with, in one place: per tier and role, the ports, the versions.

Two tiers. ``prod`` refuses less than DIGIT's published SDC production reference
(``shared/digit-facts.md``: masters 2C/4G, workers 8C/16G, DB 4C/16G, LB 4C/8G).
``dev`` refuses only what cannot work (kubeadm's own 2 CPUs / 2 GiB on a control
plane) and warns below the SDC development reference, so a small lab installs
once its warnings are acknowledged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Tier = Literal["dev", "prod"]
TIERS: tuple[str, ...] = ("dev", "prod")


def tier_of(value: str | None) -> Tier:
    """The thresholds' tier for a tier name of the answers (``uat`` mirrors production)."""
    return "prod" if value in ("prod", "uat") else "dev"


@dataclass(frozen=True)
class Size:
    cpus: int
    memory_gib: float
    disk_gib: float         # free on / and on /var, each


@dataclass(frozen=True)
class RoleLimits:
    minimum: Size           # below: fail
    recommended: Size       # below: warn
    source: str             # where the recommendation comes from, said with the warning


_PROD = {
    "master": Size(2, 4, 20), "worker": Size(8, 16, 50), "db": Size(4, 16, 100),
    "lb": Size(4, 8, 10), "jenkins": Size(2, 8, 50), "bastion": Size(1, 1, 5),
}
LIMITS: dict[str, dict[str, RoleLimits]] = {
    "dev": {
        "master": RoleLimits(Size(2, 2, 10), Size(2, 4, 20), "SDC dev masters are 2C/4G"),
        "worker": RoleLimits(Size(2, 4, 20), Size(8, 16, 50), "SDC dev workers are 8C/16G"),
        "db": RoleLimits(Size(1, 2, 20), Size(2, 8, 50), "the SDC dev DB VM is 2C/8G"),
        "lb": RoleLimits(Size(1, 1, 5), Size(2, 4, 10), "the SDC dev HAProxy VM is 2C/4G"),
        "jenkins": RoleLimits(Size(1, 2, 20), Size(2, 4, 50), "Jenkins with one agent"),
        "bastion": RoleLimits(Size(1, 0.5, 2), Size(1, 1, 5), "a jump host"),
    },
    "prod": {role: RoleLimits(size, size, f"the SDC production reference for {role}") for role, size in _PROD.items()},
}


def limits_for(tier: Tier, roles: tuple[str, ...]) -> RoleLimits:
    """The strictest of the host's roles, dimension by dimension (a master that is also a worker)."""
    chosen = [LIMITS[tier][r] for r in roles if r in LIMITS[tier]] or [LIMITS[tier]["bastion"]]

    def most(sizes: list[Size]) -> Size:
        return Size(max(s.cpus for s in sizes), max(s.memory_gib for s in sizes), max(s.disk_gib for s in sizes))

    strictest = max(chosen, key=lambda r: (r.recommended.cpus, r.recommended.memory_gib))
    return RoleLimits(most([r.minimum for r in chosen]), most([r.recommended for r in chosen]), strictest.source)


DISK_PATHS: tuple[str, ...] = ("/", "/var")     # images and etcd live under /var

# Ports a node needs free before kubeadm makes it one (a node already in the cluster is skipped).
# Workers: a sample of the NodePort range, with the SDC load balancer's 32080/32443.
PORTS: dict[str, tuple[int, ...]] = {
    "master": (6443, 2379, 2380, 10250, 10257, 10259),
    "worker": (10250, 30000, 32080, 32443, 32767),
}


def ports_for(roles: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted({p for r in roles for p in PORTS.get(r, ())}))


# Clocks: beyond this the tier decides (dev warns, prod fails); beyond SKEW_FAIL certificates
# and etcd break on any tier.
SKEW_WARN = 2.0
SKEW_FAIL = 60.0

# kubeadm's supported distributions (a VERSION_ID list; empty: any version).
SUPPORTED_OS: dict[str, tuple[str, ...]] = {
    "ubuntu": ("20.04", "22.04", "24.04"), "debian": ("11", "12"),
    "rhel": (), "rocky": (), "almalinux": (), "centos": ("9",),
}

# Jump-host tools: the oldest version that does the job.
TOOL_MINIMUM: dict[str, tuple[int, ...]] = {"kubectl": (1, 25), "terraform": (1, 5), "sops": (3, 7)}
TOOL_TIMEOUT = 15.0

# Probes and SSH
PROBE_TIMEOUT = 5.0
SSH_TIMEOUT = 10.0
