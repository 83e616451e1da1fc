"""Thin adapter: render a DIGIT release and read its workloads for the planner.

Rendering is the slow part (Helm, per service); planning is not. So every
module is rendered once per (source, manifest, env file, secrets file) and the
planner filters modules itself: changing the module selection on the sizing
screen never re-renders. ``WorkloadCache`` keeps those renders in memory and
notices edited files by their modification time; given a ``DiskCache``
(``digit-tui size`` does), it also keeps them on disk by the digest of their
inputs, so the next process plans without rendering.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from digit_tui.errors import InputError
from digit_tui.sizing.model import Workload

if TYPE_CHECKING:
    from digit_tui.sizing.diskcache import DiskCache

BUNDLE = Path(__file__).resolve().parent.parent / "bundles" / "digit-sample"


@dataclass(frozen=True)
class ReleaseWorkloads:
    workloads: tuple[Workload, ...]
    module_deps: Mapping[str, tuple[str, ...]]
    selectable: tuple[str, ...]
    manifest: Path
    version: str | None


@dataclass(frozen=True)
class ReleaseInputs:
    source: Path
    manifest: Path
    env_file: Path
    secrets_file: Path | None


def _stamp(path: Path | None) -> tuple[str, float]:
    if path is None:
        return ("", 0.0)
    try:
        return (str(path), path.stat().st_mtime)
    except OSError:
        return (str(path), -1.0)


def workloads_of_rendered(services: Iterable[Any], request_path: frozenset[str] = frozenset()) -> list[Workload]:
    """Workloads of ``render_release`` output (objects with ``.name``, ``.module``, ``.objects``)."""
    from digit_tui.sizing.workloads import workloads_from_objects

    out: list[Workload] = []
    for svc in services:
        ns = next((o.get("metadata", {}).get("namespace") for o in svc.objects
                   if isinstance(o, dict) and o.get("metadata", {}).get("namespace")), "default")
        out += workloads_from_objects(svc.objects, service=svc.name, module=svc.module,
                                      request_path=request_path, default_namespace=ns)
    return out


def read_release(inputs: ReleaseInputs, renderer: Any, request_path: frozenset[str] = frozenset()) -> ReleaseWorkloads:
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.pipeline import render_release

    release = load_manifest(inputs.manifest)
    rendered = render_release(str(inputs.source), release, None, inputs.env_file, inputs.secrets_file, renderer,
                              cluster_configs=False)
    return ReleaseWorkloads(
        workloads=tuple(workloads_of_rendered(rendered, request_path)),
        module_deps={name: tuple(m.dependencies) for name, m in release.modules.items()},
        selectable=tuple(release.selectable()),
        manifest=inputs.manifest,
        version=release.version,
    )


@dataclass
class WorkloadCache:
    """Rendered workloads by (source, manifest, env file, secrets file) and their mtimes."""

    renderer_factory: Callable[[], Any] | None = None
    disk: DiskCache | None = None       # only for the default renderer: its engine is part of the digest
    _store: dict[tuple[Any, ...], ReleaseWorkloads] = field(default_factory=dict)

    def get(self, inputs: ReleaseInputs, request_path: frozenset[str] = frozenset()) -> ReleaseWorkloads:
        key = (str(inputs.source), _stamp(inputs.manifest), _stamp(inputs.env_file), _stamp(inputs.secrets_file),
               request_path)
        hit = self._store.get(key)
        if hit is not None:
            return hit
        disk = self.disk if self.renderer_factory is None else None
        digest = ""
        if disk is not None:
            from digit_tui.sizing.diskcache import inputs_digest

            digest = inputs_digest(inputs.source, inputs.manifest, inputs.env_file, inputs.secrets_file, request_path)
            stored = disk.load(digest)
            if stored is not None:
                result = ReleaseWorkloads(stored.workloads, stored.module_deps, stored.selectable, inputs.manifest,
                                          stored.version)
                self._store[key] = result
                return result
        renderer = (self.renderer_factory or _default_renderer)()
        try:
            result = read_release(inputs, renderer, request_path)
        finally:
            close = getattr(renderer, "close", None)
            if close:
                close()
        self._store[key] = result
        if disk is not None:
            from digit_tui.sizing.diskcache import Stored

            disk.save(digest, Stored(result.workloads, dict(result.module_deps), result.selectable, result.version))
        return result


def _default_renderer() -> Any:
    from digit_tui.digit.render import make_renderer

    return make_renderer("auto")


def bundled_inputs(work_dir: Path | None = None) -> ReleaseInputs:
    """The bundled sample release: its tree, its manifest and an environment file.

    The bundle's own ``environments/`` file is used when it ships one;
    otherwise one is generated into ``work_dir`` with the env-file generator.
    """
    from digit_tui.digit.source import locate

    if not BUNDLE.is_dir():
        raise InputError("the bundled sample release is missing", path=BUNDLE,
                         expected="digit_tui/bundles/digit-sample (reinstall digit-tui)")
    src = locate(BUNDLE)
    manifests = src.release_manifests()
    if not manifests:
        raise InputError("the bundled sample has no release manifest", path=src.releases_dir or BUNDLE,
                         expected="product-release-charts/.../dependancy_chart-*.yaml")
    envs = sorted(p for p in (src.environments_dir.glob("*.yaml") if src.environments_dir else [])
                  if not p.name.endswith("-secrets.yaml") and not p.name.startswith("."))
    if envs:
        env = envs[0]
        secrets = env.with_name(env.stem + "-secrets.yaml")
        return ReleaseInputs(BUNDLE, manifests[-1], env, secrets if secrets.exists() else None)
    generated, generated_secrets = _generate_env(work_dir)
    return ReleaseInputs(BUNDLE, manifests[-1], generated, generated_secrets)


def _generate_env(work_dir: Path | None) -> tuple[Path, Path | None]:
    import tempfile

    base = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="digit-tui-size-"))
    base.mkdir(parents=True, exist_ok=True)
    env = base / "sizing.yaml"
    if not env.exists():
        # Minimal values every classic chart reads; requests do not depend on them.
        env.write_text("global:\n  domain: sizing.local\n  containerRegistry: egovio\n", encoding="utf-8")
        os.chmod(env, 0o600)
    return env, None
