"""Long commands on a host that outlive the SSH connection that started them.

A command such as ``apt-get install`` or ``kubeadm join`` runs for minutes. Run in
the SSH session itself, a dropped VPN closes its stdout and the next line it
prints kills it (SIGPIPE) half way: a half-installed package, a half-joined node.
So a *step* is a script sent over stdin into a private directory on the host
(``/var/lib/digit-tui/<slot>/``, 0700) and started with ``setsid``, detached from
the session, its output going to ``step.log`` and its exit code to ``step.rc``.
The caller then polls (one short command a second) and streams new log lines.
When the connection drops, the step goes on; the caller reconnects later, sees
it still running (``step.pid`` alive) or finished (``step.rc``), and waits or
reads the result instead of starting it again.

The script never travels in a command line: nothing it carries (a join token in
a config file it writes, say) shows in ``ps`` on the host or the jump host.
Callers hold a host lock (``hostlock``) so that one step runs per slot.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from digit_tui.errors import PermanentError
from digit_tui.infra.ssh import SshConnection

BASE_DIR = "/var/lib/digit-tui"
_LOG_MARK = "@@dt-step-log"
# A step started this recently may not have written its pid yet.
_START_GRACE = 10


class StepStatus(str, Enum):
    NONE = "none"           # no step ever ran in this slot
    RUNNING = "running"
    DONE = "done"           # finished; ``rc`` says how
    LOST = "lost"           # neither running nor finished: killed, or the host rebooted


@dataclass(frozen=True)
class StepState:
    name: str               # what the step was ("prepare", "join", ...), "" for NONE
    status: StepStatus
    rc: int | None = None

    @property
    def running(self) -> bool:
        return self.status is StepStatus.RUNNING

    @property
    def failed(self) -> bool:
        return self.status is StepStatus.LOST or (self.status is StepStatus.DONE and self.rc != 0)


@dataclass(frozen=True)
class StepResult:
    name: str
    rc: int | None          # None: the step was lost
    tail: str               # its last lines of output

    @property
    def ok(self) -> bool:
        return self.rc == 0


class StepError(PermanentError):
    """The step machinery itself failed on the host (no sh, no setsid, a full disk): not the network."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "check that the host has sh, setsid (util-linux) and free space in /var/lib")


class StepTimeout(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "look at the step's log on the host; once it is over, run the install again")


def slot_dir(slot: str) -> str:
    return f"{BASE_DIR}/{slot}"


def state_script(slot: str) -> str:
    """POSIX sh printing ``<status> <name> [rc]`` for the slot (also used inside a facts script)."""
    d = shlex.quote(slot_dir(slot))
    done = 'echo "done $n $(cat "$D/step.rc")"'
    # step.rc is looked at again after the liveness test: the step may end between the two. The pid
    # file is read once: read twice, a step writing it in between (empty, then its pid) looked lost.
    return (f'D={d}; n=$(cat "$D/step.name" 2>/dev/null); p=; '
            'if [ -z "$n" ]; then echo none; '
            f'elif [ -f "$D/step.rc" ]; then {done}; '
            'elif p=$(cat "$D/step.pid" 2>/dev/null); [ -n "$p" ] && kill -0 "$p" 2>/dev/null '
            '&& tr "\\0" " " < "/proc/$p/cmdline" 2>/dev/null | grep -q step.sh; then echo "running $n"; '
            f'elif [ -f "$D/step.rc" ]; then {done}; '
            f'elif [ -z "$p" ] && [ $(( $(date +%s) - $(stat -c %Y "$D/step.name") )) -lt {_START_GRACE} ]; '
            'then echo "running $n"; '
            'else echo "lost $n"; fi')


def parse_state(line: str) -> StepState:
    words = line.split()
    if not words or words[0] not in {s.value for s in StepStatus}:
        return StepState("", StepStatus.NONE)
    status = StepStatus(words[0])
    name = words[1] if len(words) > 1 else ""
    rc = int(words[2]) if status is StepStatus.DONE and len(words) > 2 and words[2].lstrip("-").isdigit() else None
    if status is StepStatus.DONE and rc is None:
        status = StepStatus.LOST
    return StepState(name, status, rc)


def read_state(conn: SshConnection, slot: str, timeout: float = 30.0) -> StepState:
    r = conn.run(state_script(slot), timeout, sudo=True)
    return parse_state(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "")


def _start_script(slot: str, name: str) -> str:
    d = shlex.quote(slot_dir(slot))
    # $$ of the detached sh is the pid the state script checks; the script file is its argument.
    runner = ('echo $$ > "$1/step.pid"; sh "$1/step.sh" > "$1/step.log" 2>&1 < /dev/null; '
              'echo $? > "$1/step.rc.new"; mv -f "$1/step.rc.new" "$1/step.rc"')
    return (f"set -e; D={d}; umask 077; mkdir -p \"$D\"; chmod 700 \"$D\"; "
            'cat > "$D/step.sh.new"; mv -f "$D/step.sh.new" "$D/step.sh"; '
            'rm -f "$D/step.rc" "$D/step.pid"; : > "$D/step.log"; '
            f'printf "%s\\n" {shlex.quote(name)} > "$D/step.name"; '
            f"setsid sh -c {shlex.quote(runner)} sh \"$D\" < /dev/null > /dev/null 2>&1 & echo started")


def start(conn: SshConnection, slot: str, name: str, script: str, timeout: float = 30.0) -> None:
    """Start ``script`` (POSIX sh, run as root) detached in ``slot``; returns at once."""
    r = conn.run(_start_script(slot, name), timeout, sudo=True, input=script.encode())
    if not r.ok or "started" not in r.stdout:
        raise StepError(f"{conn.target.label}: could not start the {name} step: "
                        f"{(r.stderr.strip() or r.stdout.strip())[:300]}")


def _poll_script(slot: str, offset: int) -> str:
    d = shlex.quote(slot_dir(slot))
    return (f"{state_script(slot)}; echo {_LOG_MARK}; "
            f'tail -c +{offset + 1} {d}/step.log 2>/dev/null | head -c 262144')


def wait(conn: SshConnection, slot: str, *, timeout: float, poll: float = 1.0,
         on_line: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic,
         tail_lines: int = 15) -> StepResult:
    """Poll the slot's step until it ends (or ``timeout`` seconds pass: StepTimeout, the step goes
    on). ``on_line`` gets each new line of its output as it comes."""
    deadline = clock() + timeout
    offset, pending = 0, b""
    tail: list[str] = []
    while True:
        r = conn.run(_poll_script(slot, offset), 30.0, sudo=True)
        head, _, log = r.stdout.partition(_LOG_MARK + "\n")
        state = parse_state(head.strip().splitlines()[-1] if head.strip() else "")
        data = log.encode()
        offset += len(data)
        pending += data
        *lines, rest = pending.split(b"\n")
        pending = rest
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                tail = (tail + [text])[-tail_lines:]
                if on_line is not None:
                    on_line(text)
        if state.status is StepStatus.DONE:
            return StepResult(state.name, state.rc, "\n".join(tail))
        if state.status in (StepStatus.LOST, StepStatus.NONE):
            return StepResult(state.name, None, "\n".join(tail))
        if clock() >= deadline:
            raise StepTimeout(f"{conn.target.label}: the {state.name} step is still running after {timeout:g}s "
                              f"(its output: {slot_dir(slot)}/step.log on the host)")
        time.sleep(poll)


# Output of a failed command that says the network (or a lock someone else holds) was the cause:
# running the same step again later may well work.
_TRANSIENT = re.compile(
    r"(?i)connection refused|connection reset|connection timed out|i/o timeout|no route to host|"
    r"network is unreachable|temporary failure (in name resolution|resolving)|could not resolve|"
    r"context deadline exceeded|tls handshake timeout|failed to fetch|unable to connect|"
    r"could not get lock|unable to acquire the dpkg frontend lock|is another process using it|"
    r"502 bad gateway|503 service unavailable|504 gateway time-?out|the server is currently unable")


def looks_transient(output: str) -> bool:
    return bool(_TRANSIENT.search(output))
