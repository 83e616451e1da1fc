"""The engine's control channel: a Unix socket only its owner can use.

The socket file is created 0600 inside the 0700 state directory, and each
connection's peer uid (SO_PEERCRED) must match the engine's uid. One JSON
request per line, one JSON reply per line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOCKET_NAME = "engine.sock"
Handler = Callable[["Request"], "Reply"]


def socket_path(state_dir: Path) -> Path:
    return Path(state_dir) / SOCKET_NAME


# A socket's address holds at most 107 bytes (sun_path); a state directory under a long home or
# --state-dir is longer than that ("AF_UNIX path too long"). Linux reaches the same file through an
# open descriptor of its directory, /proc/self/fd/N/engine.sock, whatever the directory's length.
_SUN_PATH_MAX = 107


@contextlib.contextmanager
def _address(path: Path) -> Iterator[str]:
    """The address to bind or connect for the socket file at ``path``."""
    text = str(path)
    if len(os.fsencode(text)) <= _SUN_PATH_MAX:
        yield text
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class ControlServer:
    def __init__(self, state_dir: Path, handler: Handler) -> None:
        self.path = socket_path(state_dir)
        self.handler = handler
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        if self.path.exists():
            self.path.unlink()  # left by a killed engine; we hold the state lock
        old = os.umask(0o177)
        try:
            with _address(self.path) as address:
                self._server = await asyncio.start_unix_server(self._serve, path=address)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            if sock is None or _peer_uid(sock) != os.getuid():
                writer.write(b'{"ok": false, "error": "permission denied"}\n')
                return
            line = await asyncio.wait_for(reader.readline(), 10)
            try:
                reply = self.handler(Request.from_json(json.loads(line)))
            except (ValueError, KeyError) as exc:
                reply = Reply(False, f"bad request: {exc}")
            writer.write(json.dumps(reply.to_json()).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


COMMANDS = ("ping", "pause", "resume", "cancel", "retry", "skip")

# The message a skipped task is left with: done, as far as its dependants go, but not by its own check
# (engine/scheduler.py Scheduler.skip). Screens and `status` tell a skipped task from a done one by it.
SKIPPED = "skipped by operator"


def is_skipped(state: str, message: str | None) -> bool:
    return state == "done" and message == SKIPPED


@dataclass(frozen=True)
class Request:
    """One command to the engine (one JSON line on the socket)."""

    cmd: str                        # one of COMMANDS
    task: str | None = None         # retry, skip: the task

    @classmethod
    def from_json(cls, data: Any) -> Request:
        if not isinstance(data, dict):
            raise ValueError("request must be an object")
        cmd, task = data.get("cmd"), data.get("task")
        if not isinstance(cmd, str) or (task is not None and not isinstance(task, str)):
            raise ValueError("request needs cmd (and task) as strings")
        return cls(cmd, task)

    def to_json(self) -> dict[str, Any]:
        return {"cmd": self.cmd, **({"task": self.task} if self.task is not None else {})}


@dataclass(frozen=True)
class Reply:
    """The engine's answer: ok, or why not; ping also says which engine and run."""

    ok: bool
    error: str | None = None
    pid: int | None = None
    run: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Reply:
        if not isinstance(data, dict):
            return cls(False, "the engine sent no reply object")
        pid, run, error = data.get("pid"), data.get("run"), data.get("error")
        return cls(bool(data.get("ok")), str(error) if error is not None else None,
                   int(pid) if isinstance(pid, int) else None, str(run) if run is not None else None)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok}
        out.update({k: v for k, v in (("error", self.error), ("pid", self.pid), ("run", self.run)) if v is not None})
        return out


def send(state_dir: Path, request: Request, timeout: float = 5.0) -> Reply:
    """Send one command to the engine; ConnectionError when no engine listens."""
    path = socket_path(state_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            with _address(path) as address:
                s.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no engine is running for {state_dir}") from exc
        s.sendall(json.dumps(request.to_json()).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return Reply.from_json(json.loads(data or b'{"ok": false, "error": "engine closed the connection"}'))
