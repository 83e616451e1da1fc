"""Task ``render``: render the selected DIGIT release with the generated env files.

Writes ``<state_dir>/rendered/<service>.yaml`` (CRDs first, canonical YAML, 0600:
the files hold rendered Secrets) and ``index.json``, and publishes the
per-service digests and tags as small outputs for the apply tasks.

Tags: the answers' ``digit.tags`` override the manifest; a service left untagged
by both takes the tag of its Deployment running in the target cluster, as
DIGIT's deployer does (``runningtags``: one short lookup, only when a cluster is
configured and answers; otherwise none, and the journal says so).

Converged when ``index.json`` records the same inputs (source charts, manifest,
modules, env and secrets files, render engine, ``digit.tags`` and the running
tags found) and every file still has its digest, so a rerun does not render again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from digit_tui.answers.config import InstallConfig
from digit_tui.atomic import atomic_write
from digit_tui.digit.selection import Release
from digit_tui.engine.task import Endpoint, Load, RetryPolicy, Task, TaskContext
from digit_tui.errors import PermanentError
from digit_tui.infra import reads
from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG

TASK_ID = "render"
CLUSTER_TASK = "cluster"        # the cluster phase's task, whose kubeconfig the running tags are read with
RENDERED_DIR = "rendered"
INDEX = "index.json"
PROGRESS = "progress.json"      # services rendered so far by an unfinished render, with their inputs
STAMPS = "tree-stamps.json"     # size/mtime/ctime/inode and digest of each chart file, as last hashed
FORMAT = 1                      # bump when the rendered file layout changes
RENDER_TIMEOUT = 60.0           # per chart


def open_release(config: InstallConfig, progress: Any = None, *, fetch: bool = True) -> Release:
    """The release the answers name; git sources are fetched into the state directory
    (``fetch=False``: only where an earlier fetch left them, else SourceNotFetched)."""
    return config.open_release(progress=progress, fetch=fetch)


def rendered_dir(state_dir: Path) -> Path:
    return state_dir / RENDERED_DIR


def rendered_file(state_dir: Path, service: str) -> Path:
    return rendered_dir(state_dir) / f"{service}.yaml"


def load_rendered(state_dir: Path, service: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(crds, objects) of one rendered service, as the render task wrote them."""
    return read_rendered(rendered_file(state_dir, service), "the render task")


PARSED_SUFFIX = ".parsed.json"   # beside a rendered file: its documents as JSON (``read_rendered``)


def _stamp(path: Path) -> tuple[list[int], bool]:
    """The file's size, mtime, ctime and inode, and whether it is settled: modified more than RACY
    seconds ago, so that a change within the clock's granularity cannot hide behind the same stamp."""
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino], time.time_ns() - st.st_mtime_ns > RACY * 1e9


def read_rendered(path: Path, writer: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(crds, objects) of a rendered manifest file; PermanentError naming ``writer`` when it is gone.

    Every converged service's check reads its file on a rerun (some hold 30,000 lines of CRDs).
    The documents are kept beside it as JSON (``<name>.parsed.json``, with the file's size, mtime,
    ctime and inode), which reads thirty times faster than libyaml; a file rewritten since (a render
    writes a new inode) is parsed again. Not kept: a file modified less than RACY seconds ago, and
    documents JSON would change (a date, a number as a key)."""
    import yaml

    reads.file(path)

    parsed = path.with_name(path.name.removesuffix(".yaml") + PARSED_SUFFIX)
    try:
        stamp, settled = _stamp(path)
        try:
            kept = json.loads(parsed.read_text(encoding="utf-8"))
            docs = kept["docs"] if kept.get("stamp") == stamp else None
        except (OSError, ValueError, AttributeError, KeyError):
            docs = None
        if docs is None:
            # libyaml's loader when present (several times faster on these files, same documents)
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            docs = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader) if d]
            if settled:
                _keep_parsed(parsed, stamp, docs)
    except FileNotFoundError:
        raise PermanentError(f"rendered manifest {path} is missing",
                             remedy=f"run `digit-tui install` again: {writer} writes it") from None
    crds = [d for d in docs if d.get("kind") == "CustomResourceDefinition"]
    objects = [d for d in docs if d.get("kind") != "CustomResourceDefinition"]
    return crds, objects


def _keep_parsed(parsed: Path, stamp: list[int], docs: list[Any]) -> None:
    try:
        text = json.dumps({"stamp": stamp, "docs": docs})
        if json.loads(text)["docs"] != docs:
            return      # JSON would not give back the same documents
        atomic_write(parsed, text, mode=0o600)
    except (TypeError, ValueError, OSError):
        return          # a cache: the next check parses the YAML again


RACY = 2.0     # seconds: a file modified this close to being hashed may change again unseen by its mtime


def _tree_digest(root: Path, stamps: Path | None = None) -> str:
    """The digest of every file under ``root`` (names and contents).

    With ``stamps`` (a file the render task keeps in the state directory), a file whose
    size, mtime, ctime and inode are those recorded when it was last hashed is not read
    again (git's index makes the same bargain), except a file modified within RACY seconds of
    that hashing. The digest is the same either way; only a rerun's check reads less."""
    known: dict[str, list[Any]] = {}
    trusted_before = 0.0
    if stamps is not None:
        try:
            doc = json.loads(stamps.read_text(encoding="utf-8"))
            if doc.get("root") == str(root):
                known = dict(doc.get("files") or {})
                trusted_before = float(doc.get("hashed_at") or 0.0) - RACY
        except (OSError, ValueError, TypeError, AttributeError):
            known = {}
    seen: dict[str, list[Any]] = {}
    hashed_at = time.time()
    h = hashlib.sha256()
    # Plain strings, not Path objects: building, relativising and stat-ing three Paths per file was
    # most of this walk on a rerun, where almost every file's stamp is known.
    top = str(root)
    cut = len(os.path.join(top, ""))
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = path[cut:]
            h.update(rel.encode() + b"\0")
            try:
                st = os.stat(path)
                stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]
                old = known.get(rel)
                if (old is not None and old[:4] == stamp and max(st.st_mtime, st.st_ctime) < trusted_before
                        and isinstance(old[4], str) and len(old[4]) == 64):
                    raw = bytes.fromhex(old[4])
                else:
                    with open(path, "rb") as f:
                        raw = hashlib.sha256(f.read()).digest()
                seen[rel] = [*stamp, raw.hex()]
                h.update(raw)
            except OSError:
                h.update(b"?")
    if stamps is not None and seen != known:
        try:
            atomic_write(stamps, json.dumps({"root": str(root), "hashed_at": hashed_at, "files": seen}), mode=0o600)
        except OSError:
            pass    # the next check reads every file again, nothing worse
    return h.hexdigest()


def _stamps(state_dir: Path) -> Path | None:
    """Where the chart tree's file stamps are kept (none until the rendered directory exists)."""
    out = rendered_dir(state_dir)
    return out / STAMPS if out.is_dir() else None


def _file_digest(path: str | None) -> str:
    if not path:
        return "-"
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return "missing"


def inputs_digest(release: Release, env_file: str, secrets_file: str | None, engine: str,
                  tags: Mapping[str, str] | None = None, running_tags: Mapping[str, str] | None = None,
                  skip_services: tuple[str, ...] = (), *, stamps: Path | None = None) -> str:
    h = hashlib.sha256()
    charts = _tree_digest(release.source.charts_dir, stamps)
    for part in (str(FORMAT), engine, charts, _file_digest(str(release.manifest_path)),
                 ",".join(release.modules), _file_digest(env_file), _file_digest(secrets_file),
                 json.dumps(dict(tags or {}), sort_keys=True), json.dumps(dict(running_tags or {}), sort_keys=True),
                 ",".join(sorted(skip_services))):
        h.update(part.encode() + b"\n")
    return h.hexdigest()


def untagged(release: Release, tags: Mapping[str, str], skip: tuple[str, ...] = ()) -> list[str]:
    """Services neither the manifest nor ``digit.tags`` gives a tag: they may take a running one."""
    from digit_tui.digit.pipeline import CLUSTER_CONFIGS, release_entries

    return [e.name for e in release_entries(release.manifest, release.modules, tags=tags)
            if not e.tag and e.name != CLUSTER_CONFIGS and e.name not in skip]


def _saw_inputs(charts: Path, manifest: Path | None, env_file: str, secrets_file: str | None) -> None:
    """What a render's inputs digest reads, for the run's read log (infra/reads.py)."""
    reads.tree(charts)
    for path in (manifest, env_file, secrets_file):
        if path:
            reads.file(path)
    reads.command("helm")   # which renderer (``_engine_name``)


def _engine_name() -> str:
    from digit_tui.digit.render import helm_binary

    return "helm" if helm_binary() else "sdk"


def _finished_so_far(out: Path, inputs: str) -> dict[str, dict[str, Any]]:
    """Services an interrupted render already wrote with the same inputs (and intact files)."""
    try:
        progress = json.loads((out / PROGRESS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(progress, dict) or progress.get("inputs") != inputs:
        return {}
    kept: dict[str, dict[str, Any]] = {}
    for name, meta in (progress.get("services") or {}).items():
        path = out / f"{name}.yaml"
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == meta.get("digest"):
            kept[name] = meta
    return kept


class RenderTask(Task):
    """Render cluster-configs and every service of the release into the state directory."""

    # The chart tree, the manifest, helm-config's files, the index and the rendered files (``_current``),
    # which renderer is there, and the running tags through Kube.
    witnessed = True

    load = Load.CPU     # Helm's templating and the YAML it writes: held to the cores, not to the waits

    def __init__(self, config: InstallConfig, deps: tuple[str, ...] | list[str] = (HELM_CONFIG,), *,
                 reshapes_graph: bool = False, endpoints: tuple[Endpoint, ...] = ()) -> None:
        # A git source is fetched here; its fetch failures then retry and wait for the git server.
        super().__init__(TASK_ID, "Render the DIGIT release with Helm", "release", deps,
                         retry=RetryPolicy(attempts=2), timeout=900.0, endpoints=endpoints)
        from digit_tui.digit.pipeline import render_workers

        # Its services render side by side on every core: a phase's chart render started beside it
        # (postgres-render) only slowed it, on the install's longest chain, and waits for it now.
        self.cores = render_workers()
        self.reshapes_graph = reshapes_graph
        self.config = config
        self._running: dict[str, str] | None = None

    def _files(self, ctx: TaskContext) -> tuple[str, str | None]:
        out = ctx.output(HELM_CONFIG)
        if not out.get("env_file"):
            raise PermanentError("the helm-config task published no environment file",
                                 remedy="run `digit-tui install` again")
        return str(out["env_file"]), out.get("secrets_file")

    def _publish(self, ctx: TaskContext, index: Mapping[str, Any]) -> None:
        ctx.publish("release", index.get("release"))
        ctx.publish("order", [s["name"] for s in index["services"]])
        ctx.publish("services", {s["name"]: {"module": s["module"], "tag": s["tag"], "digest": s["digest"]}
                                 for s in index["services"]})
        ctx.publish("skipped", list(index.get("skipped") or ()))

    def _running_tags(self, ctx: TaskContext, release: Release, tags: Mapping[str, str]) -> dict[str, str]:
        """Looked up once per engine run (check and ensure must agree on the inputs)."""
        if self._running is None:
            from digit_tui.tasks.runningtags import lookup

            found = lookup(self.config, untagged(release, tags, self._skipped(release)),
                           cluster_outputs=ctx.output(CLUSTER_TASK))
            if found.note:
                ctx.log(found.note)
            self._running = found.tags
        return self._running

    def _skipped(self, release: Release) -> tuple[str, ...]:
        from digit_tui.digit.skips import check_skipped

        return check_skipped(release.manifest, release.modules, self.config.skip_services, self.config.answers_file)

    def _current(self, ctx: TaskContext) -> dict[str, Any] | None:
        env_file, secrets_file = self._files(ctx)
        release = open_release(self.config, progress=lambda line: ctx.log(line))
        tags = self.config.tags
        skip = self._skipped(release)
        state = self.config.require_state_dir()
        _saw_inputs(release.source.charts_dir, release.manifest_path, env_file, secrets_file)
        reads.file(rendered_dir(state) / INDEX)
        want = inputs_digest(release, env_file, secrets_file, _engine_name(), tags,
                             self._running_tags(ctx, release, tags), skip, stamps=_stamps(state))
        try:
            index: dict[str, Any] = json.loads((rendered_dir(state) / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if index.get("inputs") != want:
            return None
        for svc in index.get("services") or []:
            path = rendered_file(state, svc["name"])
            reads.file(path)
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != svc["digest"]:
                return None
        return index

    async def check(self, ctx: TaskContext) -> bool:
        index = await ctx.run_sync(self._current, ctx)
        if index is None:
            return False    # ensure renders with the running tags this check found
        self._running = None
        self._publish(ctx, index)
        return True

    def _render(self, ctx: TaskContext) -> dict[str, Any]:
        from digit_tui.digit.pipeline import RenderedService, release_order, render_release
        from digit_tui.digit.render import make_renderer

        env_file, secrets_file = self._files(ctx)
        release = open_release(self.config, progress=lambda line: ctx.log(line))
        for warning in release.manifest.warnings:
            ctx.log(f"{release.manifest_path}: {warning}", level="warning")
        skip = self._skipped(release)
        if skip:
            ctx.log(f"left out on purpose (digit.skip_services): {', '.join(skip)}")
        out = rendered_dir(self.config.require_state_dir())
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        order = release_order(release.manifest, release.modules, skip_services=skip)
        tags = self.config.tags
        running = self._running_tags(ctx, release, tags)
        with make_renderer("auto", timeout=RENDER_TIMEOUT) as renderer:
            engine = renderer.engine
            inputs = inputs_digest(release, env_file, secrets_file, engine, tags, running, skip,
                                   stamps=_stamps(self.config.require_state_dir()))
            done = _finished_so_far(out, inputs)
            if done:
                ctx.log(f"resuming the render: {len(done)} of {len(order)} services were rendered "
                        "with these inputs before the engine stopped")

            def save(svc: RenderedService) -> None:
                # Each service is kept the moment it is rendered: an engine killed halfway keeps it.
                atomic_write(out / f"{svc.name}.yaml", svc.manifest_yaml, mode=0o600)
                done[svc.name] = {"name": svc.name, "module": svc.module, "tag": svc.image_tag,
                                  "digest": svc.digest, "objects": len(svc.objects), "crds": len(svc.crds)}
                atomic_write(out / PROGRESS, json.dumps({"inputs": inputs, "services": done}), mode=0o600)
                ctx.progress(len(done), len(order), f"rendered {svc.name}")

            render_release(release.source, release.manifest, release.modules, env_file, secrets_file, renderer,
                           skip=set(done), on_rendered=save, tags=tags, running_tags=running, skip_services=skip)
        services = [done[name] for name in order]
        keep = {f"{s['name']}{suffix}" for s in services for suffix in (".yaml", PARSED_SUFFIX)}
        for stale in [*out.glob("*.yaml"), *out.glob(f"*{PARSED_SUFFIX}")]:
            if stale.name not in keep:
                stale.unlink()
        index = {"format": FORMAT, "inputs": inputs, "engine": engine, "release": release.manifest.version,
                 "manifest": str(release.manifest_path), "modules": release.modules, "services": services,
                 "tags": tags, "running_tags": running, "skipped": list(skip)}
        atomic_write(out / INDEX, json.dumps(index, indent=1), mode=0o600)
        (out / PROGRESS).unlink(missing_ok=True)
        ctx.log(f"rendered {len(services)} services ({sum(s['objects'] + s['crds'] for s in services)} objects) "
                f"with the {engine} engine")
        return index

    async def ensure(self, ctx: TaskContext) -> None:
        try:
            index = await ctx.run_sync(self._render, ctx)
        finally:
            self._running = None    # a retry (or the next run) looks again
        self._publish(ctx, index)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        lines = []
        src = self.config.source
        if src.kind == "git":
            from digit_tui.digit.source import redact_url

            lines.append(f"would fetch {redact_url(str(src.git))}@{src.ref or 'HEAD'} "
                         "(the services to deploy are listed once it is fetched)")
        lines.append(f"would render the release into {self.config.state_dir or '<state dir>'}/{RENDERED_DIR}/")
        if self.config.skip_services:
            lines.append(f"  leaving out on purpose: {', '.join(self.config.skip_services)}")
        lines.append(await ctx.run_sync(conversion_plan, self.config))
        return lines


AT_APPLY_TIME = "objects of removed APIs are converted for the cluster's served versions at apply time"
PLAN_TIMEOUT = 5.0      # seconds the plan waits for the cluster's discovery


def conversion_plan(config: InstallConfig, *, timeout: float = PLAN_TIMEOUT) -> str:
    """What the apply tasks will convert, when it can be known now: the last render's files in
    the state directory against the served versions of the cluster (if it answers quickly)."""
    from digit_tui.infra.kube import Kube
    from digit_tui.infra.kubeconvert import ServedAPIs, convert_objects
    from digit_tui.tasks.release import kube_target

    try:
        state = config.require_state_dir()
        index = json.loads((rendered_dir(state) / INDEX).read_text(encoding="utf-8"))
        objects = []
        for svc in index.get("services") or []:
            crds, objs = load_rendered(state, str(svc["name"]))
            objects += crds + objs
    except Exception:   # nothing rendered yet, or a file gone: the render task will tell
        return AT_APPLY_TIME
    try:
        target = kube_target(config)
        with Kube(target.kubeconfig, target.context, timeout=timeout) as kube:
            served = ServedAPIs.from_kube(kube)
    except Exception:
        return AT_APPLY_TIME
    result = convert_objects(objects, served)
    return f"{result.summary()} (the last render, for this cluster's served API versions; done at apply time)"
