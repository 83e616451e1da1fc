"""What the benches measure of a process (not a bench itself: `make bench` skips files starting with _)."""

from __future__ import annotations

import os
from pathlib import Path


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB, from /proc (0 when the process reports none)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def compiled_env(tmp: Path) -> dict[str, str]:
    """This environment, but every Python process reads and writes byte-compiled modules under
    ``tmp`` as an installed digit-tui does (without it, each run under ``PYTHONDONTWRITEBYTECODE``
    compiles every module it imports from source: a tenth of a second or more), and the checkout
    is not written."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env
