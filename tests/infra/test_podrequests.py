"""A pod's effective requests as kube-scheduler counts them (infra/podrequests.py), which the sizing
plan, the fit check and the sandbox's scheduler all use; and quantities read by the Kubernetes
client's parse_quantity, exact (checked against rational arithmetic over thousands of spellings)
and as strict as the API server."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction
from typing import Any

import pytest

from digit_tui.infra.kubesched import DEFAULT_CPU_M, DEFAULT_MEM_B, PodRequest
from digit_tui.infra.podrequests import PodRequests, cpu_millis, memory_bytes, pod_requests, quantity

MI = 2**20


def c(cpu: str | None = None, mem: str | None = None, **extra: Any) -> dict[str, Any]:
    req = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v is not None}
    return {"name": "c", "image": "x", "resources": {"requests": req} if req else {}, **extra}


def test_the_largest_init_step_or_the_steady_sum_and_overhead_on_top() -> None:
    spec = {"initContainers": [c("1", "64Mi"), c("100m", "1Gi")], "containers": [c("250m", "256Mi"), c("250m", "256Mi")],
            "overhead": {"cpu": "10m", "memory": "8Mi"}}
    assert pod_requests(spec) == PodRequests(1010, 1024 * MI + 8 * MI, 1010, 1032 * MI, False)


def test_sidecars_run_all_along_and_beside_later_init_containers() -> None:
    spec = {"initContainers": [c("100m", "100Mi", restartPolicy="Always"), c("500m", "200Mi")],
            "containers": [c("200m", "300Mi")]}
    assert (pod_requests(spec).cpu, pod_requests(spec).mem) == (600, 400 * MI)


def test_missing_requests_score_as_the_schedulers_defaults() -> None:
    r = pod_requests({"initContainers": [c()], "containers": [c("50m"), c(mem="1Gi")]})
    assert (r.cpu, r.mem, r.unset) == (50, 1024 * MI, True)
    assert (r.cpu_nz, r.mem_nz) == (50 + DEFAULT_CPU_M, DEFAULT_MEM_B + 1024 * MI)
    assert r.scheduling == PodRequest(50, 1024 * MI, 50 + DEFAULT_CPU_M, DEFAULT_MEM_B + 1024 * MI)
    # An explicit zero is a request: no default for it.
    assert pod_requests({"containers": [c("0", "0")]}).scheduling == PodRequest(0, 0, 0, 0)


def test_limits_stand_in_for_missing_requests() -> None:
    r = pod_requests({"containers": [{"name": "c", "resources": {"limits": {"cpu": "2", "memory": "1Gi"},
                                                                 "requests": {"cpu": "500m"}}}]})
    assert (r.cpu, r.mem, r.unset) == (500, 1024 * MI, False)


# -- quantities ------------------------------------------------------------------------------------
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}


def _exact(number: str, suffix: str) -> Fraction:
    """The value by rational arithmetic: what the hand-written parser used to compute."""
    if suffix in _BINARY:
        return Fraction(number) * _BINARY[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        return Fraction(number) * Fraction(10) ** int(suffix[1:])
    return Fraction(number) * _DECIMAL[suffix]


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def test_quantities_are_exact_over_thousands_of_spellings() -> None:
    rng = random.Random(7)
    numbers = ["0", "1", "2", "5", "10", "64", "100", "128", "250", "384", "500", "512", "999", "1000", "1024",
               "0.1", "0.5", "1.5", "2.25", ".5", "5.", "0.001", "123.456", "+3", "-2", "007"]
    numbers += [f"{rng.randint(0, 99999)}.{rng.randint(0, 999):03d}" for _ in range(100)]
    suffixes = [*_BINARY, *_DECIMAL, "e3", "E-3", "e0", "e+6", "E9"]
    checked = 0
    for number, suffix in itertools.product(numbers, suffixes):
        text = number + suffix
        want = _exact(number, suffix)
        assert quantity(text) == want, text
        assert cpu_millis(text) == _ceil(want * 1000), text
        assert memory_bytes(text) == _ceil(want), text
        checked += 1
    assert checked > 2000


@pytest.mark.parametrize("value,millis", [(2, 2000), (0.1, 100), (0.25, 250), (1e-3, 1), ("100u", 1), (" 1 ", 1000)])
def test_numbers_as_yaml_gives_them(value: Any, millis: int) -> None:
    assert cpu_millis(value) == millis


@pytest.mark.parametrize("bad", ["12 Mi", "1e3m", "1K", "K", "Mi", "1.2.3", "1Gb", "abc", "", "NaN", "Infinity",
                                 "1_000", "0x10", "1ki", True, None, float("nan")])
def test_what_the_api_server_refuses_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError):
        quantity(bad)
