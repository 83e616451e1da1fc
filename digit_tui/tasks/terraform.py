"""A task that converges one terraform working directory, and publishes its outputs.

``check`` writes the var-file, runs ``init`` and ``plan -detailed-exitcode``:
converged when terraform plans no change (exit 0) and the outputs named in
``required_outputs`` are in the state; the outputs are then published, so a
rerun (or a resumed install) gives dependants live values without applying.
``ensure`` applies the plan ``check`` just saved (terraform refuses it if the
state moved since: that is a transient failure and the retry plans again),
reporting each resource as terraform starts and finishes it, then publishes
``output -json``. ``dry_run`` is the plan's resource changes, one line each.

Outputs are published under their terraform names. Sensitive outputs are
published too, because dependants need them (a kubeconfig, a database
password), but they are registered with ``ctx.secret`` first: the engine masks
them in every log line, error and in the journal's copy of the outputs. The
journal therefore never holds their value; a resumed install gets them again
from terraform, because the engine re-checks this task (and so re-publishes)
before any dependant runs.

A plan that would destroy or replace a resource stops the task (permanent,
naming the resources) unless ``destroy_ok``: an answers change must not delete
a database volume on a rerun. Replacing a resource terraform marked tainted (a
create that failed half way) is allowed, since that is how a rerun converges.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from digit_tui.engine.errors import PermanentError, TaskError, TransientError
from digit_tui.engine.task import Endpoint, RetryPolicy, Task, TaskContext
from digit_tui.infra.terraform import (Output, Plan, Terraform, TerraformError, Timeouts, declared_variables,
                                      write_var_file)
from digit_tui.infra.tfevents import (ApplyComplete, ApplyErrored, ApplyProgress, ApplyStart, DiagnosticEvent,
                                      Event, LogMessage, PlannedChange, ProvisionOutput, ResourceDrift)

VAR_FILE = "digit-tui.tfvars.json"
PLAN_FILE = "digit-tui.tfplan"

_VERB = {"create": "create", "update": "update in place", "replace": "replace", "delete": "destroy",
         "read": "read", "move": "move", "remove": "forget", "import": "import"}
_ING = {"create": "creating", "update": "updating", "delete": "destroying", "read": "reading"}
# Terraform's reason codes in operator words.
_REASON = {"tainted": "tainted: its create failed half way", "requested": "replacement requested",
           "cannot_update": "a changed argument forces replacement",
           "delete_because_no_resource_config": "no longer in the configuration",
           "delete_because_wrong_repetition": "count / for_each changed",
           "delete_because_count_index": "the count went down", "delete_because_each_key": "its for_each key is gone",
           "delete_because_no_module": "its module is gone", "read_because_config_unknown": "known only after apply",
           "read_because_dependency_pending": "known only after apply"}
_DESTRUCTIVE = frozenset({"delete", "replace"})
_MIN_SECRET_LINE = 16   # lines of a multi-line secret (a kubeconfig's key) masked on their own


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        if "\n" in value:
            yield from (ln.strip() for ln in value.splitlines() if len(ln.strip()) >= _MIN_SECRET_LINE)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _as_task_error(exc: TerraformError) -> TaskError:
    cls = TransientError if exc.transient else PermanentError
    return cls(exc.message, remedy=exc.remedy)


def change_line(change: PlannedChange) -> str:
    reason = f" ({_REASON.get(change.reason, change.reason.replace('_', ' '))})" if change.reason else ""
    return f"would {_VERB.get(change.action, change.action)} {change.address}{reason}"


class _Reporter:
    """Terraform's events as journal lines and progress: one line when a resource starts and one
    when it is done, so the operator sees which resource a 20-minute apply is waiting on."""

    def __init__(self, ctx: TaskContext, planned: Sequence[PlannedChange] = ()) -> None:
        self.ctx = ctx
        self.total = len({c.address for c in planned})
        self.done: set[str] = set()

    def __call__(self, ev: Event) -> None:
        ctx = self.ctx
        if isinstance(ev, ApplyStart):
            ctx.progress(len(self.done), self.total, ev.message or f"{_ING.get(ev.action, ev.action)} {ev.address}")
        elif isinstance(ev, ApplyProgress):
            ctx.progress(len(self.done), self.total, ev.message)
        elif isinstance(ev, ApplyComplete):
            self.done.add(ev.address)
            ctx.progress(min(len(self.done), self.total), self.total, ev.message)
        elif isinstance(ev, ApplyErrored):
            ctx.log(ev.message or f"{ev.address}: {ev.action} failed", level="error")
        elif isinstance(ev, ProvisionOutput):
            ctx.log(f"{ev.address} ({ev.provisioner}): {ev.output}")
        elif isinstance(ev, ResourceDrift):
            ctx.log(f"changed outside terraform: {ev.message or ev.address}", level="warning")
        elif isinstance(ev, DiagnosticEvent):
            d = ev.diagnostic
            ctx.log(f"terraform {d.severity}: {d.one_line()}", level="error" if d.severity == "error" else "warning")
        elif isinstance(ev, LogMessage) and ev.kind == "log":   # init: modules and providers installed
            ctx.log(f"terraform: {ev.message}")


class TerraformTask(Task):
    """Converge ``workdir`` with ``variables``; outputs published under their names."""

    phase = "cluster"
    # Per attempt of check or ensure: creating a managed cluster takes 15-25 minutes, plus the
    # node pools, plus a refresh of everything by each plan.
    timeout = 3 * 3600.0
    retry = RetryPolicy(attempts=4, base_delay=5.0, max_delay=60.0)

    def __init__(self, id: str, workdir: Path | str, variables: Mapping[str, Any], *, title: str | None = None,
                 phase: str = "cluster", deps: Iterable[str] = (), secret_variables: Iterable[str] = (),
                 required_outputs: Iterable[str] = (), state_dir: Path | str | None = None,
                 private_dir: Path | str | None = None,
                 destroy_ok: bool = False, binary: str = "terraform", env: Mapping[str, str] | None = None,
                 timeouts: Timeouts = Timeouts(), lock_timeout: str = "60s", retry: RetryPolicy | None = None,
                 timeout: float | None = None, endpoints: Iterable[Endpoint] = (),
                 planned_variables: Mapping[str, Any] | None = None) -> None:
        super().__init__(id, title or f"terraform {Path(workdir).name}", phase, tuple(deps), retry=retry,
                         timeout=timeout, endpoints=tuple(endpoints))
        self.workdir = Path(workdir)
        self.variables = dict(variables)
        # The sizing plan's variables (node count and size, the backbone's disks), under the
        # operator's: a variable both give takes the operator's value.
        self.planned_variables = {k: v for k, v in (planned_variables or {}).items() if k not in self.variables}
        self.secret_variables = tuple(secret_variables)
        unknown = [n for n in self.secret_variables if n not in self.variables]
        if unknown:
            raise ValueError(f"secret_variables names variables not given: {', '.join(unknown)}")
        self.required_outputs = tuple(required_outputs)
        self.private_dir = Path(private_dir) if private_dir is not None else None
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.destroy_ok = destroy_ok
        self.terraform = Terraform(self.workdir, binary=binary, env=env, timeouts=timeouts, lock_timeout=lock_timeout)
        self._plan: Plan | None = None      # saved by check, applied by the ensure of the same attempt

    # -- files -------------------------------------------------------------
    def _private(self, ctx: TaskContext) -> Path:
        """Where the var-file and the saved plan live (both hold variable values): 0700, outside the
        working directory so a checked-out DIGIT-DevOps tree never gets them."""
        if self.private_dir is not None:
            return self.private_dir
        if self.state_dir is None:
            raise PermanentError(f"task {self.id}: no state directory to keep the terraform var-file in",
                                 remedy="run through `digit-tui install`, which sets it")
        return self.state_dir / "terraform" / self.id

    def _register_secrets(self, ctx: TaskContext) -> None:
        for name in self.secret_variables:
            for s in _strings(self.variables[name]):
                ctx.secret(s)

    def effective_variables(self) -> tuple[dict[str, Any], list[str]]:
        """The var-file's variables, and the plan's that the module does not declare (left out:
        terraform warns about every undeclared variable a var-file sets)."""
        declared = declared_variables(self.workdir) if self.planned_variables else frozenset()
        taken = {k: v for k, v in self.planned_variables.items() if k in declared}
        return {**taken, **self.variables}, sorted(set(self.planned_variables) - declared)

    def plan_lines(self) -> list[str]:
        """What the sizing plan puts into the var-file, in words."""
        if not self.planned_variables:
            return []
        variables, unused = self.effective_variables()
        given = [f"{k}={variables[k]}" for k in sorted(self.planned_variables) if k in variables]
        lines = [f"var-file from the sizing plan: {', '.join(given)}"] if given else []
        if unused:
            lines.append(f"the module declares no variable {', '.join(unused)} of the sizing plan: left out")
        return lines

    def _write_vars(self, ctx: TaskContext, directory: Path) -> Path:
        self._register_secrets(ctx)
        try:
            return write_var_file(directory / VAR_FILE, self.effective_variables()[0])
        except (TypeError, ValueError) as exc:
            raise PermanentError(f"task {self.id}: the terraform variables cannot be written: {exc}") from None

    # -- terraform, with its failures as the engine's -------------------------
    async def _plan_now(self, ctx: TaskContext, plan_file: Path | None, var_file: Path, *, lock: bool = True) -> Plan:
        report = _Reporter(ctx)
        try:
            await self.terraform.init(on_event=report)
            return await self.terraform.plan(plan_file, [var_file], on_event=report, lock=lock)
        except TerraformError as exc:
            raise _as_task_error(exc) from exc

    async def _outputs(self) -> dict[str, Output]:
        try:
            return await self.terraform.outputs()
        except TerraformError as exc:
            raise _as_task_error(exc) from exc

    def _publish(self, ctx: TaskContext, outputs: Mapping[str, Output]) -> None:
        # Secrets first: from here on every line that could carry one is masked.
        for out in outputs.values():
            if out.sensitive:
                for s in _strings(out.value):
                    ctx.secret(s)
        for out in outputs.values():
            ctx.publish(out.name, out.value)
        sensitive = sorted(o.name for o in outputs.values() if o.sensitive)
        plain = sorted(o.name for o in outputs.values() if not o.sensitive)
        ctx.log(f"terraform outputs published: {', '.join(plain) or '(none)'}"
                + (f"; sensitive (masked in logs): {', '.join(sensitive)}" if sensitive else ""))

    def _refuse_destruction(self, plan: Plan) -> None:
        doomed = [c for c in plan.planned if c.action in _DESTRUCTIVE and c.reason != "tainted"]
        if doomed and not self.destroy_ok:
            names = ", ".join(f"{c.address} ({_VERB[c.action]})" for c in doomed[:10])
            more = f" and {len(doomed) - 10} more" if len(doomed) > 10 else ""
            raise PermanentError(f"the terraform plan for {self.workdir} would destroy or replace {names}{more}",
                                 remedy=f"review it with `terraform -chdir={self.workdir} plan`; if that is "
                                        "intended, allow destruction for this task and run the install again")

    # -- the task ----------------------------------------------------------
    async def check(self, ctx: TaskContext) -> bool:
        self._plan = None
        private = self._private(ctx)
        var_file = await ctx.run_sync(self._write_vars, ctx, private)
        for line in self.plan_lines():
            ctx.log(line)
        plan = await self._plan_now(ctx, private / PLAN_FILE, var_file)
        if plan.changes:
            summary = plan.summary.message if plan.summary else f"{len(plan.planned)} resource changes"
            ctx.log(f"terraform plan: {summary}")
            self._plan = plan
            return False
        outputs = await self._outputs()
        missing = [n for n in self.required_outputs if n not in outputs]
        if missing:
            ctx.log(f"terraform plans no change but outputs are missing: {', '.join(missing)}", level="warning")
            return False
        self._publish(ctx, outputs)
        return True

    async def ensure(self, ctx: TaskContext) -> None:
        plan, self._plan = self._plan, None
        if plan is None:    # ensure without a check in this attempt: plan now
            private = self._private(ctx)
            var_file = await ctx.run_sync(self._write_vars, ctx, private)
            plan = await self._plan_now(ctx, private / PLAN_FILE, var_file)
        if plan.changes:
            self._refuse_destruction(plan)
            for change in plan.planned:
                if change.action in _DESTRUCTIVE:
                    ctx.log(change_line(change).replace("would ", "will ", 1), level="warning")
            assert plan.file is not None
            try:
                applied = await self.terraform.apply(plan.file, on_event=_Reporter(ctx, plan.planned))
            except TerraformError as exc:
                raise _as_task_error(exc) from exc
            if applied.summary:
                ctx.log(f"terraform: {applied.summary.message}")
        outputs = await self._outputs()
        missing = [n for n in self.required_outputs if n not in outputs]
        if missing:
            raise PermanentError(f"terraform in {self.workdir} applied but has no output {', '.join(missing)}",
                                 remedy=f"declare the output(s) {', '.join(missing)} in {self.workdir}")
        self._publish(ctx, outputs)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        # A preview changes nothing: the var-file goes to a private temporary directory, and the
        # plan takes no lock so a running install neither blocks it nor is blocked by it.
        with tempfile.TemporaryDirectory(prefix="digit-tui-tf-") as tmp:
            var_file = await ctx.run_sync(self._write_vars, ctx, Path(tmp))
            plan = await self._plan_now(ctx, None, var_file, lock=False)
        sized = self.plan_lines()
        if not plan.changes:
            return [*sized, f"terraform in {self.workdir}: no changes"]
        lines = [*sized, *(change_line(c) for c in sorted(plan.planned, key=lambda c: c.address))]
        if plan.summary:
            lines.append(f"terraform in {self.workdir}: {plan.summary.message}")
        doomed = [c for c in plan.planned if c.action in _DESTRUCTIVE and c.reason != "tainted"]
        if doomed and not self.destroy_ok:
            lines.append(f"would stop before applying: {len(doomed)} resource(s) destroyed or replaced "
                         "need destruction to be allowed")
        return lines
