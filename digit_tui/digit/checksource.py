"""One report for a whole DIGIT-DevOps tree: every problem of every release manifest at once.

For each release manifest (all the tree holds, or those asked for) the report
lists what stops it from deploying (errors) and what digit-tui will handle the
way DIGIT's deployer does but wants the operator to know (warnings):

* YAML errors with their line, and other manifest errors;
* services without a chart, each with the near matches the tree has;
* duplicates, dependency cycles, unknown dependency modules, untagged services
  (the manifest's notes, see :mod:`digit_tui.digit.manifest`);
* render errors, per service, with the template and line; untagged services
  whose chart requires a tag, all in one problem with the fix (``digit.tags``);
* objects that need converting for the target Kubernetes version
  (:mod:`digit_tui.infra.kubeconvert`), and those that cannot be converted.

Rendering is offline and read-only. One render of a service (chart, name and
tags) serves every release that lists it the same way, so a tree of twenty
releases renders each distinct service once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from digit_tui.digit.chart_index import ChartIndex, ChartRef
from digit_tui.digit.helmyaml import YamlSyntaxError
from digit_tui.digit.manifest import ReleaseManifest, ServiceEntry, UNTAGGED, load_manifest
from digit_tui.digit.pipeline import (CLUSTER_CONFIGS, MissingTagsError, RenderedService, release_entries,
                                      render_service, wants_tag)
from digit_tui.digit.render import RenderError, Renderer
from digit_tui.digit.source import DigitSource
from digit_tui.errors import InputError, PermanentError, TransientError

ERROR = "error"
WARNING = "warning"
NOTE = "note"              # information only (conversions digit-tui makes)
DEFAULT_KUBE_VERSION = "1.30"

# Problem kinds besides the manifest's note kinds
YAML = "yaml"
MANIFEST = "manifest"
MISSING_CHART = "missing-chart"
RENDER = "render"
MISSING_TAG = "missing-tag"
CONVERSION = "conversion"
UNSERVED = "unserved-api"


@dataclass(frozen=True)
class Problem:
    kind: str
    severity: str
    message: str
    line: int | None = None
    service: str | None = None
    services: tuple[str, ...] = ()      # a problem about several services (untagged, wanting a tag)

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


@dataclass
class ReleaseReport:
    manifest: Path
    shown: str                           # the manifest's path relative to the tree
    version: str | None = None
    services: int = 0                    # services of the release (all modules), cluster-configs included
    rendered: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def deployable(self) -> bool:
        return not any(p.severity == ERROR for p in self.problems)

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == ERROR]

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.shown, "version": self.version, "deployable": self.deployable,
                "services": self.services, "rendered": self.rendered,
                "problems": [asdict(p) for p in self.problems]}


@dataclass
class SourceReport:
    root: str
    kube_version: str | None
    environment: str                     # what the services were rendered with
    releases: list[ReleaseReport] = field(default_factory=list)

    @property
    def deployable(self) -> bool:
        return all(r.deployable for r in self.releases)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.root, "kube_version": self.kube_version, "environment": self.environment,
                "deployable": self.deployable, "releases": [r.to_dict() for r in self.releases]}


_Key = tuple[str, str | None, str | None]          # (service, tag, migration tag)


class _Renders:
    """Each distinct service render once per check, shared by every release that lists it."""

    def __init__(self, index: ChartIndex, base: dict[str, Any], renderer: Renderer) -> None:
        self.index = index
        self.base = base
        self.renderer = renderer
        self._done: dict[_Key, RenderedService | BaseException] = {}

    @staticmethod
    def key(entry: ServiceEntry) -> _Key:
        return (entry.name, entry.tag, entry.migration_tag)

    def _render(self, entry: ServiceEntry) -> RenderedService | BaseException:
        try:
            return render_service(self.index, entry, self.base, self.renderer)
        except (InputError, TransientError, PermanentError) as exc:
            return exc

    def prefetch(self, entries: Iterable[ServiceEntry], workers: int) -> None:
        """Render the distinct services up front, ``workers`` at a time (the SDK releases the GIL)."""
        todo = {self.key(e): e for e in entries if e.name in self.index.entries}
        todo = {k: e for k, e in todo.items() if k not in self._done}
        if workers <= 1 or len(todo) < 2:
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check-render") as pool:
            for key, result in zip(todo, pool.map(self._render, todo.values())):
                self._done[key] = result

    def get(self, entry: ServiceEntry) -> RenderedService | BaseException:
        key = self.key(entry)
        if key not in self._done:
            self._done[key] = self._render(entry)
        return self._done[key]


def check_source(source: DigitSource, manifests: Iterable[Path], base_values: dict[str, Any],
                 renderer: Renderer, *, kube_version: str | None = DEFAULT_KUBE_VERSION,
                 environment: str = "", progress: Callable[[str], None] | None = None,
                 workers: int = 2) -> SourceReport:
    """Check each release manifest against the tree; ``base_values`` are the env and secrets files merged."""
    served = None
    if kube_version:
        from digit_tui.infra.kubeconvert import ServedAPIs

        served = ServedAPIs.for_kube_version(kube_version)
    index = ChartIndex.build(source.charts_dir)
    renders = _Renders(index, base_values, renderer)
    report = SourceReport(root=str(source.root), kube_version=kube_version, environment=environment)
    loaded = [(path, _load(path)) for path in manifests]
    every = [ServiceEntry(name=CLUSTER_CONFIGS, module=CLUSTER_CONFIGS, tag=None)]
    for _, release in loaded:
        if isinstance(release, ReleaseManifest):
            try:
                every.extend(release_entries(release, None))
            except InputError:
                pass                    # reported by check_release
    if progress is not None:
        progress(f"rendering {len({_Renders.key(e) for e in every})} distinct services of {len(loaded)} releases")
    renders.prefetch(every, workers)
    for path, release in loaded:
        shown = _shown(path, source.root)
        if progress is not None:
            progress(f"checking {shown}")
        report.releases.append(check_release(path, shown, index, renders, served, loaded=release))
    return report


def preview_environment(work: Path) -> tuple[Path, Path]:
    """The env and secrets files a check renders with when the operator gives none: what an
    install would generate for a placeholder environment (written into ``work``)."""
    from digit_tui.digit.envfile import write_env_file
    from digit_tui.digit.envinputs import EnvInputs
    from digit_tui.digit.secretsfile import write_secrets_file
    from digit_tui.digit.selection import IN_CLUSTER_DB_HOST

    inputs = EnvInputs(environment="check-source", domain="digit.example.com", db_host=IN_CLUSTER_DB_HOST)
    return write_env_file(inputs, work), write_secrets_file(inputs, work)


def _load(path: Path) -> ReleaseManifest | InputError:
    try:
        return load_manifest(path)
    except InputError as exc:
        return exc


def check_release(path: Path, shown: str, index: ChartIndex, renders: _Renders, served: Any, *,
                  loaded: ReleaseManifest | InputError | None = None) -> ReleaseReport:
    report = ReleaseReport(manifest=path, shown=shown)
    release = loaded if loaded is not None else _load(path)
    if isinstance(release, YamlSyntaxError):
        report.problems.append(Problem(YAML, ERROR, release.message, line=release.line))
        return report
    if isinstance(release, InputError):
        report.problems.append(Problem(MANIFEST, ERROR, release.message + (
            f" (expected: {release.expected})" if release.expected else ""), line=release.line))
        return report
    report.version = release.version
    report.problems.extend(Problem(n.kind, WARNING, n.message, line=n.line,
                                   service=n.services[0] if len(n.services) == 1 and n.kind != UNTAGGED else None,
                                   services=n.services if n.kind == UNTAGGED else ())
                           for n in release.notes)
    entries = _entries(release, report)
    if entries is None:
        return report
    if not any(e.name == CLUSTER_CONFIGS for e in entries):
        entries.insert(0, ServiceEntry(name=CLUSTER_CONFIGS, module=CLUSTER_CONFIGS, tag=None))
    report.services = len(entries)

    renderable: list[ServiceEntry] = []
    for entry in entries:
        ref = _chart(index, entry, report)
        if ref is not None:
            renderable.append(entry)

    wanting: dict[str, int | None] = {}
    detail = ""
    objects: list[tuple[str, dict[str, Any]]] = []
    for entry in renderable:
        result = renders.get(entry)
        if isinstance(result, RenderError) and not entry.tag and wants_tag(result):
            wanting[entry.name] = entry.line
            detail = detail or result.detail
        elif isinstance(result, BaseException):
            report.problems.append(Problem(RENDER, ERROR, f"service {entry.name}: {_message(result)}",
                                           line=entry.line, service=entry.name))
        else:
            report.rendered += 1
            objects.extend((entry.name, o) for o in [*result.crds, *result.objects])
    if wanting:
        err = MissingTagsError(wanting, path=path, detail=detail)
        report.problems.append(Problem(MISSING_TAG, ERROR, f"{err.message} (fix: {err.expected})",
                                       line=err.line, services=tuple(wanting)))
    if served is not None and objects:
        report.problems.extend(_conversions([o for _, o in objects], served))
    return report


def _entries(release: ReleaseManifest, report: ReleaseReport) -> list[ServiceEntry] | None:
    try:
        return release_entries(release, None)
    except InputError as exc:
        report.problems.append(Problem(MANIFEST, ERROR, exc.message, line=exc.line))
        return None


def _chart(index: ChartIndex, entry: ServiceEntry, report: ReleaseReport) -> ChartRef | None:
    if entry.name in index.entries and entry.name not in index.duplicates:
        return index.entries[entry.name]
    if entry.name in index.duplicates:
        where = ", ".join(str(p.relative_to(index.charts_root)) for p in index.duplicates[entry.name])
        message = f"service {entry.name} is named by more than one values file: {where}"
    else:
        near = index.near_matches(entry.name)
        message = f"no chart for service {entry.name} in {index.charts_root.name}/" + (
            f" (near matches: {', '.join(near)})" if near else " and nothing like it")
    report.problems.append(Problem(MISSING_CHART, ERROR, message, line=entry.line, service=entry.name))
    return None


def _conversions(objects: list[dict[str, Any]], served: Any) -> list[Problem]:
    from digit_tui.infra.kubeconvert import convert_objects

    result = convert_objects(objects, served)
    out: list[Problem] = []
    if result.converted or result.dropped:
        out.append(Problem(CONVERSION, NOTE, f"{result.summary()} for {served.source}"))
    for u in result.unserved:
        out.append(Problem(UNSERVED, ERROR, f"{u.ref}: {u.why(served.source)}"))
    return out


def _message(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        where = f"{exc.path}:{exc.line}: " if exc.path and exc.line else (f"{exc.path}: " if exc.path else "")
        return where + exc.message + (f" (expected: {exc.expected})" if exc.expected else "")
    return str(exc)


def _shown(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), root)).as_posix()
    except ValueError:
        return str(path)


# -- text output ------------------------------------------------------------------

def format_report(report: SourceReport) -> str:
    lines = [f"{report.root}: {len(report.releases)} release manifest{'s' if len(report.releases) != 1 else ''}"
             + (f", checked for Kubernetes {report.kube_version}" if report.kube_version else "")
             + (f", rendered with {report.environment}" if report.environment else "")]
    for r in report.releases:
        state = "deployable" if r.deployable else f"NOT deployable ({len(r.errors())} "
        if not r.deployable:
            state += "error)" if len(r.errors()) == 1 else "errors)"
        what = ", ".join(x for x in (r.version, f"{r.rendered} of {r.services} services rendered"
                                     if r.services else "") if x)
        lines.append("")
        lines.append(f"{r.shown}" + (f" ({what})" if what else "") + f": {state}")
        order = {ERROR: 0, WARNING: 1, NOTE: 2}
        for p in sorted(r.problems, key=lambda p: order.get(p.severity, 3)):
            lines.append(f"  {p.severity:<7} {p}")
    ok = sum(1 for r in report.releases if r.deployable)
    lines.append("")
    lines.append(f"{ok} of {len(report.releases)} release{'s' if len(report.releases) != 1 else ''} deployable")
    return "\n".join(lines)
