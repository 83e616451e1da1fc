"""The tools' versions are asked once per binary: a second prerequisites check reads the version
the same binary gave before; a binary replaced in place, or one that failed, is asked again.
A stand-in ``kubectl`` (a shell script that counts its runs) is first on PATH."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_tui.preflight.gather import tool_version
from digit_tui.preflight.toolcache import FILENAME, ToolCache


def fake_kubectl(bin_dir: Path, version: str, *, exit_code: int = 0) -> Path:
    tool = bin_dir / "kubectl"
    tool.write_text("#!/bin/sh\n"
                    f"echo run >> {bin_dir / 'runs'}\n"
                    f"echo '{{\"clientVersion\": {{\"gitVersion\": \"{version}\"}}}}'\n"
                    f"exit {exit_code}\n")
    tool.chmod(0o755)
    return tool


def runs(bin_dir: Path) -> int:
    path = bin_dir / "runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


def check(state: Path) -> str:
    """One prerequisites check's reading of kubectl, as tool_results makes it."""
    cache = ToolCache.load(state)
    found = tool_version("kubectl", cache=cache)
    cache.save()
    return found.version or f"error: {found.error}"


def test_the_same_binary_is_asked_once_and_a_replaced_one_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    tool = fake_kubectl(bin_dir, "v1.30.2")

    assert check(state) == "v1.30.2" and runs(bin_dir) == 1
    assert (state / FILENAME).stat().st_mode & 0o077 == 0
    assert check(state) == "v1.30.2" and runs(bin_dir) == 1      # read from the state directory

    fake_kubectl(bin_dir, "v1.31.0-upgraded")                   # replaced in place: another stamp
    assert check(state) == "v1.31.0-upgraded" and runs(bin_dir) == 2
    assert check(state) == "v1.31.0-upgraded" and runs(bin_dir) == 2

    (state / FILENAME).write_text("{not json")                   # a damaged cache is asked past
    assert check(state) == "v1.31.0-upgraded" and runs(bin_dir) == 3
    assert tool.exists()


def test_a_tool_that_fails_is_asked_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    fake_kubectl(bin_dir, "v1.30.2", exit_code=1)
    assert check(state).startswith("error: ") and runs(bin_dir) == 1
    assert check(state).startswith("error: ") and runs(bin_dir) == 2
    assert not (state / FILENAME).exists()
