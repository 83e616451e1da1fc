"""What ended a connection is said in the failure's detail: a reset, a server that closed without
answering and an answer cut short read differently (real sockets on loopback, each server doing
what such a peer does)."""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from digit_tui.infra.failures import FailureKind, failure_of


@contextmanager
def peer(behave: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection server on loopback: reads the request, then ``behave``s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        conn.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        behave(conn)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield srv.getsockname()[1]
    finally:
        t.join(10)
        srv.close()


def reset(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # close with RST
    conn.close()


def cut_short(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc")
    conn.close()


def request(port: int) -> BaseException:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/api")
        c.getresponse().read()
    except Exception as exc:    # what the peer did, as the client meets it
        return exc
    finally:
        c.close()
    raise AssertionError("the request succeeded")


def test_a_reset_says_reset_and_a_silent_close_says_closed_without_answering() -> None:
    with peer(reset) as port:
        f = failure_of(request(port))
    assert f is not None and f.kind is FailureKind.UNREACHABLE
    assert "reset" in f.detail.lower()    # the errno's own words: "[Errno 104] Connection reset by peer"
    with peer(lambda conn: conn.close()) as port:
        f = failure_of(request(port))
    assert f is not None and (f.kind, f.detail) == (FailureKind.UNREACHABLE,
                                                    "the server closed the connection without answering")


def test_an_answer_cut_short_and_a_refused_connect_are_told_apart() -> None:
    with peer(cut_short) as port:
        f = failure_of(request(port))
    assert f is not None and (f.kind, f.detail) == (FailureKind.UNREACHABLE, "the answer was cut off before its end")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))    # bound, not listening: connects are refused
    try:
        f = failure_of(request(closed.getsockname()[1]))
    finally:
        closed.close()
    assert f is not None and (f.kind, f.detail) == (FailureKind.REFUSED, "connection refused")
    bare = failure_of(ConnectionError())
    assert bare is not None and bare.detail == "the connection was reset or closed"
    said = failure_of(ConnectionError("proxy said no"))
    assert said is not None and said.detail == "proxy said no"
