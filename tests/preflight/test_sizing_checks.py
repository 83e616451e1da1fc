"""Worker hosts compared with the install's sizing plan (facts varied as test_checks.py does; the
facts themselves come from real hosts in test_preflight_lab.py): a smaller worker or too few of
them is said with the plan's numbers, a warning to acknowledge in production and a note in dev."""

from __future__ import annotations

from dataclasses import replace

from digit_tui.answers.loader import parse_answers
from digit_tui.answers.sizingplan import SizingPlan
from digit_tui.infra.hostfacts import gib
from digit_tui.preflight import checks
from digit_tui.preflight.model import Status
from digit_tui.sizing.install import install_plan
from tests.preflight.test_checks import GiB, by, facts, host, plan

ANSWERS = """\
environment: sdc-prod
target: {provider: sdc, kubeconfig: /nonexistent}
digit: {domain: digit.local}
database: {mode: external, host: 10.0.0.9}
sizing: {ulbs: 50, preset: sdc-prod}
"""


def sized() -> SizingPlan:
    return install_plan(parse_answers(ANSWERS, check_files=False))


def test_a_worker_smaller_than_the_plan_is_named_with_the_plans_flavor() -> None:
    sizing = sized()
    p = plan(host("worker-3", "worker"), tier="prod", sizing=sizing)
    small = facts(hostname="worker-3", cpus=4, memory_bytes=int(7.8 * GiB))
    found = by(checks.host_checks(p, p.hosts[0], small), "sizing")
    flavor = sizing.worker_flavor
    assert found == [
        (Status.WARN, f"worker-3 has 4 CPUs; the sizing plan's workers are {flavor} "
                      f"({sizing.worker_cpus:g} CPUs)"),
        (Status.WARN, f"worker-3 has {gib(small.memory_bytes)} of memory; the sizing plan's workers are {flavor} "
                      f"({sizing.worker_memory_gib:g} GiB)")]
    big = facts(hostname="worker-3", cpus=64, memory_bytes=512 * GiB)
    assert by(checks.host_checks(p, p.hosts[0], big), "sizing") == []
    # A dev lab is told, not stopped; a master is not a worker; without a plan nothing is compared.
    dev = replace(p, tier="dev")
    assert [s for s, _ in by(checks.host_checks(dev, dev.hosts[0], small), "sizing")] == [Status.INFO, Status.INFO]
    m = plan(host("master-1", "master"), tier="prod", sizing=sizing)
    assert by(checks.host_checks(m, m.hosts[0], small), "sizing") == []
    bare = plan(host("worker-3", "worker"), tier="prod")
    assert by(checks.host_checks(bare, bare.hosts[0], small), "sizing") == []


def test_fewer_worker_hosts_than_the_plan_on_kubeadm() -> None:
    sizing = sized()
    workers = sizing.workers
    hosts = [host("master-1", "master"), host("worker-1", "worker")]
    out = checks.config_checks(plan(*hosts, mode="kubeadm", tier="prod", sizing=sizing))
    assert by(out, "sizing") == [(Status.WARN, f"1 worker host; the sizing plan (sdc-prod, 50 ULBs) has {workers} × "
                                               f"{sizing.worker_flavor} workers")]
    enough = [host("master-1", "master"), *(host(f"worker-{i}", "worker") for i in range(workers))]
    assert by(checks.config_checks(plan(*enough, mode="kubeadm", tier="prod", sizing=sizing)), "sizing") == []
