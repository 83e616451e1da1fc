"""The release record: ConfigMap ``egov/digit-tui-release``, written by the install's last task.

It says what was deployed (release, modules, per-service tag and digest) and which services were
left out on purpose (``digit.skip_services``), so a health view can tell "skipped on purpose"
from "missing" without the answers file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RELEASE_CONFIGMAP = "digit-tui-release"
RELEASE_NAMESPACE = "egov"
RECORD_PATH = f"/api/v1/namespaces/{RELEASE_NAMESPACE}/configmaps/{RELEASE_CONFIGMAP}"


@dataclass(frozen=True)
class RecordedService:
    """One service as the install recorded it."""

    name: str
    module: str
    tag: str            # the tag it was rendered with; "" when its chart's own tag was used
    digest: str         # "sha256:..." of its rendered manifest (the objects' digit.org/digest)


@dataclass(frozen=True)
class ReleaseRecord:
    release: str
    environment: str
    services: dict[str, dict[str, Any]]     # name -> {module, tag, digest}
    skipped: tuple[str, ...]

    @classmethod
    def from_configmap(cls, obj: Mapping[str, Any]) -> ReleaseRecord:
        data = obj.get("data") or {}
        try:
            services = json.loads(data.get("services.json") or "{}")
        except ValueError:
            services = {}
        skipped = tuple(s for s in str(data.get("skipped") or "").split(",") if s)
        return cls(str(data.get("release") or ""), str(data.get("environment") or ""),
                   services if isinstance(services, dict) else {}, skipped)

    def recorded(self) -> dict[str, RecordedService]:
        """The services, typed (an entry that is not a mapping is recorded with nothing known)."""
        out: dict[str, RecordedService] = {}
        for name, info in sorted(self.services.items()):
            info = info if isinstance(info, Mapping) else {}
            out[name] = RecordedService(name, str(info.get("module") or ""), str(info.get("tag") or ""),
                                        str(info.get("digest") or ""))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"release": self.release, "environment": self.environment, "services": sorted(self.services),
                "skipped_on_purpose": list(self.skipped)}

    def line(self) -> str:
        out = f"release {self.release or '?'} ({self.environment}) · {len(self.services)} services recorded"
        if self.skipped:
            out += f" · skipped on purpose: {', '.join(self.skipped)}"
        return out
