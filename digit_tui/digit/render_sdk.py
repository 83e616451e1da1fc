"""The embedded engine: Helm's Go SDK through helm-python-sdk (module ``helm_python``).

No ``helm`` binary is needed. Rendering is offline (``lookup`` returns nothing),
like ``helm template``. The native call releases the GIL, so renders in worker
threads run in parallel with the event loop.
"""

from __future__ import annotations

from typing import Any

from digit_tui.digit.render import DEFAULT_TIMEOUT, Renderer, _Staged
from digit_tui.errors import PermanentError


class SdkRenderer(Renderer):
    engine = "sdk"

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        try:
            import helm_python
        except Exception as exc:  # the native library may fail to load (wrong arch, libc)
            raise PermanentError(f"the embedded Helm SDK cannot be loaded: {exc}",
                                 remedy="reinstall helm-python-sdk, or install helm and use --engine helm") from exc
        self._helm = helm_python

    def _render_staged(self, staged: _Staged, release: str, values: dict[str, Any],
                       namespace: str | None) -> tuple[dict[str, str], list[tuple[str, str]]]:
        helm = self._helm
        with helm.Chart.load(staged.path) as chart:
            manifests = chart.render(values, name=release, namespace=namespace or "default", is_install=True)
            crds = [(str(c.get("filename") or c.get("name")), str(c.get("data") or "")) for c in chart.crds]
        return manifests, crds
