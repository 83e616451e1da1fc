"""Helpers for TUI tests: read the screen as text, wait for it with a deadline, real engines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SIZES = [(80, 24), (120, 40)]

ANSWERS = """\
version: 1
environment: tuitest
target:
  provider: sandbox
digit:
  domain: egov.example.test
"""


def screen_text(app: Any) -> str:
    """What the terminal shows right now, as plain text lines."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(s.text for s in strips)


async def wait_screen(pilot: Any, cond: Callable[[str], bool], timeout: float = 10.0, what: str = "") -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        await pilot.pause()
        text = screen_text(pilot.app)
        if cond(text):
            return text
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what or cond}; screen was:\n{text}")


def line_with(text: str, needle: str) -> str:
    for line in text.splitlines():
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not on screen:\n{text}")


def wait_until(cond: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or cond}")


class EngineEnv:
    """A state dir + answers + work dir, and a real detached engine on a synthetic graph."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.work = tmp / "work"
        self.work.mkdir()
        self.state = tmp / "state"
        self.state.mkdir(mode=0o700)
        self.answers = tmp / "answers.yaml"
        self.answers.write_text(ANSWERS)
        self.environ = dict(os.environ, DT_TEST_DIR=str(self.work), PYTHONPATH=str(REPO),
                            XDG_STATE_HOME=str(tmp / "xdg"))
        self.procs: list[subprocess.Popen[bytes]] = []

    def start_engine(self, graph: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "engine", "--state-dir", str(self.state),
                                 "--answers", str(self.answers), "--graph", graph],
                                env=self.environ, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def engine_pid(self) -> int | None:
        try:
            text = (self.state / "engine.lock").read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None

    def cleanup(self) -> None:
        pids = {p.pid for p in self.procs}
        pid = self.engine_pid()
        if pid:
            pids.add(pid)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def engine_env(tmp_path: Path) -> Iterator[EngineEnv]:
    env = EngineEnv(tmp_path)
    yield env
    env.cleanup()
