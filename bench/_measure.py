"""What the benches measure of a process (not a bench itself: `make bench` skips files starting with _)."""

from __future__ import annotations


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` in MiB, from /proc (0 when the process reports none)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
