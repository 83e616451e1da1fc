"""`digit-tui health --once --json` at DIGIT scale against `kubectl get pods -A`: prints figures, asserts nothing.

    .venv/bin/python bench/health.py [--pods 5000] [--nodes 50] [--warnings 2000] [--runs 3]

The sandbox API runs as its own process with ``--nodes`` nodes and ``--pods`` pods in namespace
``bench`` (all Running before anything is timed) and ``--warnings`` Warning events plus as many
Normal ones (what ``health`` field-selects away). Each command runs ``--runs`` times as a new
process in the same run, ``kubectl`` with its discovery cache warmed once; medians printed, and
the health report's peak RSS (from ``wait4``). The issue's goal: health <= 1.5x kubectl.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dashboard import populate   # bench/ is sys.path[0] when a bench runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable


def timed(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one run of ``argv``; its output is read and dropped."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    out, err = b"", b""
    # Read both pipes to the end, then reap with wait4 for the child's own rusage.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        fo = pool.submit(proc.stdout.read) if proc.stdout else None
        fe = pool.submit(proc.stderr.read) if proc.stderr else None
        out = fo.result() if fo else b""
        err = fe.result() if fe else b""
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    del out
    return took, usage.ru_maxrss / 1024


def events(kube: object, warnings: int, workers: int = 8) -> None:
    """``warnings`` Warning and as many Normal events about the bench's pods."""
    def one(i: int) -> None:
        kind = "Warning" if i % 2 else "Normal"
        kube.request("POST", "/api/v1/namespaces/bench/events", body={  # type: ignore[attr-defined]
            "metadata": {"name": f"ev-{i:06d}"}, "type": kind, "reason": "BackOff" if i % 2 else "Pulled",
            "message": "bench event", "count": 1,
            "involvedObject": {"kind": "Pod", "namespace": "bench", "name": f"p-{i % 1000:05d}"}}, timeout=60)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(2 * warnings)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--warnings", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()

    from digit_tui.infra.kube import Kube
    from digit_tui.sandbox.runtime import start_sandbox_subprocess

    tmp = Path(tempfile.mkdtemp(prefix="health-bench-"))
    h = start_sandbox_subprocess(tmp / "sandbox", nodes=a.nodes, speed=100.0)
    try:
        kube = Kube(h.kubeconfig_path, timeout=60)
        took = populate(kube, a.pods, a.nodes)
        events(kube, a.warnings)
        kube.close()
        print(f"sandbox: {a.pods} pods on {a.nodes} nodes (all Running after {took:.1f}s), "
              f"{a.warnings} Warning + {a.warnings} Normal events")
        kcache = tmp / "kcache"
        kubectl = ["/usr/bin/kubectl", "--kubeconfig", str(h.kubeconfig_path), "--cache-dir", str(kcache),
                   "get", "pods", "-A", "--no-headers"]
        health = [PY, "-m", "digit_tui.cli", "health", "--kubeconfig", str(h.kubeconfig_path), "--once", "--json"]
        timed(kubectl)      # discovery cache
        k_runs, h_runs = [], []
        for _ in range(a.runs):         # interleaved: both see the same machine load
            k_runs.append(timed(kubectl))
            h_runs.append(timed(health))
        k = statistics.median(t for t, _ in k_runs)
        hh = statistics.median(t for t, _ in h_runs)
        print(f"kubectl get pods -A: {k:.2f}s, {statistics.median(r for _, r in k_runs):.0f} MiB (median of {a.runs})")
        print(f"health --once --json: {hh:.2f}s, {max(r for _, r in h_runs):.0f} MiB peak (median of {a.runs}) "
              f"= {hh / k:.2f}x kubectl   [goal <= 1.5x]")
    finally:
        h.stop()


if __name__ == "__main__":
    main()
