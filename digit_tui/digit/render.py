"""Render one chart to Kubernetes objects, behind one interface with two engines.

* ``sdk``  — helm-python-sdk (module ``helm_python``): Helm's Go SDK embedded, no binary needed.
* ``helm`` — pyhelm3, which drives a ``helm`` binary found on PATH.
* ``auto`` — ``helm`` when the binary is there, ``sdk`` otherwise.

Both engines render a *staged* copy of the chart: the chart directory is copied
to a private temporary directory and every ``file://`` dependency (DIGIT's
``common`` library chart, referenced as ``file://../../common``) is vendored
into its ``charts/``. The source tree is never modified, so a tree checked out
from git stays clean and a read-only bundle renders too.

A template error becomes a :class:`RenderError` naming the chart, the template
file (mapped back to the source tree) and the line, parsed out of Helm's text.
Each render runs in a worker thread with a deadline, so a stuck render cannot
block an install forever.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from digit_tui.deepmerge import deep_merge
from digit_tui.errors import InputError, PermanentError, TransientError

ENGINES: tuple[str, ...] = ("auto", "sdk", "helm")
DEFAULT_TIMEOUT = 60.0

# Helm's install order by kind: what `helm template` prints first is applied first.
KIND_ORDER: tuple[str, ...] = (
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass",
    "PersistentVolume", "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole",
    "ClusterRoleList", "ClusterRoleBinding", "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding",
    "RoleBindingList", "Service", "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress", "APIService",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)
_KIND_RANK = {k: i for i, k in enumerate(KIND_ORDER)}

# "<chart>/templates/<file>:<line>[:<col>]", possibly inside subcharts ("<chart>/charts/<sub>/templates/...")
_TEMPLATE_POS = re.compile(
    r"(?P<path>[A-Za-z0-9_.\-]+(?:/charts/[A-Za-z0-9_.\-]+)*/(?:templates|crds)/[^\s:()\"<>]+)"
    r":(?P<line>\d+)(?::(?P<col>\d+))?")


class RenderError(InputError):
    """A chart failed to render: names the chart, the template file and the line."""

    def __init__(self, detail: str, *, chart: str, template: str | None = None, line: int | None = None,
                 column: int | None = None, source: Path | None = None, subchart: str | None = None) -> None:
        where = f"chart {chart}" + (f" (its dependency {subchart})" if subchart else "")
        if template:
            where += f", template {template}"
            if line:
                where += f" line {line}"
        super().__init__(message=f"{where}: {detail}", path=source, line=line if source else None)
        self.chart = chart              # the chart being rendered
        self.subchart = subchart        # the dependency holding the template, when not the chart itself
        self.template = template
        self.template_line = line
        self.column = column
        self.detail = detail


@dataclass
class RenderOutput:
    objects: list[dict[str, Any]]
    crds: list[dict[str, Any]]


@dataclass
class _Staged:
    """A private copy of a chart with its file:// dependencies vendored."""

    path: Path
    name: str                                   # the chart's Chart.yaml name
    sources: dict[str, Path] = field(default_factory=dict)  # "<chart>/charts/<sub>" -> source dir


class Renderer(ABC):
    """Render a chart directory with values; thread-safe; close() removes staged copies."""

    engine: str = ""

    def __init__(self, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._staged: dict[Path, _Staged] = {}
        self._workdir: Path | None = None

    def render(self, chart_dir: str | os.PathLike[str], release: str, values: dict[str, Any], *,
               namespace: str | None = None) -> RenderOutput:
        staged = self.stage(Path(chart_dir))
        manifests, crd_texts = _with_deadline(
            lambda: self._render_staged(staged, release, values, namespace), self.timeout,
            what=f"rendering chart {staged.name} for {release}", on_error=lambda exc: self._error(exc, staged))
        return _parse_output(manifests, crd_texts, staged)

    @abstractmethod
    def _render_staged(self, staged: _Staged, release: str, values: dict[str, Any],
                       namespace: str | None) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """Return ({template path: rendered text}, [(crd file path, text)])."""

    # Engine exceptions (by class name, so neither library is imported here) that mean
    # "this chart or its values are wrong" rather than "the engine is broken".
    _CHART_ERRORS = frozenset({"HelmRenderError", "HelmValuesError", "HelmChartLoadError", "HelmChartInvalidError",
                               "FailedToRenderChartError", "InvalidResourceError"})

    def _error(self, exc: BaseException, staged: _Staged) -> BaseException:
        """A RenderError (bad input) for chart problems; a PermanentError for a broken engine."""
        if type(exc).__name__ in self._CHART_ERRORS:
            return error_from_helm(str(exc), staged)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        return PermanentError(f"the {self.engine} render engine failed on chart {staged.name}: {first}",
                              remedy="try the other engine with --engine sdk|helm")

    # -- staging -----------------------------------------------------------

    def stage(self, chart_dir: Path) -> _Staged:
        chart_dir = chart_dir.resolve()
        with self._lock:
            cached = self._staged.get(chart_dir)
            if cached is not None:
                return cached
            if self._workdir is None:
                self._workdir = Path(tempfile.mkdtemp(prefix="digit-tui-charts-"))
            dest = self._workdir / str(len(self._staged)) / chart_dir.name
            staged = stage_chart(chart_dir, dest)
            self._staged[chart_dir] = staged
            return staged

    def close(self) -> None:
        with self._lock:
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._staged.clear()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _copy_tree(src: Path, dest: Path) -> None:
    """A copy of the bytes only (no times, modes or extended attributes to set on each of the
    thousands of files): Helm reads nothing else. Not hard links: a link moves the source file's
    ctime, which the caches of the source tree read (sizing.diskcache), and writes its inode."""
    shutil.copytree(src, dest, symlinks=False, copy_function=shutil.copyfile)


def stage_chart(chart_dir: Path, dest: Path) -> _Staged:
    """Copy ``chart_dir`` to ``dest`` and vendor its file:// dependencies (recursively)."""
    if not (chart_dir / "Chart.yaml").is_file():
        raise InputError("not a Helm chart (no Chart.yaml)", path=chart_dir)
    _copy_tree(chart_dir, dest)
    meta = _read_yaml(dest / "Chart.yaml")
    staged = _Staged(path=dest, name=str(meta.get("name") or chart_dir.name))
    staged.sources[staged.name] = chart_dir
    _vendor(chart_dir, dest, staged.name, staged, depth=0)
    return staged


def _vendor(source_dir: Path, dest: Path, prefix: str, staged: _Staged, depth: int) -> None:
    if depth > 10:
        raise InputError("file:// chart dependencies nest too deeply (a loop?)", path=source_dir)
    meta = _read_yaml(dest / "Chart.yaml")
    deps = meta.get("dependencies")
    if deps is None and (dest / "requirements.yaml").is_file():   # apiVersion v1 charts
        deps = (_read_yaml(dest / "requirements.yaml") or {}).get("dependencies")
    for dep in deps or []:
        if not isinstance(dep, dict) or not dep.get("name"):
            continue
        name = str(dep["name"])
        repo = str(dep.get("repository") or "")
        charts = dest / "charts"
        if repo.startswith("file://"):
            src = (source_dir / repo[len("file://"):]).resolve()
            if not (src / "Chart.yaml").is_file():
                raise InputError(f"chart {meta.get('name')} depends on {name} at {repo}, which is not a chart",
                                 path=source_dir / "Chart.yaml", expected=f"a chart directory at {src}")
            charts.mkdir(exist_ok=True)
            for stale in list(charts.glob(f"{name}-*.tgz")) + [charts / name]:
                if stale.is_dir():
                    shutil.rmtree(stale)
                elif stale.exists():
                    stale.unlink()
            target = charts / name
            _copy_tree(src, target)
            sub_name = str(_read_yaml(target / "Chart.yaml").get("name") or name)
            staged.sources[f"{prefix}/charts/{sub_name}"] = src
            _vendor(src, target, f"{prefix}/charts/{sub_name}", staged, depth + 1)
        elif not ((charts / name).is_dir() or any(charts.glob(f"{name}-*.tgz"))):
            raise InputError(
                f"chart {meta.get('name')} depends on {name} from {repo or 'no repository'}, which is not "
                f"vendored in its charts/ folder",
                path=source_dir / "Chart.yaml",
                expected="file:// dependencies, or run `helm dependency build` in the source tree first")


def _read_yaml(path: Path) -> dict[str, Any]:
    from digit_tui.digit.helmyaml import load_mapping

    return load_mapping(path, role=path.name)


# -- Helm's error text ------------------------------------------------------

def error_from_helm(text: str, staged: _Staged) -> BaseException:
    """Parse Helm's template error into chart, template file and line."""
    flat = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    flat = re.sub(r"^(Error:\s*)+", "", flat)
    matches = list(_TEMPLATE_POS.finditer(flat))
    if not matches:
        return RenderError(flat or "helm failed without a message", chart=staged.name)
    # Nested includes list every frame; the last position is where the error really is.
    match = matches[-1]
    chart, template, source = _map_template(match.group("path"), staged)
    line = int(match.group("line"))
    col = int(match.group("col")) if match.group("col") else None
    detail = flat[match.end():]
    # Helm's shapes: "execution error at (<pos>): MSG", "parse error at (<pos>): MSG",
    # "<pos> executing ... at <...>: MSG", "template: <pos>: executing ...: MSG".
    for sep in ("): ", ">: ", ": "):
        if sep in detail:
            detail = detail.split(sep, 1)[-1] if sep != ">: " else detail.rsplit(sep, 1)[-1]
            break
    detail = re.sub(r"^(error calling \w+: )+", "", detail.strip()) or flat
    return RenderError(detail, chart=staged.name, subchart=chart if chart != staged.name else None,
                       template=template, line=line, column=col, source=source)


def _map_template(rel: str, staged: _Staged) -> tuple[str, str, Path | None]:
    """``egov-user/charts/common/templates/_x.tpl`` -> ("common", "templates/_x.tpl", source file)."""
    chart_key, _, inner = rel.rpartition("/templates/")
    kind = "templates"
    if not chart_key:
        chart_key, _, inner = rel.rpartition("/crds/")
        kind = "crds"
    template = f"{kind}/{inner}"
    chart = chart_key.rsplit("/", 1)[-1] if chart_key else staged.name
    src_dir = staged.sources.get(chart_key)
    source = src_dir / template if src_dir is not None else None
    return chart, template, source


# -- output -----------------------------------------------------------------

def _parse_output(manifests: dict[str, str], crd_files: list[tuple[str, str]], staged: _Staged) -> RenderOutput:
    objects: list[tuple[int, str, int, dict[str, Any]]] = []
    crds: list[dict[str, Any]] = []
    for fname, text in crd_files:
        for _, obj in _documents(fname, text, staged):
            crds.append(obj)
    for tpath in sorted(manifests):
        if tpath.endswith("NOTES.txt") or not manifests[tpath].strip():
            continue
        for i, obj in _documents(tpath, manifests[tpath], staged):
            if obj.get("kind") == "CustomResourceDefinition":
                crds.append(obj)
            else:
                objects.append((_KIND_RANK.get(str(obj.get("kind")), len(KIND_ORDER)), tpath, i, obj))
    objects.sort(key=lambda t: t[:3])
    return RenderOutput(objects=[o for *_, o in objects], crds=crds)


def _output_error(detail: str, tpath: str, staged: _Staged) -> RenderError:
    chart, template, source = _map_template(tpath, staged) if "/" in tpath else (staged.name, tpath, None)
    return RenderError(detail, chart=staged.name, subchart=chart if chart != staged.name else None,
                       template=template, source=source)


def _documents(tpath: str, text: str, staged: _Staged) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    try:
        # libyaml's parser when it is there: 7-10x faster on Helm's output, the same documents.
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        raise _output_error(f"rendered output is not valid YAML ({exc.problem}) at line {line} of the output",
                            tpath, staged) from None
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        if isinstance(doc, dict) and doc.get("kind", "").endswith("List") and isinstance(doc.get("items"), list):
            out.extend((i, item) for item in doc["items"] if isinstance(item, dict))
        elif isinstance(doc, dict) and doc.get("kind") and doc.get("apiVersion"):
            out.append((i, doc))
        else:
            raise _output_error("rendered a document that is not a Kubernetes object (no apiVersion/kind)",
                                tpath, staged)
    return out


# -- values -----------------------------------------------------------------

def merge_values(*layers: dict[str, Any]) -> dict[str, Any]:
    """Merge values like successive ``-f`` files: maps merge key by key, anything else is replaced."""
    out: dict[str, Any] = {}
    for layer in layers:
        out = deep_merge(out, layer or {})
    return out


def set_path(values: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """``--set a.b.c=value`` on a copy of ``values``."""
    *parents, leaf = dotted.split(".")
    layer: dict[str, Any] = {leaf: value}
    for key in reversed(parents):
        layer = {key: layer}
    return merge_values(values, layer)


# -- running with a deadline ------------------------------------------------

T = TypeVar("T")


def _with_deadline(fn: Callable[[], T], timeout: float, *, what: str,
                   on_error: Callable[[BaseException], BaseException]) -> T:
    """Run ``fn`` in a daemon thread; give up after ``timeout`` seconds.

    The native call cannot be interrupted, so a timed-out thread is left to
    finish on its own; being a daemon it never holds the process open.
    """
    value: list[T] = []                 # filled by the thread: fn's result, or
    error: list[BaseException] = []     # what it raised
    done = threading.Event()

    def work() -> None:
        try:
            value.append(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name="digit-tui-render", daemon=True).start()
    if not done.wait(timeout):
        raise TransientError(f"{what} did not finish within {timeout:.0f} s",
                             remedy="the machine may be overloaded; retry, or raise the render timeout")
    if error:
        exc = error[0]
        if isinstance(exc, (InputError, TransientError, PermanentError)):
            raise exc
        raise on_error(exc) from exc
    return value[0]


# -- choosing an engine -----------------------------------------------------

def helm_binary() -> str | None:
    return shutil.which("helm")


def make_renderer(engine: str = "auto", *, timeout: float = DEFAULT_TIMEOUT) -> Renderer:
    """``auto``: pyhelm3 when a ``helm`` binary is on PATH, the embedded SDK otherwise."""
    if engine not in ENGINES:
        raise InputError(f"unknown render engine {engine!r}", expected=" or ".join(ENGINES))
    if engine == "helm" or (engine == "auto" and helm_binary()):
        if not helm_binary():
            raise InputError("render engine 'helm' needs a helm binary on PATH, and there is none",
                             expected="--engine sdk (the embedded Helm SDK) or install helm")
        from digit_tui.digit.render_helm import HelmBinaryRenderer
        return HelmBinaryRenderer(timeout=timeout)
    from digit_tui.digit.render_sdk import SdkRenderer
    return SdkRenderer(timeout=timeout)
