"""Injected API faults: latency, error rate (5xx or connection resets), partition.

The state is plain data owned by one server; the server's middleware consults it
on every request.  Each fault can expire on its own (``until``, loop time).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

ERROR_CODES = {500, 502, 503, 504, 429}


@dataclass
class Fault:
    until: float | None = None  # time.monotonic() deadline; None = until cleared

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass
class Latency(Fault):
    ms: int = 0


@dataclass
class Errors(Fault):
    rate: float = 0.0
    code: str = "503"  # "500".."504", "429" or "reset"


@dataclass
class Partition(Fault):
    pass


@dataclass
class FaultState:
    latency: Latency | None = None
    errors: Errors | None = None
    partition: Partition | None = None
    rng: random.Random = field(default_factory=random.Random)

    def _live(self, name: str) -> Any:
        f = getattr(self, name)
        if f is not None and not f.active(time.monotonic()):
            setattr(self, name, None)
            return None
        return f

    def current_latency(self) -> float:
        f: Latency | None = self._live("latency")
        return f.ms / 1000.0 if f else 0.0

    def partitioned(self) -> bool:
        return self._live("partition") is not None

    def partition_left(self) -> float:
        f: Partition | None = self._live("partition")
        if f is None:
            return 0.0
        return float("inf") if f.until is None else max(0.0, f.until - time.monotonic())

    def draw_error(self) -> str | None:
        """The error to inject into this request ("503", "reset"...), or None."""
        f: Errors | None = self._live("errors")
        if f is None or self.rng.random() >= f.rate:
            return None
        return f.code

    def clear(self) -> None:
        self.latency = None
        self.errors = None
        self.partition = None

    def describe(self) -> dict[str, Any]:
        now = time.monotonic()
        out: dict[str, Any] = {}
        for name in ("latency", "errors", "partition"):
            f = self._live(name)
            if f is None:
                continue
            d: dict[str, Any] = {k: v for k, v in vars(f).items() if k != "until"}
            d["secondsLeft"] = None if f.until is None else round(max(0.0, f.until - now), 1)
            out[name] = d
        return out


MAX_FAULT_SECONDS = 86_400.0  # a day; "until cleared" is no --seconds at all


def check_seconds(seconds: object) -> float | None:
    """A fault's duration: None (until cleared) or a finite number of seconds in (0, a day].

    ValueError otherwise: a negative or NaN duration used to be accepted and expire at once."""
    if seconds is None:
        return None
    if isinstance(seconds, bool):
        raise ValueError(f"seconds must be a number, not {seconds!r}")
    try:
        value = float(seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"seconds must be a number, not {seconds!r}") from None
    if not math.isfinite(value) or value <= 0 or value > MAX_FAULT_SECONDS:
        raise ValueError(f"seconds must be more than 0 and at most {MAX_FAULT_SECONDS:g}, not {seconds!r}")
    return value


def deadline(seconds: float | None) -> float | None:
    value = check_seconds(seconds)
    return None if value is None else time.monotonic() + value
