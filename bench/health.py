"""`digit-tui health --once --json` at DIGIT scale against `kubectl get pods -A`: prints figures, asserts nothing.

    .venv/bin/python bench/health.py [--pods 5000] [--nodes 50] [--warnings 2000] [--runs 3]

The sandbox API runs as its own process with ``--nodes`` nodes and ``--pods`` pods in namespace
``bench`` (all Running before anything is timed) and ``--warnings`` Warning events plus as many
Normal ones (what ``health`` field-selects away). Each command runs ``--runs`` times as a new
process in the same run, in rounds (each command once a round, so load from other work on the
machine falls on all alike), every command once before it is timed (``kubectl``'s discovery
cache; digit-tui's bytecode, kept in the bench's own directory as an installed digit-tui has it);
medians printed, with the ratio to kubectl, and the health report's peak RSS (from ``wait4``).
``--against`` times another checkout's ``health`` (``git worktree add --detach /tmp/before
<commit>``) in the same rounds, for before/after figures under the same load. The issue's goal:
health <= 1.5x kubectl.
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

from _measure import compiled_env  # bench/ is sys.path[0] when a bench runs
from dashboard import populate

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PY = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable


def timed(argv: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float, float]:
    """(seconds, CPU seconds, peak RSS in MiB) of one run of ``argv``; its output is read and dropped."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
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
    return took, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


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
    ap.add_argument("--against", metavar="DIR", help="another digit-tui checkout, timed in the same rounds")
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
        env = compiled_env(tmp)
        kcache = tmp / "kcache"
        kubectl = ["/usr/bin/kubectl", "--kubeconfig", str(h.kubeconfig_path), "--cache-dir", str(kcache),
                   "get", "pods", "-A", "--no-headers"]
        health = [PY, "-m", "digit_tui.cli", "health", "--kubeconfig", str(h.kubeconfig_path), "--once", "--json"]
        commands = [("kubectl get pods -A", kubectl, REPO), ("health --once --json", health, REPO)]
        if a.against:
            commands.append((f"health --once --json [{a.against}]", health, Path(a.against).resolve()))
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in commands}
        for _, argv, cwd in commands:
            timed(argv, env, cwd)       # warm: kubectl's discovery cache, digit-tui's bytecode
        for _ in range(a.runs):
            for name, argv, cwd in commands:
                runs[name].append(timed(argv, env, cwd))
        kubectl_runs = runs[commands[0][0]]
        for name, _, _ in commands:
            took = statistics.median(t for t, _, _ in runs[name])
            cpu = statistics.median(c for _, c, _ in runs[name])
            # The ratio of each round, then their median: a round's load falls on both.
            ratio = "" if name == commands[0][0] else \
                f" = {statistics.median(r[0] / k[0] for r, k in zip(runs[name], kubectl_runs)):.2f}x kubectl   [goal <= 1.5x]"
            print(f"{name}: {took:.2f}s ({cpu:.2f}s CPU), {max(r for _, _, r in runs[name]):.0f} MiB peak "
                  f"(median of {a.runs}){ratio}")
    finally:
        h.stop()


if __name__ == "__main__":
    main()
