"""Render a whole DIGIT release the way DIGIT's deployer does, service by service.

For each service S with tag T the inputs are, in this order: the environment
file, the (decrypted) secrets file, S's values file, then ``name=S``,
``image.tag=T`` and ``initContainers.dbMigration.image.tag=T`` (or the tag of
the ``S-db`` entry when the manifest gives one). ``cluster-configs`` is
rendered first, with the env and secrets files only.

Every file is read by Helm's YAML parser (:mod:`digit_tui.digit.helmyaml`), and
the ``--set`` values are typed by Helm's own ``--set`` parser, so a service gets
exactly the values ``helm template -f env -f secrets -f values --set ...`` gives.

Tags: ``tags`` (the answers' ``digit.tags``) overrides the manifest for the
services it names (``S-db`` there sets only the migration tag); a service the
manifest leaves untagged takes ``running_tags[S]`` (the tag of its Deployment
running in the cluster, as DIGIT's deployer does), else no tag at all, so its
chart's own image tag applies. Charts that then fail for want of a tag are
reported together, every such service in one :class:`MissingTagsError`.

Other parts of digit-tui (the release apply tasks, the sizing planner) call
:func:`render_release`; its signature and :class:`RenderedService` are a contract.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Container, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from digit_tui import yamldump
from digit_tui.digit.chart_index import ChartIndex, ChartRef
from digit_tui.digit.helmyaml import parse_mapping, read_text
from digit_tui.digit.manifest import MIGRATION_SUFFIX, ReleaseManifest, ServiceEntry, load_manifest
from digit_tui.digit.render import RenderError, Renderer, merge_values
from digit_tui.digit.source import DigitSource, locate
from digit_tui.errors import InputError

CLUSTER_CONFIGS = "cluster-configs"
SOPS_TIMEOUT = 60.0
# What a chart says when it needs image.tag (the common chart: "Tag is mandatory").
_WANTS_TAG = re.compile(r"\btag\b.*\b(mandatory|required|must)\b|\b(mandatory|required)\b.*\btag\b", re.I)


class MissingTagsError(InputError):
    """Services without a tag whose charts require one; ``services`` maps each to its manifest line."""

    def __init__(self, services: Mapping[str, int | None], *, path: Path | None, detail: str) -> None:
        listed = ", ".join(f"{n} (line {ln})" if ln else n for n, ln in services.items())
        example = ", ".join(f"{n}: <tag>" for n in list(services)[:3])
        super().__init__(
            f"{len(services)} service{'s' if len(services) != 1 else ''} without a tag (none in the release "
            f"manifest, digit.tags or the cluster) whose chart requires one ({detail}): {listed}",
            path=path, line=next(iter(services.values()), None),
            expected=f"a tag for each, in the answers (digit.tags: {{{example}}}) or in the manifest (name:tag)")
        self.services = dict(services)


@dataclass
class RenderedService:
    name: str
    module: str
    image_tag: str | None
    chart_dir: Path
    objects: list[dict[str, Any]]
    crds: list[dict[str, Any]]
    digest: str                          # sha256 of canonical_yaml(crds, objects)
    # The canonical text the digest was taken of, kept for the file it is written to (dumping it
    # again was a sixth of a render). Not an init field: a service made with dataclasses.replace
    # (other objects, converted ones) dumps its own. Objects are never changed in place.
    _text: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def manifest_yaml(self) -> str:
        if self._text is None:
            self._text = canonical_yaml(self.crds, self.objects)
        return self._text


def canonical_yaml(crds: list[dict[str, Any]], objects: list[dict[str, Any]]) -> str:
    """One stable YAML text for a service: CRDs first, keys sorted; equal renders give equal text."""
    # libyaml's emitter when it is there (yamldump): 4-5x faster on Helm's output, and the same text.
    return yamldump.safe_dump_all([*crds, *objects], sort_keys=True, default_flow_style=False, explicit_start=True,
                                  allow_unicode=True, width=1_000_000)


def digest_of(crds: list[dict[str, Any]], objects: list[dict[str, Any]]) -> str:
    return hashlib.sha256(canonical_yaml(crds, objects).encode()).hexdigest()


def render_release(source: DigitSource | str | os.PathLike[str],
                   manifest: ReleaseManifest | str | os.PathLike[str],
                   modules: list[str] | None,
                   env_file: str | os.PathLike[str],
                   secrets_file: str | os.PathLike[str] | None,
                   renderer: Renderer, *, cluster_configs: bool = True,
                   namespace: str | None = None, skip: Container[str] = (),
                   on_rendered: Callable[[RenderedService], None] | None = None,
                   tags: Mapping[str, str] | None = None,
                   running_tags: Mapping[str, str] | None = None,
                   skip_services: Sequence[str] = ()) -> list[RenderedService]:
    """Render ``cluster-configs`` (when asked) and every service of the chosen modules, in order.

    ``modules`` None means every module of the manifest; otherwise the platform
    modules plus the chosen ``m_`` modules and their dependencies. Services named
    in ``skip`` (rendered earlier with the same inputs) are left out of the result;
    ``on_rendered`` sees each service, in order, as soon as it and those before it
    are rendered (``render_workers`` at a time), so a caller can keep finished
    work when it is killed halfway. ``tags`` and ``running_tags``:
    see the module docstring. ``skip_services`` (the answers' ``digit.skip_services``)
    are left out on purpose: not rendered at all, their charts not even looked up;
    a name that is no service of these modules is an InputError with a near match.
    """
    src = source if isinstance(source, DigitSource) else locate(source)
    release = manifest if isinstance(manifest, ReleaseManifest) else load_manifest(manifest)
    index = ChartIndex.build(src.charts_dir)
    entries = release_entries(release, modules, tags=tags, running_tags=running_tags, skip_services=skip_services)
    if cluster_configs and CLUSTER_CONFIGS in skip_services:
        cluster_configs = False
    # Resolve every chart before rendering anything: a missing chart is bad input, not a half-done render.
    refs = {e.name: _lookup(index, e, release) for e in entries}
    base = base_values(env_file, secrets_file)

    # Every service is rendered at once, a few at a time (Helm's native render releases the GIL;
    # parsing its output and the canonical text overlap with the next render), and taken in order.
    jobs: list[tuple[ServiceEntry | None, Callable[[], RenderedService]]] = []
    if cluster_configs and CLUSTER_CONFIGS not in skip:
        # Namespaces, egov-config and the Secrets must exist before any service is applied.
        listed = next((e for e in entries if e.name == CLUSTER_CONFIGS), None)
        if listed is not None:
            jobs.append((None, partial(_render_entry, renderer, refs[CLUSTER_CONFIGS], listed, base, namespace)))
        else:
            jobs.append((None, partial(_render_one, renderer, index.lookup(CLUSTER_CONFIGS), CLUSTER_CONFIGS, None,
                                       None, CLUSTER_CONFIGS, base, namespace)))
    for entry in entries:
        if not ((cluster_configs and entry.name == CLUSTER_CONFIGS) or entry.name in skip):
            jobs.append((entry, partial(_render_entry, renderer, refs[entry.name], entry, base, namespace)))

    out: list[RenderedService] = []
    wanting: dict[str, int | None] = {}     # untagged services whose chart requires a tag
    wanting_detail = ""
    pool = ThreadPoolExecutor(render_workers(), thread_name_prefix="digit-tui-render-release")
    try:
        futures: list[tuple[ServiceEntry | None, Future[RenderedService]]] = [
            (entry, pool.submit(job)) for entry, job in jobs]
        for job_entry, future in futures:
            if job_entry is not None and wanting and job_entry.tag:
                continue    # the release fails anyway; only look for more services wanting a tag
            try:
                rendered = future.result()
            except RenderError as exc:
                if job_entry is None or job_entry.tag or not wants_tag(exc):
                    raise
                wanting[job_entry.name] = job_entry.line
                wanting_detail = wanting_detail or exc.detail
                continue
            if not wanting:
                out.append(rendered)
                if on_rendered is not None:
                    on_rendered(rendered)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    if wanting:
        raise MissingTagsError(wanting, path=release.path, detail=wanting_detail)
    return out


def render_workers() -> int:
    """Services rendered at a time: one per core, at most 4 (each holds its chart's output)."""
    return max(1, min(4, os.cpu_count() or 1))


def wants_tag(exc: RenderError) -> bool:
    """True when a chart failed because the service has no image tag ("Tag is mandatory")."""
    return bool(_WANTS_TAG.search(exc.detail))


def release_entries(release: ReleaseManifest, modules: list[str] | None, *,
                    tags: Mapping[str, str] | None = None,
                    running_tags: Mapping[str, str] | None = None,
                    skip_services: Sequence[str] = ()) -> list[ServiceEntry]:
    """The services to render, in order, with the tags they are rendered with (see the module
    docstring); ``skip_services`` are checked against the release and left out."""
    tags = tags or {}
    running = running_tags or {}
    resolved = release.resolve(modules)
    if skip_services:
        release.check_skips(resolved, skip_services, always=(CLUSTER_CONFIGS,))
    out = []
    for e in release.services(resolved, skip=set(skip_services)):
        tag, migration = e.tag, e.migration_tag
        if e.name in tags:
            tag = tags[e.name]
            migration = tag if migration in (None, e.tag) else migration
        elif not tag and running.get(e.name):
            tag = migration = running[e.name]
        migration = tags.get(e.name + MIGRATION_SUFFIX, migration or tag)
        if (tag, migration) != (e.tag, e.migration_tag):
            e = replace(e, tag=tag, migration_tag=migration)
        out.append(e)
    return out


def base_values(env_file: str | os.PathLike[str], secrets_file: str | os.PathLike[str] | None, *,
                keep: bool = False) -> dict[str, Any]:
    """The environment and secrets files, merged as two ``-f`` files. ``keep``: the files are
    digit-tui's own (helm-config's, in the state directory); see ``load_values_file``."""
    return merge_values(load_values_file(env_file, role="environment", keep=keep),
                        load_values_file(secrets_file, role="secrets", keep=keep) if secrets_file else {})


def release_order(manifest: ReleaseManifest, modules: list[str] | None, *, cluster_configs: bool = True,
                  skip_services: Sequence[str] = ()) -> list[str]:
    """The service names ``render_release`` renders, in its order."""
    names = [e.name for e in manifest.services(manifest.resolve(modules), skip=set(skip_services))]
    if cluster_configs and CLUSTER_CONFIGS not in skip_services:
        names = [CLUSTER_CONFIGS, *(n for n in names if n != CLUSTER_CONFIGS)]
    return names


def _lookup(index: ChartIndex, entry: ServiceEntry, release: ReleaseManifest) -> ChartRef:
    try:
        return index.lookup(entry.name)
    except InputError as exc:
        # Point at the manifest line that names the service; the message keeps the folders searched.
        raise InputError(exc.message, path=release.path or exc.path, line=entry.line if release.path else exc.line,
                         expected=exc.expected) from None


def render_service(index: ChartIndex, entry: ServiceEntry, base_values: dict[str, Any], renderer: Renderer,
                   *, namespace: str | None = None) -> RenderedService:
    """Render one service (for a task that re-renders only its own service)."""
    return _render_entry(renderer, index.lookup(entry.name), entry, base_values, namespace)


def _render_entry(renderer: Renderer, ref: ChartRef, entry: ServiceEntry, base: Mapping[str, Any],
                  namespace: str | None) -> RenderedService:
    return _render_one(renderer, ref, entry.name, entry.tag, entry.migration_tag, entry.module, base, namespace)


def service_values(base: Mapping[str, Any], ref: ChartRef | None, name: str, tag: str | None,
                   migration_tag: str | None) -> dict[str, Any]:
    """The values DIGIT's deployer passes for one service (env + secrets + values file + --set).

    The values file is passed only when it is ``<service>-values.yaml`` (as the deployer's
    ``-f``, over the env file); a chart's own ``values.yaml`` holds its defaults, which Helm
    loads beneath everything given, so the environment file's values win over it."""
    sets = [("name", name)]
    if tag:
        sets.append(("image.tag", tag))
    if migration_image_tag := migration_tag or tag:
        sets.append(("initContainers.dbMigration.image.tag", migration_image_tag))
    # Read either way: a broken values file is reported with its file and line, in Helm's words.
    own = load_values_file(ref.values_file, role="values file") if ref is not None else {}
    if ref is not None and not ref.shared_chart:
        own = {}
    return merge_values(dict(base), own, *(set_value(key, value) for key, value in sets))


def set_value(dotted: str, value: str) -> dict[str, Any]:
    """``--set dotted=value`` as Helm types it (``12`` an integer, ``true`` a boolean, ``v1.2`` a string)."""
    from digit_tui.digit.helmyaml import sdk

    escaped = value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
    parsed: dict[str, Any] = sdk().parse_set_string(f"{dotted}={escaped}")   # helm-python-sdk is untyped
    return parsed


def _render_one(renderer: Renderer, ref: ChartRef, name: str, tag: str | None, migration_tag: str | None,
                module: str, base: Mapping[str, Any], namespace: str | None) -> RenderedService:
    values = service_values(base, ref, name, tag, migration_tag)
    result = renderer.render(ref.chart_dir, name, values, namespace=namespace)
    text = canonical_yaml(result.crds, result.objects)
    svc = RenderedService(name=name, module=module, image_tag=tag, chart_dir=ref.chart_dir, objects=result.objects,
                          crds=result.crds, digest=hashlib.sha256(text.encode()).hexdigest())
    svc._text = text
    return svc


KEPT_SUFFIX = ".helm.json"     # beside a file digit-tui generated: whether libyaml reads it as Helm does


def load_values_file(path: str | os.PathLike[str], *, role: str = "values file", keep: bool = False) -> dict[str, Any]:
    """Read a values-shaped YAML file as Helm reads a ``-f`` file; a sops-encrypted one is
    decrypted with ``sops -d`` (stdout only, never written to disk). A key this machine cannot
    use is :class:`~digit_tui.digit.sops.SopsKeyUnavailable` (bad input, naming the key).

    ``keep`` (for digit-tui's own files in the state directory): when libyaml reads the text
    exactly as Helm did (the same keys in Helm's order, the same values of the same JSON types),
    that is noted beside the file (``<name>.helm.json``, 0600: the text's digest, no values), and
    while the text has that digest it is read by libyaml alone: the checks of a converged rerun
    then load no Helm SDK (its native library is 70-100 ms). Any other text is Helm's to read."""
    from digit_tui.digit import sops

    p = Path(path)
    role = role if role.endswith("file") else f"{role} file"
    text = read_text(p, role=role)
    kept = p.with_name(p.name + KEPT_SUFFIX) if keep else None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if kept is not None and _noted(kept) == digest and (same := _as_helm_orders(text)) is not None \
            and not sops.is_sops_document(same):
        return same
    data = parse_mapping(text, path=p, role=role)
    if sops.is_sops_document(data):
        return parse_mapping(sops.decrypt(p, data["sops"], text=text, role=role, timeout=SOPS_TIMEOUT),
                             path=p, role=role)
    if kept is not None and (same := _as_helm_orders(text)) is not None:
        ours = _dumped(same)
        if ours is not None and ours == _dumped(data):
            _note(kept, digest)
    return data


def _dumped(values: dict[str, Any]) -> str | None:
    try:
        return json.dumps(values, allow_nan=False)
    except (TypeError, ValueError):
        return None     # a date, a set, NaN: not as Helm's JSON has it


def _as_helm_orders(text: str) -> dict[str, Any] | None:
    """``text`` read by libyaml, with every mapping's keys sorted as Helm's JSON gives them; None
    when libyaml refuses it or it is not a mapping."""
    from digit_tui import yamlload

    try:
        data = yamlload.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(data, dict):
        return None

    def ordered(node: Any) -> Any:
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                raise TypeError("a key that is not text")     # JSON would make it text: not Helm's reading
            return {k: ordered(node[k]) for k in sorted(node)}
        return [ordered(v) for v in node] if isinstance(node, list) else node
    try:
        out: dict[str, Any] = ordered(data)
    except (TypeError, RecursionError):
        return None
    return out


def _noted(kept: Path) -> str | None:
    try:
        doc = json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("libyaml_reads_as_helm") if isinstance(doc, dict) else None


def _note(kept: Path, digest: str) -> None:
    from digit_tui.atomic import atomic_write

    try:
        atomic_write(kept, json.dumps({"libyaml_reads_as_helm": digest}), mode=0o600)
    except OSError:
        return      # a note: the next read asks Helm again
