"""Sub-commands that open the install view: ``tui`` (the default) and ``demo``; and ``attach_tui``,
which ``install`` uses too. ``health`` is in ``digit_tui.cli.health``."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from digit_tui import exitcodes, paths

DEMO_ENV = "demo"
DEMO_ANSWERS = """\
# Demo install of the sample DIGIT on the embedded sandbox cluster.
# Written once by `digit-tui demo` (never rewritten); edit it and run the demo again.
version: 1
environment: demo
target:
  provider: sandbox
  kubeconfig: sandbox/kubeconfig
digit:
  domain: digit.demo.local
  modules: [m_pgr, m_property-tax]   # the sample release's two selectable modules
"""


# -- attaching ------------------------------------------------------------------
def need_terminal() -> int | None:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("digit-tui: the TUI needs a terminal; `digit-tui status` and `install --headless` work without one",
              file=sys.stderr)
        return exitcodes.BAD_INPUT
    return None


def attach_tui(state_dir: Path) -> int:
    """Open the install view on ``state_dir`` until the operator leaves; the install keeps running."""
    from digit_tui.app import DigitApp

    DigitApp(start="install", state_dir=Path(state_dir)).run()
    _print_detached(Path(state_dir))
    return exitcodes.OK


def _print_detached(state_dir: Path) -> None:
    from digit_tui.engine.lock import pid_alive, read_pid

    if pid_alive(read_pid(state_dir / "engine.lock")):
        print(f"digit-tui: the install continues in the background; `digit-tui tui --state-dir {state_dir}`"
              " re-attaches, `digit-tui status` shows it", file=sys.stderr)


def find_install(explicit: str | None) -> Path | None:
    """--state-dir; else the most recently active install under the state root; None if there is none."""
    if explicit:
        d = paths.state_dir("", explicit)
        return d if (d / "journal.db").exists() else None
    root = paths.state_root()
    found = [p for p in root.iterdir() if (p / "journal.db").exists()] if root.is_dir() else []
    if not found:
        return None
    return max(found, key=lambda p: (p / "journal.db").stat().st_mtime)


def cmd_tui(args: argparse.Namespace) -> int:
    from digit_tui.app import DigitApp

    from digit_tui.cli.install import check_journal

    state = find_install(args.state_dir)
    if state is not None:
        check_journal(state, empty_ok=True)  # a damaged journal: one line, exit 2, not a blank screen
    bad = need_terminal()
    if bad is not None:
        return bad
    if state is None:
        hint = Path(args.state_dir) if args.state_dir else None
        app = DigitApp(start="welcome", state_dir=hint)
        app.run()
        if app.attached is not None:  # the operator started or resumed an install from the welcome screen
            _print_detached(app.attached)
        return exitcodes.OK
    return attach_tui(state)


# -- demo ------------------------------------------------------------------------
def say(message: str) -> None:
    print(f"digit-tui demo: {message}", file=sys.stderr, flush=True)


def ensure_sandbox(state_dir: Path, speed: float) -> tuple[dict[str, Any], bool]:
    """The demo's sandbox cluster (started in the background if needed); (info, freshly started)."""
    from digit_tui.sandbox import runtime

    sb_dir = state_dir / "sandbox"
    info = runtime.running_info(sb_dir)
    if info is not None and runtime.ready(info["url"], Path(info["ca"])):
        return info, False
    say("starting the sandbox cluster…")
    info = runtime.launch_background(runtime.SandboxOptions(state_dir=sb_dir, speed=speed), timeout=60)
    return info, True


def ensure_answers(state_dir: Path) -> Path:
    """Write the demo answers file once; an existing one is the operator's and is left alone."""
    from digit_tui.answers import load_answers

    path = state_dir / "answers.yaml"
    if not path.exists():
        path.write_text(DEMO_ANSWERS)
    load_answers(path)  # InputError (exit 2) if someone edited it into something invalid
    return path


def ensure_engine(state_dir: Path, answers: Path, graph: str, *, cluster_is_new: bool) -> str:
    """Attach to a running engine, or start one unless the last install here finished and still stands."""
    from digit_tui.engine.launch import spawn_turn

    # Take the same turn as `install` does, so a demo and an install started together share one engine.
    with spawn_turn(state_dir, timeout=30.0):
        return _ensure_engine(state_dir, answers, graph, cluster_is_new=cluster_is_new)


def _ensure_engine(state_dir: Path, answers: Path, graph: str, *, cluster_is_new: bool) -> str:
    from digit_tui.engine import control, daemon
    from digit_tui.engine.journal import Journal, JournalError

    try:
        control.send(state_dir, control.Request("ping"), timeout=2)
        return "attached to the running install"
    except ConnectionError:
        pass
    last_state = None
    try:
        j = Journal.in_dir(state_dir, readonly=True)
        try:
            run = j.latest_run()
            last_state = run.state if run else None
        finally:
            j.close()
    except JournalError:
        pass
    if last_state == "done" and not cluster_is_new:
        return "the last install here is complete"
    proc = daemon.spawn(state_dir, str(answers), graph)
    # Reap it if it ends while we run, so a finished engine does not look alive as a zombie.
    threading.Thread(target=proc.wait, name="engine-reaper", daemon=True).start()
    return f"install engine started (pid {proc.pid})"


def cmd_demo(args: argparse.Namespace) -> int:
    from digit_tui.cli.install import DEFAULT_GRAPH

    state = paths.ensure_private_dir(paths.state_dir(DEMO_ENV, args.state_dir))
    try:
        info, fresh = ensure_sandbox(state, args.speed)
    except (RuntimeError, TimeoutError, OSError) as exc:
        print(f"digit-tui demo: the sandbox cluster did not start: {exc}", file=sys.stderr)
        return exitcodes.FAILED
    answers = ensure_answers(state)
    say(f"sandbox cluster at {info['url']}; answers: {answers}")
    say(ensure_engine(state, answers, args.graph or DEFAULT_GRAPH, cluster_is_new=fresh))
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        say(f"no terminal: not opening the TUI; `digit-tui status --state-dir {state}` shows the install")
        return exitcodes.OK
    return attach_tui(state)


# -- registration ------------------------------------------------------------------
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tui", help="open the TUI (the default): attach to the install in the state directory",
                       description="Attach to the install found in the state directory (the most recent one "
                                   "under $XDG_STATE_HOME/digit-tui/ without --state-dir), or show how to "
                                   "start one. Leaving the TUI never stops the install.")
    p.add_argument("--state-dir", metavar="DIR", help="state directory of the install to attach to")
    p.set_defaults(func=cmd_tui)

    p = sub.add_parser("demo", help="install the sample DIGIT on the embedded sandbox cluster and watch it",
                       description="Start the sandbox cluster in the background (if it is not running), write "
                                   "a demo answers file, start the install engine (unless one runs) and open "
                                   "the TUI attached to it. What `make run` does.")
    p.add_argument("--state-dir", metavar="DIR", help="state directory (default: $XDG_STATE_HOME/digit-tui/demo)")
    p.add_argument("--speed", type=float, default=4.0,
                   help="sandbox speed: divides simulated delays (default 4; 1 is realistic)")
    p.add_argument("--graph", help=argparse.SUPPRESS)  # module:function, for tests
    p.set_defaults(func=cmd_demo)
