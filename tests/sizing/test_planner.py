"""The planner on synthetic DIGIT-shaped workloads: method, minimums, monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digit_tui.errors import InputError
from digit_tui.sizing import presets, synthetic
from digit_tui.sizing.model import SizingInputs, Workload
from digit_tui.sizing.planner import plan
from digit_tui.sizing.quantity import GI, MI

SDC_DEV = presets.load("sdc-dev")
SDC_PROD = presets.load("sdc-prod")
WORKLOADS = synthetic.digit_like(modules=4)
MODULES = sorted({w.module for w in WORKLOADS if "m_" in w.module})


def resources(p):
    """What an operator buys: compared component by component."""
    vols = {v.name: (v.count, v.size_gb) for v in p.volumes}
    return p.workers * p.flavor.cpu_m, p.workers * p.flavor.mem_b, vols, p.postgres_disk_gb, \
        (p.postgres.flavor.cpu_m, p.postgres.flavor.mem_b) if p.postgres else (0, 0)


def at_least(big, small):
    bc, bm, bv, bd, bp = big
    sc, sm, sv, sd, sp = small
    assert bc >= sc and bm >= sm and bd >= sd and bp[0] >= sp[0] and bp[1] >= sp[1]
    for name, (count, size) in sv.items():
        assert bv[name][0] >= count and bv[name][1] >= size, name


def test_published_minimums_hold_for_tiny_inputs_and_growth_takes_over():
    small = plan(WORKLOADS, SizingInputs(ulbs=0, flavor="8C/16G"), SDC_DEV)
    assert {v.name: (v.count, v.size_gb) for v in small.volumes} == {
        "kafka": (3, 50), "zookeeper": (3, 5), "es-data": (3, 50), "es-master": (3, 5), "filestore": (1, 50)}
    assert small.postgres_disk_gb == 100
    big = plan(WORKLOADS, SizingInputs(ulbs=2000, flavor="8C/16G"), SDC_DEV)
    vols = {v.name: v for v in big.volumes}
    # 2000 ULBs × 20 MB/day × 7 d × RF3 / 3 brokers × 1.3 ≈ 356 GB per broker.
    assert 340 <= vols["kafka"].size_gb <= 370 and "ULBs" in vols["kafka"].basis
    assert vols["zookeeper"].size_gb == 5            # fixed: does not grow with ULBs
    assert big.postgres_disk_gb > 100 and big.postgres.flavor.mem_b > small.postgres.flavor.mem_b


def test_request_path_services_scale_with_users_and_ha_adds_a_spare():
    lo = plan(WORKLOADS, SizingInputs(ulbs=1, users=100, flavor="8C/16G", ha=False), SDC_DEV)
    hi = plan(WORKLOADS, SizingInputs(ulbs=1, users=30_000, flavor="8C/16G", ha=False), SDC_DEV)
    zuul = {s.service: s.replicas for s in hi.services}["zuul"]
    assert zuul == 100                                  # 30,000 users / 300 per replica
    assert {s.service: s.replicas for s in lo.services}["egov-hrms"] == 1
    assert hi.workers > lo.workers
    ha = plan(WORKLOADS, SizingInputs(ulbs=1, users=100, flavor="8C/16G", ha=True), SDC_DEV)
    assert ha.workers == ha.workers_packed + 1 and ha.masters.count == 3
    assert lo.workers == lo.workers_packed and lo.masters.count == 1


def test_every_assumption_has_a_source_and_the_per_service_breakdown_is_complete():
    p = plan(WORKLOADS, SizingInputs(ulbs=10, flavor="suggest"), SDC_PROD)
    assert p.flavor_suggested and p.flavor_candidates
    assert all(a.source.strip() for a in p.assumptions)
    keys = {a.key for a in p.assumptions}
    assert {"users", "reservation", "daemonsets", "headroom", "ha", "postgres", "retention"} <= keys
    names = {s.service for s in p.services}
    assert {w.service for w in WORKLOADS} <= names and "kafka-v2-infra" in names
    # SDC prod runs the logging copies: 22 volumes as in DIGIT's table.
    assert sum(v.count for v in p.volumes) == 22


def test_suggest_never_costs_more_than_any_candidate():
    p = plan(WORKLOADS, SizingInputs(ulbs=500, flavor="suggest"), SDC_PROD)
    best = min(c["cost"] for c in p.flavor_candidates)
    chosen = next(c for c in p.flavor_candidates if c["flavor"] == p.flavor.name)
    assert chosen["cost"] == best


def test_bad_inputs_raise_input_error_with_the_reason():
    with pytest.raises(InputError, match="--ulbs"):
        plan(WORKLOADS, SizingInputs(ulbs=-1), SDC_DEV)
    with pytest.raises(InputError, match="unknown module 'm_nope'"):
        plan(WORKLOADS, SizingInputs(ulbs=1, modules=("m_nope",)), SDC_DEV)
    with pytest.raises(InputError, match="smaller than pod .*elasticsearch-data-v1"):
        plan(WORKLOADS, SizingInputs(ulbs=1, flavor="4C/2G"), SDC_DEV)
    with pytest.raises(InputError, match="not a node flavor"):
        plan(WORKLOADS, SizingInputs(ulbs=1, flavor="eight cores"), SDC_DEV)


def test_a_pod_above_the_headroom_target_gets_a_node_of_its_own():
    big = Workload("huge", "m_x", "Deployment", "egov", "huge", 2, 1000, 12 * GI)
    p = plan([*WORKLOADS, big], SizingInputs(ulbs=1, flavor="8C/16G", ha=False), SDC_DEV)
    base = plan(WORKLOADS, SizingInputs(ulbs=1, flavor="8C/16G", ha=False), SDC_DEV)
    assert p.workers == base.workers + 2


extra_workload = st.builds(
    lambda i, cpu, mem, n: Workload(f"x{i}", f"m_x{i % 3}", "Deployment", "egov", f"x{i}", n, cpu, mem * MI),
    st.integers(0, 10_000), st.integers(10, 2000), st.integers(32, 4096), st.integers(1, 4))


@settings(max_examples=int(__import__("os").environ.get("SIZING_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ulbs=st.integers(0, 5000), more_ulbs=st.integers(0, 5000),
    users=st.one_of(st.none(), st.integers(1, 20_000)), more_users=st.integers(0, 20_000),
    mods=st.sets(st.sampled_from(MODULES)), more_mods=st.sets(st.sampled_from(MODULES)),
    extra=st.lists(extra_workload, max_size=6, unique_by=lambda w: w.name),
    flavor=st.sampled_from(["8C/16G", "4C/16G", "16C/32G", "suggest"]),
    preset=st.sampled_from([SDC_DEV, SDC_PROD]), ha=st.booleans(),
)
def test_more_ulbs_users_or_modules_never_give_fewer_resources(ulbs, more_ulbs, users, more_users, mods, more_mods,
                                                               extra, flavor, preset, ha):
    workloads = WORKLOADS + extra
    small_mods = tuple(sorted(mods)) or None
    big_mods = tuple(sorted(mods | more_mods)) or None
    if small_mods is not None and big_mods is None:
        big_mods = None
    small_in = SizingInputs(ulbs=ulbs, users=users, modules=small_mods, flavor=flavor, ha=ha)
    big_in = SizingInputs(ulbs=ulbs + more_ulbs, users=None if users is None else users + more_users,
                          modules=None if small_mods is None else big_mods, flavor=flavor, ha=ha)
    small = plan(workloads, small_in, preset)
    big = plan(workloads, big_in, preset)
    if flavor == "suggest":
        # The suggestion may switch shape; what is bought (its cost) must not drop.
        cost = lambda p: p.workers * (p.flavor.cpu_m / 1000 + p.flavor.mem_b / GI / 4)  # noqa: E731
        assert cost(big) >= cost(small) - 1e-9
        assert big.postgres_disk_gb >= small.postgres_disk_gb
    else:
        at_least(resources(big), resources(small))
