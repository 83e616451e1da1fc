"""A thin, synchronous adapter over the official ``kubernetes`` client.

It speaks the REST API directly through the client's ``ApiClient`` (kubeconfig,
TLS, tokens and exec plugins come from the library) so that any object a chart
renders can be applied, listed, watched and deleted without a typed model:

* server-side apply (``application/apply-patch+yaml``) with a field manager and
  ``force``, as ``kubectl apply --server-side --force-conflicts`` does;
* discovery per group-version, fetched lazily and cached for the life of the
  ``Kube`` object; a miss re-discovers that group-version (a CRD applied a
  moment ago), so CRDs can be applied first and their objects right after;
* one timeout policy (``ClientPolicy``) for every request: explicit connect and
  read timeouts, urllib3's own retries off (the engine's retry policy is the only
  one), and watches bounded twice: the server-side ``timeoutSeconds`` ends a
  quiet stream, the socket's read timeout a dead one.

``api_client`` is the one place a kubernetes-library client is built from a
kubeconfig; the health watcher, the sizing fit check and the dashboard use it
too (``health --once`` reads simple kubeconfigs without the library:
``infra.kubelite``). It needs an
explicit kubeconfig: the library's fallback to ``$KUBECONFIG`` or
``~/.kube/config`` is never taken, so nothing talks to a cluster nobody named.

Calls block: tasks run them through ``ctx.run_sync``. Errors are the library's
``ApiException`` (with ``status``) or urllib3's connection errors;
``infra.failures.failure_of`` sorts them into categories.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from digit_tui.infra import reads
from digit_tui.infra.failures import failure_of, first_line, http_status, status_text

if TYPE_CHECKING:
    from digit_tui.infra.kubelite import LiteKube

FIELD_MANAGER = "digit-tui"
DEFAULT_TIMEOUT = 20.0          # seconds a request may wait for the server's answer
DEFAULT_NAMESPACE = "default"   # what kubectl uses for a namespaced object without one
CRD_ESTABLISH_WAIT = 15.0       # how long a just-applied CRD's type may take to appear in discovery
POOL_SIZE = 32                  # connections kept per host
LIST_PARALLEL = 6               # lists of several types made at once (well under POOL_SIZE: watches share it)

Obj = dict[str, Any]
Objs = list[Obj]    # for annotations inside Kube, whose method ``list`` hides the builtin there

# The head of a list answer: {"kind":"PodList","apiVersion":"v1","metadata":{...},"items":[ (ListMeta
# holds no nested object, so the first "}" closes it).
_LIST_HEAD = re.compile(rb'\{"kind":"[A-Za-z0-9]*List","apiVersion":"[^"]*","metadata":\{([^{}]*)\}')
_CONTINUE = re.compile(rb'"continue":"([^"\\]*)"')


@dataclass(frozen=True)
class ClientPolicy:
    """How long any Kubernetes API call may take. A partition shows as a failed call within
    these bounds, never as a request hanging in hidden retries."""

    connect: float = 5.0        # TCP connect and TLS handshake
    read: float = DEFAULT_TIMEOUT
    watch_slack: float = 5.0    # a watch's socket read timeout is its timeoutSeconds plus this
    pool: int = POOL_SIZE       # connections kept per host (several threads may each hold a watch)

    def request_timeout(self, read: float | None = None) -> tuple[float, float]:
        """(connect, read) for one request; ``read`` overrides the policy's."""
        read = self.read if read is None else read
        return (min(self.connect, read), read)

    def watch_timeout(self, seconds: float) -> tuple[float, float]:
        """(connect, read) for a watch the server ends after ``seconds``: a stream that stays
        silent longer than that is dead."""
        return (self.connect, seconds + self.watch_slack)


DEFAULT_POLICY = ClientPolicy()


class KubeError(Exception):
    """An answer from the API that is not an HTTP error (malformed discovery, unknown type...)."""


class NoKubeconfig(KubeError):
    """No kubeconfig was named: refusing the client library's fallback to a default one."""


def api_client(kubeconfig: str | Path | None, context: str | None = None, *,
               policy: ClientPolicy = DEFAULT_POLICY) -> Any:
    """A ``kubernetes.client.ApiClient`` for the context of this kubeconfig, under ``policy``.

    ``kubeconfig`` must be given (NoKubeconfig otherwise); the kubernetes library's
    ``ConfigException`` (or an OSError) reports an unusable file.
    """
    from kubernetes import client, config

    if not kubeconfig:
        raise NoKubeconfig("no kubeconfig named (the default $KUBECONFIG or ~/.kube/config is never used)")
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=cfg,
                            persist_config=False)
    cfg.retries = False                      # urllib3 raises the first failure instead of retrying it silently
    cfg.connection_pool_maxsize = policy.pool
    if not _credential_expires(kubeconfig, context):
        cfg.refresh_api_key_hook = None
    api = client.ApiClient(configuration=cfg)
    _default_timeout(api, policy)
    return api


def _credential_expires(kubeconfig: str | Path, context: str | None) -> bool:
    """Whether the library may have to fetch this context's credential again: an exec plugin's or
    an auth provider's (the only ones its loader gives an expiry). For a token the library sets a
    hook that runs before every request and, with no expiry, only applies the kubeconfig again:
    the same server, CA and token, where setting the server alone reads the whole environment for
    proxies (urllib.request.getproxies), a millisecond of CPU per request. True (the hook stays)
    when the file cannot be read here."""
    import yaml

    from digit_tui.infra.kubelite import context_entries
    from digit_tui.yamlload import safe_load

    try:
        found = context_entries(safe_load(Path(kubeconfig).read_text()), context)
    except (OSError, ValueError, TypeError, AttributeError, yaml.YAMLError):
        return True
    if found is None:
        return True
    user = found[1]
    return bool(user.get("exec") or user.get("auth-provider"))


def _default_timeout(api: Any, policy: ClientPolicy) -> None:
    """Give the policy's timeouts to any request made without ``_request_timeout`` (a generated
    API method someone forgot to pass it to): without one urllib3 would wait forever."""
    rest = getattr(api, "rest_client", None)
    send = getattr(rest, "request", None)
    if rest is None or send is None:
        return

    def request(method: str, url: str, headers: Any = None, body: Any = None, post_params: Any = None,
                _request_timeout: Any = None) -> Any:
        return send(method, url, headers=headers, body=body, post_params=post_params,
                    _request_timeout=_request_timeout or policy.request_timeout())

    rest.request = request


class HttpError(Exception):
    """An HTTP error answer to a read made through ``infra.kubelite``: ``status``, ``reason`` and
    ``body`` (a ``Status`` object's JSON) as the library's ApiException has them, which every caller
    and ``infra.failures`` read; not a KubeError (which means an answer that is not an HTTP error)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"({status}) Reason: {reason}")
        self.status = status
        self.reason = reason
        self.body = body


def _reader(kubeconfig: str | Path, context: str | None, policy: ClientPolicy) -> LiteKube | None:
    """A ``kubelite.LiteKube`` for this kubeconfig's reads, or None (the library reads too)."""
    from digit_tui.infra.kubelite import lite_kube

    try:
        return lite_kube(kubeconfig, context, policy=policy)
    except Exception:   # a CA or client certificate ssl refuses: the library's loader says what is wrong
        return None


class UnknownType(KubeError):
    def __init__(self, api_version: str, kind: str) -> None:
        super().__init__(f"the cluster does not serve {kind} ({api_version})")
        self.api_version = api_version
        self.kind = kind


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
        return base


@dataclass(frozen=True)
class ObjectKey:
    """What identifies an object for apply and prune (the version is not part of it)."""

    group: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def object_key(obj: Mapping[str, Any], default_namespace: str = "") -> ObjectKey:
    meta = obj.get("metadata") or {}
    group, _ = split_api_version(str(obj.get("apiVersion", "")))
    return ObjectKey(group, str(obj.get("kind", "")), str(meta.get("namespace") or default_namespace),
                     str(meta.get("name", "")))


def _api_exception(status: int, reason: str, body: bytes | str | None) -> Exception:
    from kubernetes.client.exceptions import ApiException

    exc = ApiException(status=status, reason=reason)
    exc.body = body.decode(errors="replace") if isinstance(body, bytes) else body
    return exc


def status_message(exc: BaseException) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, else one line about the error (the root
    cause of a connection failure, never a wrapper such as urllib3's MaxRetryError)."""
    if http_status(exc) is not None:
        return status_text(exc)
    failure = failure_of(exc)
    if failure is not None:
        return failure.detail
    return first_line(exc)


def _apply_body(obj: Any) -> Any:
    """An apply's body as the JSON text the library would send: it passes text of a YAML type as
    it is, where an object is first walked by its pure-Python sanitizer (the larger part of the CPU
    an apply of a Deployment costs this side). An object json cannot encode as it is (a date a
    YAML file parsed) goes to the library, whose sanitizer converts it."""
    try:
        return json.dumps(obj)
    except (TypeError, ValueError):
        return obj


class Kube:
    """One cluster, reached through a kubeconfig and context. Thread-safe.

    Reads (GET: lists, gets, discovery, watches, logs) go through ``infra.kubelite`` when the
    kubeconfig is one it reads (a server, a CA, a token or client certificate): a converged rerun
    only reads, and then neither imports the kubernetes package (a tenth of a second) nor builds its
    client. Writes, and every request of a kubeconfig kubelite does not read (exec plugins, auth
    providers), go through the library's ``ApiClient``, made on first use."""

    def __init__(self, kubeconfig: str | Path, context: str | None = None, *,
                 timeout: float | None = None, policy: ClientPolicy = DEFAULT_POLICY) -> None:
        if timeout is not None:  # a shorter (or longer) answer time than the policy's
            policy = replace(policy, read=timeout, connect=min(policy.connect, timeout))
        self.kubeconfig = str(kubeconfig)
        self.context = context
        self.policy = policy
        self._lock = threading.Lock()
        self._groups: dict[str, dict[str, ResourceType]] = {}   # "group/version" -> kind -> type
        # One discovery request per group-version at a time: a rerun's checks start together and
        # each asked for networking.k8s.io/v1 before any had it (ten requests for one answer).
        self._discovering: dict[str, threading.Lock] = {}
        self._preferred: dict[str, str] | None = None             # group -> preferred version
        self._api: Any = None
        # What this connection reads goes to the read log of the run that made it, from any thread
        # (infra/reads.py): a rerun can then tell that none of it changed.
        self._reads = reads.current()
        if self._reads is not None:
            self._reads.file(self.kubeconfig)
        self._lite: LiteKube | None = _reader(kubeconfig, context, policy)
        if self._lite is None:
            self._api = api_client(kubeconfig, context, policy=policy)   # an unusable kubeconfig fails here

    @property
    def api(self) -> Any:
        """The kubernetes library's ``ApiClient`` (made on first use when reads go through kubelite)."""
        with self._lock:
            if self._api is None:
                self._api = api_client(self.kubeconfig, self.context, policy=self.policy)
            return self._api

    def close(self) -> None:
        if self._lite is not None:
            self._lite.close()
        if self._api is not None:
            self._api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def server(self) -> str:
        if self._lite is not None:
            return str(self._lite.server)
        return str(self.api.configuration.host)

    # -- raw requests -----------------------------------------------------
    def _send(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
              content_type: str | None = None, timeout: float | tuple[float, float] | None = None) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/json"
            if content_type == "application/apply-patch+yaml" and not isinstance(body, (str, bytes)):
                body = _apply_body(body)
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        method, url, headers, body, _ = self.api.param_serialize(
            method, path, query_params=params, header_params=headers, body=body,
            auth_settings=["BearerToken"])
        limit = timeout if isinstance(timeout, tuple) else self.policy.request_timeout(timeout)
        return self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=limit)

    def _get_raw(self, path: str, query: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> bytes:
        """A read through kubelite; an HTTP error as ``HttpError``."""
        from digit_tui.infra.kubelite import ApiError

        assert self._lite is not None
        try:
            return self._lite.get_raw(path, query, timeout=timeout)
        except ApiError as exc:
            raise HttpError(exc.status, exc.reason, exc.body) from None

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str | None = None, timeout: float | None = None) -> Any:
        """One request; the decoded JSON answer (None when empty). An HTTP error has ``status``,
        ``reason`` and ``body``: the library's ApiException, or ``HttpError`` for a read through kubelite."""
        if method == "GET" and body is None:
            try:
                found = self._read(path, query, timeout=timeout)
            except Exception as exc:
                self._saw_error("get", path, query, exc)
                raise
            self._saw("get", path, query, found)
            return found
        if self._reads is not None:
            self._reads.cannot(f"{method} {path}")
        return self._call(method, path, query=query, body=body, content_type=content_type, timeout=timeout)

    def _saw(self, how: str, path: str, query: Mapping[str, Any] | None, answer: Any) -> None:
        if self._reads is not None:
            self._reads.api(self.kubeconfig, self.context, reads.api_key(how, path, query), answer)

    def _saw_error(self, how: str, path: str, query: Mapping[str, Any] | None, exc: Exception) -> None:
        """An HTTP error is an answer a check may act on (a 404: "not there"); no answer is not."""
        if self._reads is None:
            return
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            self._saw(how, path, query, {"error": status})
        else:
            self._reads.cannot(f"GET {path} failed")

    def _read(self, path: str, query: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> Any:
        """A GET's decoded answer, not recorded (``request`` and ``list`` record what they return)."""
        if self._lite is not None:
            raw = self._get_raw(path, query, timeout=timeout)
            return json.loads(raw) if raw else None
        return self._call("GET", path, query=dict(query or {}), timeout=timeout)

    def _call(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
              content_type: str | None = None, timeout: float | None = None) -> Any:
        resp = self._send(method, path, query=query, body=body, content_type=content_type, timeout=timeout)
        data = resp.read()
        if not 200 <= resp.status <= 299:
            raise _api_exception(resp.status, resp.reason, data)
        if not data:
            return None
        return json.loads(data)

    def version(self) -> dict[str, Any]:
        return self.request("GET", "/version") or {}

    def readyz(self, timeout: float | None = None) -> str:
        """The API server's ``GET /readyz`` answer ("ok"): plain text, not JSON, so not ``request``.
        ApiException (500) while the server is not ready to serve."""
        if self._lite is not None:
            try:
                text = self._get_raw("/readyz", timeout=timeout).decode(errors="replace").strip()
            except Exception as exc:
                self._saw_error("text", "/readyz", None, exc)
                raise
        else:
            resp = self._send("GET", "/readyz", timeout=timeout)
            data: bytes = resp.read()
            if not 200 <= resp.status <= 299:
                if self._reads is not None:
                    self._reads.cannot("GET /readyz failed")
                raise _api_exception(resp.status, resp.reason, data)
            text = data.decode(errors="replace").strip()
        self._saw("text", "/readyz", None, text)
        return text

    # -- discovery --------------------------------------------------------
    def _fetch_group_version(self, api_version: str) -> dict[str, ResourceType]:
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        try:
            doc = self.request("GET", path) or {}
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return {}
            raise
        found: dict[str, ResourceType] = {}
        for res in doc.get("resources") or []:
            name = str(res.get("name", ""))
            if not name or "/" in name:  # subresources (pods/log, deployments/scale)
                continue
            kind = str(res.get("kind", ""))
            found.setdefault(kind, ResourceType(group, version, kind, name, bool(res.get("namespaced")),
                                                frozenset(res.get("verbs") or ())))
        return found

    def _group(self, api_version: str, refetch: bool | dict[str, ResourceType] | None = None) -> dict[str, ResourceType]:
        """The types of one group-version, fetched by one thread at a time. ``refetch``: True fetches
        again whatever is cached; the cached answer the caller found wanting fetches again unless
        another thread replaced it meanwhile; None fetches only what is not cached."""
        with self._lock:
            gate = self._discovering.setdefault(api_version, threading.Lock())
        with gate:
            with self._lock:
                cached = self._groups.get(api_version)
            if cached is not None and refetch is not True and cached is not refetch:
                return cached
            fetched = self._fetch_group_version(api_version)
            with self._lock:
                self._groups[api_version] = fetched
            return fetched

    def resource(self, api_version: str, kind: str, *, refresh: bool = False) -> ResourceType:
        """The resource type serving ``kind`` in ``api_version``; UnknownType if the cluster has none."""
        with self._lock:
            cached = self._groups.get(api_version)
        if cached is not None and kind in cached and not refresh:
            return cached[kind]
        fetched = self._group(api_version, refetch=True if refresh else cached)
        if kind in fetched:
            return fetched[kind]
        raise UnknownType(api_version, kind)

    def forget(self, api_version: str | None = None) -> None:
        """Drop cached discovery (one group-version, or all), e.g. after applying CRDs."""
        with self._lock:
            if api_version is None:
                self._groups.clear()
                self._preferred = None
            else:
                self._groups.pop(api_version, None)

    def wait_for_type(self, api_version: str, kind: str, timeout: float = CRD_ESTABLISH_WAIT) -> ResourceType:
        """Discovery of a type a CRD just introduced: a real API server needs a moment to serve it."""
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            try:
                return self.resource(api_version, kind, refresh=True)
            except UnknownType:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(1.0, delay * 2)

    def preferred_version(self, group: str) -> str | None:
        """The served version of an API group the server prefers ("" is the core group, v1)."""
        if not group:
            return "v1"
        with self._lock:
            known = self._preferred
        if known is None:
            doc = self.request("GET", "/apis") or {}
            known = {str(g.get("name")): str((g.get("preferredVersion") or {}).get("version", ""))
                     for g in doc.get("groups") or []}
            with self._lock:
                self._preferred = known
        return known.get(group) or None

    def types_for(self, kinds: Iterable[tuple[str, str]]) -> list[ResourceType]:
        """Resource types for (group, kind) pairs the server serves, in its preferred versions."""
        kinds = list(kinds)
        self._discover({f"{group}/{version}" if group else version for group, _ in kinds
                        if (version := self.preferred_version(group)) is not None})
        out: list[ResourceType] = []
        seen: set[tuple[str, str]] = set()
        for group, kind in kinds:
            if (group, kind) in seen:
                continue
            seen.add((group, kind))
            version = self.preferred_version(group)
            if version is None:
                continue
            try:
                out.append(self.resource(f"{group}/{version}" if group else version, kind))
            except UnknownType:
                continue
        return out

    def _discover(self, api_versions: Iterable[str]) -> None:
        """Fetch the discovery of the group-versions not cached yet, a few at a time (the release
        record's check asks for some ten at once, one round trip each)."""
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            missing = sorted(v for v in set(api_versions) if v not in self._groups)
        if len(missing) <= 1:
            return      # resource() fetches it as before
        with ThreadPoolExecutor(max_workers=min(LIST_PARALLEL, len(missing)), thread_name_prefix="kube-discovery") as pool:
            list(pool.map(self._group, missing))

    # -- objects ----------------------------------------------------------
    def _type_of(self, obj: Obj) -> ResourceType:
        return self.resource(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    def apply(self, obj: Obj, *, field_manager: str = FIELD_MANAGER, force: bool = True,
              default_namespace: str = DEFAULT_NAMESPACE) -> Obj:
        """Server-side apply of one object (created when absent); returns the live object."""
        rtype = self._type_of(obj)
        meta = obj.get("metadata") or {}
        namespace = None
        if rtype.namespaced:
            namespace = meta.get("namespace") or default_namespace
            if meta.get("namespace") != namespace:
                obj = {**obj, "metadata": {**meta, "namespace": namespace}}
        query = {"fieldManager": field_manager, "force": "true" if force else None}
        live: Obj = self.request("PATCH", rtype.path(namespace, str(meta.get("name", ""))), query=query, body=obj,
                                 content_type="application/apply-patch+yaml")
        return live

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        rtype = self.resource(api_version, kind)
        path = rtype.path(namespace if rtype.namespaced else None, name)
        try:
            found: Obj | None = self.request("GET", path)
            return found
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise

    def list(self, rtype: ResourceType, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None) -> tuple[list[Obj], str]:
        """Items (with apiVersion and kind filled in) and the list's resourceVersion; pages through."""
        items: list[Obj] = []
        token: str | None = None
        rv = ""
        path = rtype.path(namespace if rtype.namespaced else None)
        selectors = {"labelSelector": label_selector, "fieldSelector": field_selector}
        while True:
            try:
                doc = self._read(path, {**selectors, "limit": 500, "continue": token}) or {}
            except Exception as exc:
                self._saw_error("list", path, selectors, exc)
                raise
            items += doc.get("items") or []
            meta = doc.get("metadata") or {}
            rv = str(meta.get("resourceVersion", rv))
            token = meta.get("continue") or None
            if not token:
                break
        self._saw("list", path, selectors, items)   # as the server sent them, before the fill-in below
        for item in items:
            item.setdefault("apiVersion", rtype.api_version)
            item.setdefault("kind", rtype.kind)
        return items, rv

    def list_pipelined(self, rtype: ResourceType, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       limit: int = 500, each: Callable[[Obj], Obj] | None = None,
                       decode: Callable[[bytes], Obj] = json.loads) -> Objs:
        """Like ``list`` (items only), but page n+1 is on its way while page n is decoded
        (``read_pipelined``). ``each`` maps every item as its page is decoded (to keep only what
        the caller reads: thousands of pods are large); ``decode`` decodes a raw page (one that
        skips the fields the caller does not read is faster)."""
        query = {"labelSelector": label_selector, "fieldSelector": field_selector, "limit": limit}
        path = rtype.path(namespace if rtype.namespaced else None)
        if self._reads is not None:   # its items are mapped as they come: not what a rerun could compare
            self._reads.cannot(f"a pipelined list of {path}")

        def fetch(token: str | None) -> bytes:
            if self._lite is not None:
                return self._get_raw(path, {**query, "continue": token})
            resp = self._send("GET", path, query={**query, "continue": token})
            data: bytes = resp.read()
            if not 200 <= resp.status <= 299:
                raise _api_exception(resp.status, resp.reason, data)
            return data

        return read_pipelined(fetch, rtype, each, decode)

    def list_labelled(self, types: Iterable[ResourceType], label_selector: str) -> Objs:
        """Every object of ``types`` (all namespaces) matching the label selector, in the order of
        ``types``. The lists are made a few at a time: the release record and pruning list some
        twenty types, and each list is one round trip the next need not wait for."""
        from concurrent.futures import ThreadPoolExecutor

        listable = [rtype for rtype in types if "list" in rtype.verbs]
        if len(listable) <= 1:
            return [item for rtype in listable for item in self.list(rtype, None, label_selector=label_selector)[0]]
        with ThreadPoolExecutor(max_workers=min(LIST_PARALLEL, len(listable)),
                                thread_name_prefix="kube-list") as pool:
            pages = list(pool.map(lambda rtype: self.list(rtype, None, label_selector=label_selector)[0], listable))
        return [item for items in pages for item in items]

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None, *,
               propagation: str = "Background") -> bool:
        """Delete one object; False when it was already gone."""
        rtype = self.resource(api_version, kind)
        try:
            self.request("DELETE", rtype.path(namespace if rtype.namespaced else None, name),
                         body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation})
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise
        return True

    def watch(self, rtype: ResourceType, namespace: str | None = None, *, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              timeout_seconds: int = 30) -> Iterator[tuple[str, Obj]]:
        """(type, object) events until the server ends the stream (``timeoutSeconds``) or it breaks.

        An ``ERROR`` event (e.g. 410 Expired) is yielded as such: the caller re-lists.
        """
        timeout_seconds = max(1, int(timeout_seconds))
        if self._reads is not None:
            self._reads.cannot(f"a watch of {rtype.path(namespace)}")
        if self._lite is not None:
            from digit_tui.infra.kubelite import ApiError

            try:
                yield from self._lite.watch(rtype, namespace, resource_version=resource_version,
                                            label_selector=label_selector, field_selector=field_selector,
                                            timeout_seconds=timeout_seconds)
            except ApiError as exc:
                raise HttpError(exc.status, exc.reason, exc.body) from None
            return
        resp = self._send("GET", rtype.path(namespace if rtype.namespaced else None),
                          query={"watch": "true", "resourceVersion": resource_version,
                                 "labelSelector": label_selector, "fieldSelector": field_selector,
                                 "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true"},
                          timeout=self.policy.watch_timeout(timeout_seconds))
        raw = resp.response
        try:
            if not 200 <= resp.status <= 299:
                raise _api_exception(resp.status, resp.reason, raw.read())
            buf = b""
            for chunk in raw.stream(65536, decode_content=True):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield watch_event(line, rtype)
        finally:
            raw.release_conn()

    # -- pods, events -----------------------------------------------------
    def pod_log(self, namespace: str, name: str, container: str | None = None, *, tail_lines: int = 5,
                previous: bool = False) -> str:
        path = f"/api/v1/namespaces/{quote(namespace, safe='')}/pods/{quote(name, safe='')}/log"
        query = {"container": container, "tailLines": tail_lines, "previous": "true" if previous else None}
        if self._reads is not None:
            self._reads.cannot(f"the log of pod {namespace}/{name}")
        if self._lite is not None:
            return self._get_raw(path, query).decode(errors="replace")
        resp = self._send("GET", path, query=query)
        data: bytes = resp.read()
        if not 200 <= resp.status <= 299:
            raise _api_exception(resp.status, resp.reason, data)
        return data.decode(errors="replace")

    def events_for(self, namespace: str, kind: str, name: str) -> Objs:
        """Core events about one object, oldest first."""
        rtype = self.resource("v1", "Event")
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        items, _ = self.list(rtype, namespace, field_selector=selector)
        return sorted(items, key=_event_time)


def _event_time(ev: Obj) -> str:
    return str(ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp")
               or "")


def watch_event(line: bytes, rtype: ResourceType) -> tuple[str, Obj]:
    """(type, object) of one line of a watch stream; the object typed as the list's items are."""
    event = json.loads(line)
    obj = event.get("object") or {}
    if event.get("type") != "ERROR":
        obj.setdefault("apiVersion", rtype.api_version)
        obj.setdefault("kind", rtype.kind)
    return str(event.get("type", "")), obj


def read_pipelined(fetch: Callable[[str | None], bytes], rtype: ResourceType,
                   each: Callable[[Obj], Obj] | None = None, decode: Callable[[bytes], Obj] = json.loads) -> Objs:
    """The items of a paginated list, ``fetch(continue_token)`` giving each raw page, with page n+1
    on its way while page n is decoded: the continue token is read from the raw page's head, where
    the API server writes the list's metadata before its items (a page whose head does not say is
    decoded first)."""
    from concurrent.futures import Future, ThreadPoolExecutor

    items: Objs = []
    with ThreadPoolExecutor(1, thread_name_prefix="kube-page") as pool:
        pending: Future[bytes] | None = pool.submit(fetch, None)
        while pending is not None:
            raw = pending.result()
            head = _LIST_HEAD.match(raw[:4096])
            pending = None
            if head is not None:
                found = _CONTINUE.search(head.group(1))
                if found and found.group(1):
                    pending = pool.submit(fetch, found.group(1).decode())
            doc = decode(raw) if raw else {}
            if head is None:
                token = (doc.get("metadata") or {}).get("continue") or None
                if token:
                    pending = pool.submit(fetch, token)
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", rtype.api_version)
                item.setdefault("kind", rtype.kind)
                items.append(each(item) if each is not None else item)
    return items
