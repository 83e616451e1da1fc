"""The compatibility report of one release of a DIGIT tree, as `digit-tui check-source` makes it,
for the guided flow's target screen: whether it deploys, and each problem with its line.

Rendering every service of a real release takes seconds: run ``check_release`` off the event loop.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from digit_tui.digit.checksource import Problem, ReleaseReport

RENDER_TIMEOUT = 60.0      # seconds for one chart, as check-source's default
ORDER = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True)
class Compat:
    """The report of one release manifest, and what it means for going on."""

    root: Path
    manifest: Path
    report: ReleaseReport
    kube_version: str

    @property
    def deployable(self) -> bool:
        return self.report.deployable

    def problems(self) -> list[Problem]:
        return sorted(self.report.problems, key=lambda p: ORDER.get(p.severity, 3))

    def errors(self) -> list[Problem]:
        return self.report.errors()

    def warnings(self) -> list[Problem]:
        return [p for p in self.report.problems if p.severity == "warning"]

    @property
    def name(self) -> str:
        """The manifest short enough for 80 columns: its path under product-release-charts/."""
        return self.report.shown.split("product-release-charts/", 1)[-1]

    def where(self, problem: Problem) -> str:
        """``file:line`` of a problem (the file as the release list names it)."""
        return f"{self.name}:{problem.line}" if problem.line else self.name


def check_release(root: Path, manifest: Path, progress: Callable[[str], None], *,
                  kube_version: str | None = None) -> Compat:
    """check-source's report of ``manifest`` in the tree at ``root`` (offline, read-only)."""
    from digit_tui.digit.checksource import DEFAULT_KUBE_VERSION, check_source, preview_environment
    from digit_tui.digit.pipeline import base_values
    from digit_tui.digit.render import make_renderer
    from digit_tui.digit.source import locate

    kube = kube_version or DEFAULT_KUBE_VERSION
    source = locate(root)
    work = Path(tempfile.mkdtemp(prefix="digit-tui-compat-"))
    try:
        base = base_values(*preview_environment(work))
        with make_renderer("sdk", timeout=RENDER_TIMEOUT) as renderer:
            report = check_source(source, [manifest], base, renderer, kube_version=kube,
                                  environment="a preview environment", progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Compat(root, manifest, report.releases[0], kube)
