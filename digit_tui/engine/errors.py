"""The classifier: which errors are worth retrying, and their remedies.

Transient errors (the network, an overloaded API) are retried with backoff and
then parked in ``waiting-for-network``; permanent ones (a wrong password, a host
key mismatch, invalid input, a chart that does not render) stop the task at
once, because retrying them only hides the real problem from the operator.
"""

from __future__ import annotations

import asyncio
import errno
import sys
from collections.abc import Iterable

# The error classes live at the bottom of the package (digit/ and infra/ raise them and know no
# engine); the engine re-exports them with the classifier that reads them.
from digit_tui.errors import ErrorKind, InputError, PermanentError, TaskError, TransientError
from digit_tui.infra.failures import FailureKind, failure_of, http_status

__all__ = ["ErrorKind", "PermanentError", "TaskError", "TransientError", "classify", "remedy_for"]

_TRANSIENT_ERRNOS = {
    errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT,
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EPIPE, errno.EAGAIN,
}

# paramiko's refusals: retrying cannot fix a changed host key or a refused login.
_SSH_PERMANENT = ("BadHostKeyException", "AuthenticationException", "BadAuthenticationType",
                  "PasswordRequiredException")


def _classes(module: str, names: Iterable[str]) -> tuple[type[BaseException], ...]:
    """Exception classes of an optional library, only if it is loaded: an exception of a library
    nobody imported cannot exist, and the engine imports none of them itself."""
    mod = sys.modules.get(module)
    return tuple(getattr(mod, n) for n in names if isinstance(getattr(mod, n, None), type)) if mod else ()


def classify(exc: BaseException) -> ErrorKind:
    """Decide whether ``exc`` is worth retrying."""
    if isinstance(exc, TaskError):
        return exc.kind
    if isinstance(exc, InputError):
        return ErrorKind.PERMANENT
    # An adapter's own error that already knows (infra's SshError, TerraformError): the engine
    # takes its word rather than importing it.
    said = getattr(exc, "transient", None)
    if isinstance(said, bool):
        return ErrorKind.TRANSIENT if said else ErrorKind.PERMANENT
    if isinstance(exc, _classes("paramiko", _SSH_PERMANENT)) or isinstance(exc, _classes("paramiko.ssh_exception",
                                                                                         _SSH_PERMANENT)):
        return ErrorKind.PERMANENT
    # A connection or HTTP failure, however deeply a client library wrapped it: a certificate, the
    # credentials, the rights or a name that does not resolve are permanent; the network is not.
    failure = failure_of(exc)
    if failure is not None:
        return ErrorKind.TRANSIENT if failure.transient else ErrorKind.PERMANENT
    if http_status(exc) is not None:   # any other 4xx: the request itself is wrong
        return ErrorKind.PERMANENT
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError, EOFError)):
        return ErrorKind.TRANSIENT
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return ErrorKind.TRANSIENT
    if isinstance(exc, _classes("paramiko", ("SSHException",))):
        return ErrorKind.TRANSIENT
    if exc.__cause__ is not None and exc.__cause__ is not exc:
        return classify(exc.__cause__)
    return ErrorKind.PERMANENT


def remedy_for(exc: BaseException) -> str | None:
    if isinstance(exc, TaskError):
        return exc.remedy
    if isinstance(exc, InputError):
        return "fix the answers file and run `digit-tui validate`"
    own = getattr(exc, "remedy", None)
    if isinstance(own, str) and own:
        return own
    name = type(exc).__name__
    if name == "BadHostKeyException":
        return "the host key changed: verify the VM, then remove its line from known_hosts in the state directory"
    if name == "AuthenticationException":
        return "check the SSH user and key in the answers file"
    failure = failure_of(exc)
    if failure is not None and failure.kind is FailureKind.TLS:
        return "the server's certificate is not trusted: check the CA configured for it"
    if failure is not None and failure.kind is FailureKind.NO_SUCH_HOST:
        return "the host name does not resolve: check the address, or DNS/VPN"
    return None
