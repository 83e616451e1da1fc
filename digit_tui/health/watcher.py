"""List and watch a cluster for the health views, as raw JSON through ``infra.kube``.

``ClusterWatcher`` runs one thread per resource type: a paginated list
(``limit``/``continue``, each page handed on as it arrives), then a watch from
the list's resourceVersion; a broken watch re-watches, an expired one (410)
relists. Events are field-selected server-side to warnings, the only ones the
views classify with. A small probe thread asks ``/version`` every few seconds
so a silent network drop is noticed even when no watch event is due. Every call
carries the timeouts of ``POLICY`` (infra.kube's one client policy). Failures
back off exponentially (capped, with jitter); what was received stays with the
sink, so the dashboard keeps showing it, dimmed, with its age.

Lists, watches and the probe go through ``infra.kubelite.LiteKube`` when the
kubeconfig is one it reads (a CA, a token or a client certificate: the
kubernetes package is then not imported at all while the dashboard starts, a
fifth of a second of CPU it would take from the first list and the screen),
else through ``infra.kube.Kube``; either way raw JSON, never the client's typed
models. The first list's pages of pods and warnings are decoded into only the
fields the views read (``health.projection``). ``ClusterWatcher.kube`` is the
full client (a pod's log, all its events), built on first use.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from digit_tui.digit.releaserecord import RECORD_PATH
from digit_tui.health.model import KINDS
from digit_tui.infra.failures import FailureKind, failure_of, status_text
from digit_tui.infra.kube import ClientPolicy, Kube, ResourceType
from digit_tui.infra.kubelite import LiteKube, lite_kube

# Short timeouts: the dashboard must show "unreachable" within seconds. urllib3's retries are off
# (api_client): the watcher retries itself, with backoff and a visible state.
POLICY = ClientPolicy(connect=3.0, read=8.0, watch_slack=5.0, pool=16)
WATCH_SECONDS = 50
PROBE_INTERVAL = 3.0
PAGE_SIZE = 500

_LW = frozenset({"list", "watch"})
TYPES: dict[str, ResourceType] = {
    "pods": ResourceType("", "v1", "Pod", "pods", True, _LW),
    "deployments": ResourceType("apps", "v1", "Deployment", "deployments", True, _LW),
    "statefulsets": ResourceType("apps", "v1", "StatefulSet", "statefulsets", True, _LW),
    "jobs": ResourceType("batch", "v1", "Job", "jobs", True, _LW),
    "pvcs": ResourceType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, _LW),
    "nodes": ResourceType("", "v1", "Node", "nodes", False, _LW),
    "events": ResourceType("", "v1", "Event", "events", True, _LW),
}
# Filtered by the API server: only what the views use crosses the network.
FIELD_SELECTORS: dict[str, str] = {"events": "type=Warning"}
assert tuple(TYPES) == KINDS


def make_kube(kubeconfig: str | Path | None, context: str | None) -> Kube:
    """The health views' client (which needs a named kubeconfig: kubernetes' ConfigException
    otherwise, never the library's $KUBECONFIG / ~/.kube/config fallback), under ``POLICY``."""
    if not kubeconfig:
        from kubernetes.config import ConfigException

        raise ConfigException("no kubeconfig given: pass --kubeconfig FILE "
                              "(digit-tui never reads $KUBECONFIG or ~/.kube/config by itself)")
    return Kube(kubeconfig, context, policy=POLICY)


def obj_key(kind: str, obj: dict[str, Any]) -> str:
    """How the views key an object: "namespace/name" (pods, workloads), the uid for events."""
    m = obj.get("metadata") or {}
    name = f"{m.get('namespace') or ''}/{m.get('name') or ''}"
    return str(m.get("uid") or name) if kind == "events" else name


def list_pages(kube: Kube | LiteKube, kind: str, rtype: ResourceType | None = None,
               field_selector: str | None = None, decode: Callable[[bytes], dict[str, Any]] | None = None
               ) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """(items, resourceVersion) per page of one cluster-wide list of ``kind`` (of ``TYPES`` and its
    ``FIELD_SELECTORS`` unless ``rtype`` is given, with its own ``field_selector``); ``decode``
    decodes a raw page when the client hands one (``LiteKube``)."""
    if rtype is None:
        rtype, field_selector = TYPES[kind], FIELD_SELECTORS.get(kind)
    token: str | None = None
    while True:
        query = {"fieldSelector": field_selector, "limit": PAGE_SIZE, "continue": token}
        if decode is not None and isinstance(kube, LiteKube):
            raw = kube.get_raw(rtype.path(), query)
            doc = decode(raw) if raw else {}
        else:
            doc = kube.request("GET", rtype.path(), query=query) or {}
        meta = doc.get("metadata") or {}
        yield list(doc.get("items") or []), str(meta.get("resourceVersion") or "")
        token = meta.get("continue") or None
        if not token:
            return


RELEASE_RECORD = "release-record"


def fetch_once(kubeconfig: str | Path | None, context: str | None) -> dict[str, list[dict[str, Any]]]:
    """One paginated list per type, side by side (for ``health --once``), and the release record
    digit-tui wrote (under ``RELEASE_RECORD``, empty when there is none); raises the first failure."""
    kube = make_kube(kubeconfig, context)

    def one(kind: str) -> list[dict[str, Any]]:
        return [item for page, _ in list_pages(kube, kind) for item in page]

    def record() -> list[dict[str, Any]]:
        try:
            return [kube.request("GET", RECORD_PATH) or {}]
        except Exception as exc:
            if getattr(exc, "status", None) in (403, 404):     # no install recorded, or no right to read it
                return []
            raise

    try:
        with ThreadPoolExecutor(len(TYPES) + 1, thread_name_prefix="health-list") as pool:
            futures = {kind: pool.submit(one, kind) for kind in TYPES}
            futures[RELEASE_RECORD] = pool.submit(record)
            return {kind: f.result() for kind, f in futures.items()}
    finally:
        kube.close()


_SHORT = {
    FailureKind.TLS: "TLS certificate not trusted",
    FailureKind.UNAUTHORIZED: "credentials refused (401): the kubeconfig's token or certificate is not accepted",
    FailureKind.FORBIDDEN: "forbidden (403): the kubeconfig's user lacks rights",
    FailureKind.REFUSED: "connection refused",
}


def describe_error(exc: BaseException) -> str:
    """One line an operator can act on, without a traceback (the classification the installer uses)."""
    failure = failure_of(exc)
    if failure is None:
        if getattr(exc, "status", None):
            return f"API answered {status_text(exc)}"
        text = str(exc).strip()
        return text.splitlines()[0][:160] if text else type(exc).__name__
    short = _SHORT.get(failure.kind)
    if failure.kind is FailureKind.NO_SUCH_HOST:
        return f"no such host {failure.host or '(unknown)'}: check the server URL in the kubeconfig or DNS/VPN"
    if failure.kind is FailureKind.SERVER_ERROR:
        return f"API answered {failure.detail}"
    if short is None:
        return failure.detail
    return f"{short} ({failure.detail})" if failure.kind in (FailureKind.TLS, FailureKind.FORBIDDEN) else short


@dataclass(frozen=True)
class Connection:
    """Whether the cluster answers, and since when it does not."""

    reachable: bool = True
    unreachable_since: float | None = None   # first failure after the last success
    data_time: float | None = None           # last time the cluster answered
    error: str | None = None


class WatchSink(Protocol):
    """Where the watcher's threads deliver what they receive (must be thread-safe)."""

    def upsert(self, kind: str, objs: list[dict[str, Any]]) -> None: ...
    def delete(self, kind: str, obj: dict[str, Any]) -> None: ...
    def listed(self, kind: str, keys: set[str]) -> None: ...   # a complete list: anything else is gone
    def connection(self, state: Connection) -> None: ...


class _Expired(Exception):
    """The watch's resourceVersion is too old (410): relist."""


class _WatchError(Exception):
    """An ERROR event other than 410 ends the stream: relist."""


class ClusterWatcher:
    """Background list+watch of one cluster into a ``WatchSink``: the dashboard's ``TYPES`` unless
    ``types`` (kind name -> type, with ``field_selectors`` per kind name) says otherwise.
    ``probe_interval=None``: no probe thread (another watcher of the same cluster probes)."""

    def __init__(self, kubeconfig: str | Path | None, context: str | None = None, *, sink: WatchSink,
                 probe_interval: float | None = PROBE_INTERVAL, max_backoff: float = 10.0,
                 types: Mapping[str, ResourceType] | None = None,
                 field_selectors: Mapping[str, str] | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.sink = sink
        self.types = dict(TYPES if types is None else types)
        self.field_selectors = dict(FIELD_SELECTORS if types is None else field_selectors or {})
        self.probe_interval = probe_interval
        self.max_backoff = max_backoff
        self.reader: Kube | LiteKube | None = None     # lists, watches, the probe
        self._kube: Kube | None = None
        self._kube_lock = threading.Lock()
        self._decoders: dict[str, Callable[[bytes], dict[str, Any]]] = {}
        self.probes = 0                       # answered or not: lets tests wait for "time has passed"
        self._lock = threading.Lock()
        self._last_ok: float | None = None
        self._fail_since: float | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        from digit_tui.health.projection import page_decoders

        try:
            self.reader = (lite_kube(self.kubeconfig, self.context, policy=POLICY) if self.kubeconfig else None) \
                or make_kube(self.kubeconfig, self.context)
        except Exception as exc:  # a broken kubeconfig is bad input, shown by the caller
            raise ValueError(f"cannot use kubeconfig {self.kubeconfig or '(none given)'}: {describe_error(exc)}") from exc
        self._decoders = {k: d for k, d in page_decoders().items() if self.types.get(k) == TYPES.get(k)}
        for kind in self.types:
            self._threads.append(threading.Thread(target=self._run_kind, args=(kind,), name=f"watch-{kind}",
                                                  daemon=True))
        if self.probe_interval is not None:
            self._threads.append(threading.Thread(target=self._probe, name="watch-probe", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the threads. A thread blocked reading a quiet watch leaves at its next event or
        bookmark (it is a daemon thread and delivers nothing after this)."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        with self._kube_lock:
            clients = [c for c in (self.reader, self._kube) if c is not None]
        for client in clients:
            try:
                client.close()
            except Exception:
                pass

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def kube(self) -> Kube | None:
        """The full client for what the screens ask now and then (a pod's log, all its events), on
        their worker threads: the watcher's own when it is a ``Kube``, else one built on first use
        (the kubernetes package's import). None before ``start`` or when it cannot be built."""
        if self.reader is None or isinstance(self.reader, Kube):
            return self.reader
        with self._kube_lock:
            if self._kube is None and not self._stop.is_set():
                try:
                    self._kube = make_kube(self.kubeconfig, self.context)
                except Exception:
                    return None
            return self._kube

    # -- bookkeeping ----------------------------------------------------------
    def _ok(self) -> None:
        with self._lock:
            changed = self._fail_since is not None or self._last_ok is None
            self._last_ok = time.time()
            self._fail_since = None
            state = Connection(reachable=True, data_time=self._last_ok)
        if changed and not self._stop.is_set():
            self.sink.connection(state)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            now = time.time()
            first = self._fail_since is None
            if first:
                self._fail_since = now
            state = Connection(reachable=False, unreachable_since=self._fail_since, data_time=self._last_ok,
                               error=describe_error(exc))
        if first and not self._stop.is_set():
            self.sink.connection(state)

    def _backoff(self, attempt: int) -> bool:
        """Sleep before the next try; False when stopping."""
        delay = min(self.max_backoff, 0.5 * (2 ** min(attempt, 6)))
        return not self._stop.wait(delay * random.uniform(0.75, 1.25))

    # -- threads --------------------------------------------------------------
    def _probe(self) -> None:
        assert self.reader is not None and self.probe_interval is not None
        while not self._stop.wait(self.probe_interval):
            try:
                self.reader.request("GET", "/version", timeout=POLICY.connect)
            except Exception as exc:
                if self._stop.is_set():
                    return
                self._fail(exc)
            else:
                self._ok()
            self.probes += 1

    def _list(self, kind: str) -> str:
        """List ``kind`` page by page into the sink; the list's resourceVersion."""
        assert self.reader is not None
        keys: set[str] = set()
        rv = ""
        handing: threading.Thread | None = None
        for items, rv in list_pages(self.reader, kind, self.types[kind], self.field_selectors.get(kind),
                                    self._decoders.get(kind)):
            if self._stop.is_set():
                return rv
            self._ok()
            keys.update(obj_key(kind, o) for o in items)
            # The sink takes the page on another thread while the server makes the next one.
            if handing is not None:
                handing.join()
            handing = threading.Thread(target=self.sink.upsert, args=(kind, items), name=f"page-{kind}", daemon=True)
            handing.start()
        if handing is not None:
            handing.join()
        self.sink.listed(kind, keys)
        return rv

    def _run_kind(self, kind: str) -> None:
        assert self.reader is not None
        attempt = 0
        while not self._stop.is_set():
            try:
                rv = self._list(kind)
            except Exception as exc:
                if self._stop.is_set():
                    return
                self._fail(exc)
                attempt += 1
                if not self._backoff(attempt):
                    return
                continue
            attempt = 0
            # Watch from the list's version until the stream breaks or expires, then relist.
            while not self._stop.is_set():
                try:
                    rv = self._watch(kind, rv)
                except (_Expired, _WatchError):
                    break
                except Exception:
                    if self._stop.is_set():
                        return
                    # A broken stream is not proof the cluster is gone: the relist decides.
                    self._stop.wait(0.2)
                    break

    def _watch(self, kind: str, rv: str) -> str:
        """Deliver one watch stream's events; the last resourceVersion seen."""
        assert self.reader is not None
        for etype, obj in self.reader.watch(self.types[kind], resource_version=rv,
                                          field_selector=self.field_selectors.get(kind),
                                          timeout_seconds=WATCH_SECONDS):
            if self._stop.is_set():
                return rv
            if etype == "ERROR":
                if int(obj.get("code") or 0) == 410:
                    raise _Expired()
                raise _WatchError(f"{obj.get('code')} {obj.get('reason') or ''}")
            rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
            if etype == "DELETED":
                self.sink.delete(kind, obj)
            elif etype in ("ADDED", "MODIFIED"):
                self.sink.upsert(kind, [obj])
            self._ok()
        return rv
