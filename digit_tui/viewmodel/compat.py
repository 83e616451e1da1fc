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
VERSION_TIMEOUT = 5.0      # seconds for an existing cluster to say its version
ORDER = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True)
class KubeVersion:
    """The Kubernetes version the report checks against, and whose it is (said on the report)."""

    version: str            # X.Y
    whose: str              # "the sandbox's", "the cluster's", or why it is the default


def target_version(kubeconfig: str | None, context: str | None = None) -> KubeVersion:
    """The version of the cluster the install will go to: an existing cluster's from its API
    server (the APIs a release may use depend on it: a chart that renders for 1.30 may use a kind
    1.22 does not serve), the sandbox's otherwise. A cluster that does not answer leaves the
    default, said so on the report. Blocking (one request, ``VERSION_TIMEOUT``)."""
    from digit_tui.digit.checksource import DEFAULT_KUBE_VERSION
    from digit_tui.infra.kubeconvert import parse_minor

    if not kubeconfig:
        return KubeVersion(DEFAULT_KUBE_VERSION, "the sandbox's")
    try:
        answer = _read_version(kubeconfig, context)
        minor = parse_minor(f"{answer.get('major', '')}.{str(answer.get('minor', '')).rstrip('+')}")
    except Exception as exc:        # any failure to learn the version leaves the default: the report says why
        reason = " ".join(str(exc).split())[:80] or type(exc).__name__
        return KubeVersion(DEFAULT_KUBE_VERSION, f"the default: the cluster's version is not known ({reason})")
    return KubeVersion(f"1.{minor}", "the cluster's")


def _read_version(kubeconfig: str, context: str | None) -> dict[str, object]:
    """``GET /version``: without the kubernetes library where ``infra.kubelite`` reads the kubeconfig."""
    from dataclasses import replace

    from digit_tui.infra.kube import DEFAULT_POLICY, Kube
    from digit_tui.infra.kubelite import lite_kube

    policy = replace(DEFAULT_POLICY, connect=VERSION_TIMEOUT, read=VERSION_TIMEOUT)
    lite = lite_kube(kubeconfig, context, policy=policy)
    if lite is not None:
        with lite:
            return dict(lite.request("GET", "/version") or {})
    with Kube(kubeconfig, context, policy=policy) as kube:
        return kube.version()


@dataclass(frozen=True)
class Compat:
    """The report of one release manifest, and what it means for going on."""

    root: Path
    manifest: Path
    report: ReleaseReport
    kube: KubeVersion

    @property
    def kube_version(self) -> str:
        return self.kube.version

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
                  kube: KubeVersion | None = None) -> Compat:
    """check-source's report of ``manifest`` in the tree at ``root`` (offline, read-only), for the
    Kubernetes version ``kube`` (else the sandbox's)."""
    from digit_tui.digit.checksource import check_source, preview_environment
    from digit_tui.digit.pipeline import base_values
    from digit_tui.digit.render import make_renderer
    from digit_tui.digit.source import locate

    kube = kube or target_version(None)
    source = locate(root)
    work = Path(tempfile.mkdtemp(prefix="digit-tui-compat-"))
    try:
        base = base_values(*preview_environment(work))
        with make_renderer("sdk", timeout=RENDER_TIMEOUT) as renderer:
            report = check_source(source, [manifest], base, renderer, kube_version=kube.version,
                                  environment="a preview environment", progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Compat(root, manifest, report.releases[0], kube)
