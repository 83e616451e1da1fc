"""The exclusive lock on a state directory: one engine per environment.

``flock`` is released by the kernel when its holder dies, so a lock left by a
killed engine is simply taken over; the pid written in the file tells a second
engine who holds a live one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from digit_tui.procs import pid_alive

__all__ = ["LockHeld", "StateLock", "pid_alive", "read_pid"]


class LockHeld(Exception):
    def __init__(self, path: Path, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"another digit-tui engine ({who}) holds {path}; "
                         f"attach with `digit-tui` or stop it with `digit-tui cancel`")


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


class StateLock:
    FILENAME = "engine.lock"

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / self.FILENAME
        self._fd: int | None = None
        self.took_over_from: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockHeld(self.path, read_pid(self.path)) from None
        previous = read_pid(self.path)
        if previous and previous != os.getpid() and not pid_alive(previous):
            self.took_over_from = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    def holder(self) -> int | None:
        """The pid of a live holder, or None (probing without taking the lock for long)."""
        pid = read_pid(self.path)
        return pid if pid_alive(pid) else None
