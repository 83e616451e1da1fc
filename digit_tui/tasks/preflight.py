"""The prerequisites phase of the install graph: the preflight checks as engine tasks.

    prerequisites-config ─┐
    prerequisites-network ┤
    prerequisites-tools   ├─> prerequisites (the gate every later task waits for)
    prerequisites-host-N ─┘   (one per host, in parallel)

Each task reads live facts and decides (k0sctl style); there is nothing to
change, so ``check`` does the whole job: it publishes its results (and a host's
facts), logs them, and raises on a failure: transient when only the network
failed (the engine retries, then waits for the task's endpoints), permanent
otherwise, with the remedy. Warnings do not stop these tasks: the gate collects
them with the fleet checks (unique MACs and product_uuids, clocks) and fails
on any warning unless the install was started with ``--skip-checks``; the
journal has them either way. A resumed install re-checks them all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from digit_tui.answers.config import InstallConfig
from digit_tui.engine.rundoc import GraphInput
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import PermanentError, TransientError
from digit_tui.infra import reads
from digit_tui.infra.ssh import SshOptions
from digit_tui.preflight import checks, gather
from digit_tui.preflight import thresholds as th
from digit_tui.preflight.model import CheckResult, HostSpec, PreflightPlan, Status, facts_from_json, facts_to_json

PHASE = "prerequisites"
GATE = "prerequisites"
CONFIG = "prerequisites-config"
NETWORK = "prerequisites-network"
TOOLS = "prerequisites-tools"
HOST_PREFIX = "prerequisites-host-"
_LEVEL = {Status.PASS: "info", Status.INFO: "info", Status.WARN: "warning", Status.FAIL: "error"}


def host_task_id(name: str) -> str:
    return HOST_PREFIX + name


def line(r: CheckResult) -> str:
    latency = f" ({r.latency_ms:.0f} ms)" if r.latency_ms is not None else ""
    return f"{r.status.mark} {r.message}{latency}"


def raise_for(results: Sequence[CheckResult]) -> None:
    """The failures as the engine's error: permanent if any is, else transient (the network)."""
    fails = [r for r in results if r.status is Status.FAIL]
    if not fails:
        return
    message = "; ".join(r.message for r in fails)
    permanent = [r for r in fails if not r.transient]
    if permanent:
        remedies = list(dict.fromkeys(r.remedy for r in permanent if r.remedy))
        raise PermanentError(message, "; ".join(remedies) or None)
    raise TransientError(message)


class _CheckTask(Task):
    """A task whose whole job is reading facts and deciding."""

    plan: PreflightPlan

    async def results(self, ctx: TaskContext, plan: PreflightPlan) -> list[CheckResult]:
        raise NotImplementedError

    async def check(self, ctx: TaskContext) -> bool:
        plan = self.plan
        results = await self.results(ctx, plan)
        for r in results:
            ctx.log(line(r), level=_LEVEL[r.status])
        ctx.publish("results", [r.to_json() for r in results])
        raise_for(results)
        return True

    async def ensure(self, ctx: TaskContext) -> None:
        await self.check(ctx)   # not reached: check passes or raises; there is nothing to change


class ConfigTask(_CheckTask):
    witnessed = True    # the plan, and the SSH keys' modes

    def __init__(self, plan: PreflightPlan) -> None:
        super().__init__(CONFIG, "check the plan in the answers", PHASE, timeout=30)
        self.plan = plan

    async def results(self, ctx: TaskContext, plan: PreflightPlan) -> list[CheckResult]:
        for h in plan.hosts:
            reads.file(h.ssh_key)
        return checks.config_checks(plan)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        plan = self.plan
        return [f"would check the plan: {checks._roles_summary(plan)} (addresses, roles, CIDRs, key modes)"]


class NetworkTask(_CheckTask):
    """Every endpoint the answers name, with latency, and the VPN verdict. A host's SSH port is that
    host task's to fail on (and to wait for): one dead VM must not hold up the others."""

    def __init__(self, plan: PreflightPlan) -> None:
        # Waiting watches what this task fails on: not the SSH ports, and not the gateway (which only warns).
        watched = [e for e in plan.endpoints if not e.label.startswith("ssh ") and e.label != "VPN gateway"]
        super().__init__(NETWORK, "probe the VPN, the cluster API and every endpoint", PHASE, timeout=60,
                         endpoints=watched)
        self.plan = plan

    witnessed = True    # endpoints that answered (one that did not: not witnessed)

    async def results(self, ctx: TaskContext, plan: PreflightPlan) -> list[CheckResult]:
        probes = await gather.probe(plan, th.PROBE_TIMEOUT)
        for p in probes:
            if p.ok:
                reads.endpoint(p.endpoint.host, p.endpoint.port, p.endpoint.scheme)
            else:   # a later run could not tell that it still does not answer the same way
                reads.cannot(f"{p.endpoint.describe()} did not answer")
        results = checks.network_checks(plan, probes)
        # SSH ports are reported here but failed on by their host task.
        return [r if r.check != "ssh-port" or r.status is not Status.FAIL else
                CheckResult(r.group, r.check, Status.INFO, r.message, r.subject, r.remedy, r.latency_ms)
                for r in results]

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        plan = self.plan
        if not plan.endpoints:
            return ["no endpoints to probe"]
        names = ", ".join(e.describe() for e in plan.endpoints)
        ranges = sorted({r for e in plan.endpoints if (r := checks.private_range(e.host))})
        n = len(plan.endpoints)
        out = [f"would probe {n} endpoint{'s' if n != 1 else ''} (TCP, the cluster API over HTTPS): {names}"]
        if ranges:
            out.append(f"would say whether the VPN is up from the {' and '.join(ranges)} endpoints")
        return out


class ToolsTask(_CheckTask):
    witnessed = True    # where each tool is found (a version is its binary's), the files sops may decrypt

    def __init__(self, plan: PreflightPlan) -> None:
        super().__init__(TOOLS, "check the tools on this machine", PHASE, timeout=60)
        self.plan = plan

    async def results(self, ctx: TaskContext, plan: PreflightPlan) -> list[CheckResult]:
        for path in plan.sops_candidates:
            reads.file(path)
        for name in checks.needed_tools(plan, True):
            reads.command(name)
        return await ctx.run_sync(gather.tool_results, plan)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        plan = self.plan
        need = checks.needed_tools(plan, gather.sops_needed(plan))
        words = {Status.FAIL: "required", Status.WARN: "recommended", Status.INFO: "optional"}
        return [f"would check {name} and its version ({words[s]})" for name, s in need.items()]


class HostTask(_CheckTask):
    """One host over SSH: host key, login, passwordless sudo, facts against its roles and the tier."""

    def __init__(self, plan: PreflightPlan, host: HostSpec) -> None:
        super().__init__(host_task_id(host.name), f"check host {host.name} over SSH", PHASE, timeout=120,
                         endpoints=[host.endpoint], retry=RetryPolicy(attempts=3, base_delay=2.0))
        self.plan = plan
        self.host = host

    async def results(self, ctx: TaskContext, plan: PreflightPlan) -> list[CheckResult]:
        if plan.known_hosts is None:
            raise PermanentError("no state directory for known_hosts", "run the phase through `digit-tui install`")
        secret = gather.passphrase()
        if secret:
            ctx.secret(secret)
        outcome = await ctx.run_sync(gather.check_host, plan, self.host, plan.known_hosts, secret=secret,
                                     options=SshOptions(timeout=th.SSH_TIMEOUT))
        if outcome.facts is not None:
            ctx.publish("facts", facts_to_json(outcome.facts))
        ctx.publish("kubernetes_node", outcome.is_node)
        return [checks.with_command(r, "digit-tui install --answers FILE") for r in outcome.results]

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        plan = self.plan
        h = self.host
        limits = th.limits_for(plan.tier, h.roles)
        low, rec = limits.minimum, limits.recommended
        out = [f"would SSH to {h.name} ({h.where}) as {h.user} with key {h.ssh_key} (or the agent); host key from "
               f"{plan.known_hosts or 'the state directory'}",
               "would check passwordless sudo (sudo -n true)",
               "would read OS, kernel, CPUs, memory, free disk on " + ", ".join(th.DISK_PATHS)
               + ", swap, hostname, MAC addresses, product_uuid and the clock",
               f"would compare with tier {plan.tier} for roles {', '.join(h.roles)}: at least {_cpus(low.cpus)}, "
               f"{low.memory_gib:g} GiB memory, {low.disk_gib:g} GiB free (warn below {_cpus(rec.cpus)}, "
               f"{rec.memory_gib:g} GiB, {rec.disk_gib:g} GiB)"]
        ports = th.ports_for(h.roles)
        if ports:
            out.append(f"would check that ports {', '.join(map(str, ports))} are free, unless it is a node already")
        return out


def _cpus(n: int) -> str:
    return f"{n} CPU{'s' if n != 1 else ''}"


class GateTask(Task):
    """Everything the phase found, the fleet checks, and the operator's acknowledgement of warnings."""

    witnessed = True    # its dependencies' outputs and the plan

    def __init__(self, plan: PreflightPlan, deps: list[str]) -> None:
        super().__init__(GATE, "prerequisites: fleet checks and acknowledged warnings", PHASE, deps, timeout=30)
        self.plan = plan
        self.hosts = plan.hosts

    async def check(self, ctx: TaskContext) -> bool:
        plan = self.plan
        found = [CheckResult.from_json(x) for d in self.deps for x in ctx.output(d).get("results") or []]
        facts = {h.name: facts_from_json(f) for h in self.hosts
                 if isinstance(f := ctx.output(host_task_id(h.name)).get("facts"), Mapping)}
        fleet = checks.fleet_checks(plan, facts)
        for r in fleet:
            ctx.log(line(r), level=_LEVEL[r.status])
        ctx.publish("results", [r.to_json() for r in fleet])
        ctx.publish("tier", plan.tier)
        raise_for(fleet)
        warnings = [r for r in found + fleet if r.status is Status.WARN]
        ctx.publish("warnings", [r.message for r in warnings])
        for r in warnings:
            ctx.log(f"warning: {r.message}" + (f" (remedy: {r.remedy})" if r.remedy else ""), level="warning")
        if warnings and not plan.skip_checks:
            raise PermanentError(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''} not acknowledged: "
                                 + "; ".join(r.message for r in warnings),
                                 "fix them and run `digit-tui install` again, or acknowledge them: "
                                 "`digit-tui install --answers FILE --skip-checks` (they stay in the journal)")
        if warnings:
            ctx.log(f"{len(warnings)} warning{'s' if len(warnings) != 1 else ''} acknowledged (--skip-checks)",
                    level="warning")
        return True

    async def ensure(self, ctx: TaskContext) -> None:
        await self.check(ctx)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        plan = self.plan
        out = ["would check that hostnames, MAC addresses and product_uuids are unique across nodes and "
               f"that clocks agree within {th.SKEW_WARN:g} s"] if len(self.hosts) > 1 else []
        if plan.skip_checks:
            out.append("would log warnings and go on (--skip-checks)")
        else:
            out.append("would stop the install on any warning not acknowledged with `install --skip-checks`")
        return out


def preflight_tasks(config: InstallConfig) -> list[Task]:
    """The prerequisites phase; every later task should depend on ``GATE``."""
    return plan_tasks(PreflightPlan.from_config(config))


def plan_tasks(plan: PreflightPlan) -> list[Task]:
    tasks: list[Task] = [ConfigTask(plan), NetworkTask(plan), ToolsTask(plan)]
    tasks += [HostTask(plan, h) for h in plan.hosts]
    tasks.append(GateTask(plan, [t.id for t in tasks]))
    return tasks


def preflight_graph(run: GraphInput) -> list[Task]:
    """A graph of the prerequisites alone (``install --graph digit_tui.tasks.preflight:preflight_graph``)."""
    return preflight_tasks(InstallConfig.from_document(run.document, run.state_dir))
