"""What the engine itself reads of a run's configuration document, typed, in one place.

A run's document (``InstallSpec.settings``, the journal's ``runs.settings``) is
written by the layer that knows the answers (``InstallConfig.to_document``) and
read back by the graph factory; to the engine it is opaque JSON, except for two
keys it owns: ``engine`` (concurrency, how long to wait for the network) and
``endpoints`` (what the network probe and the headless follower watch); and it notes
``preflight.skip_checks`` (warnings acknowledged) in a converged run's record (engine/unchanged.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from digit_tui.engine.limits import Limits
from digit_tui.engine.task import Endpoint

# Until every recorded run carries a scheme, the cluster API is recognised by its label or port.
_LEGACY_API_LABELS = ("cluster API", "cluster API endpoint")
_LEGACY_API_PORTS = (6443, 443)


def _endpoint(item: Mapping[str, Any]) -> Endpoint:
    host, port, label = str(item.get("host") or ""), int(item.get("port") or 0), str(item.get("label") or "")
    legacy = "https" if label in _LEGACY_API_LABELS or port in _LEGACY_API_PORTS else "tcp"
    return Endpoint(host, port, label, str(item.get("scheme") or legacy))


@dataclass(frozen=True)
class RunOptions:
    # A cap on tasks at once; None (absent or null in the document): automatic, by task load.
    concurrency: int | None = None
    # How long a task waits for the network; "task": each task's own RetryPolicy; None: forever.
    network_wait: float | None | Literal["task"] = "task"
    endpoints: tuple[Endpoint, ...] = ()
    skip_checks: bool = False       # the prerequisites' warnings acknowledged (install --skip-checks)

    @classmethod
    def of(cls, document: Mapping[str, Any] | None) -> RunOptions:
        doc: Mapping[str, Any] = document if isinstance(document, Mapping) else {}
        raw_engine = doc.get("engine")
        engine: Mapping[str, Any] = raw_engine if isinstance(raw_engine, Mapping) else {}
        wait: float | None | Literal["task"] = "task"
        if "network_wait" in engine:
            raw = engine["network_wait"]
            wait = None if raw is None else float(raw)
        endpoints = tuple(_endpoint(e) for e in doc.get("endpoints") or () if isinstance(e, Mapping))
        raw_concurrency = engine.get("concurrency")
        concurrency = None if raw_concurrency is None else max(1, int(raw_concurrency))
        raw_preflight = doc.get("preflight")
        skip = bool(raw_preflight.get("skip_checks")) if isinstance(raw_preflight, Mapping) else False
        return cls(concurrency=concurrency, network_wait=wait, endpoints=endpoints, skip_checks=skip)

    @property
    def limits(self) -> Limits:
        return Limits.of(self.concurrency)

    @property
    def api_endpoints(self) -> list[Endpoint]:
        """The HTTPS (cluster API) endpoints: what the headless follower watches."""
        return [e for e in self.endpoints if e.scheme == "https"]


@dataclass(frozen=True)
class GraphInput:
    """What a graph factory is given: the run's document (opaque here) and the state directory,
    under which tasks find generated files, rendered manifests and fetched sources."""

    document: Mapping[str, Any]
    state_dir: Path
