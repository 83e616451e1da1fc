"""The output of a facts script: sections, each opened by a marker line.

The host-facing readers (preflight's host facts, kubeadm's node facts, the load
balancer's) each send one POSIX sh script that prints ``<mark><name>`` before
every section and ``<mark>end`` last, so one SSH round trip answers everything and
a cut-off output is told from a complete one."""

from __future__ import annotations

from digit_tui.errors import PermanentError
from digit_tui.infra.ssh import SshConnection


def sections(text: str, mark: str, *, skip_blank: bool = False) -> dict[str, list[str]]:
    """Lines under each marker, by section name; lines before the first marker are dropped."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(mark):
            current = out.setdefault(line[len(mark):].strip(), [])
        elif current is not None and not (skip_blank and not line.strip()):
            current.append(line.strip() if skip_blank else line)
    return out


def run_as_root(conn: SshConnection, script: str, mark: str, what: str, timeout: float) -> str:
    """Run ``script`` through sudo and return its whole output; a cut-off one (no end marker) is
    permanent: sudo refused, or the shell died, and trying again would say the same."""
    r = conn.run(script, timeout, sudo=True)
    if mark + "end" not in r.stdout:
        raise PermanentError(f"{conn.target.label}: reading {what} failed (exit {r.exit_code}): "
                             f"{(r.stderr.strip() or r.stdout.strip())[:300]}",
                             "log in as root, or give the user passwordless sudo (NOPASSWD)")
    return r.stdout
