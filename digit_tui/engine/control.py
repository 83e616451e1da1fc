"""The engine's control channel: a Unix socket only its owner can use.

The socket file is created 0600 inside the 0700 state directory, and each
connection's peer uid (SO_PEERCRED) must match the engine's uid. One JSON
request per line, one JSON reply per line.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOCKET_NAME = "engine.sock"
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def socket_path(state_dir: Path) -> Path:
    return Path(state_dir) / SOCKET_NAME


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
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
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
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request must be an object")
                reply = self.handler(request)
            except (ValueError, KeyError) as exc:
                reply = {"ok": False, "error": f"bad request: {exc}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


def send(state_dir: Path, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """Send one command to the engine; ConnectionError when no engine listens."""
    path = socket_path(state_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise ConnectionError(f"no engine is running for {state_dir}") from exc
        s.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, Any] = json.loads(data or b'{"ok": false, "error": "engine closed the connection"}')
    return reply
