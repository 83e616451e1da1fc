"""Rendered workloads kept on disk between ``digit-tui size`` runs, by the digest of what they came from.

Rendering the release is 90 % of a ``size`` run; planning takes milliseconds. The
workloads a render yields depend only on the chart tree, the manifest, the env
and secrets files, the render engine and digit-tui's own render and sizing code,
so a digest of those names the result. The chart tree and the code are stamped
by path, size, mtime and ctime (what git's index trusts; reading
every chart file would cost as much as the render it saves); the manifest, env
and secrets files by their content.

Stored in ``$XDG_CACHE_HOME/digit-tui/sizing/<digest>.json`` (0600 in a 0700
directory: the workloads hold no secret, but the digest covers a secrets file). A
file that cannot be read or parsed is a miss, never an error: the caller renders.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from digit_tui.paths import cache_root
from digit_tui.sizing.model import ClaimSize, Workload

FORMAT = 1                                       # bump when the stored layout changes
PACKAGE = Path(__file__).resolve().parent.parent
CODE_DIRS = ("digit", "sizing", "infra")         # the code a render and its workloads run through


def cache_dir() -> Path:
    return cache_root() / "sizing"


def _tree_stamp(root: Path, h: Any, suffixes: tuple[str, ...] = ()) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in (".git", "__pycache__"))
        for name in sorted(filenames):
            if suffixes and not name.endswith(suffixes):
                continue
            p = os.path.join(dirpath, name)
            try:
                st = os.stat(p)
            except OSError:
                h.update(f"{os.path.relpath(p, root)}\0?\n".encode())
                continue
            # ctime too: a file edited with its mtime put back still moves its ctime
            h.update(f"{os.path.relpath(p, root)}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())


def _content(path: Path | None) -> str:
    if path is None:
        return "-"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _engine() -> str:
    """Which renderer ``make_renderer("auto")`` picks, and which helm binary when it is helm."""
    helm = shutil.which("helm")
    if not helm:
        return "sdk"
    try:
        st = os.stat(helm)
    except OSError:
        return f"helm:{helm}"
    return f"helm:{helm}:{st.st_size}:{st.st_mtime_ns}"


def inputs_digest(source: Path, manifest: Path, env_file: Path, secrets_file: Path | None,
                  request_path: Iterable[str]) -> str:
    h = hashlib.sha256()
    h.update(f"{FORMAT}\n{_engine()}\n".encode())
    _tree_stamp(source, h)
    for sub in CODE_DIRS:
        _tree_stamp(PACKAGE / sub, h, (".py",))
    for part in (_content(manifest), _content(env_file), _content(secrets_file), ",".join(sorted(request_path))):
        h.update(part.encode() + b"\n")
    return h.hexdigest()


@dataclass(frozen=True)
class Stored:
    """What a render yields for the planner (sizing.release.ReleaseWorkloads without its paths)."""

    workloads: tuple[Workload, ...]
    module_deps: dict[str, tuple[str, ...]]
    selectable: tuple[str, ...]
    version: str | None


def _workload(d: dict[str, Any]) -> Workload:
    claims = tuple(ClaimSize(str(c["name"]), int(c["size_b"]), bool(c["per_replica"])) for c in d["claims"])
    return Workload(**{**d, "claims": claims})


class DiskCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or cache_dir()

    def _file(self, digest: str) -> Path:
        return self.root / f"{digest}.json"

    def load(self, digest: str) -> Stored | None:
        try:
            doc = json.loads(self._file(digest).read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                return None
            return Stored(workloads=tuple(_workload(w) for w in doc["workloads"]),
                          module_deps={str(k): tuple(v) for k, v in doc["module_deps"].items()},
                          selectable=tuple(doc["selectable"]), version=doc["version"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None     # absent, truncated, or written by another layout: render again

    def save(self, digest: str, stored: Stored) -> None:
        """Best effort: a cache that cannot be written costs the next run a render, nothing else."""
        from digit_tui.atomic import atomic_write

        doc = {"format": FORMAT, "workloads": [asdict(w) for w in stored.workloads],
               "module_deps": {k: list(v) for k, v in stored.module_deps.items()},
               "selectable": list(stored.selectable), "version": stored.version}
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(self._file(digest), json.dumps(doc), mode=0o600)
        except OSError:
            pass
