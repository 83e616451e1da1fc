"""What went wrong talking to a server, as a category rather than a library's exception.

HTTP clients wrap the cause of a failure several layers deep (the kubernetes
client turns a certificate problem into ``ApiException(status=0)`` whose
context is urllib3's ``SSLError`` whose argument is ``ssl.SSLCertVerificationError``;
urllib3's ``MaxRetryError`` hides the real error in ``reason``). ``failure_of``
walks that chain and answers with one ``Failure``: a kind an operator can act on
(the certificate, the token, the rights, the name, the port, the network) and a
one-line detail taken from the root cause, never a wrapper's text.

Only the standard library is imported here. urllib3's classes are looked up in
``sys.modules``: when urllib3 was never imported, none of its exceptions can
exist, so the engine can classify errors without loading HTTP libraries.
"""

from __future__ import annotations

import errno
import http.client
import json
import socket
import ssl
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum


class FailureKind(str, Enum):
    UNREACHABLE = "unreachable"     # timeout, reset, no route: the network
    REFUSED = "refused"             # nothing listens on the port (yet)
    TLS = "tls"                     # the server's certificate is not trusted, or the server speaks no TLS
    UNAUTHORIZED = "unauthorized"   # 401: the credentials were refused
    FORBIDDEN = "forbidden"         # 403: authenticated, but without the rights
    NO_SUCH_HOST = "no-such-host"   # the name does not resolve
    SERVER_ERROR = "server-error"   # 5xx, 429, 408: the server is there but failing


# Waiting can fix these; the others need the operator to change something.
TRANSIENT_KINDS = frozenset({FailureKind.UNREACHABLE, FailureKind.REFUSED, FailureKind.SERVER_ERROR})

_NO_SUCH_NAME = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}
_NETWORK_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                   errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE, errno.EHOSTDOWN}


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    detail: str                 # one line from the root cause ("self-signed certificate in certificate chain")
    status: int | None = None   # the HTTP status for UNAUTHORIZED, FORBIDDEN and SERVER_ERROR
    host: str = ""              # the server's host name, when the client library says which it was

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it: ``reason`` (urllib3), ``__cause__``, ``__context__``
    and exceptions passed as arguments (urllib3's ``SSLError(ssl_error)``), each once."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (getattr(e, "reason", None), e.__cause__, e.__context__, *getattr(e, "args", ())):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _urllib3(*names: str) -> tuple[type[BaseException], ...]:
    mod = sys.modules.get("urllib3.exceptions")
    return tuple(getattr(mod, n) for n in names if hasattr(mod, n)) if mod is not None else ()


def http_status(exc: BaseException) -> int | None:
    # kubernetes.client.ApiException, urllib's HTTPError and aiohttp's ClientResponseError
    # carry the status under one of these names; 0 means "no answer" (the kubernetes client's SSLError).
    for attr in ("status", "code", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


def status_text(exc: BaseException) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else ``HTTP <status> <reason>``."""
    body = getattr(exc, "body", None)
    if body:
        try:
            data = json.loads(body)
            if isinstance(data, dict) and data.get("message"):
                return str(data["message"]).splitlines()[0]
        except (TypeError, ValueError):
            pass
    status = http_status(exc)
    reason = getattr(exc, "reason", None)
    reason = reason if isinstance(reason, str) else ""
    return f"HTTP {status} {reason.splitlines()[0] if reason else ''}".strip()


def _tls_detail(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    reason = getattr(exc, "reason", None)
    if isinstance(exc, ssl.SSLError) and isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()  # WRONG_VERSION_NUMBER: not a TLS port
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    """An error's first line, at most 200 characters (its type's name when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def failure_of(exc: BaseException) -> Failure | None:
    """The category of a failed request, or None when ``exc`` is not a connection failure nor an
    HTTP status that says something about the connection (a 404 or 422 is the caller's business)."""
    found = _failure(exc)
    if found is None or found.status is not None:
        return found
    for e in chain(exc):  # urllib3 keeps the connection (or pool) it failed on
        host = getattr(getattr(e, "conn", None) or getattr(e, "pool", None), "host", None)
        if isinstance(host, str) and host:
            return replace(found, host=host)
    return found


def _failure(exc: BaseException) -> Failure | None:
    status = http_status(exc)
    if status == 401:
        return Failure(FailureKind.UNAUTHORIZED, status_text(exc), status)
    if status == 403:
        return Failure(FailureKind.FORBIDDEN, status_text(exc), status)
    if status is not None and (status >= 500 or status in (408, 429)):
        return Failure(FailureKind.SERVER_ERROR, status_text(exc), status)
    if status is not None:
        return None
    causes = list(chain(exc))
    # Most specific first: a refused connection is also an OSError, a name failure also a "new
    # connection" error, and urllib3 calls both of those timeouts.
    for e in causes:
        if isinstance(e, ssl.SSLCertVerificationError):
            return Failure(FailureKind.TLS, _tls_detail(e))
    for e in causes:
        if isinstance(e, socket.gaierror):
            if e.errno in _NO_SUCH_NAME:
                return Failure(FailureKind.NO_SUCH_HOST, first_line(e))
            return Failure(FailureKind.UNREACHABLE, f"name resolution failed: {first_line(e)}")
    for e in causes:
        if isinstance(e, ssl.SSLError) or isinstance(e, _urllib3("SSLError")):
            if isinstance(e, ssl.SSLEOFError) or "EOF" in str(e):
                return Failure(FailureKind.UNREACHABLE, "the connection closed during the TLS handshake")
            return Failure(FailureKind.TLS, _tls_detail(e))
    for e in causes:
        if isinstance(e, ConnectionRefusedError) or (isinstance(e, OSError) and e.errno == errno.ECONNREFUSED):
            return Failure(FailureKind.REFUSED, "connection refused")
    for e in causes:
        if isinstance(e, OSError) and e.errno in _NETWORK_ERRNOS:
            return Failure(FailureKind.UNREACHABLE, first_line(e))
    for e in causes:
        if isinstance(e, _urllib3("ReadTimeoutError")) or (isinstance(e, TimeoutError) and getattr(e, "reading", False)):
            # urllib3's, or a socket timeout infra.kubelite met after it had connected
            return Failure(FailureKind.UNREACHABLE, "no answer in time (read timed out)")
        if isinstance(e, (socket.timeout, TimeoutError)) or isinstance(e, _urllib3("ConnectTimeoutError")):
            return Failure(FailureKind.UNREACHABLE, "timed out")
    # What ended the connection, the most telling cause first (a library's ProtocolError wraps the
    # reset it met): an operator reads a reset (a firewall, a proxy, a server that restarted) or an
    # answer cut short differently from a connection that never opened.
    for kinds, detail in _CLOSED:
        for e in causes:
            if isinstance(e, kinds):
                return Failure(FailureKind.UNREACHABLE, detail)
    for e in causes:
        if isinstance(e, ConnectionError) or isinstance(e, _urllib3("ProtocolError", "NewConnectionError")):
            return Failure(FailureKind.UNREACHABLE,
                           first_line(e) if str(e).strip() else "the connection was reset or closed")
    for e in causes:  # retries someone left on: say what the last attempt met, not "Max retries exceeded"
        if isinstance(e, _urllib3("MaxRetryError")):
            reason = getattr(e, "reason", None)
            return Failure(FailureKind.UNREACHABLE, first_line(reason) if reason is not None else "no answer")
    return None


_CLOSED: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    # RemoteDisconnected is a ConnectionResetError: it goes first.
    (http.client.RemoteDisconnected, "the server closed the connection without answering"),
    (ConnectionResetError, "the connection was reset (by the server, or a firewall or proxy on the way)"),
    ((BrokenPipeError, ConnectionAbortedError), "the connection was closed while the request was being sent"),
    (http.client.IncompleteRead, "the answer was cut off before its end"),
    (EOFError, "the connection closed before the answer"),
)


def broken_stream(exc: BaseException) -> bool:
    """A watch or chunked answer that ended mid-stream (the caller lists again)."""
    incomplete: tuple[type[BaseException], ...] = (
        http.client.IncompleteRead, *_urllib3("ProtocolError", "ReadTimeoutError", "InvalidChunkLength"))
    return any(isinstance(e, incomplete) for e in chain(exc)) or isinstance(exc, json.JSONDecodeError)


def explain(failure: Failure, kubeconfig: str, server: str = "") -> tuple[str, str]:
    """(problem, remedy) for a failure reaching the Kubernetes API of ``kubeconfig``; one line each."""
    from urllib.parse import urlsplit

    at = f" at {server}" if server else ""
    host = failure.host or (urlsplit(server).hostname if server else "") or "the server"
    kind = failure.kind
    if kind is FailureKind.TLS and "hostname mismatch" in failure.detail.lower():
        return (f"the cluster's certificate is not valid for {host} ({failure.detail})",
                f"use a server URL in {kubeconfig} that the API server's certificate names (or set "
                f"tls-server-name there)")
    if kind is FailureKind.TLS and failure.detail.startswith("certificate verify failed"):
        return (f"the cluster's certificate is not signed by the CA in {kubeconfig} ({failure.detail})",
                f"use the kubeconfig issued for this cluster: its certificate-authority(-data) must be the "
                f"cluster's CA, and its server must be this cluster's API{at}")
    if kind is FailureKind.TLS:
        return (f"TLS with the cluster API{at} failed ({failure.detail})",
                f"check that the server in {kubeconfig} is the API server's https:// URL and port")
    if kind is FailureKind.UNAUTHORIZED:
        return (f"the token/credentials in {kubeconfig} were refused (401 Unauthorized)",
                "get a fresh kubeconfig or token for this cluster (tokens and client certificates expire)")
    if kind is FailureKind.FORBIDDEN:
        return (f"forbidden (403): the kubeconfig's user lacks rights: {failure.detail}",
                f"use a kubeconfig whose user may manage these objects (e.g. bound to cluster-admin), or ask "
                f"the cluster's administrators for that role binding; the kubeconfig is {kubeconfig}")
    if kind is FailureKind.NO_SUCH_HOST:
        return (f"no such host {host}: check the server URL in {kubeconfig} or DNS/VPN",
                f"fix the server in {kubeconfig}, or connect the VPN / DNS that resolves {host}")
    if kind is FailureKind.REFUSED:
        return (f"connection refused by the cluster API{at}",
                f"start the API server (or the tunnel to it) and check the port in the server URL of {kubeconfig}")
    if kind is FailureKind.SERVER_ERROR:
        return (f"the cluster API{at} is failing ({failure.detail})",
                "wait for the API server to recover; its logs say why it fails")
    return (f"cluster API{at} unreachable ({failure.detail})",
            "check the network path to the cluster (VPN, firewall, proxy)")
