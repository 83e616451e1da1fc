"""Kubernetes quantities as the planner reads them from charts."""

from __future__ import annotations

import pytest

from digit_tui.errors import InputError
from digit_tui.sizing.quantity import bytes_of, cpu_millis, fmt_cpu, fmt_mem


@pytest.mark.parametrize("text,millis", [
    ("500m", 500), ("1", 1000), ("1.5", 1500), ("0.1", 100), (2, 2000), ("250m", 250),
    ("1e-3", 1), ("2E0", 2000), ("2k", 2_000_000), ("100u", 1), (".5", 500),   # sub-milli rounds up, never down
])
def test_cpu_in_millicores(text, millis):
    assert cpu_millis(text) == millis


@pytest.mark.parametrize("text,nbytes", [
    ("384Mi", 384 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("128974848", 128974848),
    ("129e6", 129_000_000), ("123Mi", 123 * 2**20), ("1.5Gi", 3 * 2**29), ("2Ki", 2048), ("1k", 1000),
    ("0.5", 1),
])
def test_memory_in_bytes(text, nbytes):
    assert bytes_of(text) == nbytes


@pytest.mark.parametrize("bad", ["1e3m", "12 Mi", "Mi", "1.2.3", "1Gb", "abc", "", True])
def test_bad_quantity_is_input_error(bad):
    with pytest.raises(InputError):
        bytes_of(bad)


def test_readable_forms():
    assert fmt_cpu(8000) == "8" and fmt_cpu(1500) == "1.5" and fmt_cpu(250) == "250m"
    assert fmt_mem(16 * 2**30) == "16Gi" and fmt_mem(384 * 2**20) == "384Mi" and fmt_mem(1408 * 2**20) == "1.4Gi"
