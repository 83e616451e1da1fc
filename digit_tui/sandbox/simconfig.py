"""How the simulated cluster behaves: node sizes, delays, unavailable images, crash rules.

Every delay is given in seconds "at speed 1" (roughly what a real cluster takes)
and divided by ``speed``: a demo runs at 1, tests at 20-50.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}
_QTY_RE = re.compile(r"^\s*([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?\s*$")


def parse_quantity(value: object) -> Decimal:
    """A Kubernetes quantity ("500m", "1.5", "512Mi", "1G", 2) as a Decimal; ValueError when malformed."""
    if isinstance(value, bool):
        raise ValueError(f"invalid quantity: {value!r}")
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    m = _QTY_RE.match(str(value))
    if not m:
        raise ValueError(f"invalid quantity: {value!r}")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation as exc:
        raise ValueError(f"invalid quantity: {value!r}") from exc
    suffix = m.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    return number * _DECIMAL[suffix]


def cpu_millis(value: object) -> int:
    """CPU quantity in millicores, rounded up like the API does."""
    q = parse_quantity(value) * 1000
    return int(q.to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(value: object) -> int:
    q = parse_quantity(value)
    return int(q.to_integral_value(rounding="ROUND_CEILING"))


@dataclass
class CrashRule:
    """Containers whose image matches ``image_pattern`` exit with ``exit_code`` ``after`` seconds of running."""

    image_pattern: str
    exit_code: int = 1
    after: float = 1.0
    log: str = "Exception in thread \"main\" java.lang.IllegalStateException: simulated crash"

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.image_pattern)


@dataclass
class SimConfig:
    nodes: int = 3
    node_cpu: str = "8"  # allocatable per node (quantity strings)
    node_memory: str = "16Gi"
    node_pods: int = 110
    speed: float = 1.0  # divides every simulated delay (demo 1, tests ~20-50)
    pull_delay: float = 2.0  # seconds at speed 1
    start_delay: float = 1.0
    ready_delay: float = 2.0
    # images matching this regex fail to pull: ErrImagePull, then ImagePullBackOff
    unavailable_images: str = r"(^|/)does-not-exist|:v0\.0\.0-missing$"
    crash_rules: list[CrashRule] = field(default_factory=list)
    storage_class: str = "standard"  # a default StorageClass (dynamic provisioning) created at start
    seed: int = 0
    # How long a container of a run-to-completion pod (Job, init container) runs before exiting 0.
    run_duration: float = 2.0
    # Seconds between node heartbeats (not scaled: it is wall-clock bookkeeping, not a workload delay).
    heartbeat_interval: float = 40.0
    # The kubelet version reported by nodes.
    kubelet_version: str = "v1.30.2"

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be > 0")
        if self.nodes < 0:
            raise ValueError("nodes must be >= 0")
        self.crash_rules = [r if isinstance(r, CrashRule) else CrashRule(**r) for r in self.crash_rules]
        cpu_millis(self.node_cpu)
        memory_bytes(self.node_memory)
        re.compile(self.unavailable_images)

    def delay(self, seconds: float) -> float:
        """A simulated delay in real seconds at the configured speed."""
        return max(0.0, seconds) / self.speed

    @cached_property
    def unavailable_regex(self) -> re.Pattern[str] | None:
        return re.compile(self.unavailable_images) if self.unavailable_images else None

    def image_unavailable(self, image: str) -> bool:
        rx = self.unavailable_regex
        return bool(rx and rx.search(image))

    def crash_rule_for(self, image: str) -> CrashRule | None:
        for rule in self.crash_rules:
            if rule.regex.search(image):
                return rule
        return None
