"""The prerequisites step of a new install, without Textual: preflight's checks run section by
section (the configuration, the network, each host, the fleet, the tools) so that the checklist
fills in as results arrive, the host keys waiting to be trusted, and what the operator's
acknowledgement of the warnings becomes for the engine.

The checks are preflight's own (``preflight.checks`` / ``preflight.gather``, the functions
``digit-tui preflight`` and the engine's prerequisite tasks run); only the order in which their
answers are handed on differs. Blocking: run it off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui.preflight.model import CheckResult, PreflightPlan, Status

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers
    from digit_tui.infra.hostfacts import HostFacts

# cli/install.py's: how the client that starts the engine hands it `--skip-checks` (a test holds
# the two equal; the engine records the option in the run's document, answers/config.py set_preflight).


@dataclass(frozen=True)
class Section:
    """One part of the checklist: its results once known, else what is being checked."""

    key: str                                # config, network, host <name>, fleet, tools
    title: str
    results: tuple[CheckResult, ...] = ()
    done: bool = False
    doing: str = ""                         # while not done: what is under way
    seconds: float | None = None            # how long the section took

    @property
    def worst(self) -> Status | None:
        statuses = {r.status for r in self.results}
        for s in (Status.FAIL, Status.WARN, Status.PASS, Status.INFO):
            if s in statuses:
                return s
        return None


def section_keys(plan: PreflightPlan) -> list[str]:
    """The checklist's sections in the order `digit-tui preflight` prints them."""
    keys = ["config", "network"] + [f"host {h.name}" for h in plan.hosts]
    if len(plan.hosts) > 1:
        keys.append("fleet")
    return keys + ["tools"]


def pending_sections(plan: PreflightPlan) -> list[Section]:
    """What the checklist shows before any answer: every section, with what it is about to check."""
    out = []
    for key in section_keys(plan):
        if key == "config":
            doing = "reading the plan of the answers"
        elif key == "network":
            n = len(plan.endpoints)
            doing = f"probing {n} endpoint{'s' if n != 1 else ''}" if n else "nothing to probe"
        elif key == "fleet":
            doing = f"comparing the {len(plan.hosts)} hosts once their facts are in"
        elif key == "tools":
            doing = "looking for the tools on this machine"
        else:
            host = plan.host(key.removeprefix("host "))
            doing = f"SSH to {host.where} as {host.user}"
        out.append(Section(key, key, doing=doing))
    return out


@dataclass
class Checklist:
    """Every section by key, as the screen shows it; the host facts read so far."""

    plan: PreflightPlan
    sections: dict[str, Section] = field(default_factory=dict)
    facts: dict[str, HostFacts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sections:
            self.sections = {s.key: s for s in pending_sections(self.plan)}

    def update(self, section: Section) -> None:
        self.sections[section.key] = section

    def reset(self, keys: Sequence[str] | None = None) -> None:
        """Back to pending: every section, or those named (a host being checked again)."""
        fresh = {s.key: s for s in pending_sections(self.plan)}
        for key in keys if keys is not None else list(fresh):
            if key in fresh:
                self.sections[key] = fresh[key]

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sections.values())

    def results(self) -> list[CheckResult]:
        return [r for s in self.ordered() for r in s.results]

    def ordered(self) -> list[Section]:
        return [self.sections[k] for k in section_keys(self.plan) if k in self.sections]

    def count(self) -> dict[Status, int]:
        out = {s: 0 for s in Status}
        for r in self.results():
            out[r.status] += 1
        return out

    def failures(self) -> list[CheckResult]:
        return [r for r in self.results() if r.status is Status.FAIL]

    def warnings(self) -> list[CheckResult]:
        return [r for r in self.results() if r.status is Status.WARN]

    def untrusted(self) -> list[tuple[str, str, CheckResult]]:
        """(host, fingerprint, result) of each host key the operator may trust from here."""
        out = []
        for r in self.results():
            fp = fingerprint_to_trust(r)
            if fp is not None:
                out.append((r.subject, fp, r))
        return out


def fingerprint_to_trust(result: CheckResult) -> str | None:
    """The SHA256 fingerprint a host-key failure offers to trust (unknown or changed key), from
    the remedy preflight wrote with ``checks.trust_option``; None for any other result."""
    from digit_tui.preflight.checks import trust_option

    if result.check != "host-key" or result.status is not Status.FAIL or not result.remedy:
        return None
    marker = trust_option(result.subject, "")
    at = result.remedy.find(marker)
    if at < 0:
        return None
    fingerprint = result.remedy[at + len(marker):].split()[0].rstrip("`'\".,;")
    return fingerprint if fingerprint.startswith("SHA256:") else None


def remedy_here(result: CheckResult) -> str | None:
    """The remedy as the TUI gives it: a host key is trusted with ``t`` on the screen, not with the
    command-line option preflight's remedy names."""
    from digit_tui.preflight.checks import trust_option

    remedy = result.remedy
    if remedy is None or fingerprint_to_trust(result) is None:
        return remedy
    head = remedy[:remedy.find(trust_option(result.subject, ""))].rstrip(" :`")
    return f"{head} (t)"


def preflight_plan(answers: Answers, answers_path: Path, state_dir: Path) -> PreflightPlan:
    """What the engine's prerequisite tasks will check, from these answers: with the sizing plan the
    install will record (as `digit-tui preflight` builds it), so the worker hosts are compared with
    the plan's flavour and count here too. Answers the planner refuses leave the comparison out:
    the sizing step that follows says why."""
    from digit_tui.answers.config import InstallConfig
    from digit_tui.errors import InputError
    from digit_tui.sizing.install import install_plan

    try:
        sizing = install_plan(answers, answers_path)
    except InputError:
        sizing = None
    config = InstallConfig.from_answers(answers, answers_path, state_dir=state_dir, sizing=sizing)
    return PreflightPlan.from_config(config)


def known_hosts_of(plan: PreflightPlan) -> Path:
    path = plan.known_hosts
    if path is None:
        raise ValueError("the preflight plan has no state directory")
    return path


Emit = Callable[[Section], None]


def run_checks(plan: PreflightPlan, emit: Emit, *, hosts: Sequence[str] | None = None,
               trust: Mapping[str, str] | None = None, facts: Mapping[str, HostFacts] | None = None,
               timeout: float | None = None) -> dict[str, HostFacts]:
    """Run the checks, handing each section to ``emit`` as soon as it is known (from this thread).

    ``hosts``: only these hosts (and the fleet) are checked again, with the facts of the others
    as ``facts`` gives them; ``trust``: host -> fingerprint to trust first (the operator said
    so). Returns the host facts read. Blocking; every step has its timeout."""
    from digit_tui.engine.netprobe import probe_all
    from digit_tui.infra.ssh import SshOptions
    from digit_tui.preflight import checks, gather
    from digit_tui.preflight import thresholds as th

    timeout = timeout or th.PROBE_TIMEOUT
    trust = dict(trust or {})
    known = dict(facts or {})
    known_hosts = known_hosts_of(plan)
    only = set(hosts) if hosts is not None else None

    def timed(key: str, started: float, results: Sequence[CheckResult]) -> None:
        emit(Section(key, key, tuple(results), True, seconds=time.monotonic() - started))

    with ThreadPoolExecutor(max_workers=max(2, min(8, len(plan.hosts) + 1)),
                            thread_name_prefix="prereqs") as pool:
        tools: Future[list[CheckResult]] | None = None
        if only is None:
            started = time.monotonic()
            timed("config", started, checks.config_checks(plan))
            tools_started = time.monotonic()
            tools = pool.submit(gather.tool_results, plan)
        started = time.monotonic()
        endpoints = plan.endpoints if only is None else tuple(
            h.endpoint for h in plan.hosts if h.name in only)
        probes = asyncio.run(probe_all(endpoints, timeout)) if endpoints else []
        if only is None:
            timed("network", started, checks.network_checks(plan, probes))
        down = {p.endpoint.label: p.detail for p in probes if not p.ok}
        options = SshOptions(timeout=timeout)
        secret = gather.passphrase()
        futures = {}
        for host in plan.hosts:
            if only is not None and host.name not in only:
                continue
            detail = down.get(host.endpoint.label)
            if detail is not None:
                timed(f"host {host.name}", started, [checks.unreachable_result(host, detail)])
                known.pop(host.name, None)
                continue
            futures[host.name] = pool.submit(gather.check_host, plan, host, known_hosts,
                                             trust=trust.get(host.name), secret=secret, options=options)
        for name, future in futures.items():
            outcome = future.result()
            if outcome.facts is not None:
                known[name] = outcome.facts
            else:
                known.pop(name, None)
            timed(f"host {name}", started, outcome.results)
        if len(plan.hosts) > 1:
            timed("fleet", started, checks.fleet_checks(plan, known))
        if tools is not None:
            timed("tools", tools_started, tools.result())
    return known


def trust_and_recheck(plan: PreflightPlan, host: str, fingerprint: str, emit: Emit,
                      facts: Mapping[str, HostFacts]) -> dict[str, HostFacts]:
    """Trust ``host``'s key ``fingerprint`` in the state directory's known_hosts (only if the host
    presents exactly that key: preflight/trust.py), then check that host and the fleet again."""
    from digit_tui import paths

    if plan.state_dir is not None:
        paths.ensure_private_dir(plan.state_dir)
    return run_checks(plan, emit, hosts=[host], trust={host: fingerprint}, facts=facts)


def summary(checklist: Checklist, acknowledged: bool) -> tuple[str, str]:
    """(symbol and words, style) for the header: checking, ready, warnings to acknowledge, failed."""
    n = checklist.count()
    if not checklist.done:
        done = sum(1 for s in checklist.sections.values() if s.done)
        return f"◌ checking {done}/{len(checklist.sections)}", "yellow"
    if n[Status.FAIL]:
        return f"✗ {n[Status.FAIL]} failed", "red"
    if n[Status.WARN] and not acknowledged:
        return f"! {n[Status.WARN]} warning{'s' if n[Status.WARN] != 1 else ''} to acknowledge", "yellow"
    if n[Status.WARN]:
        return f"✓ ready ({n[Status.WARN]} acknowledged)", "green"
    return "✓ ready", "green"


def ready(checklist: Checklist, acknowledged: bool) -> bool:
    from digit_tui.preflight.model import passed

    return checklist.done and passed(checklist.results(), acknowledged)


def worker_vms(plan: PreflightPlan, facts: Mapping[str, HostFacts]) -> list[tuple[str, int, int]]:
    """(name, CPUs, memory bytes) of each host with role worker whose facts were read: the VMs the
    sizing screen's fit check places the release on."""
    return [(h.name, facts[h.name].cpus, facts[h.name].memory_bytes) for h in plan.hosts
            if "worker" in h.roles and h.name in facts]
