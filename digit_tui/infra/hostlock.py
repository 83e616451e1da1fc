"""A lock file on a host while an install works on it (``/var/lib/digit-tui/<name>.lock``).

Two installs (two jump hosts, two state directories) must never run ``kubeadm``
on one VM at once. The lock names its holder: the install (a random id kept in
the state directory), the environment, the jump host and state directory, the
run and task, and when it was taken. It is created with ``set -C`` (O_EXCL), so
of two installs racing for a free host only one wins.

A lock of the *same* install is stale by construction (one engine per state
directory, and one task per host at a time): the engine that held it was
killed or lost the connection. It is taken over and the caller goes on. Another
install's lock is a permanent error that names it; the operator decides.
Releasing removes the lock only if it is still this acquisition's (its nonce).
"""

from __future__ import annotations

import secrets
import shlex
import time
from dataclasses import dataclass, field

from digit_tui.errors import PermanentError
from digit_tui.infra.hoststeps import BASE_DIR
from digit_tui.infra.ssh import SshConnection

_CURRENT = "@@dt-lock-current"


@dataclass(frozen=True)
class LockOwner:
    install: str            # the install's id (a uuid kept in its state directory)
    environment: str
    origin: str             # jump host and state directory: "jump-1:/root/.local/state/digit-tui/sdc"
    run: str
    task: str
    since: str = ""
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    def text(self) -> str:
        since = self.since or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return (f"install={self.install}\nenvironment={self.environment}\nfrom={self.origin}\nrun={self.run}\n"
                f"task={self.task}\nsince={since}\nnonce={self.nonce}\n")

    @classmethod
    def parse(cls, text: str) -> LockOwner | None:
        fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
        if not fields.get("install"):
            return None
        return cls(fields.get("install", ""), fields.get("environment", ""), fields.get("from", ""),
                   fields.get("run", ""), fields.get("task", ""), fields.get("since", ""), fields.get("nonce", ""))

    def describe(self) -> str:
        return (f"install {self.install} (environment {self.environment or '?'} from {self.origin or '?'}, "
                f"run {self.run or '?'}, task {self.task or '?'}, since {self.since or '?'})")


def lock_path(name: str) -> str:
    return f"{BASE_DIR}/{name}.lock"


@dataclass(frozen=True)
class Acquired:
    path: str
    owner: LockOwner
    took_over: LockOwner | None = None     # the stale holder of the same install, if any


def acquire(conn: SshConnection, name: str, owner: LockOwner, timeout: float = 30.0) -> Acquired:
    """Take the host's lock ``name`` for ``owner``; PermanentError naming the holder if another install has it."""
    path = lock_path(name)
    q = shlex.quote(path)
    mine = shlex.quote(f"install={owner.install}")
    script = (f'L={q}; mkdir -p "${{L%/*}}"; new=$(cat); '
              'if ( set -C; printf "%s\\n" "$new" > "$L" ) 2>/dev/null; then echo acquired; exit 0; fi; '
              'cur=$(cat "$L" 2>/dev/null) || cur=; '
              'if [ -z "$cur" ]; then echo retry; '
              f'elif printf "%s\\n" "$cur" | grep -qx {mine}; then '
              'printf "%s\\n" "$new" > "$L.new" && mv -f "$L.new" "$L" && echo took-over; '
              'else echo held; fi; '
              f'echo {_CURRENT}; printf "%s\\n" "$cur"')
    for _ in range(3):
        r = conn.run(script, timeout, sudo=True, input=owner.text().encode())
        verdict, _, current = r.stdout.partition(_CURRENT + "\n")
        word = verdict.strip().splitlines()[-1] if verdict.strip() else ""
        holder = LockOwner.parse(current)
        if word == "acquired":
            return Acquired(path, owner)
        if word == "took-over":
            return Acquired(path, owner, holder)
        if word == "held" and holder is not None:
            raise PermanentError(
                f"{conn.target.label}: {path} is held by another install: {holder.describe()}",
                f"let that install finish; if it is gone for good, remove {path} on {conn.target.name or conn.target.host} "
                "and run the install again")
        if word == "held":
            raise PermanentError(f"{conn.target.label}: {path} exists and is not a digit-tui lock "
                                 f"({current.strip()[:120]!r})", f"check what wrote {path}, then remove it")
        if not r.ok and word not in ("retry", ""):
            break
    raise PermanentError(f"{conn.target.label}: could not take the lock {path}: "
                         f"{(r.stderr.strip() or r.stdout.strip())[:200]}",
                         "check that root can write /var/lib on the host")


def release(conn: SshConnection, acquired: Acquired, timeout: float = 30.0) -> None:
    """Remove the lock if it is still ours (best effort: a lost connection leaves a stale lock of
    this install, which the next run takes over)."""
    q = shlex.quote(acquired.path)
    nonce = shlex.quote(f"nonce={acquired.owner.nonce}")
    conn.run(f"grep -qx {nonce} {q} 2>/dev/null && rm -f {q}; true", timeout, sudo=True)
