"""Where digit-tui keeps its state: $XDG_STATE_HOME/digit-tui/<environment>/."""

from __future__ import annotations

import os
from pathlib import Path


def state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "digit-tui"


def state_dir(environment: str, override: str | os.PathLike[str] | None = None) -> Path:
    """The state directory of one environment; ``override`` (--state-dir) wins."""
    if override:
        return Path(override).expanduser().resolve()
    return state_root() / environment


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (0700) if needed: it holds secrets and the control socket."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path
