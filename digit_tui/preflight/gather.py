"""Reading the facts preflight decides on: TCP probes, SSH to each host, the jump host's tools.

Every call has a timeout. SSH and the tools block (callers run them in a thread);
the probes are asyncio (``engine.netprobe``). Nothing here is written anywhere,
except a host key the operator asked to trust (``trust``), in the state
directory's known_hosts, and the tools' versions by their binaries' stamps
(``toolcache``), in the state directory too.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from digit_tui.engine.netprobe import ProbeResult, probe_all
from digit_tui.infra import hostfacts, ssh
from digit_tui.infra.hostfacts import HostFacts, HostFactsError
from digit_tui.infra.ssh import SshAuth, SshError, SshOptions, SshTarget, SudoStatus
from digit_tui.preflight import checks
from digit_tui.preflight import thresholds as th
from digit_tui.preflight.checks import ToolVersion
from digit_tui.preflight.model import PASSPHRASE_ENV, CheckResult, HostOutcome, HostSpec, PreflightPlan, Status
from digit_tui.preflight.toolcache import ToolCache
from digit_tui.preflight.trust import trust_hosts

# A node kubeadm already joined: its ports are in use by Kubernetes itself on a rerun.
_NODE_PROBE = "test -e /etc/kubernetes/kubelet.conf && echo node || echo none"
_TRUST_LOCK = threading.Lock()


def passphrase() -> str | None:
    """The SSH keys' passphrase, from the environment (never an argv or a file); prefer the agent."""
    return os.environ.get(PASSPHRASE_ENV) or None


def auth_for(host: HostSpec, secret: str | None) -> SshAuth:
    return SshAuth(key_path=host.ssh_key, passphrase=secret, use_agent=True)


def check_host(plan: PreflightPlan, host: HostSpec, known_hosts: Path, *, trust: str | None = None,
               secret: str | None = None, options: SshOptions = SshOptions()) -> HostOutcome:
    """Trust (if asked), log in, sudo, facts, and the host's own checks. Blocking."""
    outcome = HostOutcome(host.name)
    if trust is not None:
        with _TRUST_LOCK:   # one known_hosts file, rewritten whole by each trust
            outcome.results += trust_hosts(plan, {host.name: trust}, known_hosts, options)
        if outcome.results[-1].status is Status.FAIL:
            return outcome
    target = SshTarget(host.address, host.port, host.user, name=host.name)
    started = time.monotonic()
    try:
        conn = ssh.connect(target, auth_for(host, secret), known_hosts, options)
    except SshError as e:
        outcome.results.append(checks.ssh_error_result(host, e))
        return outcome
    millis = (time.monotonic() - started) * 1000
    via = f"key {host.ssh_key}" + (" or the agent" if os.environ.get("SSH_AUTH_SOCK") else "")
    with conn:
        outcome.results.append(checks.login_result(host, conn.host_key.key_type, conn.host_key.fingerprint, via, millis))
        try:
            sudo = conn.sudo_check(options.timeout)
            outcome.results.append(checks.sudo_result(host, sudo))
            # As root when we can: product_uuid is root-only on most distributions.
            facts = hostfacts.gather(conn, ports=th.ports_for(host.roles), disk_paths=th.DISK_PATHS,
                                     sudo=sudo.status is SudoStatus.PASSWORDLESS, timeout=max(30.0, options.timeout))
            outcome.is_node = conn.run(_NODE_PROBE, options.timeout).stdout.strip() == "node"
        except SshError as e:
            outcome.results.append(checks.ssh_error_result(host, e, "facts"))
            return outcome
        except HostFactsError as e:
            outcome.results.append(CheckResult("host", "facts", Status.FAIL, str(e), host.name,
                                               "check that the host has /bin/sh, coreutils and /proc"))
            return outcome
    outcome.facts = facts
    outcome.results += checks.host_checks(plan, host, facts, outcome.is_node)
    return outcome


# ---- tools on this machine --------------------------------------------------------------------


def _version_argv(name: str, path: str) -> list[str]:
    return {"kubectl": [path, "version", "--client", "-o", "json"],
            "terraform": [path, "version", "-json"],
            "sops": [path, "--version", "--disable-version-check"]}[name]


def _parse_version(name: str, out: str) -> str:
    if name == "kubectl":
        return str(json.loads(out)["clientVersion"]["gitVersion"])
    if name == "terraform":
        return str(json.loads(out)["terraform_version"])
    first = out.split()
    return first[1] if len(first) > 1 else ""


def find_tool(name: str) -> str | None:
    if name == "sops":
        from digit_tui.digit.secretsfile import find_sops

        return find_sops()
    return shutil.which(name)


def tool_version(name: str, timeout: float = th.TOOL_TIMEOUT, *, cache: ToolCache | None = None) -> ToolVersion:
    """The tool's path and version; ``cache``: what this binary said before, and where to keep what
    it says now (preflight/toolcache.py)."""
    path = find_tool(name)
    if path is None:
        return ToolVersion(name, None)
    known = cache.version(name, path) if cache is not None else None
    if known is not None:
        return ToolVersion(name, path, known)
    # Neither terraform nor sops may phone home for "a newer version is out" from a jump host.
    env = dict(os.environ, CHECKPOINT_DISABLE="1", SOPS_DISABLE_VERSION_CHECK="1")
    try:
        r = subprocess.run(_version_argv(name, path), capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        return ToolVersion(name, path, error=f"no answer within {timeout:g}s")
    except OSError as e:
        return ToolVersion(name, path, error=e.strerror or str(e))
    if r.returncode != 0:
        said = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        return ToolVersion(name, path, error=said[:200])
    try:
        version = _parse_version(name, r.stdout)
    except (ValueError, KeyError, TypeError):
        return ToolVersion(name, path, error="its version output was not understood")
    if cache is not None:
        cache.remember(name, path, version)
    return ToolVersion(name, path, version)


def sops_needed(plan: PreflightPlan) -> bool:
    from digit_tui.digit.secretsfile import is_encrypted

    for path in plan.sops_candidates:
        try:
            if is_encrypted(path):
                return True
        except Exception:   # unreadable or not YAML: the render reports it where it reads the file
            continue
    return False


def tool_results(plan: PreflightPlan) -> list[CheckResult]:
    need_sops = sops_needed(plan)
    cache = ToolCache.load(plan.state_dir) if plan.state_dir is not None else None
    found = {name: tool_version(name, cache=cache) for name in checks.needed_tools(plan, need_sops)}
    if cache is not None:
        cache.save()
    return checks.tool_checks(plan, found, need_sops)


# ---- everything, for `digit-tui preflight` ----------------------------------------------------


@dataclass
class Report:
    plan: PreflightPlan
    results: list[CheckResult] = field(default_factory=list)
    facts: dict[str, HostFacts] = field(default_factory=dict)


async def probe(plan: PreflightPlan, timeout: float) -> list[ProbeResult]:
    return await probe_all(plan.endpoints, timeout)


async def run_all(plan: PreflightPlan, known_hosts: Path, *, trust: Mapping[str, str] | None = None,
                  timeout: float = th.PROBE_TIMEOUT) -> Report:
    """Every check, hosts in parallel: the configuration, the network, each host, the fleet, the tools."""
    trust = dict(trust or {})
    report = Report(plan, checks.config_checks(plan))
    probes = await probe(plan, timeout)
    report.results += checks.network_checks(plan, probes)
    down = {p.endpoint.label: p.detail for p in probes if not p.ok}
    options = SshOptions(timeout=timeout)
    secret = passphrase()

    async def one(host: HostSpec) -> HostOutcome:
        detail = down.get(host.endpoint.label)
        if detail is not None:      # no SSH timeout to sit through: the port did not answer
            return HostOutcome(host.name, [checks.unreachable_result(host, detail)])
        return await asyncio.to_thread(check_host, plan, host, known_hosts, trust=trust.get(host.name),
                                       secret=secret, options=options)

    tools = asyncio.create_task(asyncio.to_thread(tool_results, plan))
    outcomes = await asyncio.gather(*(one(h) for h in plan.hosts))
    for o in outcomes:
        report.results += o.results
        if o.facts is not None:
            report.facts[o.name] = o.facts
    report.results += checks.fleet_checks(plan, report.facts)
    report.results += await tools
    return report
