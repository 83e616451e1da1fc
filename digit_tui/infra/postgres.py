"""Is a PostgreSQL server usable from here: TCP, login, ``SELECT 1``, each within a timeout.

    check_login(PgTarget("10.0.0.5", 5432, "egov_db", "egov"), password, PgOptions(timeout=5))

Speaks the protocol with pg8000 (pure Python: nothing to build on a jump host). The password is
handed to the driver in memory only: never in a process argument, an environment variable or a
message. Every failure is a ``PgError`` with a ``kind``, a one-line message starting with
``host:port`` and, when waiting cannot help, a ``remedy``; ``transient`` says which. Like
``infra.ssh``, this raises no engine error: a task maps it in one line.

Classification: the network (refused, no answer, reset, a server still starting or out of
connection slots) is transient; a refused password, a role or database that does not exist, a
``pg_hba.conf`` that has no entry for this client, a name that does not resolve or a TLS demand the
server cannot meet are permanent, with what to change.
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from digit_tui.errors import KindedError

TlsMode = Literal["prefer", "require", "disable"]


class PgErrorKind(str, Enum):
    REFUSED = "refused"                      # nothing listens on the port (yet)
    UNREACHABLE = "unreachable"              # no answer, no route, reset
    TIMEOUT = "timeout"                      # connected, but the server did not answer in time
    SERVER_BUSY = "server-busy"              # starting up, shutting down, too many connections
    NO_SUCH_HOST = "no-such-host"
    AUTH_FAILED = "auth-failed"              # wrong password, or no such role
    NOT_ALLOWED = "not-allowed"              # pg_hba.conf has no entry for this client
    NO_SUCH_DATABASE = "no-such-database"
    TLS = "tls"                              # TLS required but refused, or the handshake failed
    PROTOCOL = "protocol"                    # not a PostgreSQL server, or an answer we cannot use


TRANSIENT_KINDS = frozenset({PgErrorKind.REFUSED, PgErrorKind.UNREACHABLE, PgErrorKind.TIMEOUT,
                             PgErrorKind.SERVER_BUSY})

# SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_SQLSTATE_KIND = {
    "28P01": PgErrorKind.AUTH_FAILED,        # invalid_password (also: the role does not exist)
    "28000": PgErrorKind.NOT_ALLOWED,        # invalid_authorization_specification: no pg_hba entry, role cannot log in
    "3D000": PgErrorKind.NO_SUCH_DATABASE,   # invalid_catalog_name
    "57P03": PgErrorKind.SERVER_BUSY,        # cannot_connect_now: starting up, in recovery without hot standby
    "57P01": PgErrorKind.SERVER_BUSY,        # admin_shutdown
    "53300": PgErrorKind.SERVER_BUSY,        # too_many_connections
}


class PgError(KindedError[PgErrorKind]):
    transient_kinds = TRANSIENT_KINDS


@dataclass(frozen=True)
class PgTarget:
    host: str
    port: int
    database: str
    user: str

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PgOptions:
    timeout: float = 10.0       # each of: the TCP connect, and every read or write after it
    # prefer: TLS when the server offers it (not verified: the check proves reachability and the
    # login; the services' JDBC settings decide their own TLS); require: refuse a server without it.
    tls: TlsMode = "prefer"
    application_name: str = "digit-tui"


@dataclass(frozen=True)
class PgCheck:
    server_version: str         # "15.8 (Debian 15.8-0+deb12u1)"
    tls: bool                   # the session is encrypted
    millis: float               # connect + login + SELECT 1


def check_login(target: PgTarget, password: str, options: PgOptions = PgOptions()) -> PgCheck:
    """Log in to ``target`` with ``password`` and run ``SELECT 1``. Blocking; PgError on failure."""
    import pg8000.native

    started = time.monotonic()
    conn: Any = None
    try:
        conn = pg8000.native.Connection(
            target.user, host=target.host, port=target.port, database=target.database, password=password,
            timeout=options.timeout, ssl_context=_ssl_context(options.tls),
            application_name=options.application_name, tcp_keepalive=True)
        rows = conn.run("SELECT 1, current_setting('server_version')")
        if not rows or rows[0][0] != 1:
            raise PgError(PgErrorKind.PROTOCOL, f"{target.label}: SELECT 1 did not answer 1")
        tls = isinstance(getattr(conn, "_usock", None), ssl.SSLSocket)
        return PgCheck(str(rows[0][1]), tls, (time.monotonic() - started) * 1000)
    except PgError:
        raise
    except Exception as exc:  # the driver's and the socket's, mapped; nothing else escapes
        raise _classify(exc, target, options) from None
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:   # closing a connection that already broke: nothing to report
                pass


def _ssl_context(mode: TlsMode) -> ssl.SSLContext | bool | None:
    if mode == "disable":
        return False
    if mode == "prefer":
        return None      # pg8000: ask for TLS, go on in the clear when the server says no
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _classify(exc: BaseException, target: PgTarget, options: PgOptions) -> PgError:
    where = target.label
    fields = _server_fields(exc)
    if fields is not None:
        code, text = fields.get("C", ""), fields.get("M", "").strip()
        kind = _SQLSTATE_KIND.get(code)
        if kind is PgErrorKind.AUTH_FAILED:
            return PgError(kind, f"{where}: login refused for role {target.user} ({text or code})",
                           f"check the password in database.password_file (or the secrets file's db.password) and "
                           f"that role {target.user} exists: ALTER ROLE \"{target.user}\" PASSWORD ... on the server")
        if kind is PgErrorKind.NOT_ALLOWED:
            return PgError(kind, f"{where}: the server does not let this client in ({text or code})",
                           f"add a pg_hba.conf entry for this host: host {target.database} {target.user} "
                           "<this host's address>/32 scram-sha-256, then SELECT pg_reload_conf(); and check that "
                           f"role {target.user} has LOGIN")
        if kind is PgErrorKind.NO_SUCH_DATABASE:
            return PgError(kind, f"{where}: database {target.database} does not exist",
                           f"create it: CREATE DATABASE \"{target.database}\" OWNER \"{target.user}\"")
        if kind is PgErrorKind.SERVER_BUSY:
            return PgError(kind, f"{where}: the server cannot take the connection now ({text or code})")
        return PgError(PgErrorKind.PROTOCOL, f"{where}: the server refused the session ({code}: {text})",
                       "see the server's log for this error")
    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return PgError(PgErrorKind.NO_SUCH_HOST, f"{where}: the name {target.host} does not resolve",
                           "check database.host, or the DNS server the VPN provides")
        if isinstance(e, ssl.SSLError):
            return PgError(PgErrorKind.TLS, f"{where}: the TLS handshake failed ({e.reason or e})",
                           "check the server's TLS settings, or use tls: prefer")
        if isinstance(e, ConnectionRefusedError):
            return PgError(PgErrorKind.REFUSED, f"{where}: connection refused: nothing listens on port "
                           f"{target.port}")
        if isinstance(e, (socket.timeout, TimeoutError)):
            return PgError(PgErrorKind.TIMEOUT, f"{where}: no answer within {options.timeout:g}s")
        if isinstance(e, OSError) and e.errno is not None:
            return PgError(PgErrorKind.UNREACHABLE, f"{where}: unreachable ({_errno_text(e)})")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "refuses SSL" in text:
        return PgError(PgErrorKind.TLS, f"{where}: the server does not offer TLS and TLS is required",
                       "enable ssl on the server, or use tls: prefer")
    if text in ("network error", "communication error"):
        return PgError(PgErrorKind.UNREACHABLE, f"{where}: the connection was lost (closed by the server)")
    return PgError(PgErrorKind.PROTOCOL, f"{where}: not a usable PostgreSQL answer ({type(exc).__name__}: "
                   f"{text[:200]})", "check that database.host and database.port name a PostgreSQL server")


def _server_fields(exc: BaseException) -> dict[str, str] | None:
    """The server's ErrorResponse fields (C = SQLSTATE, M = message), which pg8000 passes as a dict."""
    for e in _chain(exc):
        args = getattr(e, "args", ())
        if args and isinstance(args[0], dict) and "C" in args[0]:
            return {str(k): str(v) for k, v in args[0].items()}
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _errno_text(e: OSError) -> str:
    if e.errno == errno.ETIMEDOUT:
        return "no answer"
    if e.errno == errno.ECONNRESET:
        return "reset by the server"
    if e.errno in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "no route to host"
    if e.errno in (errno.ENETUNREACH, errno.ENETDOWN):
        return "network unreachable"
    return (e.strerror or str(e)).lower()
