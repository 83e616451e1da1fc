"""How fast every screen answers a key while an install runs: prints figures, asserts nothing.

    .venv/bin/python bench/screens.py [--presses 20] [--runs 7] [--only WORD]

An engine runs in the background the whole time (its own process, as `digit-tui install` starts it)
with a slow synthetic graph (``slow_graph`` below: tasks that log and report progress every 50 ms)
writing journal events, and an in-process sandbox with ``PODS`` running pods serves the pod
dashboard, a pod's logs and the health view. Each screen (welcome, target and source, its
compatibility report, prerequisites, sizing, configuration, plan, install view, pod dashboard, pod
logs, health view, help) is opened at
80x24 in Textual's headless driver (``App.run_test``) and given ``--presses`` presses of a key that
changes what it shows (a pair pressed in turn, such as down / up, so the screen comes back). Each
press is timed from sending the key until the first frame (Textual's ``post_display_hook``) after
which the screen's rendered lines (text and styles, from Textual's compositor) differ from before:
the time Textual takes to handle the key and draw, without a terminal's own output (the first frame
below includes that). p50 / p95 per screen;
goal <= 100 ms.

Then the time to the first frame in tmux (80x24, private socket): `digit-tui` (the welcome screen;
no install to attach to) against a minimal Textual app with one line of text, each started in a
fresh pane and polled with `tmux capture-pane` until the pane is not empty, in rounds so load falls
on both alike; medians of ``--runs``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from digit_tui.engine.task import Task  # noqa: E402

GOAL_MS = 100.0
PODS = 40           # running in the sandbox: the dashboard's rows, a pod's logs
ANSWERS = "version: 1\nenvironment: bench\ntarget:\n  provider: sandbox\ndigit:\n  domain: bench.example.test\n"
MINIMAL_APP = ("from textual.app import App\nfrom textual.widgets import Static\n"
               "class A(App):\n    def compose(self):\n        yield Static('ready')\nA().run()\n")


# -- the install that runs meanwhile ----------------------------------------------------------------
class Chatter(Task):
    """Never converged; its ensure logs an event every 50 ms for ten minutes (no progress counts: they
    would change the phases tree, where the install view's keys are seen, by themselves)."""

    async def check(self, ctx: Any) -> bool:
        return False

    async def ensure(self, ctx: Any) -> None:
        for i in range(12_000):
            ctx.log(f"applied object {i} of {self.id}")
            await asyncio.sleep(0.05)


def slow_graph(settings: Any) -> list[Task]:
    """Four chattering tasks at once under phases, and more behind them (loaded by the engine)."""
    tasks: list[Task] = []
    for i in range(4):
        tasks.append(Chatter(f"chat{i}", f"deploy service {i}", phase=f"release/group{i % 2}"))
        tasks += [Chatter(f"next{i}-{k}", f"then {i}.{k}", phase="release/later", deps=[f"chat{i}"]) for k in range(5)]
    return tasks


# -- timing key presses -----------------------------------------------------------------------------
def shown(app: Any, cols: tuple[int, int] | None = None) -> int:
    """What the terminal would show (every cell's text and style; ``cols``: of those columns only), as one hash."""
    strips = app.screen._compositor.render_strips()
    if cols is not None:
        strips = [strip.crop(*cols) for strip in strips]
    return hash(tuple(tuple((seg.text, seg.style) for seg in strip) for strip in strips))


async def settle(pilot: Any, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} never appeared; the screen was:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)
    await pilot.pause(0.3)


# The character a terminal sends with each key the bench presses (None: a key without one).
CHARS: dict[str, str | None] = {"down": None, "up": None, "tab": "\t", "shift+tab": None, "5": "5",
                                "backspace": "\x7f", "f": "f", "p": "p", "question_mark": "?", "escape": "\x1b",
                                "ctrl+r": "\x12"}


async def presses(pilot: Any, keys: tuple[str, str], n: int, cols: tuple[int, int] | None) -> list[float]:
    """Milliseconds from each key until the first frame that shows a change; keys pressed in turn. A
    key goes in where a terminal's does (the driver's message to the app), not through Pilot.press,
    which also waits for the whole process to be idle: with an install's journal being read that is
    no key's cost. A frame is Textual's ``post_display_hook`` (called after each update it would
    write to a terminal): the screen is compared only then, as polling it would itself take the
    event loop's time from the key being timed."""
    from textual import events

    app = pilot.app
    drawn = asyncio.Event()
    frames: list[float] = []

    def frame() -> None:
        frames.append(time.perf_counter())
        drawn.set()

    app.post_display_hook = frame
    out: list[float] = []
    try:
        for i in range(n):
            key = keys[i % 2]
            before = shown(app, cols)
            event = events.Key(key, CHARS[key])
            event.set_sender(app)
            drawn.clear()
            frames.clear()
            t0 = time.perf_counter()
            app._driver.send_message(event)
            deadline = t0 + 2.0
            took = 2.0      # counted as 2 s: the key changed nothing this time
            while time.perf_counter() < deadline:
                try:
                    await asyncio.wait_for(drawn.wait(), deadline - time.perf_counter())
                except asyncio.TimeoutError:
                    break
                drawn.clear()
                at = frames[-1]
                if shown(app, cols) != before:
                    took = at - t0
                    break
            out.append(took * 1000)
            await asyncio.sleep(0.1)   # the next press is a new one, not a burst
    finally:
        del app.post_display_hook
    return out


def screen_text(app: Any) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def bench_screens(tmp: Path, state: Path, kubeconfig: Path, n: int,
                        only: list[str]) -> list[tuple[str, str, list[float]]]:
    from digit_tui.answers.model import Answers
    from digit_tui.app import DigitApp
    from digit_tui.screens.configure import ConfigScreen
    from digit_tui.screens.dashboard import DashboardScreen
    from digit_tui.screens.health import HealthScreen
    from digit_tui.screens.install import InstallScreen
    from digit_tui.screens.newinstall import TargetScreen
    from digit_tui.screens.plan import PlanScreen
    from digit_tui.screens.prereqs import PrereqScreen
    from digit_tui.screens.sizing import SizingScreen
    from digit_tui.screens.welcome import WelcomeScreen

    answers = Answers.model_validate({"environment": "flow", "target": {"provider": "sandbox"},
                                      "digit": {"domain": "flow.example.test"}}, context={"check_files": False})
    flow_state, answers_path = tmp / "flow-state", tmp / "flow-answers.yaml"
    flow_state.mkdir(mode=0o700)
    # (screen, how to make it, the keys, as printed, when it is ready, the columns where the keys show:
    # the install view's events panel and header change by themselves, its phases tree does not; then a
    # key that opens the screen timed from the one made, and when that one is ready)
    Case = tuple[str, Callable[[], Any], tuple[str, str], str, Callable[[str], bool], "tuple[int, int] | None",
                 "tuple[str, Callable[[str], bool]] | None"]
    cases: list[Case] = [
        ("welcome", lambda: WelcomeScreen(None), ("down", "up"), "down / up", lambda t: "New install" in t, None, None),
        ("target and source", lambda: TargetScreen(tmp / "new-state"), ("tab", "shift+tab"), "tab / shift+tab",
         lambda t: "target and source" in t, None, None),
        ("compatibility report", lambda: TargetScreen(tmp / "new-state"), ("escape", "ctrl+r"), "escape / ctrl+r",
         lambda t: "^r report" in t, None, ("ctrl+r", lambda t: "Compatibility report" in t)),
        ("prerequisites", lambda: PrereqScreen(answers, answers_path, flow_state), ("down", "up"), "down / up",
         lambda t: "prerequisites" in t, None, None),
        ("sizing", lambda: SizingScreen(answers, answers_path, flow_state), ("5", "backspace"),
         "5 / backspace in ULBs", lambda t: "sizing" in t, None, None),
        ("configuration", lambda: ConfigScreen(answers, answers_path, flow_state), ("tab", "shift+tab"),
         "tab / shift+tab", lambda t: "configuration" in t, None, None),
        ("plan", lambda: PlanScreen(answers, answers_path, flow_state), ("down", "up"), "down / up",
         lambda t: "◌ dry run" not in t, None, None),
        ("install view", lambda: InstallScreen(state), ("down", "up"), "down / up", lambda t: "deploy service" in t,
         (0, 32), None),
        ("pod dashboard", lambda: DashboardScreen(str(kubeconfig), None), ("f", "f"), "f / f (faults only)",
         lambda t: "pods" in t and "NAMESPACE" in t, None, None),
        ("pod logs (from the dashboard)", lambda: DashboardScreen(str(kubeconfig), None), ("p", "p"),
         "p / p (previous)", lambda t: "pods" in t and "NAMESPACE" in t, None,
         ("l", lambda t: "Logs · " in t and "current [p]" in t)),
        ("health view", lambda: HealthScreen(str(kubeconfig), None, export_dir=tmp), ("down", "up"), "down / up",
         lambda t: "reading the cluster" not in t and "DIGIT health" in t, None, None),
        ("help (from the install view)", lambda: InstallScreen(state), ("question_mark", "escape"), "? / escape",
         lambda t: "deploy service" in t, None, None),
    ]
    rows = []
    for name, make, keys, label, ready, cols, then in cases:
        if only and not any(word in name for word in only):
            continue
        app = DigitApp(start="welcome", state_dir=tmp / "welcome-state")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda: "New install" in screen_text(app), "the welcome screen")
            if name != "welcome":
                await app.push_screen(make())
                await settle(pilot, lambda: ready(screen_text(app)), name)
            if then is not None:
                key, opened = then
                await pilot.press(key)
                await settle(pilot, lambda: opened(screen_text(app)), name)
            rows.append((name, label, await presses(pilot, keys, n, cols)))
    return rows


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# -- first frame in tmux ----------------------------------------------------------------------------
def first_frames(tmp: Path, runs: int) -> list[tuple[str, float]]:
    from startup import Tmux  # bench/startup.py: a private tmux server

    tmux = Tmux(tmp)
    py = shlex.quote(sys.executable)
    app = tmp / "minimal_app.py"
    app.write_text(MINIMAL_APP)
    env = (f"env TERM=xterm-256color XDG_STATE_HOME={shlex.quote(str(tmp / 'tmux-state'))} "
           f"PYTHONPATH={shlex.quote(str(REPO))}")
    panes = [("minimal Textual app", f"{env} {py} {shlex.quote(str(app))}"),
             ("digit-tui (welcome)", f"cd {shlex.quote(str(REPO))} && {env} {py} -m digit_tui.cli")]

    def once(command: str) -> float:
        tmux.kill()
        tmux.sock = f"screens-{uuid.uuid4().hex[:8]}"
        t0 = time.monotonic()
        tmux("new-session", "-d", "-x", "80", "-y", "24", command)
        while time.monotonic() < t0 + 30:
            if tmux("capture-pane", "-p").strip():
                took = time.monotonic() - t0
                tmux.kill()
                return took
            time.sleep(0.005)
        raise TimeoutError(f"nothing appeared for {command}")

    try:
        for _, command in panes:
            once(command)                        # warm: bytecode
        seen: dict[str, list[float]] = {name: [] for name, _ in panes}
        for _ in range(runs):
            for name, command in panes:
                seen[name].append(once(command))
        return [(name, statistics.median(times)) for name, times in seen.items()]
    finally:
        tmux.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presses", type=int, default=20)
    ap.add_argument("--runs", type=int, default=7, help="first frames timed per program (0: none)")
    ap.add_argument("--only", action="append", default=[], metavar="WORD",
                    help="time only the screens whose name holds WORD (repeatable)")
    a = ap.parse_args()

    from digit_tui.sandbox.runtime import start_sandbox

    tmp = Path(tempfile.mkdtemp(prefix="screens-bench-"))
    os.environ["XDG_STATE_HOME"] = str(tmp / "xdg")
    state = tmp / "install-state"
    state.mkdir(mode=0o700)
    answers = tmp / "answers.yaml"
    answers.write_text(ANSWERS)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    engine = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "engine", "--state-dir", str(state),
                               "--answers", str(answers), "--graph", "bench.screens:slow_graph"],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (state / "engine.sock").exists():
            if engine.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the bench's engine did not start (see {state}/logs/engine.log)")
            time.sleep(0.05)
        with start_sandbox(tmp / "sandbox", nodes=3, speed=50.0) as sandbox:
            from dashboard import populate  # bench/dashboard.py: pods for the dashboard, its logs, health

            from digit_tui.infra.kube import Kube

            with Kube(sandbox.kubeconfig_path, timeout=60) as kube:
                populate(kube, PODS, 3)
            rows = asyncio.run(bench_screens(tmp, state, sandbox.kubeconfig_path, a.presses,
                                           a.only))
        print(f"key press -> screen changed, 80x24, {a.presses} presses each, while an install runs "
              f"(goal <= {GOAL_MS:.0f} ms)")
        print(f"{'screen':<30} {'keys':<22} {'p50':>8} {'p95':>8} {'max':>8}")
        for name, label, ms in rows:
            mark = "✓" if pct(ms, 95) <= GOAL_MS else "✗"
            print(f"{name:<30} {label:<22} {pct(ms, 50):6.1f}ms {pct(ms, 95):6.1f}ms {max(ms):6.1f}ms {mark}")
        print("in-process (Textual's headless driver): the key's handling and drawing, not the terminal's output")
    finally:
        os.killpg(engine.pid, signal.SIGTERM)
        engine.wait(timeout=30)

    if a.runs < 1:
        return
    frames = first_frames(tmp, a.runs)
    base = frames[0][1]
    print(f"first frame in tmux, 80x24 (median of {a.runs}, same run)")
    for name, t in frames:
        print(f"{name:<30} {t:7.3f}s {t - base:+8.3f}s {t / base:5.1f}x")


if __name__ == "__main__":
    main()
