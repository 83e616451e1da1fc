"""Connectivity probes used while tasks wait for the network to come back.

``tcp`` endpoints are up when a connect succeeds. ``https`` endpoints (a Kubernetes API server) must
also answer an HTTP request: a partitioned route or a wedged API server can accept TCP connections
and never answer, and only a request tells those apart from a working server.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from digit_tui.engine.task import Endpoint

READY_PATH = "/readyz"
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)? (\d{3})")


@dataclass(frozen=True)
class ProbeResult:
    endpoint: Endpoint
    ok: bool
    detail: str                   # "12 ms" or the error, e.g. "connection refused"
    millis: float | None = None   # round trip of a successful probe
    connected: bool = False       # the TCP connect succeeded (an https probe may still be down)


def _connect_error(exc: OSError, host: str = "") -> str:
    """A short reason an operator reads: "connection refused", "no such host x", not asyncio's wording."""
    if isinstance(exc, socket.gaierror):
        return f"no such host {host}" if host else "no such host"
    code = exc.errno
    if code is None:
        # A name with several addresses fails with one OSError quoting each ("Multiple exceptions: [Errno 111]...").
        m = re.search(r"\[Errno (\d+)\]", str(exc))
        code = int(m.group(1)) if m else None
    if code == errno.ECONNREFUSED:
        return "connection refused"
    if code is not None:
        return os.strerror(code).lower()
    return (str(exc) or type(exc).__name__).lower()


async def _open(endpoint: Endpoint, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | str:
    try:
        return await asyncio.wait_for(asyncio.open_connection(endpoint.host, endpoint.port), timeout)
    except asyncio.TimeoutError:
        return f"connect timed out after {timeout:g}s"
    except OSError as exc:
        return _connect_error(exc, endpoint.host)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (OSError, ssl.SSLError, asyncio.TimeoutError):
        pass


async def probe_tcp(endpoint: Endpoint, timeout: float = 2.0) -> ProbeResult:
    loop = asyncio.get_running_loop()
    start = loop.time()
    opened = await _open(endpoint, timeout)
    if isinstance(opened, str):
        return ProbeResult(endpoint, False, opened)
    millis = (loop.time() - start) * 1000
    await _close(opened[1])
    return ProbeResult(endpoint, True, f"{millis:.0f} ms", millis=millis, connected=True)


def _liveness_tls() -> ssl.SSLContext:
    # Only a liveness probe: nothing is sent but an anonymous GET, so the certificate is not checked
    # (the task's own client verifies it; a CA problem is that client's error, not "the network").
    # Nor are the system's CAs loaded: create_default_context reads them all, some 100 ms of CPU
    # on the event loop for every probe, for certificates that are never checked.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def probe_https(endpoint: Endpoint, timeout: float = 2.0) -> ProbeResult:
    """TCP connect, TLS, ``GET /readyz`` without credentials; any HTTP status line is "up" (an API
    server answers 401 or 403 to a client without a token, and that still proves it is there)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    opened = await _open(endpoint, timeout)
    if isinstance(opened, str):
        return ProbeResult(endpoint, False, opened)
    reader, writer = opened
    left = max(0.05, timeout - (loop.time() - start))
    silent = ProbeResult(endpoint, False, f"connected but the API did not answer within {timeout:g}s",
                         connected=True)
    try:
        async def exchange() -> bytes:
            await writer.start_tls(_liveness_tls(), server_hostname=endpoint.host)
            host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
            writer.write(f"GET {READY_PATH} HTTP/1.1\r\nHost: {host}:{endpoint.port}\r\n"
                         "User-Agent: digit-tui-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            return await reader.readline()

        line = await asyncio.wait_for(exchange(), left)
    except asyncio.TimeoutError:
        return silent
    except ssl.SSLError as exc:
        return ProbeResult(endpoint, False, f"connected but TLS failed ({exc.reason or exc})", connected=True)
    except (OSError, EOFError) as exc:
        reason = _connect_error(exc) if isinstance(exc, OSError) else "connection closed"
        return ProbeResult(endpoint, False, f"connected but the API closed the connection ({reason})",
                           connected=True)
    finally:
        await _close(writer)
    match = _STATUS_LINE.match(line)
    if not match:
        what = "closed the connection" if not line else "answered something that is not HTTP"
        return ProbeResult(endpoint, False, f"connected but the API {what}", connected=True)
    millis = (loop.time() - start) * 1000
    return ProbeResult(endpoint, True, f"{millis:.0f} ms (HTTP {match.group(1).decode()})", millis=millis,
                       connected=True)


async def probe_endpoint(endpoint: Endpoint, timeout: float = 2.0) -> ProbeResult:
    if endpoint.scheme == "https":
        return await probe_https(endpoint, timeout)
    return await probe_tcp(endpoint, timeout)


async def probe_all(endpoints: Iterable[Endpoint], timeout: float = 2.0) -> list[ProbeResult]:
    eps = list(dict.fromkeys(endpoints))
    if not eps:
        return []
    return list(await asyncio.gather(*(probe_endpoint(e, timeout) for e in eps)))


def parse_endpoint(text: str, label: str = "") -> Endpoint:
    """``host:port`` or ``[v6]:port`` -> Endpoint (ValueError when malformed)."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return Endpoint(host, int(port), label)
