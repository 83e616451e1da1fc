"""Fixtures for engine tests: an isolated install driven through the real command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, EngineEnv, wait_until

Env = EngineEnv
__all__ = ["REPO", "Env", "wait_until"]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.cleanup()
