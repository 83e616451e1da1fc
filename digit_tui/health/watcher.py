"""Keep a live snapshot of a cluster with list+watch in background threads.

One thread per resource type lists, then watches from the list's
resourceVersion; a broken or expired watch relists. A small probe thread asks
``/version`` every few seconds so a silent network drop is noticed even when
no watch event is due. Every call carries the timeouts of ``POLICY`` (infra.kube's one client policy). Failures back
off exponentially (capped, with jitter) and the last data stays available,
marked with its age, so the dashboard can keep showing it dimmed.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digit_tui.health.model import KINDS
from digit_tui.infra.failures import FailureKind, failure_of, status_text
from digit_tui.infra.kube import ClientPolicy, api_client

# Short timeouts: the dashboard must show "unreachable" within seconds. urllib3's retries are off
# (api_client): the watcher retries itself, with backoff and a visible state.
POLICY = ClientPolicy(connect=3.0, read=8.0, watch_slack=5.0, pool=16)
WATCH_SECONDS = 50
PROBE_INTERVAL = 3.0
MAX_EVENTS = 2000


@dataclass
class WatchSnapshot:
    objects: dict[str, list[dict[str, Any]]]
    synced: bool                       # every type has been listed at least once
    reachable: bool
    unreachable_since: float | None    # first failure after the last success
    data_time: float | None            # last time the cluster answered
    error: str | None
    version: int                       # bumps on every change; cheap "did anything change"


@dataclass
class _State:
    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {k: {} for k in KINDS})
    listed: set[str] = field(default_factory=set)
    last_ok: float | None = None
    last_fail: float | None = None
    fail_since: float | None = None
    error: str | None = None
    version: int = 0


def make_api_client(kubeconfig: str | Path | None, context: str | None) -> Any:
    """An ApiClient for the kubeconfig (which must be named: kubernetes' ConfigException otherwise,
    never the library's $KUBECONFIG / ~/.kube/config fallback), under the health policy."""
    from kubernetes.config import ConfigException

    if not kubeconfig:
        raise ConfigException("no kubeconfig given: pass --kubeconfig FILE "
                              "(digit-tui never reads $KUBECONFIG or ~/.kube/config by itself)")
    return api_client(kubeconfig, context, policy=POLICY)


def list_functions(api: Any) -> dict[str, Callable[..., Any]]:
    from kubernetes import client

    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    return {
        "pods": core.list_pod_for_all_namespaces,
        "deployments": apps.list_deployment_for_all_namespaces,
        "statefulsets": apps.list_stateful_set_for_all_namespaces,
        "jobs": batch.list_job_for_all_namespaces,
        "pvcs": core.list_persistent_volume_claim_for_all_namespaces,
        "nodes": core.list_node,
        "events": core.list_event_for_all_namespaces,
    }


def _list(fn: Callable[..., Any]) -> tuple[list[dict[str, Any]], str]:
    resp = fn(_preload_content=False, _request_timeout=POLICY.request_timeout())
    data = json.loads(resp.data)
    return list(data.get("items") or []), str((data.get("metadata") or {}).get("resourceVersion") or "")


def _obj_key(obj: dict[str, Any]) -> str:
    m = obj.get("metadata") or {}
    return m.get("uid") or f"{m.get('namespace') or ''}/{m.get('name') or ''}"


def fetch_once(kubeconfig: str | Path | None, context: str | None) -> dict[str, list[dict[str, Any]]]:
    """List every type once (for ``health --once``); raises on the first failure."""
    api = make_api_client(kubeconfig, context)
    try:
        return {kind: _list(fn)[0] for kind, fn in list_functions(api).items()}
    finally:
        api.close()


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


class ClusterWatcher:
    """Background list+watch of one cluster; ``snapshot()`` is cheap and thread-safe."""

    def __init__(self, kubeconfig: str | Path | None, context: str | None = None, *,
                 probe_interval: float = PROBE_INTERVAL, max_backoff: float = 10.0) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.probe_interval = probe_interval
        self.max_backoff = max_backoff
        self._lock = threading.Lock()
        self._state = _State()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watches: list[Any] = []
        self._api: Any = None

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        try:
            self._api = make_api_client(self.kubeconfig, self.context)
        except Exception as exc:  # a broken kubeconfig is bad input, shown by the caller
            raise ValueError(f"cannot use kubeconfig {self.kubeconfig or '(none given)'}: {describe_error(exc)}") from exc
        for kind, fn in list_functions(self._api).items():
            t = threading.Thread(target=self._run_kind, args=(kind, fn), name=f"watch-{kind}", daemon=True)
            self._threads.append(t)
        self._threads.append(threading.Thread(target=self._probe, name="watch-probe", daemon=True))
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._lock:
            watches = list(self._watches)
        for w in watches:
            w.stop()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._api is not None:
            try:
                self._api.close()
            except Exception:
                pass

    # -- reading --------------------------------------------------------------
    def snapshot(self) -> WatchSnapshot:
        with self._lock:
            s = self._state
            objects = {k: list(v.values()) for k, v in s.objects.items()}
            reachable = s.last_fail is None or (s.last_ok is not None and s.last_ok > s.last_fail)
            return WatchSnapshot(objects=objects, synced=len(s.listed) == len(KINDS), reachable=reachable,
                                 unreachable_since=None if reachable else s.fail_since, data_time=s.last_ok,
                                 error=None if reachable else s.error, version=s.version)

    @property
    def version(self) -> int:
        with self._lock:
            return self._state.version

    # -- bookkeeping ----------------------------------------------------------
    def _ok(self) -> None:
        with self._lock:
            s = self._state
            if s.last_fail is not None and (s.last_ok is None or s.last_ok <= s.last_fail):
                s.version += 1  # reachability changed
            s.last_ok = time.time()
            s.fail_since = None

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            s = self._state
            now = time.time()
            if s.fail_since is None:
                s.fail_since = now
                s.version += 1
            s.last_fail = now
            s.error = describe_error(exc)

    def _backoff(self, attempt: int) -> bool:
        """Sleep before the next try; False when stopping."""
        delay = min(self.max_backoff, 0.5 * (2 ** min(attempt, 6)))
        return not self._stop.wait(delay * random.uniform(0.75, 1.25))

    # -- threads --------------------------------------------------------------
    def _probe(self) -> None:
        from kubernetes import client

        version = client.VersionApi(self._api)
        while not self._stop.wait(self.probe_interval):
            try:
                version.get_code(_request_timeout=POLICY.request_timeout(POLICY.connect))
            except Exception as exc:
                if self._stop.is_set():
                    return
                self._fail(exc)
            else:
                self._ok()

    def _replace(self, kind: str, items: list[dict[str, Any]]) -> None:
        fresh = {_obj_key(o): o for o in items}
        if kind == "events" and len(fresh) > MAX_EVENTS:
            fresh = dict(list(fresh.items())[-MAX_EVENTS:])
        with self._lock:
            self._state.objects[kind] = fresh
            self._state.listed.add(kind)
            self._state.version += 1

    def _apply(self, kind: str, etype: str, obj: dict[str, Any]) -> None:
        with self._lock:
            table = self._state.objects[kind]
            k = _obj_key(obj)
            if etype == "DELETED":
                table.pop(k, None)
            else:
                table[k] = obj
                if kind == "events" and len(table) > MAX_EVENTS:
                    table.pop(next(iter(table)))
            self._state.version += 1

    def _run_kind(self, kind: str, fn: Callable[..., Any]) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        attempt = 0
        while not self._stop.is_set():
            try:
                items, rv = _list(fn)
            except Exception as exc:
                if self._stop.is_set():
                    return
                self._fail(exc)
                attempt += 1
                if not self._backoff(attempt):
                    return
                continue
            self._ok()
            self._replace(kind, items)
            attempt = 0
            # Watch from the list's version until the stream breaks or expires, then relist.
            while not self._stop.is_set():
                w = watch.Watch()
                with self._lock:
                    self._watches.append(w)
                try:
                    for ev in w.stream(fn, resource_version=rv, timeout_seconds=WATCH_SECONDS,
                                       allow_watch_bookmarks=True, deserialize=False,
                                       _request_timeout=POLICY.watch_timeout(WATCH_SECONDS)):
                        etype, obj = ev.get("type"), ev.get("object") or {}
                        if etype == "ERROR":
                            raise ApiException(status=int(obj.get("code") or 500), reason=obj.get("reason"))
                        rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                        if etype != "BOOKMARK":
                            self._apply(kind, etype, obj)
                        self._ok()
                except Exception as exc:
                    if self._stop.is_set():
                        return
                    if not (isinstance(exc, ApiException) and exc.status == 410):
                        # A broken stream is not proof the cluster is gone: the relist decides.
                        self._stop.wait(0.2)
                    break
                finally:
                    with self._lock:
                        if w in self._watches:
                            self._watches.remove(w)
                    w.stop()
