"""What a pod asks of a node: its effective cpu and memory requests, as kube-scheduler counts them.

One rule for every reader of pod specs: the sizing plan (rendered objects), the sizing fit check (a
cluster's running pods) and the sandbox's scheduler. It is the scheduler's own
(``resourcehelper.PodRequests`` of Kubernetes 1.29+):

- a container with limits but no request for a resource requests its limit (the API server
  defaults it that way, so an object not yet admitted is counted as it will be);
- app containers and sidecars (init containers with ``restartPolicy: Always``, which run all
  along) are summed;
- an ordinary init container runs alone, beside the sidecars started before it: the pod needs
  the larger of the biggest such step and the steady-state sum, per resource;
- ``spec.overhead`` (a RuntimeClass's) comes on top.

``cpu_nz``/``mem_nz`` are the same with the scheduler's non-zero defaults (100m, 200Mi) for a
container that requests nothing: what its scoring counts, so that empty pods still spread.

Quantities are read by ``kubernetes.utils.parse_quantity``; the library accepts more than the API
does (blanks, ``1e3m``, ``K``, ``NaN``, booleans), so the API's grammar is checked first and those
are refused here as the API server refuses them.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from digit_tui.infra.kubesched import DEFAULT_CPU_M, DEFAULT_MEM_B, PodRequest


def _library_parse_quantity() -> Callable[[str], Decimal]:
    """``kubernetes.utils.parse_quantity``, without importing the ``kubernetes`` package when it is
    not loaded yet: the package's ``__init__`` imports its whole client and config (about a second),
    which ``digit-tui size`` and ``validate`` would pay only to read quantities. The function's own
    module needs nothing but ``decimal``, so it is loaded from the library's file on its own."""
    if "kubernetes" not in sys.modules:
        package = importlib.util.find_spec("kubernetes")   # finds it without running its __init__
        if package is not None and package.origin:
            spec = importlib.util.spec_from_file_location(
                "digit_tui.infra._kubernetes_quantity", Path(package.origin).parent / "utils" / "quantity.py")
            if spec is not None and spec.loader is not None:
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
                loaded: Callable[[str], Decimal] = module.parse_quantity
                return loaded
    from kubernetes.utils import parse_quantity as untyped

    typed: Callable[[str], Decimal] = untyped
    return typed


parse_quantity: Callable[[str], Decimal] = _library_parse_quantity()  # the client ships no annotations

# The API's quantity grammar (apimachinery's resource.Quantity): a signed decimal number, then one
# binary suffix, one decimal suffix, or a decimal exponent.
_GRAMMAR = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?\d+|[numkMGTPE])?")


@lru_cache(maxsize=8192)
def _parse_text(text: str) -> Decimal:
    if not _GRAMMAR.fullmatch(text):
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    return parse_quantity(text)


def quantity(value: object) -> Decimal:
    """The exact value of a quantity in base units (cores, bytes); ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # The float's shortest spelling (0.1, not 0.1000000000000000055...): what a YAML author wrote.
        return _parse_text(repr(value))
    if isinstance(value, str):
        return _parse_text(value.strip())
    raise ValueError(f"not a Kubernetes quantity: {value!r}")


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def cpu_millis(value: object) -> int:
    """CPU in millicores, rounded up as the API rounds (``0.1`` → 100, ``1`` → 1000, ``100u`` → 1)."""
    return _ceil(quantity(value) * 1000)


def memory_bytes(value: object) -> int:
    """Memory or storage in bytes, rounded up (``1Gi`` → 1073741824, ``1G`` → 10**9)."""
    return _ceil(quantity(value))


@dataclass(frozen=True, slots=True)
class PodRequests:
    cpu: int            # millicores the scheduler reserves on the node
    mem: int            # bytes
    cpu_nz: int         # the same with the non-zero defaults for containers that request nothing (scoring)
    mem_nz: int
    unset: bool         # a container that runs all along has no cpu or no memory request (nor limit)

    @property
    def scheduling(self) -> PodRequest:
        """The form ``infra.kubesched`` filters and scores with."""
        return PodRequest(self.cpu, self.mem, self.cpu_nz, self.mem_nz)


def _container(c: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(millicores, bytes) one container requests; None where it sets neither a request nor a limit."""
    res = c.get("resources") or {}
    req = res.get("requests") or {}
    lim = res.get("limits") or {}
    cpu = req.get("cpu", lim.get("cpu"))
    mem = req.get("memory", lim.get("memory"))
    return (None if cpu is None else cpu_millis(cpu), None if mem is None else memory_bytes(mem))


Four = tuple[int, int, int, int]     # cpu, mem, cpu_nz, mem_nz


def _add(a: Four, b: Four) -> Four:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def _max(a: Four, b: Four) -> Four:
    return (max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _asks(c: Mapping[str, Any]) -> tuple[Four, bool]:
    """One container's (requests, non-zero requests) and whether it leaves cpu or memory unset."""
    a, b = _container(c)
    return (a or 0, b or 0, DEFAULT_CPU_M if a is None else a, DEFAULT_MEM_B if b is None else b), \
        a is None or b is None


def pod_requests(spec: Mapping[str, Any]) -> PodRequests:
    """Effective requests of a pod spec: max(sum of app containers and sidecars, largest init step)
    + overhead. ValueError when a quantity is malformed."""
    unset = False
    steady: Four = (0, 0, 0, 0)          # app containers + sidecars
    sidecars: Four = (0, 0, 0, 0)        # the sidecars started so far
    init: Four = (0, 0, 0, 0)            # the largest init step
    for c in spec.get("initContainers") or ():
        asks, missing = _asks(c)
        if c.get("restartPolicy") == "Always":
            unset |= missing             # a sidecar runs all along; a one-shot init without requests costs nothing
            steady = _add(steady, asks)
            sidecars = _add(sidecars, asks)
            init = _max(init, sidecars)
        else:
            init = _max(init, _add(asks, sidecars))
    for c in spec.get("containers") or ():
        asks, missing = _asks(c)
        unset |= missing
        steady = _add(steady, asks)
    overhead = spec.get("overhead") or {}
    o_cpu = cpu_millis(overhead["cpu"]) if "cpu" in overhead else 0
    o_mem = memory_bytes(overhead["memory"]) if "memory" in overhead else 0
    cpu, mem, cpu_nz, mem_nz = _max(steady, init)
    return PodRequests(cpu + o_cpu, mem + o_mem, cpu_nz + o_cpu, mem_nz + o_mem, unset)
