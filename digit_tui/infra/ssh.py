"""SSH to plain hosts over paramiko: connect, run commands, check passwordless sudo.

Every call blocks (tasks run it with ``ctx.run_sync`` or in a thread) and every
call has a timeout. An open connection sends SSH keepalives and the socket has
``TCP_USER_TIMEOUT``: when the network silently drops packets (a VPN that went
away, a firewall DROP) the connection is declared lost within about
``keepalive_interval * keepalive_count`` seconds instead of hanging.

Host keys live in a known_hosts file the caller names (the state directory's).
An unknown host is refused with its SHA256 fingerprint until the caller trusts
it explicitly with ``trust_host_key``, which checks that the fingerprint it is
given is the one the host presents. A changed host key is refused with both
fingerprints; nothing here ever trusts a key by itself.

Errors: every failure is an ``SshError`` with a ``kind`` (``SshErrorKind``), a
one-line message that starts with the host, ``transient`` (would waiting help?)
and, for the permanent ones, a ``remedy``. The module does not raise the
engine's TransientError/PermanentError on purpose: ``infra`` knows nothing of
the engine, and callers need more than two categories (preflight asks for trust
on UNKNOWN_HOST_KEY, gives the VPN verdict on UNREACHABLE, shows the remedy on
AUTH_FAILED). A task maps it in one line: ``TransientError(str(e)) if
e.transient else PermanentError(str(e), e.remedy)``. No paramiko exception
escapes; a key's passphrase never appears in a message, a repr or an argv.
"""

from __future__ import annotations

import errno
import select
import shlex
import socket
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from digit_tui.errors import KindedError
from digit_tui.infra import knownhosts
from digit_tui.infra.knownhosts import HostKeyCheck, KnownKey, Verdict

# paramiko and cryptography (a tenth of a second to import) are imported where a connection is made or
# a key read: `digit-tui plan` and the TUI import this module only for its types and errors.
if TYPE_CHECKING:
    import paramiko


class SshErrorKind(str, Enum):
    UNREACHABLE = "unreachable"              # no route, no answer, closed during the handshake
    REFUSED = "refused"                      # the host answers, nothing listens on the port
    CONNECTION_LOST = "connection-lost"      # an open connection died (keepalives unanswered, reset)
    COMMAND_TIMEOUT = "command-timeout"      # the command ran longer than its timeout
    NO_SUCH_HOST = "no-such-host"            # the name does not resolve
    UNKNOWN_HOST_KEY = "unknown-host-key"    # needs explicit trust
    HOST_KEY_CHANGED = "host-key-changed"
    FINGERPRINT_MISMATCH = "fingerprint-mismatch"   # trust asked for a key the host does not present
    AUTH_FAILED = "auth-failed"
    KEY_UNUSABLE = "key-unusable"            # missing, unreadable, needs a passphrase, wrong passphrase
    PROTOCOL = "protocol"                    # no common algorithms, not an SSH server


TRANSIENT_KINDS = frozenset({SshErrorKind.UNREACHABLE, SshErrorKind.REFUSED, SshErrorKind.CONNECTION_LOST,
                             SshErrorKind.COMMAND_TIMEOUT})


class SshError(KindedError[SshErrorKind]):
    transient_kinds = TRANSIENT_KINDS


class UnknownHostKey(SshError):
    def __init__(self, label: str, host: str, port: int, presented: KnownKey, known_hosts: Path) -> None:
        self.host, self.port, self.presented = host, port, presented
        super().__init__(
            SshErrorKind.UNKNOWN_HOST_KEY,
            f"{label}: host key not trusted yet: {presented.key_type} {presented.fingerprint} "
            f"(not in {known_hosts})",
            f"compare it with the host's own (`ssh-keygen -lf /etc/ssh/ssh_host_{_short(presented.key_type)}"
            f"_key.pub` on its console), then trust {presented.fingerprint} explicitly")

    @property
    def fingerprint(self) -> str:
        return self.presented.fingerprint


class HostKeyChanged(SshError):
    def __init__(self, label: str, check: HostKeyCheck, known_hosts: Path) -> None:
        self.known, self.presented = check.known, check.presented
        old = ", ".join(f"{k.key_type} {k.fingerprint}" for k in check.known)
        super().__init__(
            SshErrorKind.HOST_KEY_CHANGED,
            f"{label}: host key changed: {known_hosts} has {old}, the host now presents "
            f"{check.presented.key_type} {check.presented.fingerprint}",
            "if the host was reinstalled, check the new fingerprint on its console and trust "
            f"{check.presented.fingerprint} explicitly (that replaces the old entry); otherwise something "
            "may be intercepting the connection: do not trust it")


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    user: str = "root"
    name: str = ""          # how the operator calls it ("worker-3"); messages start with it

    @property
    def label(self) -> str:
        where = self.host if self.port == 22 else f"{self.host}:{self.port}"
        return f"{self.name} ({where})" if self.name and self.name != self.host else where


@dataclass(frozen=True)
class SshAuth:
    key_path: Path | None = None
    passphrase: str | None = field(default=None, repr=False)   # never printed
    use_agent: bool = False     # keys of the agent at $SSH_AUTH_SOCK, tried after key_path


@dataclass(frozen=True)
class SshOptions:
    timeout: float = 10.0               # each of: TCP connect, SSH handshake, authentication
    keepalive_interval: float = 5.0     # an SSH keepalive after this many seconds without sending
    keepalive_count: int = 3            # lost after about interval * count seconds without an answer

    @property
    def keepalive_window(self) -> float:
        return self.keepalive_interval * self.keepalive_count


@dataclass(frozen=True)
class RunResult:
    exit_code: int          # -1 when the command ended without a status (killed by a signal)
    stdout: str
    stderr: str
    truncated: bool = False     # some output was left out (head and tail kept)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class SudoStatus(str, Enum):
    ROOT = "root"                           # logged in as root: nothing to elevate
    PASSWORDLESS = "passwordless"
    PASSWORD_REQUIRED = "password-required"
    MISSING = "missing"                     # no sudo on the host


@dataclass(frozen=True)
class SudoCheck:
    status: SudoStatus
    detail: str = ""        # what sudo said when it refused

    @property
    def ok(self) -> bool:
        return self.status in (SudoStatus.ROOT, SudoStatus.PASSWORDLESS)


DEFAULT_MAX_OUTPUT = 1 << 20


def connect(target: SshTarget, auth: SshAuth, known_hosts: Path, options: SshOptions = SshOptions()) -> SshConnection:
    """Open an authenticated connection; the host key must already be in ``known_hosts``."""
    transport = _handshake(target, known_hosts, options)
    try:
        check = knownhosts.verify(known_hosts, target.host, target.port, transport.get_remote_server_key())
        if check.verdict is Verdict.UNKNOWN:
            raise UnknownHostKey(target.label, target.host, target.port, check.presented, known_hosts)
        if check.verdict is Verdict.CHANGED:
            raise HostKeyChanged(target.label, check, known_hosts)
        _authenticate(transport, target, auth)
        transport.set_keepalive(max(1, round(options.keepalive_interval)))
        return SshConnection(transport, target, check.presented)
    except BaseException:
        transport.close()
        raise


def host_key(host: str, port: int, known_hosts: Path, options: SshOptions = SshOptions()) -> KnownKey:
    """The key the host presents to us (negotiated as ``connect`` would), like ``ssh-keyscan``."""
    transport = _handshake(SshTarget(host, port), known_hosts, options)
    try:
        key = transport.get_remote_server_key()
        return KnownKey(key.get_name(), knownhosts.fingerprint(key))
    finally:
        transport.close()


def trust_host_key(known_hosts: Path, host: str, port: int, fingerprint: str,
                   options: SshOptions = SshOptions()) -> KnownKey:
    """Trust the key ``host:port`` presents, only if it is the one with ``fingerprint`` (the operator
    read it on the host's console, or in the UNKNOWN_HOST_KEY / HOST_KEY_CHANGED error)."""
    wanted = knownhosts.normalize_fingerprint(fingerprint)
    target = SshTarget(host, port)
    transport = _handshake(target, known_hosts, options)
    try:
        key = transport.get_remote_server_key()
    finally:
        transport.close()
    presented = KnownKey(key.get_name(), knownhosts.fingerprint(key))
    if presented.fingerprint != wanted:
        raise SshError(SshErrorKind.FINGERPRINT_MISMATCH,
                       f"{target.label}: the host presents {presented.key_type} {presented.fingerprint}, "
                       f"not {wanted}: nothing was trusted",
                       "check the fingerprint you were given, and which host answers at this address")
    knownhosts.trust(known_hosts, host, port, key)
    return presented


class SshConnection:
    """One authenticated connection. Thread-safe: several threads may run commands at once."""

    def __init__(self, transport: paramiko.Transport, target: SshTarget, host_key: KnownKey) -> None:
        self._transport = transport
        self.target = target
        self.host_key = host_key

    def __enter__(self) -> SshConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    @property
    def alive(self) -> bool:
        return self._transport.is_active()

    def run(self, cmd: str, timeout: float, sudo: bool = False, *, input: bytes | None = None,
            max_output: int = DEFAULT_MAX_OUTPUT) -> RunResult:
        """Run ``cmd`` with the login shell (``sudo -n`` first when ``sudo``; not for root) and wait at
        most ``timeout`` seconds. A command that outlives its timeout raises COMMAND_TIMEOUT; its
        channel is closed but the remote process may go on (callers hold a lock on the host).
        Messages never quote ``cmd``: it may carry a token."""
        import paramiko

        deadline = time.monotonic() + timeout
        if sudo and self.target.user != "root":
            cmd = f"sudo -n -- sh -c {shlex.quote(cmd)}"
        chan = self._open_channel(min(timeout, 30.0))
        out, err = _Bounded(max_output), _Bounded(max_output)
        try:
            try:
                chan.exec_command(cmd)
                if input:
                    chan.settimeout(max(0.01, deadline - time.monotonic()))
                    chan.sendall(input)
                chan.shutdown_write()
            except socket.timeout:
                raise self._timed_out(timeout) from None
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise self._lost(e) from None
            fd = chan.fileno()
            while True:
                while chan.recv_ready():
                    out.feed(chan.recv(65536))
                while chan.recv_stderr_ready():
                    err.feed(chan.recv_stderr(65536))
                if chan.closed or (chan.eof_received and chan.exit_status_ready()):
                    break
                if not self._transport.is_active():
                    raise self._lost(None)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise self._timed_out(timeout)
                if chan.eof_received:    # the pipe stays readable after EOF: wait for the status instead
                    chan.status_event.wait(min(left, 0.5))
                else:
                    select.select([fd], [], [], min(left, 0.5))
            while chan.recv_ready():
                out.feed(chan.recv(65536))
            while chan.recv_stderr_ready():
                err.feed(chan.recv_stderr(65536))
            if chan.exit_status == -1 and not self._transport.is_active():
                raise self._lost(None)     # the channel closed because the connection died
            return RunResult(chan.exit_status, out.text(), err.text(), out.truncated or err.truncated)
        finally:
            chan.close()

    def sudo_check(self, timeout: float = 10.0) -> SudoCheck:
        """Can this user run commands as root without a password (``sudo -n true``)?"""
        script = ('if [ "$(id -u)" = 0 ]; then echo root; '
                  'elif ! command -v sudo >/dev/null 2>&1; then echo missing; '
                  'elif out=$(sudo -n true 2>&1 </dev/null); then echo passwordless; '
                  'else echo "password-required $out"; fi')
        r = self.run(script, timeout)
        word, _, detail = r.stdout.strip().partition(" ")
        try:
            return SudoCheck(SudoStatus(word), detail.strip())
        except ValueError:
            return SudoCheck(SudoStatus.PASSWORD_REQUIRED, (r.stdout + r.stderr).strip()[:200])

    def _open_channel(self, timeout: float) -> paramiko.Channel:
        import paramiko

        if not self._transport.is_active():
            raise self._lost(None)
        try:
            return self._transport.open_session(timeout=timeout)
        except (paramiko.SSHException, EOFError, OSError) as e:
            raise self._lost(e) from None

    def _timed_out(self, timeout: float) -> SshError:
        return SshError(SshErrorKind.COMMAND_TIMEOUT, f"{self.target.label}: the command did not finish "
                        f"within {timeout:g}s")

    def _lost(self, exc: BaseException | None) -> SshError:
        cause = self._transport.get_exception() or exc
        return SshError(SshErrorKind.CONNECTION_LOST,
                        f"{self.target.label}: the connection was lost ({_network_detail(cause)})")


class _Bounded:
    """At most ``limit`` bytes of a stream: its head and its tail, which is where errors are."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    @property
    def truncated(self) -> bool:
        return self.dropped > 0

    def feed(self, data: bytes) -> None:
        half = self.limit // 2
        room = half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > self.limit - half:
            cut = len(self.tail) - (self.limit - half)
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        middle = f"\n[... {self.dropped} bytes left out ...]\n".encode() if self.dropped else b""
        return bytes(self.head + middle + self.tail).decode("utf-8", "replace")


def _short(key_type: str) -> str:
    return {"ssh-ed25519": "ed25519", "ssh-rsa": "rsa"}.get(key_type, "ecdsa" if "ecdsa" in key_type else key_type)


def _handshake(target: SshTarget, known_hosts: Path, options: SshOptions) -> paramiko.Transport:
    import paramiko

    sock = _open_socket(target, options)
    try:
        transport = paramiko.Transport(sock)
    except BaseException:
        sock.close()
        raise
    try:
        transport.banner_timeout = options.timeout
        transport.handshake_timeout = options.timeout
        transport.auth_timeout = options.timeout
        sec = transport.get_security_options()
        sec.key_types = knownhosts.preferred_algorithms(known_hosts, target.host, target.port, tuple(sec.key_types))
        done = threading.Event()
        transport.start_client(event=done)
        if not done.wait(options.timeout):
            raise SshError(SshErrorKind.UNREACHABLE, f"{target.label}: unreachable: no SSH handshake within "
                           f"{options.timeout:g}s")
        if not transport.is_active():
            raise _handshake_error(target, transport.get_exception())
        return transport
    except BaseException:
        transport.close()
        raise


def _handshake_error(target: SshTarget, exc: BaseException | None) -> SshError:
    # types-paramiko's paramiko/__init__.pyi does not re-export it, though paramiko does
    from paramiko.ssh_exception import IncompatiblePeer

    if isinstance(exc, IncompatiblePeer):
        return SshError(SshErrorKind.PROTOCOL, f"{target.label}: no SSH algorithms in common with the host ({exc})",
                        "the host's sshd offers only algorithms this program refuses; update its configuration")
    text = str(exc) if exc is not None else ""
    if text.startswith("Indecipherable protocol version"):
        return SshError(SshErrorKind.PROTOCOL, f"{target.label}: this port does not answer as an SSH server",
                        "check the SSH port of the host")
    # closed during the banner or the key exchange: what a half-up network or a forwarder looks like
    return SshError(SshErrorKind.UNREACHABLE, f"{target.label}: unreachable: the connection closed during the "
                    f"SSH handshake ({_network_detail(exc)})")


def _open_socket(target: SshTarget, options: SshOptions) -> socket.socket:
    label = target.label
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SshError(SshErrorKind.NO_SUCH_HOST, f"{label}: no such host ({e.strerror})",
                       "check the address, or DNS / the VPN") from None
    last: SshError | None = None
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(options.timeout)
        try:
            sock.connect(addr)
        except (socket.timeout, TimeoutError):
            last = SshError(SshErrorKind.UNREACHABLE, f"{label}: unreachable: no answer within {options.timeout:g}s")
        except ConnectionRefusedError:
            last = SshError(SshErrorKind.REFUSED, f"{label}: connection refused: nothing listens on port "
                            f"{target.port}")
        except OSError as e:
            last = SshError(SshErrorKind.UNREACHABLE, f"{label}: unreachable: {_network_detail(e)}")
        else:
            _tune(sock, options)
            return sock
        sock.close()
    assert last is not None
    raise last


def _tune(sock: socket.socket, options: SshOptions) -> None:
    """Make a silent network visible: the kernel aborts the connection when what we sent (an SSH
    keepalive at the latest) stays unacknowledged for the rest of the keepalive window."""
    interval = max(1, round(options.keepalive_interval))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", interval), ("TCP_KEEPINTVL", interval),
                        ("TCP_KEEPCNT", max(1, options.keepalive_count))):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        ms = max(1000, int(interval * max(1, options.keepalive_count - 1) * 1000))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, ms)


def _network_detail(exc: BaseException | None) -> str:
    if exc is None or isinstance(exc, EOFError):
        return "closed by the host"
    err = getattr(exc, "errno", None)
    if err == errno.ETIMEDOUT or isinstance(exc, (socket.timeout, TimeoutError)):
        return "no answer from the host (keepalives unanswered)"
    if err == errno.ECONNRESET:
        return "reset by the host"
    if err in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return "no route to host"
    if err in (errno.ENETUNREACH, errno.ENETDOWN):
        return "network unreachable"
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def _authenticate(transport: paramiko.Transport, target: SshTarget, auth: SshAuth) -> None:
    import paramiko

    keys: list[tuple[str, paramiko.PKey]] = []
    if auth.key_path is not None:
        keys.append((str(auth.key_path), load_key(auth.key_path, auth.passphrase, target.label)))
    agent = paramiko.Agent() if auth.use_agent else None
    try:
        if agent is not None:
            keys += [(f"agent key {knownhosts.fingerprint(k)}", k) for k in agent.get_keys()]
        if not keys:
            raise SshError(SshErrorKind.KEY_UNUSABLE, f"{target.label}: no SSH key to log in with (no key file, "
                           "and the agent has no keys)",
                           "name a private key, or add one to the agent (ssh-add)")
        for _, key in keys:
            try:
                transport.auth_publickey(target.user, key)
                return
            except paramiko.BadAuthenticationType as e:
                raise SshError(SshErrorKind.AUTH_FAILED, f"{target.label}: the host does not accept SSH keys for "
                               f"{target.user} (it allows: {', '.join(e.allowed_types) or 'nothing'})",
                               "enable public-key authentication in the host's sshd_config") from None
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as e:
                raise SshError(SshErrorKind.UNREACHABLE, f"{target.label}: unreachable: the connection closed "
                               f"during authentication ({_network_detail(transport.get_exception() or e)})") from None
        tried = ", ".join(name for name, _ in keys)
        raise SshError(SshErrorKind.AUTH_FAILED, f"{target.label}: login refused for user {target.user} "
                       f"(tried {tried})",
                       f"check the user name, and that the public key is in ~{target.user}/.ssh/authorized_keys "
                       "on the host")
    finally:
        if agent is not None:
            agent.close()


class _KeyLoader(Protocol):
    """cryptography's load_ssh_private_key and load_pem_private_key, as _decrypt calls them."""
    def __call__(self, data: bytes, password: bytes | None) -> object: ...


def _decrypt(load: _KeyLoader, data: bytes, secret: bytes | None) -> tuple[object | None, str]:
    """cryptography's verdict as a word: it says "wrong passphrase" and "damaged" alike (ValueError)."""
    try:
        return load(data, password=secret), ""
    except TypeError as e:
        return None, "not-encrypted" if "not encrypted" in str(e) else "passphrase-needed"
    except ValueError:
        return None, "bad-data"
    except Exception:   # an unsupported cipher or algorithm inside the key file
        return None, "unsupported"


def load_key(path: Path, passphrase: str | None, label: str = "") -> paramiko.PKey:
    """A private key file (OpenSSH or PEM format), decrypted with ``passphrase`` if it is encrypted.
    Errors say what is wrong with the key and never include the passphrase (nor chain the library's
    exception, whose arguments are not ours to vouch for)."""
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    key_classes = ((ed25519.Ed25519PrivateKey, paramiko.Ed25519Key), (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
                   (rsa.RSAPrivateKey, paramiko.RSAKey))
    who = f"{label}: " if label else ""

    def unusable(why: str, remedy: str) -> SshError:
        return SshError(SshErrorKind.KEY_UNUSABLE, f"{who}SSH key {path}: {why}", remedy)

    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as e:
        raise unusable(e.strerror or "cannot be read", "check the path of the private key") from None
    if b"PRIVATE KEY-----" not in data:
        raise unusable("not a private key", "name the private key (not the .pub)")
    secret = passphrase.encode() if passphrase else None
    load: _KeyLoader = serialization.load_ssh_private_key if b"BEGIN OPENSSH PRIVATE KEY" in data else \
        serialization.load_pem_private_key
    loaded, why = _decrypt(load, data, secret)
    if loaded is None and why == "passphrase-needed":
        raise unusable("it is protected by a passphrase and none was given",
                       "give the key's passphrase (or use the SSH agent)")
    if loaded is None and why == "not-encrypted":
        secret = None               # a passphrase for a key that has none: harmless
        loaded, why = _decrypt(load, data, None)
    if loaded is None and why == "bad-data" and secret is not None:
        raise unusable("wrong passphrase (or the key is damaged)", "check the key's passphrase")
    if loaded is None:
        raise unusable("not a private key this program can read",
                       "name the private key (not the .pub); ed25519, ECDSA and RSA keys work")
    for crypto_class, key_class in key_classes:
        if isinstance(loaded, crypto_class):
            try:
                # paramiko takes the passphrase as text and encodes it as UTF-8, as secret was
                return key_class.from_private_key_file(str(Path(path).expanduser()),
                                                       password=None if secret is None else secret.decode())
            except Exception:
                raise unusable("not a private key this program can read", "use an ed25519, ECDSA or RSA key") from None
    raise unusable("unsupported key type", "use an ed25519, ECDSA or RSA key")
