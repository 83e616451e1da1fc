"""Start-up cost of the commands an operator runs most: prints figures, asserts nothing.

    .venv/bin/python bench/startup.py [--runs 7] [--against OTHER_CHECKOUT]

Each command is run ``--runs`` times, as a new process, next to ``python -c pass``
with the same interpreter in the same run, in rounds (every command once per
round) so that load from other processes on the machine falls on all of them
alike; the medians are printed, the difference (what digit-tui itself costs) and
the ratio to ``python -c pass``, and the same for the CPU time (user + system) each
process used, which moves less than the wall time when other work shares the
machine. Every command runs once before it is timed:
``size`` is timed warm (that run fills its cache of rendered workloads), and
every process reads byte-compiled modules as an installed digit-tui does: the
bench drops ``PYTHONDONTWRITEBYTECODE`` and keeps the bytecode under its own
temporary directory (``PYTHONPYCACHEPREFIX``), so the checkout is not written.
The TUI's first frame is timed in tmux (120x40, private socket): from starting
the pane until ``tmux capture-pane`` shows the welcome screen (``digit-tui``
with no install to attach to), against a pane that runs
``python -c "print('ready'); input()"`` until it shows ``ready`` (a pane whose
process exits at once may never show its output in tmux 3.3). ``--against`` times
another checkout's digit-tui (``git worktree add /tmp/before <commit>``) in the
same rounds, for before/after figures taken under the same load.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str], cwd: Path = REPO) -> tuple[float, float]:
    """(wall, CPU) seconds ``argv`` takes; ``-m digit_tui.cli`` imports the digit-tui of ``cwd``."""
    t0, c0 = time.monotonic(), _children_cpu()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    took = time.monotonic() - t0, _children_cpu() - c0
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
        # A server of its own each time: one being killed may still hold the old socket.
        self.sock = f"startup-{uuid.uuid4().hex[:8]}"
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


Command = tuple[str, list[str], Path]      # (label, argv, the checkout it runs in)


def rounds(commands: list[Command], env: dict[str, str], runs: int) -> list[tuple[str, float, float]]:
    """Median wall and CPU seconds of each command, timed one round (each command once) after another."""
    for _, argv, cwd in commands:
        timed(argv, env, cwd)                            # warm: bytecode, size's cache of workloads
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in commands}
    for _ in range(runs):
        for name, argv, cwd in commands:
            times[name].append(timed(argv, env, cwd))
    return [(name, statistics.median(w for w, _ in times[name]), statistics.median(c for _, c in times[name]))
            for name, _, _ in commands]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--against", metavar="DIR", help="another digit-tui checkout, timed in the same rounds")
    a = ap.parse_args()
    trees = [("", REPO)] + ([(f" [{a.against}]", Path(a.against).resolve())] if a.against else [])

    tmp = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(XDG_STATE_HOME=str(tmp / "state"), XDG_CACHE_HOME=str(tmp / "cache"),
               PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
    answers = tmp / "answers.yaml"
    answers.write_text(subprocess.run([*DIGIT_TUI, "validate", "--example"], capture_output=True, text=True,
                                      timeout=60, check=True, env=env, cwd=REPO).stdout)

    commands: list[Command] = [("python -c pass", [PY, "-c", "pass"], REPO)]
    for label, tree in trees:
        commands += [
            (f"digit-tui --help{label}", [*DIGIT_TUI, "--help"], tree),
            (f"digit-tui validate{label}", [*DIGIT_TUI, "validate", "--answers", str(answers), "--no-file-checks"],
             tree),
            (f"digit-tui size --ulbs 1000 --tier prod (warm){label}",
             [*DIGIT_TUI, "size", "--ulbs", "1000", "--tier", "prod"], tree),
        ]
    rows = rounds(commands, env, a.runs)
    width = max(48, *(len(name) for name, _, _ in rows))
    _, base, base_cpu = rows[0]
    print(f"{'command':<{width}} {'median':>8} {'minus pass':>11} {'x pass':>7} {'CPU':>8} {'x pass':>7}"
          f"   (medians of {a.runs}, same run)")
    for name, t, cpu in rows:
        print(f"{name:<{width}} {t:7.3f}s {t - base:+10.3f}s {t / base:6.1f}x {cpu:7.3f}s {cpu / base_cpu:6.1f}x")
    print("goals: validate <= 0.3 s; size (warm) <= 0.3 s (wall). CPU is user + system time: on a machine "
          "shared with other work it moves less than the wall time")

    tmux = Tmux(tmp)
    try:
        tenv = (f"env -u PYTHONDONTWRITEBYTECODE TERM=xterm-256color XDG_STATE_HOME={shlex.quote(str(tmp / 'state'))} "
                f"PYTHONPYCACHEPREFIX={shlex.quote(str(tmp / 'pycache'))}")
        panes = [("tmux pane: python prints a line", f"{tenv} {PY} -c \"print('ready'); input()\"", "ready")]
        panes += [(f"tmux pane: digit-tui first frame (welcome){label}",
                   f"cd {shlex.quote(str(tree))} && {tenv} {' '.join(DIGIT_TUI)}", "digit-tui demo")
                  for label, tree in trees]
        for _, command, needle in panes:
            tmux.first_seen(command, needle)                # warm: Textual's bytecode
        seen: dict[str, list[float]] = {name: [] for name, _, _ in panes}
        for _ in range(a.runs):
            for name, command, needle in panes:
                seen[name].append(tmux.first_seen(command, needle))       # wall time only: tmux runs it
        ready = statistics.median(seen[panes[0][0]])
        print(f"{panes[0][0]:<{width}} {ready:7.3f}s")
        for name, _, _ in panes[1:]:
            t = statistics.median(seen[name])
            print(f"{name:<{width}} {t:7.3f}s {t - ready:+10.3f}s {t / ready:6.1f}x")
    finally:
        tmux.kill()


if __name__ == "__main__":
    main()
