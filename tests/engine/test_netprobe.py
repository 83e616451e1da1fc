"""The network probe against real servers: a silent listener, a closed port, the sandbox API
answering, partitioned (drop and refuse) and failing with 503."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from digit_tui.engine.netprobe import probe_all, probe_endpoint
from digit_tui.engine.rundoc import RunOptions
from digit_tui.engine.task import Endpoint
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path_factory.mktemp("probe-sandbox"), nodes=1, speed=50.0) as handle:
        yield handle


@pytest.fixture
def api(sandbox: SandboxHandle) -> Iterator[Endpoint]:
    host, port = sandbox.url.removeprefix("https://").rsplit(":", 1)
    yield Endpoint(host, int(port), "cluster API", "https")
    sandbox.clear_faults()


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A listener that accepts connections and never sends a byte (a wedged or half-partitioned API)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for w in held:
            w.close()
        server.close()
        await server.wait_closed()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()   # nothing listens there any more: connects are refused
    return port


async def test_a_listener_that_never_answers_is_down_for_https_and_up_for_tcp(silent_port: int) -> None:
    https = Endpoint("127.0.0.1", silent_port, "cluster API", "https")
    tcp = Endpoint("127.0.0.1", silent_port, "ssh node-1")
    start = time.monotonic()
    down, up = await probe_all([https, tcp], timeout=0.5)
    assert time.monotonic() - start < 3, "the probe keeps to its timeout"
    assert not down.ok and down.connected
    assert down.detail == "connected but the API did not answer within 0.5s"
    assert up.ok and up.detail.endswith(" ms")


async def test_a_closed_port_says_connection_refused() -> None:
    port = closed_port()
    for scheme in ("https", "tcp"):
        r = await probe_endpoint(Endpoint("127.0.0.1", port, "cluster API", scheme), timeout=2)
        assert (r.ok, r.connected, r.detail) == (False, False, "connection refused")
    # A name with more than one address (::1 and 127.0.0.1) fails the same way, not "multiple exceptions".
    r = await probe_endpoint(Endpoint("localhost", port, "", "tcp"), timeout=2)
    assert r.detail == "connection refused"


async def test_the_sandbox_api_answers_without_credentials(api: Endpoint) -> None:
    r = await probe_endpoint(api, timeout=3)
    assert r.ok, r.detail
    assert "(HTTP 200)" in r.detail and r.millis is not None


async def test_any_http_status_proves_the_api_server_is_there(sandbox: SandboxHandle, api: Endpoint) -> None:
    sandbox.fault({"kind": "errors", "rate": 1.0, "code": "503"})
    r = await probe_endpoint(api, timeout=3)
    assert r.ok and "(HTTP 503)" in r.detail


async def test_a_partitioned_api_accepts_tcp_but_is_down_until_it_heals(sandbox: SandboxHandle,
                                                                      api: Endpoint) -> None:
    sandbox.fault({"kind": "partition", "seconds": 60, "mode": "drop"})
    https, tcp = await probe_all([api, Endpoint(api.host, api.port, "tcp view")], timeout=1)
    assert tcp.ok, "the TCP connect alone still succeeds: why the API itself is asked"
    assert not https.ok and https.detail == "connected but the API did not answer within 1s"
    sandbox.clear_faults()
    assert (await probe_endpoint(api, timeout=3)).ok


async def test_a_partition_in_refuse_mode_is_down_at_once(sandbox: SandboxHandle, api: Endpoint) -> None:
    sandbox.fault({"kind": "partition", "seconds": 60, "mode": "refuse"})
    start = time.monotonic()
    r = await probe_endpoint(api, timeout=5)
    assert not r.ok and r.connected and "closed the connection" in r.detail
    assert time.monotonic() - start < 4, "a reset is reported as it happens, not after the timeout"


async def test_an_unknown_host_is_named() -> None:
    r = await probe_endpoint(Endpoint("no-such-host.invalid", 6443, "cluster API", "https"), timeout=5)
    assert not r.ok and r.detail == "no such host no-such-host.invalid"


def test_settings_endpoints_get_a_scheme() -> None:
    eps = RunOptions.of({"endpoints": [
        {"host": "10.0.0.1", "port": 6443, "label": "cluster API", "scheme": "https"},
        {"host": "api.example", "port": 8443, "label": "cluster API"},     # runs written before "scheme"
        {"host": "10.0.0.2", "port": 6443, "label": "cluster API endpoint"},
        {"host": "10.0.0.3", "port": 22, "label": "ssh worker-1"},
        {"host": "10.0.0.4", "port": 443, "label": "probe registry", "scheme": "tcp"},
    ]}).endpoints
    assert [e.scheme for e in eps] == ["https", "https", "https", "tcp", "tcp"]
    settings = {"endpoints": [{"host": "10.0.0.1", "port": 6443, "label": "cluster API"},
                              {"host": "10.0.0.3", "port": 22, "label": "ssh worker-1"}]}
    assert RunOptions.of(settings).api_endpoints == [Endpoint("10.0.0.1", 6443, "cluster API", "https")]
    assert RunOptions.of({}).api_endpoints == []

