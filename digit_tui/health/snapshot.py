"""One read of a cluster for ``health --once``: every list it needs, side by side, as raw JSON.

One paginated list per kind (``limit``/``continue`` through ``infra.kube``, the next page fetched
while one is decoded), events field-selected by the API server to warnings (the only ones the
report reads), pods and events decoded into only what the report reads (``health.projection``),
plus two single objects: the release record (``egov/digit-tui-release``), DIGIT's
``egov/egov-config`` ConfigMap (the database host the services use). The kubernetes package is not imported at all when the
kubeconfig is one ``infra.kubelite`` reads (a CA, a token or a client certificate).

A network failure or a refused kubeconfig on any list raises (the caller exits 4: nothing could
be checked). The single objects are optional: absent (404) or not readable (403), the report says
what it could not check.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from digit_tui.digit.releaserecord import RECORD_PATH, ReleaseRecord
from digit_tui.health.projection import page_decoders
from digit_tui.health.watcher import FIELD_SELECTORS, POLICY, TYPES, make_kube
from digit_tui.infra.kube import ResourceType
from digit_tui.infra.kubelite import lite_kube

Obj = dict[str, Any]

EGOV_CONFIG_PATH = "/api/v1/namespaces/egov/configmaps/egov-config"   # rendered by cluster-configs

_LW = frozenset({"list", "watch"})
EXTRA_TYPES: dict[str, ResourceType] = {
    "services": ResourceType("", "v1", "Service", "services", True, _LW),
    "endpoints": ResourceType("", "v1", "Endpoints", "endpoints", True, _LW),
}


@dataclass(frozen=True)
class Single:
    """A single object that may be missing (404) or not readable (403)."""

    obj: Obj | None = None
    forbidden: bool = False


@dataclass(frozen=True)
class ClusterObjects:
    server: str = ""                                      # the API server's URL
    pods: list[Obj] = field(default_factory=list)
    deployments: list[Obj] = field(default_factory=list)
    statefulsets: list[Obj] = field(default_factory=list)
    jobs: list[Obj] = field(default_factory=list)
    pvcs: list[Obj] = field(default_factory=list)
    nodes: list[Obj] = field(default_factory=list)
    events: list[Obj] = field(default_factory=list)       # warnings only
    services: list[Obj] = field(default_factory=list)
    endpoints: list[Obj] = field(default_factory=list)
    record: Single = Single()
    egov_config: Single = Single()

    def kinds(self) -> dict[str, list[Obj]]:
        """What ``health.model.build_model`` reads."""
        return {kind: getattr(self, kind) for kind in TYPES}

    def release_record(self) -> ReleaseRecord | None:
        return ReleaseRecord.from_configmap(self.record.obj) if self.record.obj is not None else None


class Reader(Protocol):
    """What the read needs of a client: ``infra.kube.Kube`` or ``infra.kubelite.LiteKube``."""

    @property
    def server(self) -> str: ...
    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None) -> Any: ...
    def list_pipelined(self, rtype: ResourceType, namespace: str | None = None, *,
                       label_selector: str | None = None, field_selector: str | None = None,
                       limit: int = 500, each: Callable[[Obj], Obj] | None = None,
                       decode: Callable[[bytes], Obj] = ...) -> list[Obj]: ...
    def close(self) -> None: ...


def _list(kube: Reader, rtype: ResourceType, field_selector: str | None, decode: Callable[[bytes], Obj]) -> list[Obj]:
    return kube.list_pipelined(rtype, None, field_selector=field_selector, decode=decode)


def _optional(kube: Reader, path: str) -> Single:
    try:
        return Single(kube.request("GET", path) or {})
    except Exception as exc:
        status = getattr(exc, "status", None)
        if status == 404:
            return Single()
        if status == 403:
            return Single(forbidden=True)
        raise


def read_cluster(kubeconfig: str | Path, context: str | None) -> ClusterObjects:
    """Everything the report checks, read once; raises the first failure of a list. The standard
    library's client when the kubeconfig allows (no kubernetes import: half a second or more),
    else the library's."""
    kube: Reader = lite_kube(kubeconfig, context, policy=POLICY) or make_kube(kubeconfig, context)
    types = {**TYPES, **EXTRA_TYPES}
    decoders = page_decoders()
    try:
        with ThreadPoolExecutor(len(types) + 2, thread_name_prefix="health-read") as pool:
            lists = {kind: pool.submit(_list, kube, rtype, FIELD_SELECTORS.get(kind), decoders.get(kind, json.loads))
                     for kind, rtype in types.items()}
            record = pool.submit(_optional, kube, RECORD_PATH)
            config = pool.submit(_optional, kube, EGOV_CONFIG_PATH)
            got = {kind: f.result() for kind, f in lists.items()}
            return ClusterObjects(kube.server, **got, record=record.result(), egov_config=config.result())
    finally:
        kube.close()
