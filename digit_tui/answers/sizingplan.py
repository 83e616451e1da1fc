"""The sizing plan an install acts on, as typed data every task can read.

The capacity planner (``digit_tui/sizing``) sits above the answers in the layers, so it fills this
in (``sizing/install.py``) and the client that starts an install hands it to ``InstallConfig``.
The run's document records it (``to_dict`` / ``from_dict``), so a resumed engine sizes exactly as
the install started, without planning again.

Two consumers: the terraform task's var-file (``terraform_variables``: the worker nodes' count and
size, the backbone's disks) and the volumes phase (``disk_sizes``: count and GiB of each stateful
backbone service's disks).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from digit_tui.digit.volumes import BACKBONE, BY_SERVICE, DiskSize

# Terraform variable names, one per fact of the plan. Prefixed with the component as DIGIT's
# infra-as-code names its disk outputs (kafka_vol_ids ...), so the names read alike.
NODE_VARIABLES = ("node_count", "node_cpus", "node_memory_gib", "node_disk_gb", "node_flavor")


def volume_variables(component: str) -> tuple[str, str]:
    """(count variable, size variable) of a backbone component: ``kafka_volume_count``, ``kafka_volume_size_gb``."""
    stem = component.replace("-", "_")
    return f"{stem}_volume_count", f"{stem}_volume_size_gb"


@dataclass(frozen=True)
class PlannedDisks:
    """One backbone service's disks: ``count`` disks of ``size_gb`` each."""

    service: str        # the StatefulSet, e.g. kafka-v2
    count: int
    size_gb: int


@dataclass(frozen=True)
class SizingPlan:
    """What the planner decided for this install's answers (``sizing.ulbs``, ``sizing.preset``, tier)."""

    preset: str
    tier: str
    ulbs: int
    workers: int                    # worker nodes, the N+1 spare included
    worker_flavor: str              # 8C/16G
    worker_cpus: float
    worker_memory_gib: float
    worker_disk_gb: int | None      # the flavor's root disk, when the preset gives one
    masters: int                    # 0: a managed control plane
    disks: tuple[PlannedDisks, ...]
    workloads: str                  # where the workloads' requests came from (stated in plans)

    def disk_sizes(self) -> dict[str, DiskSize]:
        """Stateful backbone service -> its disks (count, GiB), as the volumes phase takes them."""
        return {d.service: DiskSize(d.count, d.size_gb) for d in self.disks if d.service in BY_SERVICE}

    def terraform_variables(self) -> dict[str, Any]:
        """The plan as terraform variables (names in docs/terraform.md)."""
        out: dict[str, Any] = {
            "node_count": self.workers,
            "node_cpus": int(self.worker_cpus) if float(self.worker_cpus).is_integer() else self.worker_cpus,
            "node_memory_gib": int(self.worker_memory_gib) if float(self.worker_memory_gib).is_integer()
            else self.worker_memory_gib,
            "node_flavor": self.worker_flavor,
        }
        if self.worker_disk_gb:
            out["node_disk_gb"] = self.worker_disk_gb
        sizes = self.disk_sizes()
        for svc in BACKBONE:
            size = sizes.get(svc.service)
            if size is None:
                continue
            count, gb = volume_variables(svc.component)
            out[count], out[gb] = size.replicas, size.gib
        return out

    def summary(self) -> str:
        disks = ", ".join(f"{d.service} {d.count}×{d.size_gb}G" for d in self.disks)
        return (f"sizing plan ({self.preset}, {self.ulbs} ULBs): {self.workers} × {self.worker_flavor} workers"
                + (f", {self.masters} masters" if self.masters else "") + (f"; disks {disks}" if disks else ""))

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "tier": self.tier, "ulbs": self.ulbs, "workers": self.workers,
                "worker_flavor": self.worker_flavor, "worker_cpus": self.worker_cpus,
                "worker_memory_gib": self.worker_memory_gib, "worker_disk_gb": self.worker_disk_gb,
                "masters": self.masters, "workloads": self.workloads,
                "disks": [{"service": d.service, "count": d.count, "size_gb": d.size_gb} for d in self.disks]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SizingPlan:
        """ValueError / KeyError / TypeError when ``data`` is not what ``to_dict`` wrote."""
        disk = data.get("worker_disk_gb")
        cpus, memory = float(data["worker_cpus"]), float(data["worker_memory_gib"])
        if not (math.isfinite(cpus) and math.isfinite(memory)):
            raise ValueError("the sizing plan's worker size is not a number")
        return cls(preset=str(data["preset"]), tier=str(data["tier"]), ulbs=int(data["ulbs"]),
                   workers=int(data["workers"]), worker_flavor=str(data["worker_flavor"]), worker_cpus=cpus,
                   worker_memory_gib=memory, worker_disk_gb=int(disk) if disk is not None else None,
                   masters=int(data["masters"]), workloads=str(data.get("workloads") or ""),
                   disks=tuple(PlannedDisks(str(d["service"]), int(d["count"]), int(d["size_gb"]))
                               for d in data.get("disks") or ()))
