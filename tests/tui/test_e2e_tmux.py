"""End to end in a real terminal (tmux, 80x24): `digit-tui demo` starts the sandbox, the engine and the
TUI; Ctrl+Q leaves the TUI and the install goes on to completion."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from digit_tui.engine.follow import status_json
from digit_tui.sandbox.runtime import stop_background
from tests.tui.conftest import REPO, wait_until

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by `make test`")


class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.sock = f"dtui-{uuid.uuid4().hex[:8]}"
        self.conf = tmp / "tmux.conf"
        self.conf.write_text("set -g remain-on-exit on\n")

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "-f", str(self.conf), *args], capture_output=True,
                              text=True, timeout=10, check=True).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, timeout=10)


def test_demo_opens_the_tui_and_ctrl_q_leaves_the_install_running(tmp_path: Path) -> None:
    work, state = tmp_path / "work", tmp_path / "state"
    work.mkdir()
    script = tmp_path / "run.sh"
    exit_file = tmp_path / "tui.exit"
    # The pane records the TUI's own exit status: tmux's #{pane_dead_status} is left empty by some
    # versions (3.3a) after a clean exit. Written through a rename so it is never read half-written.
    script.write_text(
        f"export DT_TEST_DIR={work} PYTHONPATH={REPO} XDG_STATE_HOME={tmp_path / 'xdg'} TERM=xterm-256color\n"
        f"{sys.executable} -m digit_tui.cli demo --state-dir {state} --speed 50"
        " --graph tests.tui.graphs:gate_graph\n"
        f"echo $? > {exit_file}.tmp && mv {exit_file}.tmp {exit_file}\n")
    tmux = Tmux(tmp_path)
    engine_pid = None
    try:
        tmux("new-session", "-d", "-x", "80", "-y", "24", f"bash {script}")
        # The task's state and its first event are two journal entries: the view may draw one before the other.
        screen = wait_until(lambda: (lambda s: s if all(w in s for w in ("● wait for the gate", "network ✓",
                                                                         "waiting for the gate file")) else None)(tmux.screen()),
                            timeout=30, what="the install view with the running gate task and its event")
        lines = screen.splitlines()
        assert lines[0].startswith("DIGIT installer · demo · digit.demo.local")
        assert "● running" in lines[0]
        assert any("✓ Prerequisites" in x and "1/1" in x for x in lines)
        assert "^q quit (install continues)" in lines[-1]
        assert "You may close this terminal; re-attach: digit-tui tui --state-dir" in screen
        assert (state / "answers.yaml").read_text().startswith("# Demo install")

        tmux("send-keys", "C-q")
        wait_until(exit_file.exists, timeout=15, what="the TUI to exit")
        assert exit_file.read_text().strip() == "0"
        # The status file can be written before tmux has drawn the TUI's last output: wait for it too.
        wait_until(lambda: "the install continues in the background" in tmux.screen().replace("\n", ""),
                   timeout=10, what="the goodbye line on the terminal")

        engine_pid = int((state / "engine.lock").read_text().strip())
        os.kill(engine_pid, 0)                                  # the engine outlived the TUI
        assert status_json(state)["run"]["state"] == "running"
        (work / "gate").write_text("open")
        wait_until(lambda: status_json(state)["complete"], timeout=20, what="the install to complete")
    finally:
        tmux.kill()
        stop_background(state / "sandbox")
        lock = state / "engine.lock"
        if lock.exists() and lock.read_text().strip().isdigit():
            engine_pid = int(lock.read_text().strip())
        if engine_pid:
            try:
                os.kill(engine_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _events_before(screen: str, when: str) -> list[str]:
    """The event lines of the right-hand panel stamped no later than ``when`` (HH:MM:SS)."""
    stamped = []
    for line in screen.splitlines():
        panel = line.split("││", 1)[1] if "││" in line else ""
        words = panel.strip(" │").split()
        if words and len(words[0]) == 8 and words[0].count(":") == 2 and words[0] <= when:
            stamped.append(panel.strip(" │"))
    return stamped


def test_a_killed_terminal_mid_install_and_digit_tui_in_a_new_one_reattaches_with_the_whole_history(
        tmp_path: Path) -> None:
    """The operator's terminal (here: the whole tmux server) dies mid-install; `digit-tui` in a new
    terminal finds the install, re-attaches to it and shows it going on (or finished) with the
    history from before the terminal died. The real product end to end: the welcome screen's
    "try the sandbox" (the demo: the sandbox, the sample release, the detached engine)."""
    xdg = tmp_path / "xdg"
    state = xdg / "digit-tui" / "demo"
    script = tmp_path / "run.sh"
    script.write_text(f"export PYTHONPATH={REPO} XDG_STATE_HOME={xdg} TERM=xterm-256color\n"
                      f"{sys.executable} -m digit_tui.cli\n")
    first, second = Tmux(tmp_path), Tmux(tmp_path)
    try:
        first("new-session", "-d", "-x", "80", "-y", "24", f"bash {script}")
        wait_until(lambda: "No install found" in first.screen(), timeout=30, what="the welcome screen")
        first("send-keys", "s")                                  # try the sandbox
        wait_until(lambda: (lambda s: "DIGIT installer · demo" in s and "● running" in s.splitlines()[0])(
            first.screen()), timeout=120, what="the demo's install view, running")
        killed_at = time.strftime("%H:%M:%S")
        first.kill()                                             # the terminal is gone, the TUI with it
        run = status_json(state)["run"]
        assert run["engine_alive"] or run["state"] == "done"     # the install did not die with it

        second("new-session", "-d", "-x", "80", "-y", "24", f"bash {script}")
        screen = wait_until(lambda: (lambda s: s if s.startswith("DIGIT installer · demo · digit.demo.local")
                                     and ("● running" in s.splitlines()[0] or "✓ done" in s.splitlines()[0])
                                     else None)(second.screen()), timeout=30, what="the re-attached install view")
        assert "Prerequisites" in screen and "Release" in screen
        wait_until(lambda: "✓ install complete" in second.screen(), timeout=180, what="the install to finish")
        second("send-keys", "Home")                              # the first phase: from before the kill
        screen = wait_until(lambda: (lambda s: s if "╭─ Prerequisites ─" in s.splitlines()[1] else None)(
            second.screen()), timeout=10, what="the Prerequisites phase's events")
        history = _events_before(screen, killed_at)
        assert any("prerequisites" in line for line in history), history
        assert status_json(state)["complete"]
    finally:
        first.kill()
        second.kill()
        stop_background(state / "sandbox")
        lock = state / "engine.lock"
        if lock.exists() and lock.read_text().strip().isdigit():
            try:
                os.kill(int(lock.read_text().strip()), signal.SIGKILL)
            except ProcessLookupError:
                pass
