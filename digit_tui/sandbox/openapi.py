"""OpenAPI v3 documents: just enough for `kubectl apply` validation.

kubectl (1.27-1.33) first reads ``/openapi/v3`` and, per group-version, looks
for the PATCH operation tagged with the object's group/version/kind.  If that
operation takes the ``fieldValidation`` query parameter, kubectl leaves
validation to the server instead of validating client-side against full
schemas.  So each document lists every resource's paths with the GVK extension
and the standard query parameters, and no component schemas (without a schema
for the kind, kubectl computes strategic merge patches from its built-in types,
exactly as it does for a real server it cannot parse).  ``/openapi/v2`` is not
served: kubectl only falls back to it when v3 is missing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aiohttp import web

from digit_tui.sandbox.resources import Registry, ResourceType
from digit_tui.sandbox.store import ApiError

_QUERY = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "uniqueItems": True, "schema": {"type": "string" if name != "force"
                                                                          else "boolean"}}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _op(rt: ResourceType, action: str, params: tuple[str, ...]) -> dict[str, Any]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    return {"operationId": f"{action}{rt.kind}", "parameters": [_param(p) for p in params],
            "responses": {"200": {"description": "OK"}},
            "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}


def gv_document(registry: Registry, group: str, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    base = "/" + _gv_path(group, version)
    for rt in sorted(registry.in_group_version(group, version), key=lambda r: r.plural):
        prefix = f"{base}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{base}/{rt.plural}"
        paths[prefix] = {"get": _op(rt, "list", ("pretty",)), "post": _op(rt, "post", _QUERY[:3] + ("pretty",))}
        item = {"get": _op(rt, "get", ("pretty",)), "put": _op(rt, "put", _QUERY[:3] + ("pretty",)),
                "patch": _op(rt, "patch", _QUERY), "delete": _op(rt, "delete", ("dryRun", "pretty"))}
        paths[prefix + "/{name}"] = item
        for sub in rt.subresources:
            if sub in ("status", "scale"):
                paths[f"{prefix}/{{name}}/{sub}"] = {"get": _op(rt, "get", ("pretty",)),
                                                    "put": _op(rt, "put", _QUERY[:3] + ("pretty",))}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.30.14"}, "paths": paths,
            "components": {"schemas": {}}}


def _hash(doc: dict[str, Any]) -> str:
    return hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:64].upper()


def serve(request: web.Request, registry: Registry, parts: list[str]) -> web.Response:
    if parts[:1] != ["v3"]:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    rest = parts[1:]
    groups = registry.groups()
    if not rest:
        root: dict[str, Any] = {}
        for group, versions in sorted(groups.items()):
            for v in versions:
                key = _gv_path(group, v)
                root[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(gv_document(registry, group, v))}"}
        return web.json_response({"paths": root})
    if rest[0] == "api" and len(rest) == 2:
        group, version = "", rest[1]
    elif rest[0] == "apis" and len(rest) == 3:
        group, version = rest[1], rest[2]
    else:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    if version not in groups.get(group, []):
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    doc = gv_document(registry, group, version)
    headers = {"Cache-Control": "public, immutable"} if request.query.get("hash") else {}
    return web.Response(body=json.dumps(doc).encode(), content_type="application/json", headers=headers)
