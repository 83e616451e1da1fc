"""Connectivity probes used while tasks wait for the network to come back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from digit_tui.engine.task import Endpoint


@dataclass(frozen=True)
class ProbeResult:
    endpoint: Endpoint
    ok: bool
    detail: str           # "12 ms" or the error, e.g. "connection refused"


async def probe_tcp(endpoint: Endpoint, timeout: float = 2.0) -> ProbeResult:
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(endpoint.host, endpoint.port), timeout)
    except asyncio.TimeoutError:
        return ProbeResult(endpoint, False, f"no answer within {timeout:g}s")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return ProbeResult(endpoint, False, reason.lower())
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 1.0)
    except (OSError, asyncio.TimeoutError):
        pass
    return ProbeResult(endpoint, True, f"{(loop.time() - start) * 1000:.0f} ms")


async def probe_all(endpoints: Iterable[Endpoint], timeout: float = 2.0) -> list[ProbeResult]:
    eps = list(dict.fromkeys(endpoints))
    if not eps:
        return []
    return list(await asyncio.gather(*(probe_tcp(e, timeout) for e in eps)))


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
