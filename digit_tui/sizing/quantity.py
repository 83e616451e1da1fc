"""Kubernetes resource quantities: ``500m``, ``1.5``, ``384Mi``, ``2G``, ``1e3``.

CPU is kept as integer millicores and memory/storage as integer bytes, both
rounded *up*, because the scheduler never grants less than a pod asks for and a
plan must not either. The reading itself is ``infra.podrequests`` (the
Kubernetes client's ``parse_quantity``, exact decimals); here a malformed
quantity becomes an InputError the planner's callers show with an example.
"""

from __future__ import annotations

from digit_tui.errors import InputError
from digit_tui.infra import podrequests

GI = 2**30
MI = 2**20
_EXPECTED = "e.g. 500m, 2, 384Mi, 1Gi, 1e3"


def cpu_millis(text: str | int | float) -> int:
    """CPU in millicores, rounded up (``0.1`` → 100, ``1`` → 1000, ``250m`` → 250)."""
    try:
        return podrequests.cpu_millis(text)
    except ValueError as exc:
        raise InputError(str(exc), expected=_EXPECTED) from None


def bytes_of(text: str | int | float) -> int:
    """Memory or storage in bytes, rounded up (``1Gi`` → 1073741824, ``1G`` → 10**9)."""
    try:
        return podrequests.memory_bytes(text)
    except ValueError as exc:
        raise InputError(str(exc), expected=_EXPECTED) from None


def fmt_cpu(millis: int) -> str:
    """Readable CPU: whole cores when exact, else millicores (``8``, ``1.5``, ``250m``)."""
    if millis % 1000 == 0:
        return str(millis // 1000)
    if millis >= 1000:
        return f"{millis / 1000:.1f}".rstrip("0").rstrip(".")
    return f"{millis}m"


def fmt_mem(nbytes: int) -> str:
    """Readable memory in binary units (``16Gi``, ``1.5Gi``, ``384Mi``)."""
    if nbytes >= GI:
        value = nbytes / GI
        return f"{value:.0f}Gi" if abs(value - round(value)) < 0.05 else f"{value:.1f}Gi"
    if nbytes >= MI:
        return f"{-(-nbytes // MI)}Mi"
    return f"{-(-nbytes // 1024)}Ki"
