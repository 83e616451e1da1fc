"""The binary engine: pyhelm3 driving a ``helm`` binary found on PATH.

Values go to ``helm template --values -`` on stdin (pyhelm3 does that), so
secrets never appear in process arguments. CRDs are asked for with
``--include-crds``; Helm prints the chart's ``crds/`` first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from digit_tui import yamldump
from digit_tui.digit.render import DEFAULT_TIMEOUT, Renderer, _Staged


class HelmBinaryRenderer(Renderer):
    engine = "helm"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        from pyhelm3 import Client

        self._client_cls = Client

    def _render_staged(self, staged: _Staged, release: str, values: dict[str, Any],
                       namespace: str | None) -> tuple[dict[str, str], list[tuple[str, str]]]:
        async def run() -> list[dict[str, Any]]:
            client = self._client_cls()
            chart = await client.get_chart(staged.path)
            docs = await asyncio.wait_for(
                client.template_resources(chart, release, values, include_crds=True,
                                          namespace=namespace or "default"),
                timeout=self.timeout)
            return [d for d in docs if isinstance(d, dict)]

        docs = asyncio.run(run())
        crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
        rest = [d for d in docs if d.get("kind") != "CustomResourceDefinition"]
        # Re-serialised so the shared parser sorts and checks them like the SDK's output.
        manifests = {f"{staged.name}/templates/rendered.yaml": yamldump.safe_dump_all(rest, sort_keys=False)} if rest else {}
        crd_files = [(f"{staged.name}/crds/rendered.yaml", yamldump.safe_dump_all(crds, sort_keys=False))] if crds else []
        return manifests, crd_files
