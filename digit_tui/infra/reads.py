"""What a run's checks read, so that a later run can tell in one pass that none of it changed.

A check is a function of its inputs and of what it reads: API objects, files, endpoints it
reaches. When a run's every check passed and everything they read is recorded here, a rerun that
finds each read unchanged knows each check would pass again, without building the graph or
running a check (engine/unchanged.py). What cannot be read again that way (a watch, a pod's
log, a write made while checking, an endpoint that did not answer) is named with ``cannot``: the
run is then not recorded. A tool's version is its binary's: where it would be found is recorded
(``command``), not what it printed.

The log is reached through a context variable the engine sets for its run: the tasks' threads
inherit it (the engine runs blocking task code in the run's context), and a ``Kube`` keeps the
log that was current when it was made, for the threads of its own pools. Outside a run nothing is
recorded and every call here is a no-op.

An API read is kept as a digest of what a check could see: the object without its
resourceVersion, managedFields and heartbeat times (a Node's status heartbeat moves its
resourceVersion every few minutes and says nothing a check reads), a list as its items in order.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Fields that change without anything a check reads changing.
_VOLATILE_META = ("resourceVersion", "managedFields")
_VOLATILE_KEYS = frozenset({"lastHeartbeatTime"})
MAX_TREE_FILES = 20_000     # a directory larger than this is not stamped file by file: unwitnessed


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _stable(v) for k, v in value.items() if k not in _VOLATILE_KEYS}
        meta = out.get("metadata")
        if isinstance(meta, dict):
            out["metadata"] = {k: v for k, v in meta.items() if k not in _VOLATILE_META}
        return out
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def fingerprint(doc: Any) -> str:
    """A digest of an API answer (an object, a list's items, a discovery document; None for
    "not found") as a check sees it."""
    text = json.dumps(_stable(doc), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_stamp(path: str | Path) -> list[int] | None:
    """Size, mtime, ctime (ns) and inode of a file or directory; None when it does not exist. A
    rewrite changes the ctime even when the mtime is set back."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:      # there, but not to be looked at (a permission): that, as its stamp
        return [-1, exc.errno or 0, 0, 0]
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def api_key(how: str, path: str, query: Mapping[str, Any] | None = None) -> str:
    """The request a read is keyed by, as JSON: how it was read ("get", "list": all pages, "text"),
    its path and its selectors (paging left out)."""
    params = sorted([k, str(v)] for k, v in (query or {}).items()
                    if v is not None and k not in ("limit", "continue", "timeout", "timeoutSeconds"))
    return json.dumps([how, path, params])


@dataclass
class ReadLog:
    """Everything the checks of one run read. Thread-safe."""

    clusters: dict[tuple[str, str | None], dict[str, str]] = field(default_factory=dict)
    files: dict[str, list[int] | None] = field(default_factory=dict)
    endpoints: set[tuple[str, int, str]] = field(default_factory=set)
    environ: dict[str, str | None] = field(default_factory=dict)
    unwitnessed: list[str] = field(default_factory=list)
    expires: float | None = None       # a check that trusts something for a time says until when
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def spoilt(self) -> bool:
        """Something was not witnessed: the run will not be recorded, so nothing more need be."""
        return bool(self.unwitnessed)

    def api(self, kubeconfig: str, context: str | None, key: str, doc: Any) -> None:
        if self.spoilt:     # an install's applies and waits read a lot: no digest of any of it is kept
            return
        digest = fingerprint(doc)
        with self._lock:
            seen = self.clusters.setdefault((kubeconfig, context), {})
            if seen.get(key, digest) != digest:
                # The same request answered differently within the run: it changed while checking.
                self.unwitnessed.append(f"{key} changed during the run")
            seen[key] = digest

    def file(self, path: str | Path) -> None:
        if self.spoilt:
            return
        where = os.path.abspath(path)
        stamp = file_stamp(where)
        with self._lock:
            self.files[where] = stamp

    def tree(self, root: str | Path) -> None:
        """Every file and directory under ``root`` (a chart tree the check digests), and ``root``."""
        if self.spoilt:
            return
        count = 0
        self.file(root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in [*dirnames, *filenames]:
                count += 1
                if count > MAX_TREE_FILES:
                    self.cannot(f"{root} holds more than {MAX_TREE_FILES} files")
                    return
                self.file(os.path.join(dirpath, name))

    def endpoint(self, host: str, port: int, scheme: str = "tcp") -> None:
        with self._lock:
            self.endpoints.add((host, int(port), scheme))

    def env(self, name: str) -> None:
        value = os.environ.get(name)
        with self._lock:
            self.environ[name] = value

    def command(self, name: str) -> None:
        """Where a command ``name`` would be found: PATH, and each place on it (and beside this
        Python, where wheels install binaries) it could be."""
        self.env("PATH")
        import sys

        dirs = [d for d in (os.environ.get("PATH") or "").split(os.pathsep) if d]
        for d in [*dirs, os.path.dirname(sys.executable)]:
            self.file(os.path.join(d, name))

    def cannot(self, why: str) -> None:
        with self._lock:
            self.unwitnessed.append(why)

    def until(self, when: float) -> None:
        with self._lock:
            self.expires = when if self.expires is None else min(self.expires, when)

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {"clusters": [{"kubeconfig": k, "context": c, "answers": dict(sorted(a.items()))}
                                 for (k, c), a in sorted(self.clusters.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))],
                    "files": dict(sorted(self.files.items())),
                    "endpoints": sorted([h, p, s] for h, p, s in self.endpoints),
                    "environ": dict(sorted(self.environ.items()))}


_CURRENT: contextvars.ContextVar[ReadLog | None] = contextvars.ContextVar("digit_tui_reads", default=None)


@contextmanager
def observing(log: ReadLog) -> Iterator[ReadLog]:
    """Record into ``log`` what code run in this context (and the tasks and threads it starts
    with this context) reads."""
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def current() -> ReadLog | None:
    return _CURRENT.get()


# The calls checks make; no-ops outside a run.
def file(path: str | Path) -> None:
    if (log := _CURRENT.get()) is not None:
        log.file(path)


def tree(root: str | Path) -> None:
    if (log := _CURRENT.get()) is not None:
        log.tree(root)


def endpoint(host: str, port: int, scheme: str = "tcp") -> None:
    if (log := _CURRENT.get()) is not None:
        log.endpoint(host, port, scheme)


def env(name: str) -> None:
    if (log := _CURRENT.get()) is not None:
        log.env(name)


def command(name: str) -> None:
    if (log := _CURRENT.get()) is not None:
        log.command(name)


def cannot(why: str) -> None:
    if (log := _CURRENT.get()) is not None:
        log.cannot(why)


def until(when: float) -> None:
    if (log := _CURRENT.get()) is not None:
        log.until(when)
