"""Start-up cost of the commands an operator runs most: prints figures, asserts nothing.

    .venv/bin/python bench/startup.py [--runs 7]

Each command is run ``--runs`` times, as a new process, next to ``python -c pass``
with the same interpreter in the same run; the medians are printed, and the
difference (what digit-tui itself costs). ``size`` is timed warm: its first run
is not counted. The TUI's first frame is timed in tmux (120x40, private
socket): from starting the pane until ``tmux capture-pane`` shows the welcome
screen (``digit-tui`` with no install to attach to), against a pane that runs
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


def median(argv: list[str], env: dict[str, str], runs: int) -> float:
    return statistics.median(timed(argv, env) for _ in range(runs))


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = dict(os.environ, XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(tmp / "cache"))
    answers = tmp / "answers.yaml"
    answers.write_text(subprocess.run([*DIGIT_TUI, "validate", "--example"], capture_output=True, text=True,
                                      timeout=60, check=True, env=env).stdout)

    base = median([PY, "-c", "pass"], env, a.runs)
    rows = [("python -c pass", base)]
    rows.append(("digit-tui --help", median([*DIGIT_TUI, "--help"], env, a.runs)))
    rows.append(("digit-tui validate", median([*DIGIT_TUI, "validate", "--answers", str(answers),
                                               "--no-file-checks"], env, a.runs)))
    size = [*DIGIT_TUI, "size", "--ulbs", "1000", "--tier", "prod"]
    timed(size, env)                                     # warm: the first run may fill caches
    rows.append(("digit-tui size --ulbs 1000 --tier prod (warm)", median(size, env, a.runs)))
    print(f"{'command':<48} {'median':>8} {'minus pass':>11}   (medians of {a.runs}, same run)")
    for name, t in rows:
        print(f"{name:<48} {t:7.3f}s {t - base:+10.3f}s")
    print("goals: validate <= 0.3 s; size (warm) <= 0.3 s")

    tmux = Tmux(tmp)
    try:
        tenv = f"env TERM=xterm-256color XDG_STATE_HOME={shlex.quote(str(tmp / 'state'))}"
        ready = statistics.median(tmux.first_seen(f"{tenv} {PY} -c \"print('ready'); input()\"", "ready")
                                  for _ in range(a.runs))
        frame = statistics.median(tmux.first_seen(f"{tenv} {' '.join(DIGIT_TUI)}", "digit-tui demo")
                                  for _ in range(a.runs))
        print(f"{'tmux pane: python prints a line':<48} {ready:7.3f}s")
        print(f"{'tmux pane: digit-tui first frame (welcome)':<48} {frame:7.3f}s {frame - ready:+10.3f}s")
    finally:
        tmux.kill()


if __name__ == "__main__":
    main()
