"""Kubernetes resource quantities: ``500m``, ``1.5``, ``384Mi``, ``2G``, ``1e3``.

CPU is kept as integer millicores and memory/storage as integer bytes, both
rounded *up*, because the scheduler never grants less than a pod asks for and a
plan must not either. Exact arithmetic (Fraction) avoids ``0.1 + 0.2`` drift.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from digit_tui.errors import InputError

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
    "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
    "P": Fraction(10**15), "E": Fraction(10**18),
}
_PATTERN = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d*)?|\.\d+)"
    r"(?:(?P<bin>Ki|Mi|Gi|Ti|Pi|Ei)|(?P<exp>[eE][+-]?\d+)|(?P<dec>[numkMGTPE]?))$"
)
GI = 2**30
MI = 2**20


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


@lru_cache(maxsize=4096)
def parse(text: str | int | float) -> Fraction:
    """The exact value of a quantity in base units (cores or bytes)."""
    if isinstance(text, bool):
        raise InputError(f"not a quantity: {text!r}", expected="e.g. 500m, 2, 384Mi, 1Gi")
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return Fraction(str(text))
    match = _PATTERN.match(str(text).strip())
    if not match:
        raise InputError(f"not a Kubernetes quantity: {text!r}", expected="e.g. 500m, 2, 384Mi, 1Gi, 1e3")
    value = Fraction(match["num"])
    if match["bin"]:
        value *= _BINARY[match["bin"]]
    elif match["exp"]:
        value *= Fraction(10) ** int(match["exp"][1:])
    else:
        value *= _DECIMAL[match["dec"] or ""]
    return -value if match["sign"] == "-" else value


def cpu_millis(text: str | int | float) -> int:
    """CPU in millicores, rounded up (``0.1`` → 100, ``1`` → 1000, ``250m`` → 250)."""
    return _ceil(parse(text) * 1000)


def bytes_of(text: str | int | float) -> int:
    """Memory or storage in bytes, rounded up (``1Gi`` → 1073741824, ``1G`` → 10**9)."""
    return _ceil(parse(text))


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
