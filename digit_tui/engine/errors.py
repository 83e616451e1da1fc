"""Error classes the engine understands, and the classifier for everything else.

Transient errors (the network, an overloaded API) are retried with backoff and
then parked in ``waiting-for-network``; permanent ones (a wrong password, a host
key mismatch, invalid input, a chart that does not render) stop the task at
once, because retrying them only hides the real problem from the operator.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
from enum import Enum

from digit_tui.errors import InputError


class ErrorKind(str, Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class TaskError(Exception):
    """Base for errors raised deliberately by tasks."""

    kind: ErrorKind = ErrorKind.PERMANENT

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return self.message


class TransientError(TaskError):
    """Worth retrying: the same call may succeed once the network is back."""

    kind = ErrorKind.TRANSIENT


class PermanentError(TaskError):
    """Retrying cannot help; the operator has to change something (``remedy``)."""

    kind = ErrorKind.PERMANENT


_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE, errno.EAGAIN,
}


def _http_status(exc: BaseException) -> int | None:
    # kubernetes.client.ApiException, aiohttp.ClientResponseError and urllib's
    # HTTPError all carry the status under one of these names.
    for attr in ("status", "code", "status_code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value <= 599:
            return value
    return None


def classify(exc: BaseException) -> ErrorKind:
    """Decide whether ``exc`` is worth retrying."""
    if isinstance(exc, TaskError):
        return exc.kind
    if isinstance(exc, InputError):
        return ErrorKind.PERMANENT
    name = type(exc).__name__
    # paramiko, by name so that the engine does not import it
    if name in {"BadHostKeyException", "AuthenticationException", "BadAuthenticationType",
                "PasswordRequiredException"}:
        return ErrorKind.PERMANENT
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ErrorKind.PERMANENT
    status = _http_status(exc)
    if status is not None:
        if status >= 500 or status in (408, 429):
            return ErrorKind.TRANSIENT
        if status == 0:
            return ErrorKind.TRANSIENT
        return ErrorKind.PERMANENT
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, socket.gaierror, socket.timeout,
                        ConnectionError, EOFError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return ErrorKind.TRANSIENT
    # urllib3 / requests / aiohttp connection failures, matched by name to stay dependency-free
    if any(k in name for k in ("MaxRetryError", "ProtocolError", "NewConnectionError",
                                "ClientConnectorError", "ServerDisconnectedError",
                                "ReadTimeoutError", "ConnectTimeoutError", "SSHException")):
        return ErrorKind.TRANSIENT
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        return classify(exc.__cause__)
    return ErrorKind.PERMANENT


def remedy_for(exc: BaseException) -> str | None:
    if isinstance(exc, TaskError):
        return exc.remedy
    name = type(exc).__name__
    if name == "BadHostKeyException":
        return "the host key changed: verify the VM, then remove its line from known_hosts in the state directory"
    if name == "AuthenticationException":
        return "check the SSH user and key in the answers file"
    if isinstance(exc, InputError):
        return "fix the answers file and run `digit-tui validate`"
    return None
