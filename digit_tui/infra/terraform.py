"""An asyncio runner over the terraform CLI: init, plan, apply and output in one working directory.

Every call is ``terraform -chdir=DIR <command> -input=false -no-color`` run with
``asyncio.create_subprocess_exec`` (the event loop is never blocked), under a
deadline, with ``TF_IN_AUTOMATION=1`` and ``TF_INPUT=0``. ``plan`` and ``apply``
run with ``-json``: each line of their output becomes a typed event
(``digit_tui.infra.tfevents``) handed to the caller's callback the moment it
arrives, so a task can report progress per resource while a long apply runs.

Failures are ``TerraformError`` with a ``Cause``: terraform's own diagnostics
(summary, detail and the ``file:line`` it names) decide whether the same call
may succeed later (a state lock held by another run, a registry or API that
cannot be reached) or the configuration must change.

Secrets never go on the command line (``ps`` shows it to every user): variables
go in a JSON var-file written atomically with mode 0600, and terraform runs
with umask 077 so the plan files and local state it writes are private too.
Nothing here deletes, moves or rewrites terraform's state: it is terraform's.

On a deadline or a cancellation terraform gets SIGINT first (it stops starting
new operations, waits for the running ones and writes its state), and SIGKILL
only after a grace period. Terraform runs in its own session: if this process
dies, terraform finishes its apply and releases its lock by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digit_tui.errors import AdapterError
from digit_tui.infra.tfevents import (ApplyComplete, ApplyErrored, Cause, ChangeSummary, Diagnostic,
                                      DiagnosticEvent, Event, PlannedChange, classify, diagnostics_from_text,
                                      lock_holder, parse_event)

OnEvent = Callable[[Event], None]

# A terraform line can carry a whole kubeconfig (the outputs event); the default 64 KiB is too small.
_LINE_LIMIT = 32 * 1024 * 1024
_STDERR_TAIL = 64 * 1024
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_INIT_JSON_SINCE = (1, 9)   # `init -json` appeared in terraform 1.9


class TerraformError(AdapterError):
    """A terraform call that did not succeed; its cause says whether to try again."""

    def __init__(self, message: str, cause: Cause, *, remedy: str | None = None,
                 diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message, remedy, cause.transient)
        self.cause = cause
        self.diagnostics = tuple(diagnostics)


@dataclass(frozen=True)
class Timeouts:
    """Seconds per command. A cloud cluster takes 15-25 minutes to create; a plan refreshes every
    resource against the cloud API."""

    version: float = 30.0
    init: float = 600.0
    plan: float = 1800.0
    apply: float = 5400.0
    output: float = 120.0
    interrupt_grace: float = 30.0   # after SIGINT, before SIGKILL


@dataclass(frozen=True)
class Plan:
    changes: bool                           # -detailed-exitcode said 2
    planned: tuple[PlannedChange, ...]      # resource changes, in terraform's order
    summary: ChangeSummary | None
    file: Path | None                       # the saved plan, when one was asked for


@dataclass(frozen=True)
class Applied:
    summary: ChangeSummary | None
    completed: tuple[str, ...]              # addresses terraform finished changing
    diagnostics: tuple[Diagnostic, ...]     # warnings


@dataclass(frozen=True)
class Output:
    name: str
    value: Any
    sensitive: bool
    type: Any = None


@dataclass
class _Result:
    returncode: int
    events: list[Event]
    stdout: str             # only when the command's output is one JSON document, not a stream
    stderr: str


def write_var_file(path: Path, variables: Mapping[str, Any]) -> Path:
    """Write ``variables`` as a terraform JSON var-file, atomically and readable by the owner only.

    The directory is created 0700. Readers see the old file or the new one, never a part."""
    for name in variables:
        if not _VAR_NAME.match(str(name)):
            raise ValueError(f"{name!r} is not a terraform variable name (expected: letters, digits, _ and -, "
                             "not starting with a digit)")
    data = json.dumps(dict(variables), indent=2, sort_keys=True) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


_VARIABLE_BLOCK = re.compile(r'^[ \t]*variable[ \t]+"([A-Za-z_][A-Za-z0-9_-]*)"', re.MULTILINE)


def declared_variables(workdir: Path) -> frozenset[str]:
    """The input variables the root module of ``workdir`` declares (``variable "x" {}`` in its
    ``*.tf``, ``{"variable": {"x": ...}}`` in its ``*.tf.json``), read from the files: terraform
    has no command that lists them. A file that cannot be read declares nothing."""
    names: set[str] = set()
    for path in sorted(Path(workdir).glob("*.tf")):
        try:
            names.update(_VARIABLE_BLOCK.findall(path.read_text(encoding="utf-8", errors="replace")))
        except OSError:
            continue
    for path in sorted(Path(workdir).glob("*.tf.json")):
        try:
            block = json.loads(path.read_text(encoding="utf-8")).get("variable")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(block, dict):
            names.update(str(k) for k in block)
        elif isinstance(block, list):
            names.update(str(k) for item in block if isinstance(item, dict) for k in item)
    return frozenset(names)


class Terraform:
    """The terraform CLI in one working directory."""

    def __init__(self, workdir: Path | str, *, binary: str = "terraform", env: Mapping[str, str] | None = None,
                 timeouts: Timeouts = Timeouts(), lock_timeout: str = "60s") -> None:
        self.workdir = Path(workdir)
        self.binary = binary
        self.extra_env = dict(env or {})
        self.timeouts = timeouts
        # terraform itself waits this long for a lock another run holds before it reports LOCKED
        self.lock_timeout = lock_timeout
        self._version: tuple[int, ...] | None = None

    # -- commands ----------------------------------------------------------
    async def version(self) -> tuple[int, ...]:
        if self._version is None:
            res = await self._run(["version", "-json"], timeout=self.timeouts.version, stream=False)
            try:
                text = json.loads(res.stdout)["terraform_version"]
                self._version = tuple(int(p) for p in re.findall(r"\d+", text)[:3])
            except (ValueError, KeyError, TypeError):
                raise TerraformError(f"`{self.binary} version -json` did not say which terraform it is",
                                     Cause.FAILED, remedy="use terraform 1.x") from None
        return self._version

    async def init(self, on_event: OnEvent | None = None) -> None:
        """``init``: backend, modules and providers. Idempotent; terraform skips what it has."""
        as_json = await self.version() >= _INIT_JSON_SINCE
        args = ["init", "-input=false", "-no-color", f"-lock-timeout={self.lock_timeout}"]
        await self._run(args + (["-json"] if as_json else []), timeout=self.timeouts.init, on_event=on_event,
                        stream=as_json)

    async def plan(self, plan_file: Path | None, var_files: Sequence[Path] = (), on_event: OnEvent | None = None,
                   *, lock: bool = True) -> Plan:
        """``plan -detailed-exitcode``; ``plan_file`` None plans without saving (a preview)."""
        args = ["plan", "-input=false", "-no-color", "-json", "-detailed-exitcode",
                f"-lock-timeout={self.lock_timeout}" if lock else "-lock=false"]
        if plan_file is not None:
            args.append(f"-out={Path(plan_file).resolve()}")
        args += [f"-var-file={Path(f).resolve()}" for f in var_files]
        res = await self._run(args, timeout=self.timeouts.plan, on_event=on_event, ok=(0, 2))
        summary = next((e for e in reversed(res.events) if isinstance(e, ChangeSummary)), None)
        return Plan(changes=res.returncode == 2, planned=tuple(e for e in res.events if isinstance(e, PlannedChange)),
                    summary=summary, file=Path(plan_file).resolve() if plan_file is not None else None)

    async def apply(self, plan_file: Path, on_event: OnEvent | None = None) -> Applied:
        """``apply`` of a saved plan: no approval prompt, and exactly what the plan said."""
        args = ["apply", "-input=false", "-no-color", "-json", f"-lock-timeout={self.lock_timeout}",
                str(Path(plan_file).resolve())]
        res = await self._run(args, timeout=self.timeouts.apply, on_event=on_event)
        summary = next((e for e in reversed(res.events) if isinstance(e, ChangeSummary)), None)
        return Applied(summary, tuple(e.address for e in res.events if isinstance(e, ApplyComplete)),
                       tuple(e.diagnostic for e in res.events if isinstance(e, DiagnosticEvent)))

    async def outputs(self) -> dict[str, Output]:
        """``output -json``: every root output in the state, sensitive ones with their values."""
        res = await self._run(["output", "-no-color", "-json"], timeout=self.timeouts.output, stream=False)
        try:
            data = json.loads(res.stdout or "{}")
        except ValueError:
            raise TerraformError("`terraform output -json` printed something that is not JSON", Cause.FAILED) from None
        return {name: Output(name, o.get("value"), bool(o.get("sensitive")), o.get("type"))
                for name, o in (data or {}).items() if isinstance(o, dict)}

    # -- plumbing ----------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env.update(TF_IN_AUTOMATION="1", TF_INPUT="0", NO_COLOR="1")
        # No upgrade check against checkpoint-api.hashicorp.com from an install (nor its timeout offline).
        env.setdefault("CHECKPOINT_DISABLE", "1")
        return env

    def _resolve(self) -> str:
        found = shutil.which(self.binary)
        if found is None:
            raise TerraformError(f"terraform not found ({self.binary!r} is not an executable on PATH)", Cause.MISSING,
                                 remedy="install terraform 1.x (the machine image has /usr/local/bin/terraform) "
                                        "or name its path in the answers")
        return found

    async def _run(self, args: list[str], *, timeout: float, on_event: OnEvent | None = None,
                   ok: tuple[int, ...] = (0,), stream: bool = True) -> _Result:
        if not self.workdir.is_dir():
            raise TerraformError(f"the terraform working directory {self.workdir} does not exist", Cause.CONFIG,
                                 remedy="check the terraform directory named in the answers")
        argv = [self._resolve(), f"-chdir={self.workdir}", *args]
        command = args[0]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=self._env(), start_new_session=True, umask=0o077,
                limit=_LINE_LIMIT)
        except OSError as exc:
            raise TerraformError(f"cannot run {argv[0]}: {exc.strerror}", Cause.MISSING,
                                 remedy="check that the terraform binary is executable") from None
        events: list[Event] = []
        chunks: list[bytes] = []
        stderr = asyncio.create_task(_tail(proc.stderr))

        async def read() -> int:
            assert proc.stdout is not None
            async for raw in proc.stdout:
                if not stream:
                    chunks.append(raw)
                    continue
                event = parse_event(raw)
                if event is None:
                    continue
                events.append(event)
                if on_event is not None:
                    on_event(event)
            return await proc.wait()

        try:
            returncode = await asyncio.wait_for(read(), timeout)
        except asyncio.TimeoutError:
            await self._stop_fully(proc)
            stderr.cancel()
            raise TerraformError(f"terraform {command} did not finish within {timeout:g}s; it was interrupted "
                                 "(the state file is kept)", Cause.TIMEOUT) from None
        except BaseException:
            # Cancelled, or the caller's callback failed: never leave terraform running unattended.
            await self._stop_fully(proc)
            stderr.cancel()
            raise
        err = await stderr
        res = _Result(returncode, events, b"".join(chunks).decode("utf-8", "replace"), err)
        if returncode not in ok:
            raise self._failure(command, res)
        return res

    async def _stop_fully(self, proc: asyncio.subprocess.Process) -> None:
        """Stop terraform the way Ctrl-C does: one SIGINT to its process group (it stops starting
        operations, lets the running ones end and writes its state), SIGKILL after the grace period.
        Never a second SIGINT: terraform takes that as "exit now" and loses what it was recording.

        Runs to the end even if the caller is cancelled again meanwhile (the engine cancels a task,
        then cancels what is still running when it shuts down); bounded by the grace period."""
        # SIGINT before any await: whatever happens to this coroutine, terraform was told to stop.
        _signal(proc, signal.SIGINT)
        stopper = asyncio.ensure_future(self._reap(proc))
        while not stopper.done():
            try:
                await asyncio.shield(stopper)
            except asyncio.CancelledError:
                continue

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        for wait, then in ((self.timeouts.interrupt_grace, signal.SIGKILL), (10.0, None)):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), wait)
                return
            if then is not None:
                _signal(proc, then)

    def _failure(self, command: str, res: _Result) -> TerraformError:
        if res.returncode < 0:
            name = signal.Signals(-res.returncode).name if -res.returncode in signal.valid_signals() else res.returncode
            return TerraformError(f"terraform {command} was killed by {name}; the state file is kept and the next "
                                  "run plans from what terraform recorded", Cause.KILLED)
        diags = [e.diagnostic for e in res.events if isinstance(e, DiagnosticEvent)]
        if not any(d.severity == "error" for d in diags):
            # Without -json (init before 1.9, or a failure before the JSON UI started) errors are text.
            diags += diagnostics_from_text(res.stderr)
        errors = [d for d in diags if d.severity == "error"]
        if not errors:
            tail = " ".join(res.stderr.split())[-300:] or f"exit code {res.returncode}"
            return TerraformError(f"terraform {command} failed: {tail}", Cause.FAILED)
        causes = [classify(d) for d in errors]
        # Transient only when every error is: one real configuration error needs the operator anyway.
        cause = next((c for c in causes if not c.transient), causes[0])
        first = errors[causes.index(cause)]
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        return TerraformError(f"terraform {command} failed: {first.one_line()}{more}", cause,
                              remedy=self._remedy(cause, first), diagnostics=diags)

    def _remedy(self, cause: Cause, diag: Diagnostic) -> str | None:
        where = f" -chdir={self.workdir}"
        if cause is Cause.LOCKED:
            lock_id, who = lock_holder(diag)
            held = f" (held by {who})" if who else ""
            unlock = f"`terraform{where} force-unlock {lock_id}`" if lock_id else f"`terraform{where} force-unlock ID`"
            return (f"another terraform run holds the state lock{held}: let it finish; if no terraform is running "
                    f"any more, release the lock with {unlock}")
        if cause is Cause.UNREACHABLE:
            return ("check the network path (VPN, proxy, DNS) to the registry or cloud API; a machine without "
                    "internet access needs a provider mirror (provider_installation in the terraform CLI config)")
        if cause is Cause.BUSY:
            return "the cloud API is throttling or failing; it is retried"
        if cause is Cause.CONFIG:
            at = f"{self.workdir / diag.range.filename}:{diag.range.line}" if diag.range else str(self.workdir)
            return f"fix the terraform configuration or the variables ({at})"
        return None


def _signal(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """To terraform's whole process group, as a terminal's Ctrl-C would: its provisioners' commands
    and providers get it too."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)


async def _tail(stream: asyncio.StreamReader | None) -> str:
    """All of stderr read (so terraform never blocks on a full pipe), the last 64 KiB kept."""
    if stream is None:
        return ""
    buf = bytearray()
    while chunk := await stream.read(65536):
        buf += chunk
        del buf[:-_STDERR_TAIL]
    return buf.decode("utf-8", "replace")


__all__ = ["Applied", "ApplyErrored", "Cause", "OnEvent", "Output", "Plan", "Terraform", "TerraformError",
           "Timeouts", "write_var_file"]
