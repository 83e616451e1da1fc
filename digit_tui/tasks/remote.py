"""How tasks reach the VMs of the answers over SSH: typed hosts in, connections out.

``Remote`` opens connections with the state directory's known_hosts (an unknown
or changed host key is refused: the prerequisites phase is where keys get
trusted), the answers' key, the agent, and the key passphrase from the
environment (registered as a secret). ``Session`` holds the connections of one
attempt: a cancelled attempt closes them from the engine's thread, so the
blocking SSH call in the worker thread returns at once instead of running on.
SshError crosses as it is: the engine reads its ``transient`` and ``remedy``.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from digit_tui.answers.model import Host
from digit_tui.engine.task import Endpoint, TaskContext
from digit_tui.infra import hostlock, ssh
from digit_tui.infra.hostlock import LockOwner
from digit_tui.infra.ssh import SshAuth, SshConnection, SshError, SshOptions, SshTarget
from digit_tui.preflight.model import PASSPHRASE_ENV

INSTALL_ID = "install-id"
T = TypeVar("T")


def ssh_endpoint(host: Host) -> Endpoint:
    return Endpoint(host.address, host.port, f"ssh {host.name}")


def label(host: Host) -> str:
    return SshTarget(host.address, host.port, host.user, host.name).label


def install_id(state_dir: Path, *, create: bool = True) -> str:
    """The install's own id (a uuid in the state directory): what a host lock names as its holder."""
    path = state_dir / INSTALL_ID
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        if not create:
            return "(not created yet)"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:     # another task of this engine made it first
        return path.read_text().strip()
    value = uuid.uuid4().hex
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    return value


class Session:
    """The connections of one attempt; closed together, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conns: list[SshConnection] = []
        self.closed = False

    def add(self, conn: SshConnection) -> SshConnection:
        with self._lock:
            if self.closed:
                conn.close()
                raise SshError(ssh.SshErrorKind.CONNECTION_LOST, f"{conn.target.label}: the attempt was cancelled")
            self._conns.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            self.closed = True
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()


@dataclass(frozen=True)
class Remote:
    known_hosts: Path
    options: SshOptions = SshOptions()
    dry_run_options: SshOptions = SshOptions(timeout=3.0)
    # Hosts a dry run could not reach: `plan` tries each host once, not once per task.
    _unreachable: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def connect(self, host: Host, session: Session, ctx: TaskContext | None = None,
                options: SshOptions | None = None) -> SshConnection:
        secret = os.environ.get(PASSPHRASE_ENV) or None
        if secret and ctx is not None:
            ctx.secret(secret)
        target = SshTarget(host.address, host.port, host.user, host.name)
        auth = SshAuth(key_path=host.ssh_key, passphrase=secret, use_agent=True)
        return session.add(ssh.connect(target, auth, self.known_hosts, options or self.options))

    def probe(self, host: Host, fn: Callable[[SshConnection], T]) -> tuple[T | None, str | None]:
        """For a dry run: ``fn`` on a short-timeout connection, or why the host could not be read."""
        if host.name in self._unreachable:
            return None, self._unreachable[host.name]
        session = Session()
        try:
            return fn(self.connect(host, session, options=self.dry_run_options)), None
        except Exception as exc:   # a dry run says what it could not read and goes on
            self._unreachable[host.name] = str(exc)
            return None, str(exc)
        finally:
            session.close()


async def blocking(ctx: TaskContext, fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in a worker thread; its connections are closed when it ends or is cancelled."""
    session = Session()
    try:
        result: T = await ctx.run_sync(fn, session)
        return result
    finally:
        session.close()


def lock_owner(ctx: TaskContext, state_dir: Path, environment: str) -> LockOwner:
    return LockOwner(install=install_id(state_dir), environment=environment,
                     origin=f"{socket.gethostname()}:{state_dir}", run=ctx.run_id, task=ctx.task_id)


@contextmanager
def locked(ctx: TaskContext, conn: SshConnection, name: str, owner: LockOwner) -> Iterator[Any]:
    """The host's lock ``name`` held for the block; a stale lock of this install is taken over."""
    acquired = hostlock.acquire(conn, name, owner)
    if acquired.took_over is not None:
        ctx.log(f"{conn.target.label}: took over {acquired.path}, left behind by an earlier attempt of this install "
                f"({acquired.took_over.describe()})", level="warning")
    try:
        yield acquired
    finally:
        try:
            hostlock.release(conn, acquired)
        except SshError:
            pass    # left behind: this install's, taken over by the next attempt
