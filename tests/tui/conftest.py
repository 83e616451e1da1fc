"""Helpers for TUI tests: read the screen as text, wait for it with a deadline, real engines."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO, EngineEnv, wait_until

__all__ = ["REPO", "EngineEnv", "wait_until"]

SIZES = [(80, 24), (120, 40)]


def run_document(environment: str, domain: str, endpoints: list[dict[str, object]] | None = None) -> dict[str, Any]:
    """A run's configuration document as `digit-tui install` records it, for journals written by hand."""
    from digit_tui.answers.config import InstallConfig
    from digit_tui.answers.model import Answers

    answers = Answers.model_validate({"environment": environment, "target": {"provider": "sandbox"},
                                      "digit": {"domain": domain}}, context={"check_files": False})
    doc = InstallConfig.from_answers(answers).to_document()
    if endpoints is not None:
        doc["endpoints"] = endpoints
    return doc


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


async def type_text(pilot: Any, text: str) -> None:
    """Type ``text`` a key at a time, as an operator does."""
    for ch in text:
        await pilot.press(ch)


def line_with(text: str, needle: str) -> str:
    for line in text.splitlines():
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not on screen:\n{text}")


@pytest.fixture
def engine_env(tmp_path: Path) -> Iterator[EngineEnv]:
    env = EngineEnv(tmp_path)
    env.state.mkdir(mode=0o700)
    yield env
    env.cleanup()


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A state root of this test's own; engines started under it are killed (their whole session)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    root = tmp_path / "xdg" / "digit-tui"
    yield root
    for lock in root.glob("*/engine.lock"):
        text = lock.read_text().strip()
        if text.isdigit():
            try:
                os.killpg(int(text), signal.SIGKILL)   # the engine leads its own session (daemon.spawn)
            except ProcessLookupError:
                pass
