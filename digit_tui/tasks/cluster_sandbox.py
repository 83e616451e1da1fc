"""The sandbox provider's one job: have this install's embedded sandbox running, and say where its
kubeconfig is.

It is the only code outside ``digit_tui/sandbox`` (and the demo command) that knows a sandbox
exists, and it knows it only through the public command: ``digit-tui sandbox --state-dir DIR up``
starts the sandbox detached (its own session: it outlives the engine, as a real cluster would)
or, when one is already running for DIR, starts nothing; either way it prints the kubeconfig's
path. Nothing of ``digit_tui.sandbox`` is imported: the engine reaches the sandbox over HTTPS
with that kubeconfig, like any cluster.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from digit_tui.errors import PermanentError, TransientError

SANDBOX_DIR = "sandbox"         # <state_dir>/sandbox: the demo's sandbox too, so `make run` shares it
COMMAND_SLACK = 15.0            # the `sandbox up` command itself, on top of the sandbox's start timeout


@dataclass(frozen=True)
class SandboxSpec:
    """How to start this install's sandbox when it is not running (a running one is reused as it is)."""

    nodes: int = 3
    node_cpu: str = "8"
    node_memory: str = "16Gi"
    speed: float = 4.0          # as `digit-tui demo`: simulated delays divided by 4
    start_timeout: float = 60.0


def sandbox_dir(state_dir: Path) -> Path:
    return Path(state_dir) / SANDBOX_DIR


def up_command(state_dir: Path, spec: SandboxSpec) -> list[str]:
    return [sys.executable, "-m", "digit_tui.cli", "sandbox", "--state-dir", str(sandbox_dir(state_dir)), "up",
            "--nodes", str(spec.nodes), "--node-cpu", spec.node_cpu, "--node-memory", spec.node_memory,
            "--speed", f"{spec.speed:g}", "--timeout", f"{spec.start_timeout:g}"]


async def sandbox_up(state_dir: Path, spec: SandboxSpec) -> Path:
    """Start the sandbox of ``state_dir`` unless it runs; its kubeconfig's path.

    A sandbox that exits while starting is permanent (its log says why); one that is slow to
    become ready, transient."""
    where = sandbox_dir(state_dir)
    proc = await asyncio.create_subprocess_exec(*up_command(state_dir, spec), stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), spec.start_timeout + COMMAND_SLACK)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        if proc.returncode is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
        raise
    message = err.decode(errors="replace").strip().splitlines()
    said = message[-1] if message else f"exit code {proc.returncode}"
    if proc.returncode != 0:
        status = f"`digit-tui sandbox --state-dir {where} status` shows its state"
        if "not ready after" in said:   # slow, not broken: a loaded machine
            raise TransientError(f"the sandbox did not become ready: {said}", remedy=status)
        raise PermanentError(f"the sandbox did not start: {said}", remedy=f"read the log it names; {status}")
    lines = out.decode(errors="replace").strip().splitlines()
    if not lines:
        raise PermanentError("`digit-tui sandbox up` printed no kubeconfig path",
                             remedy=f"run `digit-tui sandbox --state-dir {where} up` and read what it says")
    return Path(lines[-1].strip())
