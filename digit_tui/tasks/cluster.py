"""The cluster phase: one task, ``cluster``, whose outputs name the cluster every later task uses.

    [cluster-terraform] ──> cluster      publishes kubeconfig (absolute path), context, server, provider

Providers (``provider_for`` picks one from the answers):

* **existing**: the kubeconfig the answers name (``target.kubeconfig``, ``target.context``) is
  checked and published as given; nothing is written.
* **sandbox** (``provider: sandbox`` without a kubeconfig): this install's embedded sandbox, with
  its state in ``<state_dir>/sandbox``, is started if it is not running (``cluster_sandbox``) and
  its kubeconfig copied to ``<state_dir>/kubeconfig``.
* **terraform**: ``cluster-terraform`` (a ``TerraformTask``) converges the operator's working
  directory; its output ``kubeconfig`` (the kubeconfig's YAML text, a sensitive output) is
  written to ``<state_dir>/kubeconfig``.

Whatever the provider, the cluster must then answer through that kubeconfig and hold the facts
``cluster_facts.Requirements`` asks for (Kubernetes >= 1.22, every node Ready, the named or a
default StorageClass). ``check`` is converged when it does; ``ensure`` obtains the kubeconfig
and waits a bounded time for nodes to become Ready. Nothing here reads ``$KUBECONFIG`` or
``~/.kube/config``, and nothing is written outside the state directory. Tasks take typed inputs;
they never read ``ctx.settings``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_tui.answers.model import Storage, Target
from digit_tui.atomic import atomic_write
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import PermanentError, TaskError
from digit_tui.infra import reads
from digit_tui.infra.kube import Kube
from digit_tui.tasks import cluster_facts as cf
from digit_tui.tasks.cluster_sandbox import SandboxSpec, sandbox_dir, sandbox_up

if TYPE_CHECKING:
    from digit_tui.infra.terraform import Timeouts

TASK_ID = "cluster"                     # later tasks read ctx.output(TASK_ID)
TERRAFORM_TASK_ID = "cluster-terraform"
PHASE = "cluster"
KUBECONFIG_FILE = "kubeconfig"          # <state_dir>/kubeconfig for the providers that write one
PROVIDERS = ("existing", "sandbox", "terraform")
_SECRET_FIELDS = ("token", "password", "client-key-data", "client-certificate-data")
_MIN_SECRET = 8


@dataclass(frozen=True)
class ClusterChecks:
    """How patient the cluster task is: ``ready_wait`` seconds for nodes to become Ready in
    ``ensure`` (a node rebooting, workers joining a new cloud cluster) before failing with their
    names; ``read_timeout`` for each API request."""

    ready_wait: float = 120.0
    poll: float = 2.0
    read_timeout: float = 15.0


@dataclass(frozen=True)
class TerraformCluster:
    """The terraform provider's working directory and variables (from the sizing plan); the
    output ``kubeconfig_output`` must hold the kubeconfig's YAML text."""

    workdir: Path
    variables: Mapping[str, Any] = field(default_factory=dict)
    secret_variables: tuple[str, ...] = ()
    kubeconfig_output: str = "kubeconfig"
    # The sizing plan's variables, under ``variables`` (answers/sizingplan.py names them).
    planned_variables: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    binary: str = "terraform"
    timeouts: Timeouts | None = None        # infra/terraform.py's defaults
    lock_timeout: str = "60s"
    destroy_ok: bool = False


@dataclass(frozen=True)
class PublishedCluster:
    """What the cluster task publishes, as later tasks read it."""

    kubeconfig: str
    context: str
    server: str
    provider: str

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> PublishedCluster:
        """From ``ctx.output(TASK_ID)``; PermanentError when the cluster task published nothing."""
        if not outputs.get("kubeconfig") or not outputs.get("context"):
            raise PermanentError(f"the {TASK_ID} task published no kubeconfig",
                                 remedy="run `digit-tui install` again: the cluster phase runs first")
        return cls(str(outputs["kubeconfig"]), str(outputs["context"]), str(outputs.get("server", "")),
                   str(outputs.get("provider", "")))


def register_credentials(ctx: TaskContext, doc: Mapping[str, Any]) -> None:
    """Mask a kubeconfig's credentials in everything the engine writes, before anything could."""
    for user in doc.get("users") or ():
        fields = user.get("user") if isinstance(user, dict) else None
        if not isinstance(fields, dict):
            continue
        for key in _SECRET_FIELDS:
            value = fields.get(key)
            if isinstance(value, str) and len(value) >= _MIN_SECRET:
                ctx.secret(value)


class ClusterTask(Task):
    """The common shape; a provider says where its kubeconfig is (``current``) and how to get
    it (``obtain``)."""

    provider = ""
    probe_ready = False     # also ask GET /readyz (the sandbox: "running" is not "serving")

    def __init__(self, target: Target, storage: Storage, state_dir: Path, *, deps: Iterable[str] = (),
                 checks: ClusterChecks = ClusterChecks(), retry: RetryPolicy | None = None,
                 extra_timeout: float = 0.0, title: str | None = None) -> None:
        super().__init__(TASK_ID, title or f"cluster ({self.provider})", PHASE, tuple(deps),
                         retry=retry or RetryPolicy(attempts=4, base_delay=1.0, max_delay=20.0),
                         timeout=checks.ready_wait + 4 * checks.read_timeout + extra_timeout + 30.0)
        self.target = target
        self.storage = storage
        self.state_dir = Path(os.path.abspath(state_dir))
        self.checks = checks
        self.requirements = cf.Requirements(storage_class=storage.storage_class,
                                            default_class=storage.mode == "dynamic")

    @property
    def written(self) -> Path:
        return self.state_dir / KUBECONFIG_FILE

    # -- provider hooks ---------------------------------------------------------
    def current(self, ctx: TaskContext) -> tuple[Path, str] | None:
        """The kubeconfig and context to check now, or None when there is none yet (blocking)."""
        raise NotImplementedError

    async def obtain(self, ctx: TaskContext) -> tuple[Path, str]:
        raise NotImplementedError

    def tolerate(self, exc: TaskError) -> bool:
        """Whether ``check`` reports a failure to reach the cluster as "not converged" (ensure can
        fix it) instead of raising it."""
        return False

    def dry_run_obtain(self, answering: bool) -> list[str]:
        """What obtaining the kubeconfig would do (``answering``: the current one answers now)."""
        return []

    # -- shared -----------------------------------------------------------------
    def _connect(self, path: Path, context: str) -> Kube:
        kube = cf.connect(path, context, read_timeout=self.checks.read_timeout)
        endpoint = cf.api_endpoint(kube.server)
        if endpoint is not None:    # a dropped network then waits for exactly this API server
            self.endpoints = (endpoint,)
        return kube

    def _read(self, kube: Kube) -> cf.ClusterFacts:
        if self.probe_ready:
            try:
                kube.readyz()
            except Exception as exc:
                raise cf.api_error("the cluster API is not ready", exc, kube) from exc
        try:
            return cf.read_facts(kube)
        except Exception as exc:
            raise cf.api_error("read the cluster's version, nodes and StorageClasses", exc, kube) from exc

    async def facts(self, ctx: TaskContext, path: Path, context: str) -> cf.ClusterFacts:
        kube = await ctx.run_sync(self._connect, path, context)
        try:
            return await ctx.run_sync(self._read, kube)
        finally:
            kube.close()

    def _publish(self, ctx: TaskContext, path: Path, context: str, facts: cf.ClusterFacts) -> None:
        ctx.publish("kubeconfig", str(path))
        ctx.publish("context", context)
        ctx.publish("server", facts.server)
        ctx.publish("provider", self.provider)
        ctx.log(f"cluster: {facts.summary()}; kubeconfig {path} (context {context})")

    async def check(self, ctx: TaskContext) -> bool:
        try:
            found = await ctx.run_sync(self.current, ctx)
            if found is None:
                return False
            path, context = found
            facts = await self.facts(ctx, path, context)
        except TaskError as exc:
            if not self.tolerate(exc):
                raise
            ctx.log(f"cluster: {exc}")
            return False
        issues = cf.problems(facts, self.requirements)
        cf.raise_for([p for p in issues if not p.waitable])
        if issues:
            ctx.log(f"cluster: {'; '.join(p.message for p in issues)}", level="warning")
            return False
        self._publish(ctx, path, context, facts)
        return True

    async def ensure(self, ctx: TaskContext) -> None:
        path, context = await self.obtain(ctx)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.checks.ready_wait
        said = ""
        while True:
            facts = await self.facts(ctx, path, context)
            issues = cf.problems(facts, self.requirements)
            cf.raise_for([p for p in issues if not p.waitable])
            if not issues:
                break
            if loop.time() >= deadline:
                waited = f" (waited {self.checks.ready_wait:g} s)" if self.checks.ready_wait else ""
                raise PermanentError("; ".join(p.message for p in issues) + waited,
                                     remedy="; ".join(dict.fromkeys(p.remedy for p in issues)))
            now = "; ".join(p.message for p in issues)
            if now != said:
                ctx.log(f"cluster: waiting up to {self.checks.ready_wait:g} s: {now}", level="warning")
                said = now
            await asyncio.sleep(self.checks.poll)
        self._publish(ctx, path, context, facts)

    def _wants(self) -> str:
        req = self.requirements
        sc = (f"the StorageClass {req.storage_class}" if req.storage_class else
              "a default StorageClass" if req.default_class else "no StorageClass (static volumes)")
        return f"Kubernetes >= {req.min_version[0]}.{req.min_version[1]}, every node Ready, {sc}"

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        try:
            found = await ctx.run_sync(self.current, ctx)
            facts = await self.facts(ctx, *found) if found is not None else None
        except TaskError as exc:
            return [*self.dry_run_obtain(False), f"would check {self._wants()} (now: {exc})"]
        if facts is None:
            return [*self.dry_run_obtain(False), f"would then check {self._wants()}"]
        issues = cf.problems(facts, self.requirements)
        lines = [*self.dry_run_obtain(True), f"cluster now: {facts.summary()}",
                 f"would check {len(facts.nodes)} nodes Ready, and {self._wants()}"]
        lines += [f"would wait (up to {self.checks.ready_wait:g} s): {p.message}" if p.waitable
                  else f"would stop: {p.message}" for p in issues]
        return lines


# -- existing ----------------------------------------------------------------------------

class ExistingClusterTask(ClusterTask):
    """A cluster somebody else built: its kubeconfig is checked and published as the answers give it."""

    provider = "existing"
    witnessed = True    # the kubeconfig, and the API through Kube

    def __init__(self, target: Target, storage: Storage, state_dir: Path, **kw: Any) -> None:
        if target.kubeconfig is None:
            raise ValueError("the existing provider needs target.kubeconfig")
        super().__init__(target, storage, state_dir, **kw)
        self.kubeconfig = Path(os.path.abspath(target.kubeconfig))

    def current(self, ctx: TaskContext) -> tuple[Path, str] | None:
        reads.file(self.kubeconfig)
        return self.kubeconfig, cf.read_kubeconfig(self.kubeconfig, self.target.context)

    async def obtain(self, ctx: TaskContext) -> tuple[Path, str]:
        found = await ctx.run_sync(self.current, ctx)
        assert found is not None
        return found

    def dry_run_obtain(self, answering: bool) -> list[str]:
        context = f" (context {self.target.context})" if self.target.context else ""
        return [f"would use the kubeconfig {self.kubeconfig}{context} as it is"]


# -- copies into the state directory (sandbox, terraform) --------------------------------

class _WrittenClusterTask(ClusterTask):
    """A provider whose kubeconfig digit-tui writes to ``<state_dir>/kubeconfig`` (0600)."""

    def _written_context(self, ctx: TaskContext) -> tuple[Path, str] | None:
        """``<state_dir>/kubeconfig`` and its context, its credentials masked; None if absent."""
        reads.file(self.written)
        try:
            text = self.written.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return None
        where = f"the kubeconfig {self.written}"
        doc = cf.kubeconfig_doc(text, where)
        register_credentials(ctx, doc)
        return self.written, cf.context_of(doc, where)

    def _write(self, ctx: TaskContext, text: str, where: str) -> tuple[Path, str]:
        doc = cf.kubeconfig_doc(text, where)
        register_credentials(ctx, doc)
        context = cf.context_of(doc, where)
        try:
            same = self.written.read_text(encoding="utf-8") == text
        except (FileNotFoundError, UnicodeDecodeError):
            same = False
        if not same:
            atomic_write(self.written, text, 0o600)
            ctx.log(f"cluster: wrote the kubeconfig {self.written} (0600) from {where}")
        else:
            os.chmod(self.written, 0o600)
        return self.written, context


class SandboxClusterTask(_WrittenClusterTask):
    """This install's embedded sandbox, started when it is not running, reused when it is."""

    provider = "sandbox"
    probe_ready = True
    witnessed = True    # the kubeconfig it wrote, and the API through Kube

    def __init__(self, target: Target, storage: Storage, state_dir: Path, *, sandbox: SandboxSpec = SandboxSpec(),
                 checks: ClusterChecks = ClusterChecks(ready_wait=60.0), **kw: Any) -> None:
        super().__init__(target, storage, state_dir, checks=checks, extra_timeout=sandbox.start_timeout, **kw)
        self.sandbox = sandbox

    def current(self, ctx: TaskContext) -> tuple[Path, str] | None:
        return self._written_context(ctx)

    def tolerate(self, exc: TaskError) -> bool:
        return True     # not answering (stopped, restarted on another port): ensure starts or re-reads it

    async def obtain(self, ctx: TaskContext) -> tuple[Path, str]:
        where = sandbox_dir(self.state_dir)
        ctx.log(f"cluster: starting the sandbox in {where} unless it is running")
        source = await sandbox_up(self.state_dir, self.sandbox)
        text = await ctx.run_sync(source.read_text, "utf-8")
        path, context = await ctx.run_sync(self._write, ctx, text, f"the sandbox's kubeconfig {source}")
        await self._wait_ready(ctx, path, context)
        return path, context

    async def _wait_ready(self, ctx: TaskContext, path: Path, context: str) -> None:
        """A sandbox `up` just reused may still be starting (or busy): wait for /readyz a while."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.sandbox.start_timeout
        kube = await ctx.run_sync(self._connect, path, context)
        try:
            while True:
                try:
                    await ctx.run_sync(kube.readyz)
                    return
                except Exception as exc:
                    if loop.time() >= deadline:
                        raise cf.api_error("the sandbox does not answer /readyz", exc, kube) from exc
                await asyncio.sleep(0.2)
        finally:
            kube.close()

    def dry_run_obtain(self, answering: bool) -> list[str]:
        if answering:
            return [f"the sandbox in {sandbox_dir(self.state_dir)} is running: would reuse it ({self.written})"]
        s = self.sandbox
        return [f"would start the sandbox ({s.nodes} nodes of {s.node_cpu} CPU / {s.node_memory}, speed {s.speed:g}) "
                f"in {sandbox_dir(self.state_dir)} unless it is running and ready, and copy its kubeconfig to "
                f"{self.written} (0600)"]


class KubeadmClusterTask(_WrittenClusterTask):
    """The cluster the kubeadm phase built on the VMs: the admin kubeconfig its last task fetched
    into ``<state_dir>/kubeconfig``, checked like any cluster (nodes Ready once the CNI runs)."""

    provider = "kubeadm"

    def __init__(self, target: Target, storage: Storage, state_dir: Path, *,
                 checks: ClusterChecks = ClusterChecks(ready_wait=600.0), **kw: Any) -> None:
        super().__init__(target, storage, state_dir, checks=checks, **kw)

    def current(self, ctx: TaskContext) -> tuple[Path, str] | None:
        return self._written_context(ctx)

    async def obtain(self, ctx: TaskContext) -> tuple[Path, str]:
        found = await ctx.run_sync(self._written_context, ctx)
        if found is None:
            raise PermanentError(f"the kubeadm phase left no kubeconfig at {self.written}",
                                 remedy="run `digit-tui install` again: the kubeadm-kubeconfig task fetches it")
        return found

    def dry_run_obtain(self, answering: bool) -> list[str]:
        return [f"would check the cluster kubeadm built through {self.written}"]


class TerraformClusterTask(_WrittenClusterTask):
    """The kubeconfig a terraform working directory outputs (``cluster-terraform``'s output)."""

    provider = "terraform"

    def __init__(self, target: Target, storage: Storage, state_dir: Path, *, output: str = "kubeconfig",
                 terraform_task: str = TERRAFORM_TASK_ID,
                 checks: ClusterChecks = ClusterChecks(ready_wait=600.0), **kw: Any) -> None:
        deps = (terraform_task, *kw.pop("deps", ()))
        super().__init__(target, storage, state_dir, deps=deps, checks=checks, **kw)
        self.output = output
        self.terraform_task = terraform_task

    def _text(self, ctx: TaskContext) -> str:
        value = ctx.output(self.terraform_task).get(self.output)
        where = f"terraform output {self.output} (task {self.terraform_task})"
        if not isinstance(value, str) or not value.strip():
            raise PermanentError(f"{where} is {'missing' if value is None else 'not a string'}: it must hold the "
                                 "kubeconfig's YAML text", remedy=f'declare output "{self.output}" (sensitive = true) '
                                 "with the cluster's kubeconfig text in the terraform working directory")
        return value

    def current(self, ctx: TaskContext) -> tuple[Path, str] | None:
        text = self._text(ctx)
        register_credentials(ctx, cf.kubeconfig_doc(text, f"terraform output {self.output}"))
        try:
            if self.written.read_text(encoding="utf-8") != text:
                return None     # terraform's cluster changed (or was re-created): ensure rewrites it
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return self._written_context(ctx)

    async def obtain(self, ctx: TaskContext) -> tuple[Path, str]:
        text = self._text(ctx)
        return await ctx.run_sync(self._write, ctx, text, f"terraform output {self.output}")

    def dry_run_obtain(self, answering: bool) -> list[str]:
        if answering:
            return [f"terraform's output {self.output} is {self.written} already"]
        return [f"would write terraform's output {self.output} (task {self.terraform_task}) to {self.written} (0600)"]

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        if self.output not in ctx.output(self.terraform_task):   # a plan: terraform has not run
            return [*self.dry_run_obtain(False), f"would then check {self._wants()}"]
        return await super().dry_run(ctx)


# -- the phase ---------------------------------------------------------------------------

def provider_for(target: Target, terraform: TerraformCluster | None = None) -> str:
    """existing when the answers name a kubeconfig (whichever target.provider), terraform when a
    working directory is given, sandbox for ``provider: sandbox`` alone. ValueError otherwise
    (a cluster built over SSH is the kubeadm phase's)."""
    if terraform is not None:
        return "terraform"
    if target.kubeconfig is not None:
        return "existing"
    if target.provider == "sandbox":
        return "sandbox"
    raise ValueError(f"no cluster provider here for provider {target.provider} without a kubeconfig "
                     "(kubeadm builds that one)")


def cluster_tasks(target: Target, storage: Storage, state_dir: Path, *, after: Iterable[str] = (),
                  terraform: TerraformCluster | None = None, sandbox: SandboxSpec = SandboxSpec(),
                  checks: ClusterChecks | None = None, retry: RetryPolicy | None = None) -> list[Task]:
    """The cluster phase's tasks, after ``after``; later tasks depend on ``TASK_ID`` and read
    ``PublishedCluster.from_outputs(ctx.output(TASK_ID))``."""
    state_dir = Path(state_dir)
    after = tuple(after)
    kw: dict[str, Any] = {"retry": retry}
    if checks is not None:
        kw["checks"] = checks
    provider = provider_for(target, terraform)
    if provider == "existing":
        return [ExistingClusterTask(target, storage, state_dir, deps=after, **kw)]
    if provider == "sandbox":
        return [SandboxClusterTask(target, storage, state_dir, deps=after, sandbox=sandbox, **kw)]
    assert terraform is not None
    # Only a terraform cluster's graph imports terraform's modules (a rerun on another provider skips them).
    from digit_tui.infra.terraform import Timeouts
    from digit_tui.tasks.terraform import TerraformTask

    infra = TerraformTask(TERRAFORM_TASK_ID, terraform.workdir, terraform.variables, title="terraform: the cluster",
                          phase=PHASE, deps=after, secret_variables=terraform.secret_variables,
                          required_outputs=[terraform.kubeconfig_output],
                          private_dir=state_dir / "terraform" / TERRAFORM_TASK_ID, destroy_ok=terraform.destroy_ok,
                          binary=terraform.binary, env=terraform.env, timeouts=terraform.timeouts or Timeouts(),
                          lock_timeout=terraform.lock_timeout, planned_variables=terraform.planned_variables)
    return [infra, TerraformClusterTask(target, storage, state_dir, output=terraform.kubeconfig_output, **kw)]
