"""A read-only Kubernetes API client on the standard library, for one-off reads that must start fast.

``health --once`` reads a few lists and exits: importing the ``kubernetes`` package (its kubeconfig
loader pulls in requests, oauthlib, pydantic, urllib3...) costs it half a second or more, as much
as the reads. ``LiteKube`` reads the kubeconfigs most clusters hand out (a server URL, a CA, a
bearer token or token file, or a client certificate and key) with ``http.client`` and ``ssl``.
``lite_kube`` answers None for anything else (exec plugins, auth providers, basic auth, proxies,
an incomplete file): the caller then uses ``infra.kube.Kube``, whose library loader also says
what is wrong with a broken file.

Errors are what ``infra.failures`` classifies: the socket's and ``ssl``'s own exceptions (with the
connection, whose ``host`` names the server, as ``conn``), and ``ApiError`` (``status``,
``reason``, ``body``) for an HTTP error. Every request has the connect and read timeouts of a
``ClientPolicy``. Idle keep-alive connections wait in a small pool shared by every thread (the
engine reads from short-lived worker threads: a connection per thread paid a TLS handshake per
read on both sides); a request takes one, and gives it back once its answer is read whole. A GET
whose kept-alive connection the server had closed is sent once more on a new one, only when no
answer had begun. A watch streams on a connection of its own that never joins the pool. The pod dashboard lists and watches through it too (``health.watcher``).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import select
import ssl
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from digit_tui.infra.kube import DEFAULT_POLICY, ClientPolicy, KubeError, ResourceType, read_pipelined, watch_event

Obj = dict[str, Any]

# Keys of a kubeconfig's user / cluster this client does not implement: the library must.
_USER_NEEDS_LIBRARY = ("exec", "auth-provider", "username", "password", "impersonate", "as", "as-groups")
_CLUSTER_NEEDS_LIBRARY = ("proxy-url", "tls-server-name")


class ApiError(KubeError):
    """An HTTP error answer (``status``, ``reason``, and the body: a ``Status`` object)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body


@dataclass(frozen=True)
class LiteConfig:
    server: str
    ca: bytes | None                 # PEM
    insecure: bool
    token: str | None
    cert: bytes | None               # PEM
    key: bytes | None                # PEM


def _data_or_file(entry: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(str(entry[f"{key}-data"]))
    if entry.get(key):
        return (base / str(entry[key])).expanduser().read_bytes()
    return None


def context_entries(doc: Any, context: str | None) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]] | None:
    """The cluster (None when the context names none there) and the user ({} when none) of a parsed
    kubeconfig's context (``context``, else its current one); None when it has no such context."""
    if not isinstance(doc, dict):
        return None
    name = context or doc.get("current-context")
    ctx = next((c.get("context") or {} for c in doc.get("contexts") or [] if c.get("name") == name), None)
    if not ctx:
        return None
    cluster = next((c.get("cluster") or {} for c in doc.get("clusters") or []
                    if c.get("name") == ctx.get("cluster")), None)
    user = next((u.get("user") or {} for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {})
    return cluster, user


def lite_config(kubeconfig: str | Path, context: str | None = None) -> LiteConfig | None:
    """What ``LiteKube`` needs from the kubeconfig's context, or None when this client cannot do it
    (or the file is not one it can read: the library's loader then says why)."""
    from digit_tui.yamlload import safe_load

    path = Path(kubeconfig)
    try:
        found = context_entries(safe_load(path.read_text()), context)
        if found is None:
            return None
        cluster, user = found
        if not cluster or not cluster.get("server") or any(user.get(k) for k in _USER_NEEDS_LIBRARY) \
                or any(cluster.get(k) for k in _CLUSTER_NEEDS_LIBRARY):
            return None
        base = path.parent
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = (base / str(user["tokenFile"])).expanduser().read_text().strip()
        return LiteConfig(server=str(cluster["server"]).rstrip("/"),
                          ca=_data_or_file(cluster, "certificate-authority", base),
                          insecure=bool(cluster.get("insecure-skip-tls-verify")),
                          token=str(token) if token else None,
                          cert=_data_or_file(user, "client-certificate", base),
                          key=_data_or_file(user, "client-key", base))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def _context(cfg: LiteConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=cfg.ca.decode() if cfg.ca else None)
    if cfg.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert and cfg.key:
        # ssl loads a client certificate from files only: a private directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="digit-tui-kube-") as tmp:
            cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
            for file, data in ((cert, cfg.cert), (key, cfg.key)):
                fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
            ctx.load_cert_chain(str(cert), str(key))
    return ctx


# Idle connections kept per client: enough for the engine's parallel reads, few sockets held open.
POOL_IDLE = 8


def _stale(conn: http.client.HTTPConnection) -> bool:
    """An idle kept-alive connection with something to read has been closed by the server (or holds
    bytes no request asked for): either way it cannot carry the next request."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class LiteKube:
    """GET requests to one API server; thread-safe (a connection is used by one thread at a time)."""

    def __init__(self, cfg: LiteConfig, policy: ClientPolicy = DEFAULT_POLICY) -> None:
        self.cfg = cfg
        self.policy = policy
        url = urlsplit(cfg.server)
        self._https = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path.rstrip("/")
        self._ssl = _context(cfg) if self._https else None
        self._lock = threading.Lock()
        # Most recently returned last: a request takes the warmest, the server's idle timeout closes the rest.
        self._idle: list[http.client.HTTPConnection] = []
        # Every open connection (in use, idle, watching), weakly: close() ends them all.
        self._conns: weakref.WeakSet[http.client.HTTPConnection] = weakref.WeakSet()
        self.connects = 0   # connections opened (TLS handshakes on https): tests and benches read it
        self._headers = {"Accept": "application/json", "User-Agent": "digit-tui"}
        if cfg.token:
            self._headers["Authorization"] = f"Bearer {cfg.token}"

    @property
    def server(self) -> str:
        return self.cfg.server

    def close(self) -> None:
        with self._lock:
            conns, self._conns, self._idle = list(self._conns), weakref.WeakSet(), []
        for conn in conns:
            conn.close()

    def __enter__(self) -> LiteKube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_conn(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=self._ssl)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _take(self) -> http.client.HTTPConnection:
        """An idle connection of the pool (this thread's alone until given back), or a new unconnected one."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                break
            if not _stale(conn):
                return conn
            conn.close()
        conn = self._new_conn(self.policy.connect)
        with self._lock:
            self._conns.add(conn)
        return conn

    def _give(self, conn: http.client.HTTPConnection) -> None:
        """Back to the pool once its answer is read whole; closed when the pool is full."""
        with self._lock:
            if conn.sock is not None and conn in self._conns and len(self._idle) < POOL_IDLE:
                self._idle.append(conn)
                return
        self._drop(conn)

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        with self._lock:
            self._conns.discard(conn)

    def _target(self, path: str, query: Mapping[str, Any] | None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return self._prefix + path + (f"?{urlencode(params)}" if params else "")

    def get_raw(self, path: str, query: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> bytes:
        """The body of ``GET path?query`` (None values left out); ApiError for an HTTP error.
        ``timeout`` (seconds) bounds the connect and each read, instead of the policy's."""
        target = self._target(path, query)
        for attempt in (1, 2):
            conn = self._take()
            reused = conn.sock is not None
            connected = reused
            answered = False
            try:
                if conn.sock is None:
                    conn.timeout = self.policy.connect if timeout is None else min(timeout, self.policy.connect)
                    with self._lock:
                        self.connects += 1
                    conn.connect()
                    connected = True
                assert conn.sock is not None
                conn.sock.settimeout(self.policy.read if timeout is None else timeout)
                conn.request("GET", target, headers=self._headers)
                resp = conn.getresponse()
                answered = True
                body = resp.read()
            except Exception as exc:
                self._drop(conn)
                if connected and isinstance(exc, TimeoutError):
                    exc.reading = True   # type: ignore[attr-defined]  # infra.failures: no answer, not no connection
                # A kept-alive connection the server closed meanwhile is not a failure: once more, anew --
                # a GET, and only when no answer had begun (a broken body is not retried).
                if reused and attempt == 1 and not answered and isinstance(
                        exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                    continue
                exc.conn = conn     # type: ignore[attr-defined]  # infra.failures reads the host from it
                raise
            if resp.will_close:
                self._drop(conn)
            else:
                self._give(conn)
            if not 200 <= resp.status <= 299:
                raise ApiError(resp.status, resp.reason, body.decode(errors="replace"))
            return body
        raise AssertionError("unreachable")

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None,
                timeout: float | None = None) -> Any:
        """``Kube.request`` for GET: the decoded JSON answer (None when empty)."""
        if method != "GET":
            raise KubeError(f"LiteKube only reads ({method} {path})")
        data = self.get_raw(path, query, timeout=timeout)
        return json.loads(data) if data else None

    def watch(self, rtype: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_seconds: int = 30) -> Iterator[tuple[str, Obj]]:
        """``Kube.watch``: (type, object) events until the server ends the stream (``timeoutSeconds``)
        or it breaks; an ``ERROR`` event (410 Expired) is yielded as such. A connection of its own,
        closed at the end (never pooled: the stream may be cut anywhere), whose reads may stay silent for
        the watch's length plus the policy's slack."""
        timeout_seconds = max(1, int(timeout_seconds))
        connect, read = self.policy.watch_timeout(timeout_seconds)
        target = self._target(rtype.path(namespace if rtype.namespaced else None), {
            "watch": "true", "resourceVersion": resource_version, "labelSelector": label_selector,
            "fieldSelector": field_selector, "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true"})
        conn = self._new_conn(connect)
        with self._lock:
            self._conns.add(conn)
            self.connects += 1
        try:
            try:
                conn.connect()
                assert conn.sock is not None
                conn.sock.settimeout(read)
                conn.request("GET", target, headers=self._headers)
                resp = conn.getresponse()
                if not 200 <= resp.status <= 299:
                    raise ApiError(resp.status, resp.reason, resp.read().decode(errors="replace"))
            except ApiError:
                raise
            except Exception as exc:
                exc.conn = conn     # type: ignore[attr-defined]  # infra.failures reads the host from it
                raise
            while True:
                line = resp.readline()
                if not line:
                    return
                if line.strip():
                    yield watch_event(line, rtype)
        finally:
            self._drop(conn)

    def list_pipelined(self, rtype: ResourceType, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       limit: int = 500, each: Callable[[Obj], Obj] | None = None,
                       decode: Callable[[bytes], Obj] = json.loads) -> list[Obj]:
        """``Kube.list_pipelined``."""
        query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit}
        path = rtype.path(namespace if rtype.namespaced else None)
        return read_pipelined(lambda token: self.get_raw(path, {**query, "continue": token}), rtype, each,
                              decode)


def lite_kube(kubeconfig: str | Path, context: str | None = None, *,
              policy: ClientPolicy = DEFAULT_POLICY) -> LiteKube | None:
    """A ``LiteKube`` for this kubeconfig's context, or None when it needs the kubernetes library."""
    cfg = lite_config(kubeconfig, context)
    if cfg is None:
        return None
    try:
        return LiteKube(cfg, policy)
    except (ssl.SSLError, ValueError, OSError):
        return None     # a CA or key ssl cannot load: the library's loader says what is wrong
