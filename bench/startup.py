"""Start-up cost of the commands an operator runs most: prints figures, asserts nothing.

    .venv/bin/python bench/startup.py [--runs 7]

Each command is run ``--runs`` times, as a new process, next to ``python -c pass``
with the same interpreter in the same run, in rounds (every command once per
round) so that load from other processes on the machine falls on all of them
alike; the medians are printed, the difference (what digit-tui itself costs) and
the ratio to ``python -c pass``. Every command runs once before it is timed:
``size`` is timed warm (that run fills its cache of rendered workloads), and
every process reads byte-compiled modules as an installed digit-tui does: the
bench drops ``PYTHONDONTWRITEBYTECODE`` and keeps the bytecode under its own
temporary directory (``PYTHONPYCACHEPREFIX``), so the checkout is not written.
The TUI's first frame is timed in tmux (120x40, private socket): from starting
the pane until ``tmux capture-pane`` shows the welcome screen (``digit-tui``
with no install to attach to), against a pane that runs
``python -c "print('ready'); input()"`` until it shows ``ready`` (a pane whose
process exits at once may never show its output in tmux 3.3).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable
DIGIT_TUI = [PY, "-m", "digit_tui.cli"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    took = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{argv} exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return took


class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.sock = f"startup-{uuid.uuid4().hex[:8]}"
        self.conf = tmp / "tmux.conf"
        self.conf.write_text("set -g remain-on-exit on\nset -g status off\n")

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "-f", str(self.conf), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout

    def first_seen(self, command: str, needle: str, timeout: float = 30.0) -> float:
        """Seconds from starting ``command`` in a fresh pane until ``needle`` is on screen."""
        self.kill()
        t0 = time.monotonic()
        self("new-session", "-d", "-x", "120", "-y", "40", command)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if needle in self("capture-pane", "-p"):
                took = time.monotonic() - t0
                self.kill()
                return took
            time.sleep(0.005)
        raise TimeoutError(f"{needle!r} never appeared for {command}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


def rounds(commands: list[tuple[str, list[str]]], env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    """Median seconds of each command, timed one round (each command once) after another."""
    for _, argv in commands:
        timed(argv, env)                                 # warm: bytecode, size's cache of workloads
    times: dict[str, list[float]] = {name: [] for name, _ in commands}
    for _ in range(runs):
        for name, argv in commands:
            times[name].append(timed(argv, env))
    return [(name, statistics.median(times[name])) for name, _ in commands]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(tmp / "cache"),
               PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    answers = tmp / "answers.yaml"
    answers.write_text(subprocess.run([*DIGIT_TUI, "validate", "--example"], capture_output=True, text=True,
                                      timeout=60, check=True, env=env).stdout)

    rows = rounds([
        ("python -c pass", [PY, "-c", "pass"]),
        ("digit-tui --help", [*DIGIT_TUI, "--help"]),
        ("digit-tui validate", [*DIGIT_TUI, "validate", "--answers", str(answers), "--no-file-checks"]),
        ("digit-tui size --ulbs 1000 --tier prod (warm)", [*DIGIT_TUI, "size", "--ulbs", "1000", "--tier", "prod"]),
    ], env, a.runs)
    base = rows[0][1]
    print(f"{'command':<48} {'median':>8} {'minus pass':>11} {'x pass':>7}   (medians of {a.runs}, same run)")
    for name, t in rows:
        print(f"{name:<48} {t:7.3f}s {t - base:+10.3f}s {t / base:6.1f}x")
    print("goals: validate <= 0.3 s; size (warm) <= 0.3 s")

    tmux = Tmux(tmp)
    try:
        tenv = (f"env -u PYTHONDONTWRITEBYTECODE TERM=xterm-256color XDG_STATE_HOME={shlex.quote(str(tmp / 'state'))} "
                f"PYTHONPYCACHEPREFIX={shlex.quote(str(tmp / 'pycache'))}")
        tui = f"{tenv} {' '.join(DIGIT_TUI)}"
        tmux.first_seen(tui, "digit-tui demo")              # warm: Textual's bytecode
        ready = statistics.median(tmux.first_seen(f"{tenv} {PY} -c \"print('ready'); input()\"", "ready")
                                  for _ in range(a.runs))
        frame = statistics.median(tmux.first_seen(tui, "digit-tui demo") for _ in range(a.runs))
        print(f"{'tmux pane: python prints a line':<48} {ready:7.3f}s")
        print(f"{'tmux pane: digit-tui first frame (welcome)':<48} {frame:7.3f}s {frame - ready:+10.3f}s "
              f"{frame / ready:6.1f}x")
    finally:
        tmux.kill()


if __name__ == "__main__":
    main()
