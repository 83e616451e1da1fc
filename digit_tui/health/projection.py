"""List pages decoded into only the fields the health model and its checks read.

A page of 500 full pods is a megabyte of JSON (managed fields, volumes, env, probes) of which
``model.slim_pod`` keeps a tenth: ``json.loads`` built every dict of it and the slimming walked it
again in Python, two thirds of ``health --once``'s CPU at 5,000 pods. msgspec decodes a page
straight into the dicts below, skipping every other field in C (a sixth of the CPU), and the
result is still plain dicts and lists, so every reader of a pod or an event is unchanged.

What a projected pod holds is a superset of ``model.slim_pod`` (all the conditions' four fields,
not only the two it keeps), plus the labels (which workload a pod is of), each container's image
(what a failed pull names) and what its requests are made of (the dashboard's nodes view): what
``classify_pod``, ``verdict_due``, the checks and the dashboard's views read. ``health --once``
and the dashboard's first list (``health.watcher``) decode with it.
A page msgspec refuses (a field of an unexpected type: no API server sends one) is decoded by
``json`` and slimmed in Python, the same fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypedDict

import msgspec

from digit_tui.health.model import slim_event, slim_pod

Obj = dict[str, Any]


class _Terminated(TypedDict, total=False):
    exitCode: Any
    reason: Any
    message: Any


class _LastState(TypedDict, total=False):
    terminated: _Terminated | None


class _Waiting(TypedDict, total=False):
    reason: Any
    message: Any


class _ContainerState(TypedDict, total=False):
    waiting: _Waiting | None
    terminated: _Terminated | None


class _ContainerStatus(TypedDict, total=False):
    name: Any
    ready: Any
    restartCount: Any
    state: _ContainerState | None
    lastState: _LastState | None


class _Condition(TypedDict, total=False):
    type: Any
    status: Any
    message: Any
    lastTransitionTime: Any


class _PodStatus(TypedDict, total=False):
    phase: Any
    reason: Any
    message: Any
    startTime: Any
    conditions: list[_Condition] | None
    initContainerStatuses: list[_ContainerStatus] | None
    containerStatuses: list[_ContainerStatus] | None


class _Container(TypedDict, total=False):
    name: Any
    image: Any
    resources: Any          # the dashboard's nodes view sums the requests (infra.podrequests)
    restartPolicy: Any      # an init container that is a sidecar


class _PodSpec(TypedDict, total=False):
    nodeName: Any
    initContainers: list[_Container] | None
    containers: list[_Container] | None
    overhead: Any


class _PodMeta(TypedDict, total=False):
    namespace: Any
    name: Any
    uid: Any
    resourceVersion: Any
    creationTimestamp: Any
    deletionTimestamp: Any
    labels: Any


class _Pod(TypedDict, total=False):
    metadata: _PodMeta | None
    spec: _PodSpec | None
    status: _PodStatus | None


class _EventMeta(TypedDict, total=False):
    namespace: Any
    name: Any
    uid: Any
    creationTimestamp: Any


class _EventObject(TypedDict, total=False):
    kind: Any
    namespace: Any
    name: Any


class _Event(TypedDict, total=False):
    metadata: _EventMeta | None
    type: Any
    reason: Any
    message: Any
    lastTimestamp: Any
    eventTime: Any
    count: Any
    involvedObject: _EventObject | None
    regarding: _EventObject | None


class _PodList(TypedDict, total=False):
    metadata: Any
    items: list[_Pod] | None


class _EventList(TypedDict, total=False):
    metadata: Any
    items: list[_Event] | None


def _pod_fallback(pod: Obj) -> Obj:
    slim = slim_pod(pod)
    labels = (pod.get("metadata") or {}).get("labels")
    if labels:
        slim["metadata"]["labels"] = labels
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers"):
        if spec.get(key):
            slim["spec"][key] = [{k: c[k] for k in _Container.__annotations__ if k in c} for c in spec[key]]
    if spec.get("overhead"):
        slim["spec"]["overhead"] = spec["overhead"]
    return slim


def _page_decoder(schema: type, fallback: Callable[[Obj], Obj]) -> Callable[[bytes], Obj]:
    decoder: msgspec.json.Decoder[Obj] = msgspec.json.Decoder(schema)

    def decode(raw: bytes) -> Obj:
        try:
            doc: Obj = decoder.decode(raw)
        except msgspec.ValidationError:
            doc = json.loads(raw)
            doc["items"] = [fallback(item) for item in doc.get("items") or []]
        return doc
    return decode


def page_decoders() -> dict[str, Callable[[bytes], Obj]]:
    """kind (``health.watcher.TYPES``' keys) -> a decoder of one raw list page of it, for the kinds
    that come by the thousand."""
    return {"pods": _page_decoder(_PodList, _pod_fallback), "events": _page_decoder(_EventList, slim_event)}
