"""``digit-tui preflight``: the prerequisite checks alone, without an engine or a journal.

Prints a checklist (✓ pass, ! warning, ✗ failure, · said for information), each
line with its remedy and latency, or ``--json``. Exit 0 when nothing failed and
no warning is left unacknowledged (``--skip-checks`` acknowledges them), 1
otherwise, 2 on bad input. It writes nothing, except a host key the operator
trusts with ``--trust-host-key NAME=SHA256:...`` (into the state directory's
known_hosts, which the install uses too).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from digit_tui import exitcodes, paths

STATE_HELP = "state directory (default: $XDG_STATE_HOME/digit-tui/<environment>); its known_hosts is used"


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 300:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 300 seconds")
    return value


def cmd_preflight(args: argparse.Namespace) -> int:
    import asyncio      # here, not at the top: `digit-tui --help` imports this module and needs no event loop

    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig
    from digit_tui.preflight.gather import run_all
    from digit_tui.preflight.model import KNOWN_HOSTS, PreflightPlan, passed
    from digit_tui.preflight.trust import parse_trust_options

    answers = Path(args.answers).expanduser().resolve()
    model = load_answers(answers)
    state_dir = paths.state_dir(model.environment, args.state_dir)
    from digit_tui.sizing.install import install_plan

    config = InstallConfig.from_answers(model, answers, state_dir=state_dir, sizing=install_plan(model, answers))
    plan = PreflightPlan.from_config(config, tier=args.tier, skip_checks=args.skip_checks)
    trust = parse_trust_options(args.trust_host_key, [h.name for h in plan.hosts])
    if trust:
        paths.ensure_private_dir(state_dir)    # the one thing this command writes: keys it was told to trust
    report = asyncio.run(run_all(plan, state_dir / KNOWN_HOSTS, trust=trust, timeout=args.timeout))
    ok = passed(report.results, plan.skip_checks)
    command = f"digit-tui preflight --answers {shlex.quote(args.answers)}"
    from digit_tui.preflight.checks import with_command

    report.results = [with_command(r, command) for r in report.results]
    if args.json:
        _print_json(report, ok, sys.stdout)
    else:
        _print_text(report, ok, sys.stdout)
    return exitcodes.OK if ok else exitcodes.FAILED


def _print_json(report: Any, ok: bool, out: TextIO) -> None:
    from digit_tui.preflight.model import count, facts_to_json

    plan = report.plan
    json.dump({"environment": plan.environment, "tier": plan.tier, "skip_checks": plan.skip_checks, "ok": ok,
               "summary": count(report.results), "results": [r.to_json() for r in report.results],
               "facts": {n: facts_to_json(f) for n, f in report.facts.items()}}, out, indent=2)
    out.write("\n")


def _sections(report: Any) -> list[tuple[str, list[Any]]]:
    """config, network, one section per host (in the answers' order), fleet, tools."""
    order: list[tuple[str, list[Any]]] = [("config", []), ("network", [])]
    order += [(f"host {h.name}", []) for h in report.plan.hosts]
    order += [("fleet", []), ("tools", [])]
    index = {name: items for name, items in order}
    for r in report.results:
        key = f"host {r.subject}" if r.group == "host" else r.group
        index.setdefault(key, []).append(r)
    return [(name, items) for name, items in order if items]


def _print_text(report: Any, ok: bool, out: TextIO) -> None:
    from digit_tui.preflight.model import Status, count

    plan = report.plan
    out.write(f"Preflight of {plan.environment} (tier {plan.tier}): checks only, nothing is changed\n")
    for name, items in _sections(report):
        out.write(f"{name}\n")
        for r in items:
            latency = f"  ({r.latency_ms:.0f} ms)" if r.latency_ms is not None else ""
            out.write(f"  {r.status.mark} {r.message}{latency}\n")
            if r.remedy and r.status in (Status.FAIL, Status.WARN):
                out.write(f"      remedy: {r.remedy}\n")
    n = count(report.results)
    tail = ""
    if n["warn"] and not n["fail"]:
        tail = (": warnings acknowledged (--skip-checks)" if plan.skip_checks else
                ": warnings not acknowledged (fix them, or pass --skip-checks)")
    out.write(f"{n['pass']} passed, {n['warn']} warning{'s' if n['warn'] != 1 else ''}, {n['fail']} failed{tail}"
              f" -> {'ready' if ok else 'not ready'}\n")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("preflight", help="check the prerequisites (VPN, SSH, hosts, tools) without installing",
                       description="Run the prerequisite checks of an install alone: the plan, every endpoint "
                                   "the answers name (with latency and a VPN verdict), each host over SSH (host "
                                   "key, sudo, facts against the tier), and the tools on this machine. No engine, "
                                   "no journal; exit 0 ready, 1 not ready, 2 bad input.")
    p.add_argument("--answers", required=True, metavar="FILE", help="answers file (YAML)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--trust-host-key", action="append", default=[], metavar="NAME=SHA256:...",
                   help="trust this host key of host NAME (the fingerprint preflight showed, checked on the "
                        "host's console); repeatable")
    p.add_argument("--skip-checks", action="store_true", help="acknowledge the warnings (failures still fail)")
    p.add_argument("--tier", choices=("dev", "prod"), help="thresholds to compare with (default: the answers' "
                   "sizing tier, else dev)")
    p.add_argument("--timeout", type=_positive, default=5.0, metavar="SECONDS",
                   help="per probe and SSH step (default 5)")
    p.add_argument("--state-dir", metavar="DIR", help=STATE_HELP)
    p.set_defaults(func=cmd_preflight)

