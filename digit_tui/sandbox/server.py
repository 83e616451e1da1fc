"""The sandbox's Kubernetes API server: aiohttp over HTTPS with bearer-token auth.

Routing is done by hand from the URL shape (``/api/v1/...``, ``/apis/G/V/...``)
against the resource registry, so CRD types are served as soon as they are
registered.  Lists and watches serialize the store's own (read-only) objects;
nothing is deep-copied on the read path.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from digit_tui.sandbox import openapi, patching, resources, tables
from digit_tui.sandbox.faults import Errors, FaultState, Latency, Partition, check_seconds, deadline
from digit_tui.sandbox.resources import ResourceType
from digit_tui.sandbox.store import ApiError, Store, clone

log = logging.getLogger(__name__)

SERVER_VERSION = {
    "major": "1", "minor": "30", "gitVersion": "v1.30.14", "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean", "buildDate": "2025-06-17T00:00:00Z", "goVersion": "go1.23.10",
    "compiler": "gc", "platform": "linux/amd64",
}
ANONYMOUS_PATHS = {"/version", "/version/", "/healthz", "/readyz", "/livez"}
NODE_NOT_READY = "sandbox.digit-tui.io/not-ready"
LogProvider = Callable[..., "str | None"]
JSON = "application/json"

_STATUS_TEXT = {500: ("InternalError", "Internal error occurred: injected fault"),
                502: ("InternalError", "Bad Gateway"),
                503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
                504: ("Timeout", "the server was unable to return a response in the time allotted"),
                429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later")}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=_dumps(obj), status=status, content_type=JSON)


def _status_ok(details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        out["details"] = details
    return out


def _as_version(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("apiVersion") == rt.api_version and obj.get("kind") == rt.kind:
        return obj
    return {**obj, "apiVersion": rt.api_version, "kind": rt.kind}


@dataclass
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None
    watch_path: bool = False


class ApiServer:
    def __init__(self, store: Store, *, token: str, log_provider: LogProvider | None = None,
                 faults: FaultState | None = None, version: str | None = None) -> None:
        self.store = store
        self.version = dict(SERVER_VERSION)
        if version is not None:
            major, minor = version.lstrip("v").split(".")[:2]
            self.version.update(major=major, minor=minor, gitVersion=version)
        self.token = token
        self.log_provider = log_provider
        self.faults = faults or FaultState()
        self.partition_mode = "drop"
        # Tokens that authenticate a user without any rights: every request is forbidden (403),
        # as RBAC answers a service account nobody bound a role to.
        self.no_rights_tokens: set[str] = set()
        self.ready = True
        self._watch_transports: set[asyncio.Transport] = set()
        self._runner: web.AppRunner | None = None
        self._heal_handles: dict[str, asyncio.TimerHandle] = {}
        self.url = ""
        self.port = 0

    # ------------------------------------------------------------------ lifecycle
    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_mw, self._auth_mw, self._error_mw],
                              client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    async def start(self, ssl_context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context, backlog=512, reuse_address=True)
        await site.start()
        sockname = self._runner.addresses[0]
        self.port = int(sockname[1])
        self.url = f"https://{host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        for t in list(self._watch_transports):
            t.abort()
        for h in self._heal_handles.values():
            h.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---------------------------------------------------------------- middlewares
    @web.middleware
    async def _fault_mw(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
        if request.path.startswith("/sandbox/"):
            return await handler(request)
        if self.faults.partitioned():
            if self.partition_mode == "drop":
                # Like a dropped route: nothing comes back until the partition ends.
                await asyncio.sleep(min(self.faults.partition_left(), 3600.0))
            _abort(request)
            raise ConnectionResetError("partitioned")
        delay = self.faults.current_latency()
        if delay:
            await asyncio.sleep(delay)
        err = self.faults.draw_error()
        if err == "reset":
            _abort(request)
            raise ConnectionResetError("injected reset")
        if err:
            code = int(err)
            reason, msg = _STATUS_TEXT.get(code, ("InternalError", "injected fault"))
            headers = {"Retry-After": "1"} if code in (429, 503) else None
            body = ApiError(code, reason, msg).status()
            return web.Response(body=_dumps(body), status=code, content_type=JSON, headers=headers)
        return await handler(request)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                       ) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if not auth and request.path in ANONYMOUS_PATHS:
            return await handler(request)
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if given and any(hmac.compare_digest(given.encode(), t.encode()) for t in self.no_rights_tokens):
            message = f'forbidden: User "sandbox:no-rights" cannot {request.method.lower()} path "{request.path}"'
            return _json(ApiError(403, "Forbidden", message).status(), 403)
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return _json(ApiError(401, "Unauthorized", "Unauthorized").status(), 401)
        return await handler(request)

    @web.middleware
    async def _error_mw(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                        ) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _json(exc.status(), exc.code)
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug must surface to the client as the real 500, not a hang
            log.exception("internal error on %s %s", request.method, request.path)
            return _json(ApiError(500, "InternalError", f"Internal error occurred: {type(exc).__name__}").status(),
                         500)

    # ------------------------------------------------------------------- routing
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        parts = [p for p in path.split("/") if p]
        method = request.method
        if path == "/version":
            return _json(self.version)
        if path in ("/healthz", "/livez", "/readyz") or (parts and parts[0] in ("healthz", "livez", "readyz")):
            if path.startswith("/readyz") and not self.ready:
                return web.Response(text="[-]sandbox not ready\nreadyz check failed", status=500)
            return web.Response(text="ok", content_type="text/plain")
        if parts and parts[0] == "sandbox":
            return await self._control(request, parts[1:])
        if parts and parts[0] == "openapi":
            return openapi.serve(request, self.store.registry, parts[1:])
        if path == "/api":
            return _json({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}]})
        if path == "/apis":
            return _json(self._group_list())
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 2:
            if len(parts) == 2:
                return self._group(parts[1])
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
            return self._resource_list(group, version)
        target = self._resolve(group, version, rest)
        return await self._serve(request, target)

    def _resolve(self, group: str, version: str, rest: list[str]) -> Target:
        reg = self.store.registry
        watch_path = False
        if rest and rest[0] == "watch":
            watch_path, rest = True, rest[1:]
        ns: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            nrt = reg.by_plural(group, version, rest[2])
            if nrt is not None and nrt.namespaced:
                ns, rest = rest[1], rest[2:]
        rt = reg.by_plural(group, version, rest[0]) if rest else None
        if rt is None or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) >= 2 else None
        sub = rest[2] if len(rest) == 3 else None
        if sub is not None and sub not in rt.subresources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if rt.namespaced and ns is None and name is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(rt, ns, name, sub, watch_path)

    async def _serve(self, request: web.Request, t: Target) -> web.StreamResponse:
        m = request.method
        q = request.query
        if t.name is None:
            if m == "GET":
                if t.watch_path or q.get("watch") in ("1", "true", "True"):
                    return await self._watch(request, t)
                return self._list(request, t)
            if m == "POST":
                return await self._create(request, t)
            if m == "DELETE":
                return await self._delete_collection(request, t)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if t.watch_path and m == "GET":
            return await self._watch(request, t, single=t.name)
        if t.sub == "log" and m == "GET":
            return await self._log(request, t)
        if t.sub == "scale":
            return await self._scale(request, t)
        if t.sub in ("binding", "eviction") and m == "POST":
            return await self._pod_action(request, t)
        if t.sub == "finalize" and m == "PUT":
            return await self._finalize(request, t)
        if m == "GET":
            obj = self.store.get_ref(t.rt, t.namespace, t.name)
            if obj is None:
                raise ApiError.not_found(t.rt, t.name)
            if tables.wants_table(request):
                return _json(tables.table(t.rt, [obj], self.store, single=True))
            return _json(_as_version(t.rt, obj))
        if m == "PUT":
            return await self._update(request, t)
        if m == "PATCH":
            return await self._patch(request, t)
        if m == "DELETE":
            return await self._delete(request, t)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # ---------------------------------------------------------------- discovery
    def _group_entry(self, group: str, versions: list[str]) -> dict[str, Any]:
        vs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def _group_list(self) -> dict[str, Any]:
        groups = [self._group_entry(g, vs) for g, vs in sorted(self.store.registry.groups().items()) if g]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _group(self, group: str) -> web.Response:
        versions = self.store.registry.groups().get(group)
        if not versions:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json({"kind": "APIGroup", "apiVersion": "v1", **self._group_entry(group, versions)})

    def _resource_list(self, group: str, version: str) -> web.Response:
        types = self.store.registry.in_group_version(group, version)
        if not types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        out: list[dict[str, Any]] = []
        for rt in sorted(types, key=lambda r: r.plural):
            entry: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular_name, "namespaced": rt.namespaced,
                                     "kind": rt.kind, "verbs": list(rt.verbs)}
            if rt.short_names:
                entry["shortNames"] = list(rt.short_names)
            if rt.categories:
                entry["categories"] = list(rt.categories)
            out.append(entry)
            for sub in rt.subresources:
                out.append(_subresource_entry(rt, sub))
        return _json({"kind": "APIResourceList", "apiVersion": "v1",
                      "groupVersion": f"{group}/{version}" if group else version, "resources": out})

    # -------------------------------------------------------------------- reads
    def _list(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        refs, rv = self.store.list_refs(t.rt, t.namespace, label_selector=q.get("labelSelector"),
                                        field_selector=q.get("fieldSelector"))
        meta: dict[str, Any] = {"resourceVersion": rv}
        cont = q.get("continue")
        if cont:
            start = _decode_continue(cont)
            lo, hi = 0, len(refs)
            # refs are sorted by (namespace, name): binary search for the first key after the token
            while lo < hi:
                mid = (lo + hi) // 2
                md = refs[mid]["metadata"]
                if (md.get("namespace", ""), md["name"]) <= start:
                    lo = mid + 1
                else:
                    hi = mid
            refs = refs[lo:]
        limit = int(q.get("limit") or 0)
        if limit > 0 and len(refs) > limit:
            last = refs[limit - 1]["metadata"]
            meta["continue"] = _encode_continue(rv, (last.get("namespace", ""), last["name"]))
            meta["remainingItemCount"] = len(refs) - limit
            refs = refs[:limit]
        if tables.wants_table(request):
            body = tables.table(t.rt, refs, self.store)
            body["metadata"] = meta
            return _json(body)
        rt = t.rt
        items = [o if o.get("apiVersion") == rt.api_version else _as_version(rt, o) for o in refs]
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items})

    async def _watch(self, request: web.Request, t: Target, single: str | None = None) -> web.StreamResponse:
        q = request.query
        fsel = q.get("fieldSelector")
        if single:
            fsel = f"metadata.name={single}" + (f",{fsel}" if fsel else "")
        timeout = float(q.get("timeoutSeconds") or random.uniform(1800, 3600))
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true", "True")
        resp = web.StreamResponse(status=200, headers={"Content-Type": JSON, "Cache-Control": "no-cache"})
        resp.enable_chunked_encoding()
        try:
            w = self.store.watch(t.rt, t.namespace, resource_version=q.get("resourceVersion"),
                                 label_selector=q.get("labelSelector"), field_selector=fsel)
        except ApiError as exc:
            if exc.code != 410:
                raise
            # The real API answers an expired watch with 200 and one ERROR event.
            await resp.prepare(request)
            await resp.write(_dumps({"type": "ERROR", "object": exc.status()}) + b"\n")
            await resp.write_eof()
            return resp
        transport = request.transport
        if transport is not None:
            self._watch_transports.add(transport)
        rt = t.rt
        end = time.monotonic() + timeout
        last_bookmark = time.monotonic()
        try:
            await resp.prepare(request)
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                try:
                    ev = await asyncio.wait_for(w.queue.get(), timeout=min(left, 5.0))
                except asyncio.TimeoutError:
                    if transport is None or transport.is_closing():
                        break
                    if bookmarks and time.monotonic() - last_bookmark >= 5.0:
                        last_bookmark = time.monotonic()
                        await resp.write(_dumps({"type": "BOOKMARK", "object": {
                            "kind": rt.kind, "apiVersion": rt.api_version,
                            "metadata": {"resourceVersion": self.store.resource_version}}}) + b"\n")
                    continue
                if ev is None:
                    break
                chunk = [_dumps({"type": ev.type, "object": _as_version(rt, ev.obj)})]
                # Drain what is already queued into one chunk: far fewer syscalls under load.
                while not w.queue.empty() and len(chunk) < 500:
                    nxt = w.queue.get_nowait()
                    if nxt is None:
                        w.closed = True
                        break
                    chunk.append(_dumps({"type": nxt.type, "object": _as_version(rt, nxt.obj)}))
                await resp.write(b"\n".join(chunk) + b"\n")
                if w.closed and w.queue.empty():
                    break
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass
        finally:
            self.store.unwatch(w)
            if transport is not None:
                self._watch_transports.discard(transport)
        return resp

    # ------------------------------------------------------------------- writes
    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        ctype = request.content_type
        try:
            if "yaml" in ctype:
                return _yaml_body(raw)
            return json.loads(raw)
        except (ValueError, yaml.YAMLError) as exc:
            raise ApiError.bad_request(f"the body of the request was in an unknown format: {exc}") from exc

    def _manager(self, request: web.Request, default_op: str) -> str:
        fm = request.query.get("fieldManager")
        if fm:
            return fm
        ua = request.headers.get("User-Agent", "unknown").split("/", 1)[0]
        return ua[:128] or default_op

    async def _create(self, request: web.Request, t: Target) -> web.Response:
        body = await self._body(request)
        if not isinstance(body, dict):
            raise ApiError.bad_request("the body of the request must be an object")
        self._check_kind(t.rt, body)
        meta = body.setdefault("metadata", {})
        if t.rt.namespaced:
            if meta.get("namespace") and t.namespace and meta["namespace"] != t.namespace:
                raise ApiError.bad_request("the namespace of the provided object does not match the namespace sent "
                                           "on the request")
            meta["namespace"] = t.namespace or meta.get("namespace") or "default"
        manager = self._manager(request, "create")
        patching.record_update({}, body, manager, t.rt.api_version, self.store.now())
        if _dry_run(request):
            return _json(body, 201)
        created = self.store.create(t.rt, body)
        return _json(created, 201)

    def _check_kind(self, rt: ResourceType, body: dict[str, Any]) -> None:
        kind = body.get("kind")
        if kind and kind != rt.kind:
            raise ApiError.bad_request(f"the object provided is unrecognized (must be of type {rt.kind}): "
                                       f"kind {kind} does not match the URL")

    async def _update(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        body = await self._body(request)
        if not isinstance(body, dict):
            raise ApiError.bad_request("the body of the request must be an object")
        self._check_kind(t.rt, body)
        meta = body.setdefault("metadata", {})
        if meta.get("name") and meta["name"] != t.name:
            raise ApiError.bad_request(f"the name of the object ({meta['name']}) does not match the name on the URL "
                                       f"({t.name})")
        meta["name"] = t.name
        if t.rt.namespaced:
            meta["namespace"] = t.namespace
        live = self.store.get_ref(t.rt, t.namespace, t.name)
        if live is None:
            raise ApiError.not_found(t.rt, t.name)
        if t.sub != "status":
            patching.record_update(live, body, self._manager(request, "update"), t.rt.api_version,
                                   self.store.now())
        if _dry_run(request):
            return _json(body)
        return _json(self.store.update(t.rt, body, subresource=t.sub))

    async def _patch(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        body = await self._body(request)
        ctype = request.content_type
        live = self.store.get_ref(t.rt, t.namespace, t.name)
        q = request.query
        now = self.store.now()
        if ctype == "application/apply-patch+yaml":
            if not isinstance(body, dict):
                raise ApiError.bad_request("apply patch must be an object")
            self._check_kind(t.rt, body)
            body.setdefault("metadata", {})
            if body["metadata"].get("name") and body["metadata"]["name"] != t.name:
                raise ApiError.bad_request("the name of the object does not match the name on the URL")
            body["metadata"]["name"] = t.name
            force = q.get("force") in ("true", "1", "True")
            if live is None:
                if t.sub:
                    raise ApiError.not_found(t.rt, t.name)
                obj = patching.server_side_apply(None, body, q.get("fieldManager", ""), force=force,
                                                 api_version=t.rt.api_version, now=now)
                if t.rt.namespaced:
                    obj["metadata"]["namespace"] = t.namespace
                if _dry_run(request):
                    return _json(obj, 201)
                return _json(self.store.create(t.rt, obj), 201)
            new = patching.server_side_apply(clone(live), body, q.get("fieldManager", ""), force=force,
                                             api_version=t.rt.api_version, now=now)
        else:
            if live is None:
                raise ApiError.not_found(t.rt, t.name)
            if ctype == "application/json-patch+json":
                new = patching.json_patch(live, body)
            elif ctype == "application/merge-patch+json":
                new = patching.merge_patch(live, body)
            elif ctype == "application/strategic-merge-patch+json":
                if self.store.registry.is_crd_type(t.rt):
                    raise ApiError(415, "UnsupportedMediaType",
                                   "strategic merge patch is not supported for custom resources")
                new = patching.strategic_merge(live, body)
            else:
                raise ApiError(415, "UnsupportedMediaType", f"the server does not support patch type {ctype!r}")
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "the patch did not produce an object")
            if t.sub != "status":
                patching.record_update(live, new, self._manager(request, "patch"), t.rt.api_version, now)
        new.setdefault("metadata", {})
        new["metadata"]["name"] = t.name
        if t.rt.namespaced:
            new["metadata"]["namespace"] = t.namespace
        if _dry_run(request):
            return _json(new)
        return _json(self.store.update(t.rt, new, subresource=t.sub if t.sub == "status" else None))

    async def _delete(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        opts = await self._body(request) or {}
        propagation = request.query.get("propagationPolicy") or (opts.get("propagationPolicy") if isinstance(
            opts, dict) else None) or ("Orphan" if isinstance(opts, dict) and opts.get("orphanDependents") else
                                       "Background")
        pre = opts.get("preconditions") if isinstance(opts, dict) else None
        if _dry_run(request):
            obj = self.store.get(t.rt, t.namespace, t.name)
            if obj is None:
                raise ApiError.not_found(t.rt, t.name)
            return _json(obj)
        out = self.store.delete(t.rt, t.namespace, t.name, propagation=propagation, preconditions=pre)
        return _json(out)

    async def _delete_collection(self, request: web.Request, t: Target) -> web.Response:
        q = request.query
        refs, _ = self.store.list_refs(t.rt, t.namespace, label_selector=q.get("labelSelector"),
                                       field_selector=q.get("fieldSelector"))
        items = []
        for o in list(refs):
            md = o["metadata"]
            try:
                items.append(self.store.delete(t.rt, md.get("namespace"), md["name"]))
            except ApiError as exc:
                if exc.code != 404:
                    raise
        return _json({"kind": t.rt.list_kind, "apiVersion": t.rt.api_version,
                      "metadata": {"resourceVersion": self.store.resource_version}, "items": items})

    async def _finalize(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        body = await self._body(request) or {}
        live = self.store.get(t.rt, None, t.name)
        if live is None:
            raise ApiError.not_found(t.rt, t.name)
        live.setdefault("spec", {})["finalizers"] = list((body.get("spec") or {}).get("finalizers") or [])
        out = self.store.update(t.rt, live)
        return _json(out)

    # ------------------------------------------------------------- subresources
    async def _scale(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        # The body is read before the live object: a controller that writes the object while the
        # request is awaited would otherwise make this update stale (a 409 no real API server gives).
        body = None if request.method == "GET" else await self._body(request)
        live = self.store.get_ref(t.rt, t.namespace, t.name)
        if live is None:
            raise ApiError.not_found(t.rt, t.name)
        scale = _scale_of(t.rt, live)
        if request.method == "GET":
            return _json(scale)
        if request.method == "PUT":
            new_scale = body
        elif request.method == "PATCH":
            ctype = request.content_type
            if ctype == "application/json-patch+json":
                new_scale = patching.json_patch(scale, body)
            elif ctype == "application/apply-patch+yaml":
                new_scale = patching.merge_patch(scale, body)
            else:
                new_scale = patching.merge_patch(scale, body)
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method")
        if not isinstance(new_scale, dict):
            raise ApiError.bad_request("a Scale must be an object")
        want_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        replicas = (new_scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError.invalid(t.rt, t.name, [("spec.replicas", f"Invalid value: {replicas!r}: must be >= 0")])
        obj = clone(live)
        obj.setdefault("spec", {})["replicas"] = replicas
        if want_rv and request.method == "PUT":
            obj["metadata"]["resourceVersion"] = want_rv
        updated = self.store.update(t.rt, obj)
        return _json(_scale_of(t.rt, updated))

    async def _pod_action(self, request: web.Request, t: Target) -> web.Response:
        assert t.name is not None
        body = await self._body(request) or {}
        live = self.store.get(t.rt, t.namespace, t.name)
        if live is None:
            raise ApiError.not_found(t.rt, t.name)
        if t.sub == "binding":
            node = ((body.get("target") or {}).get("name")) or ""
            if live.get("spec", {}).get("nodeName"):
                raise ApiError(409, "Conflict", f'pod {t.name} is already assigned to node '
                                                f'"{live["spec"]["nodeName"]}"')
            live["spec"]["nodeName"] = node
            self.store.update(t.rt, live)
            return _json(_status_ok(), 201)
        self.store.delete(t.rt, t.namespace, t.name)
        return _json(_status_ok(), 201)

    async def _log(self, request: web.Request, t: Target) -> web.StreamResponse:
        assert t.name is not None
        q = request.query
        pod = self.store.get_ref(t.rt, t.namespace, t.name)
        if pod is None:
            raise ApiError.not_found(t.rt, t.name)
        spec = pod.get("spec") or {}
        names = [c.get("name") for c in spec.get("containers") or []]
        init_names = [c.get("name") for c in spec.get("initContainers") or []]
        container = q.get("container")
        if not container:
            if len(names) != 1:
                raise ApiError.bad_request(f"a container name must be specified for pod {t.name}, choose one of: "
                                           f"[{' '.join(str(n) for n in names)}] or one of the init containers: "
                                           f"[{' '.join(str(n) for n in init_names)}]")
            container = names[0]
        if container not in names and container not in init_names:
            raise ApiError.bad_request(f"container {container} is not valid for pod {t.name}")
        previous = q.get("previous") in ("true", "1")
        tail = int(q["tailLines"]) if q.get("tailLines") else None
        statuses = (pod.get("status") or {}).get("containerStatuses", []) + (pod.get("status") or {}).get(
            "initContainerStatuses", [])
        st = next((s for s in statuses if s.get("name") == container), None)
        waiting = ((st or {}).get("state") or {}).get("waiting")
        text = self._pod_log(t.namespace or "", t.name, container, tail, previous)
        if text is None or (waiting and not text and not previous):
            reason = (waiting or {}).get("reason", "ContainerCreating")
            if previous:
                raise ApiError.bad_request(f'previous terminated container "{container}" in pod "{t.name}" not found')
            raise ApiError.bad_request(f'container "{container}" in pod "{t.name}" is waiting to start: {reason}')
        follow = q.get("follow") in ("true", "1")
        if not follow:
            return web.Response(text=text, content_type="text/plain")
        resp = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        await resp.write(text.encode())
        sent = self._pod_log(t.namespace or "", t.name, container, None, previous) or ""
        try:
            while True:
                await asyncio.sleep(0.5)
                if self.store.get_ref(t.rt, t.namespace, t.name) is None:
                    break
                if request.transport is None or request.transport.is_closing():
                    break
                now_text = self._pod_log(t.namespace or "", t.name, container, None, previous) or ""
                if len(now_text) > len(sent) and now_text.startswith(sent):
                    await resp.write(now_text[len(sent):].encode())
                sent = now_text
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    def _pod_log(self, ns: str, pod: str, container: str, tail: int | None, previous: bool) -> str | None:
        if self.log_provider is None:
            return ""
        return self.log_provider(ns, pod, container, tail_lines=tail, previous=previous)

    # ------------------------------------------------------------------ control
    async def _control(self, request: web.Request, parts: list[str]) -> web.Response:
        if parts[:2] != ["v1", "faults"]:
            raise ApiError(404, "NotFound", "unknown sandbox control path")
        if request.method == "GET":
            return _json({"faults": self.faults.describe(), "nodesNotReady": self._not_ready_nodes()})
        if request.method == "DELETE":
            self.faults.clear()
            for node in self._not_ready_nodes():
                self.set_node_ready(node, True)
            return _json({"cleared": True})
        if request.method != "POST":
            raise ApiError(405, "MethodNotAllowed", "use GET, POST or DELETE")
        body = await self._body(request) or {}
        return _json(self.apply_fault(body))

    def apply_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("kind")
        try:
            # A bad duration is the client's mistake (400), whichever fault it came with.
            seconds = check_seconds(body.get("seconds"))
        except ValueError as exc:
            raise ApiError.bad_request(str(exc)) from None
        if kind == "latency":
            self.faults.latency = Latency(until=deadline(seconds), ms=int(body.get("ms", 0)))
        elif kind == "errors":
            code = str(body.get("code", "503"))
            if code != "reset" and int(code) not in (500, 502, 503, 504, 429):
                raise ApiError.bad_request(f"unsupported error code {code}")
            rate = float(body.get("rate", 0.3))
            if not 0 <= rate <= 1:
                raise ApiError.bad_request("rate must be between 0 and 1")
            self.faults.errors = Errors(until=deadline(seconds), rate=rate, code=code)
        elif kind == "partition":
            if not seconds:
                raise ApiError.bad_request("a partition needs seconds > 0")
            self.partition_mode = str(body.get("mode", "drop"))
            self.faults.partition = Partition(until=deadline(seconds))
            self.cut_watches()
        elif kind == "cut-watches":
            return {"cut": self.cut_watches()}
        elif kind == "node-not-ready":
            node = str(body.get("node", ""))
            self.set_node_ready(node, False)
            if seconds:
                old = self._heal_handles.pop(node, None)
                if old:
                    old.cancel()
                self._heal_handles[node] = asyncio.get_running_loop().call_later(
                    float(seconds), self.set_node_ready, node, True)
        else:
            raise ApiError.bad_request(f"unknown fault kind {kind!r}")
        return {"faults": self.faults.describe(), "nodesNotReady": self._not_ready_nodes()}

    def cut_watches(self) -> int:
        n = len(self._watch_transports)
        for tr in list(self._watch_transports):
            tr.abort()
        self._watch_transports.clear()
        return n

    def set_node_ready(self, node: str, ready: bool) -> None:
        self._heal_handles.pop(node, None)
        obj = self.store.get(resources.NODES, None, node)
        if obj is None:
            if ready:
                return
            raise ApiError.not_found(resources.NODES, node)
        ann = obj["metadata"].setdefault("annotations", {})
        if ready:
            ann.pop(NODE_NOT_READY, None)
        else:
            ann[NODE_NOT_READY] = "true"
        obj["metadata"].pop("resourceVersion", None)
        self.store.update(resources.NODES, obj)

    def _not_ready_nodes(self) -> list[str]:
        refs, _ = self.store.list_refs(resources.NODES)
        return [n["metadata"]["name"] for n in refs
                if (n["metadata"].get("annotations") or {}).get(NODE_NOT_READY) == "true"]


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


def _yaml_body(raw: bytes) -> Any:
    """A body sent as YAML (server-side apply's ``application/apply-patch+yaml``). Clients send
    JSON there (the kubernetes library, kubectl, client-go): JSON is YAML, and the json module
    reads it in a hundredth of the CPU PyYAML's pure-Python parser takes (30 ms for a
    Deployment, most of the sandbox's loop during an install's waves). Only text that is not
    JSON goes to the YAML parser."""
    if raw.lstrip()[:1] in (b"{", b"["):
        try:
            return json.loads(raw)
        except ValueError:
            pass    # flow-style YAML, not JSON
    return yaml.safe_load(raw)


def _dry_run(request: web.Request) -> bool:
    return bool(request.query.get("dryRun"))


def _encode_continue(rv: str, key: tuple[str, str]) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(rv), "start": list(key)}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        ns, name = data["start"]
        return (str(ns), str(name))
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError.bad_request("continue key is not valid: incorrect encoded start resourceVersion") from exc


def _subresource_entry(rt: ResourceType, sub: str) -> dict[str, Any]:
    kinds = {"status": (rt.kind, ["get", "patch", "update"]), "log": ("Pod", ["get"]),
             "scale": ("Scale", ["get", "patch", "update"]), "binding": ("Binding", ["create"]),
             "eviction": ("Eviction", ["create"]), "finalize": ("Namespace", ["update"]),
             "proxy": ("NodeProxyOptions", ["create", "delete", "get", "patch", "update"]),
             "token": ("TokenRequest", ["create"])}
    kind, verbs = kinds.get(sub, (rt.kind, ["get"]))
    entry: dict[str, Any] = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                             "kind": kind, "verbs": verbs}
    if sub == "scale":
        entry.update(group="autoscaling", version="v1")
    elif sub == "eviction":
        entry.update(group="policy", version="v1")
    return entry


def _scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    sel = spec.get("selector") or {}
    if isinstance(sel, dict):
        parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
        for e in sel.get("matchExpressions") or []:
            op = e.get("operator")
            if op in ("In", "NotIn"):
                parts.append(f"{e.get('key')} {op.lower()} ({','.join(e.get('values') or [])})")
            elif op == "Exists":
                parts.append(str(e.get("key")))
            elif op == "DoesNotExist":
                parts.append(f"!{e.get('key')}")
        selector = ",".join(parts)
    else:
        selector = str(sel)
    md = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md.get("uid"),
                         "resourceVersion": md.get("resourceVersion"),
                         "creationTimestamp": md.get("creationTimestamp")},
            "spec": {"replicas": spec.get("replicas", 0)},
            "status": {"replicas": status.get("replicas", 0), "selector": selector}}


def server_ssl_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
