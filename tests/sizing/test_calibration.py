"""Calibration against DIGIT's only published sizes, with the bundled sample release rendered for real."""

from __future__ import annotations

import pytest

from digit_tui.sizing import presets, release
from digit_tui.sizing.model import SizingInputs
from digit_tui.sizing.planner import plan

if not release.BUNDLE.is_dir():  # pragma: no cover - the bundle ships with the package
    pytest.skip("bundled sample release missing", allow_module_level=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    cache = release.WorkloadCache()
    inputs = release.bundled_inputs(tmp_path_factory.mktemp("env"))
    got = cache.get(inputs)
    assert cache.get(inputs) is got            # the live screen recomputes without re-rendering
    return got


def _plan(sample, name):
    p = presets.load(name)
    inputs = SizingInputs(ulbs=p.ulbs.value, tier=p.tier, flavor=p.flavor.value)
    return plan(list(sample.workloads), inputs, p, module_deps=sample.module_deps)


def test_the_sample_renders_to_digit_shaped_workloads(sample):
    names = {w.name: w for w in sample.workloads}
    assert {"kafka-v2", "zookeeper-v2", "elasticsearch-data-v1", "elasticsearch-master-v1", "zuul", "egov-user"} <= set(names)
    assert names["kafka-v2"].kind == "StatefulSet" and names["kafka-v2"].replicas == 3
    assert names["kafka-v2"].mem_b == 1408 * 2**20                 # digit-facts: kafka 1408 Mi
    assert "m_pgr" in sample.selectable


@pytest.mark.parametrize("name,workers,volumes", [
    ("sdc-dev", 4, {"kafka": (3, 50), "zookeeper": (3, 5), "es-data": (3, 50), "es-master": (3, 5),
                    "filestore": (1, 50)}),
    ("sdc-prod", 6, {"kafka": (3, 100), "kafka-infra": (3, 100), "zookeeper": (3, 10), "es-data": (3, 100),
                     "es-data-infra": (3, 100), "es-master": (3, 10), "es-master-infra": (3, 10),
                     "filestore": (1, 100)}),
])
def test_sdc_presets_match_digits_published_table(sample, name, workers, volumes):
    p = _plan(sample, name)
    assert p.flavor.name == "8C/16G"
    assert abs(p.workers - workers) <= 1, f"{name}: {p.workers} workers, DIGIT publishes {workers}"
    assert {v.name: (v.count, v.size_gb) for v in p.volumes} == volumes
    assert sum(v.count for v in p.volumes) == {"sdc-dev": 13, "sdc-prod": 22}[name]
    assert p.masters.count == 3 and p.masters.flavor.name.startswith("2C/4G")
    assert p.postgres.flavor.name.startswith({"sdc-dev": "2C/8G", "sdc-prod": "4C/16G"}[name])


def test_fewer_modules_need_no_more_than_all(sample):
    p = presets.load("sdc-dev")
    all_mods = plan(list(sample.workloads), SizingInputs(ulbs=10, flavor="8C/16G"), p, module_deps=sample.module_deps)
    pgr = plan(list(sample.workloads), SizingInputs(ulbs=10, flavor="8C/16G", modules=("m_pgr",)), p,
               module_deps=sample.module_deps)
    assert "m_property-tax" not in pgr.modules and "core" in pgr.modules
    assert sum(s.total_mem_b for s in pgr.services) < sum(s.total_mem_b for s in all_mods.services)
