"""The versions of the jump host's tools, remembered by the binary's file stamp.

Asking ``kubectl version`` starts a Go binary: 0.2-0.35 s on this machine, on every check of the
prerequisites, so on every rerun of a finished install. A version read once is kept in
``<state dir>/tool-versions.json`` under the tool's path with its size, mtime, ctime, inode and
device: the same binary at the same path says the same version, and a binary replaced in place
(an upgrade) or another one first on PATH has another stamp and is asked again. Only versions
read successfully are kept: a tool that failed is asked every time. A file that cannot be read is
ignored and rewritten; deleting it is always safe.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from digit_tui.atomic import atomic_write

FILENAME = "tool-versions.json"


def stamp(path: str) -> list[int] | None:
    """What identifies this binary's contents without reading them; None when it cannot be seen."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


@dataclass
class ToolCache:
    path: Path
    _known: dict[str, dict[str, object]] = field(default_factory=dict)
    _changed: bool = False

    @classmethod
    def load(cls, state_dir: Path) -> ToolCache:
        cache = cls(state_dir / FILENAME)
        try:
            doc = json.loads(cache.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cache
        if isinstance(doc, dict):
            cache._known = {k: v for k, v in doc.items() if isinstance(v, dict)}
        return cache

    def version(self, name: str, path: str) -> str | None:
        """The version read before from this very binary, or None."""
        entry = self._known.get(f"{name}:{path}")
        now = stamp(path)
        if entry is None or now is None or entry.get("stamp") != now or not isinstance(entry.get("version"), str):
            return None
        return str(entry["version"])

    def remember(self, name: str, path: str, version: str) -> None:
        now = stamp(path)
        if now is not None:
            self._known[f"{name}:{path}"] = {"stamp": now, "version": version}
            self._changed = True

    def save(self) -> None:
        if not self._changed or not self.path.parent.is_dir():
            return
        try:
            atomic_write(self.path, json.dumps(self._known, sort_keys=True), mode=0o600)
        except OSError:
            pass  # a cache: the next check asks the tools again
        self._changed = False
