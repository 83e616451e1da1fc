"""Charts of a phase beside the release (monitoring, Jenkins): rendered and applied the release's way.

A phase names charts of the DIGIT source (by the chart index, as services are found) and, for
each, the values the answers add and the objects built from them (Secrets). Its render task
renders them with the generated environment and secrets files exactly as the release's render
does (env, secrets, the chart's values, ``name=<chart>``, then the phase's values), and writes
``<state_dir>/rendered-<phase>/<chart>.yaml`` (0600: they hold Secrets) plus ``index.json``.
Each chart is then applied by a :class:`PhaseServiceTask`, the release's ``ServiceTask`` reading
this directory: the same server-side apply, CRDs first, API conversion, pruning and readiness
wait. Objects carry ``digit.org/phase=<phase>`` so the release record never prunes them as
objects of services removed from the release.

Two charts rendering one object (kube-state-metrics is both a chart and a subchart of the
prometheus-operator chart) would have two tasks fighting over it: the later chart's copy is left
out, and a chart whose every workload an earlier one already renders is left out entirely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from digit_tui.answers.config import InstallConfig
from digit_tui.atomic import atomic_write
from digit_tui.engine.task import Load, RetryPolicy, Task, TaskContext
from digit_tui.errors import PermanentError
from digit_tui.infra import reads
from digit_tui.infra.kube import Kube, object_key
from digit_tui.infra.kubeconvert import convert_objects
from digit_tui.infra.kubewait import WaitPolicy, is_workload
from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG
from digit_tui.tasks.release import CRD_KIND, Cluster, Desired, ServiceTask, managed

PHASE_LABEL = "digit.org/phase"
INDEX = "index.json"
FORMAT = 1
RENDER_TIMEOUT = 60.0


@dataclass(frozen=True)
class PhaseChart:
    """One chart of a phase: the chart (a name the source's chart index knows), the values the
    answers give it (merged last), and objects applied with it (built from the answers)."""

    service: str
    values: Mapping[str, Any] = field(default_factory=dict)
    objects: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class PhaseInputs:
    """What a phase's charts are decided from at render time."""

    base: Mapping[str, Any]                 # the env and secrets files, merged as Helm merges them
    secrets_file: Path | None
    cluster_outputs: Mapping[str, Any]      # what the cluster phase published (its kubeconfig)


Planner = Callable[[PhaseInputs], Sequence[PhaseChart]]


def phase_dir(state_dir: Path, phase: str) -> Path:
    return state_dir / f"rendered-{phase}"


def load_phase_rendered(state_dir: Path, phase: str, service: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from digit_tui.tasks.render import read_rendered

    return read_rendered(phase_dir(state_dir, phase) / f"{service}.yaml", "the phase's render task")


def _digest_text(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() + b"\n")
    return h.hexdigest()


def chart_trees(chart_dir: Path) -> list[Path]:
    """``chart_dir`` and the chart directories its ``file://`` dependencies name, recursively (the
    operator chart's kube-state-metrics sits beside it, not under it): an edit of any of them is an
    input of the render."""
    out: list[Path] = []
    todo = [chart_dir.resolve()]
    while todo:
        here = todo.pop(0)
        if here in out or len(out) > 20:
            continue
        out.append(here)
        for name in ("Chart.yaml", "requirements.yaml"):
            try:
                doc = yaml.safe_load((here / name).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                continue
            for dep in (doc.get("dependencies") or []) if isinstance(doc, dict) else []:
                repo = str(dep.get("repository") or "") if isinstance(dep, dict) else ""
                if repo.startswith("file://"):
                    todo.append((here / repo[len("file://"):]).resolve())
    return out


class PhaseRenderTask(Task):
    """Render a phase's charts with the generated env files into ``rendered-<phase>/``."""

    load = Load.CPU     # Helm's templating here, like the release's render: held to the cores

    def __init__(self, config: InstallConfig, phase: str, planner: Planner, deps: Iterable[str], *,
                 title: str) -> None:
        super().__init__(f"{phase}-render", title, phase, (HELM_CONFIG, *deps),
                         retry=RetryPolicy(attempts=2), timeout=300.0)
        self.config = config
        self.phase_name = phase
        self.planner = planner

    def _files(self, ctx: TaskContext) -> tuple[str, str | None]:
        out = ctx.output(HELM_CONFIG)
        if not out.get("env_file"):
            raise PermanentError("the helm-config task published no environment file",
                                 remedy="run `digit-tui install` again")
        return str(out["env_file"]), out.get("secrets_file")

    def _plan(self, ctx: TaskContext) -> tuple[list[PhaseChart], dict[str, Any], str]:
        """The charts, the base values and the digest of every input of the render."""
        from digit_tui.digit.chart_index import ChartIndex
        from digit_tui.digit.pipeline import base_values
        from digit_tui.tasks.render import _engine_name, _file_digest, _saw_inputs, _tree_digest

        env_file, secrets_file = self._files(ctx)
        base = base_values(env_file, secrets_file, keep=True)     # helm-config's own files
        charts = list(self.planner(PhaseInputs(base, Path(secrets_file) if secrets_file else None,
                                               ctx.output("cluster"))))
        release = self.config.open_release(fetch=False)
        index = ChartIndex.build(release.source.charts_dir)
        chart_dirs = [d for c in charts for d in chart_trees(index.lookup(c.service).chart_dir)]
        # The chart trees (with the charts they pull in: common, a subchart) and what the answers added.
        common = release.source.charts_dir / "common"
        # The phase's own charts are in this tree (a planner reads the answers and these inputs only).
        _saw_inputs(release.source.charts_dir, None, env_file, secrets_file)
        digest = _digest_text(str(FORMAT), _engine_name(), _file_digest(env_file), _file_digest(secrets_file),
                              *(_tree_digest(d) for d in chart_dirs), _tree_digest(common) if common.is_dir() else "-",
                              json.dumps([[c.service, dict(c.values), list(c.objects)] for c in charts],
                                         sort_keys=True, default=str))
        return charts, base, digest

    def _current(self, ctx: TaskContext) -> dict[str, Any] | None:
        _, _, digest = self._plan(ctx)
        out = phase_dir(self.config.require_state_dir(), self.phase_name)
        reads.file(out / INDEX)
        try:
            index = json.loads((out / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if index.get("inputs") != digest:
            return None
        for svc in index.get("services") or []:
            path = out / f"{svc['name']}.yaml"
            reads.file(path)
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != svc["digest"]:
                return None
        return dict(index)

    def _publish(self, ctx: TaskContext, index: Mapping[str, Any]) -> None:
        ctx.publish("services", {s["name"]: {"module": self.phase_name, "tag": None, "digest": s["digest"]}
                                 for s in index["services"]})
        ctx.publish("left_out", list(index.get("left_out") or ()))

    async def check(self, ctx: TaskContext) -> bool:
        index = await ctx.run_sync(self._current, ctx)
        if index is None:
            return False
        self._publish(ctx, index)
        return True

    def _render(self, ctx: TaskContext) -> dict[str, Any]:
        from digit_tui.digit.chart_index import ChartIndex
        from digit_tui.digit.pipeline import canonical_yaml, service_values
        from digit_tui.digit.render import make_renderer, merge_values

        charts, base, digest = self._plan(ctx)
        release = self.config.open_release(fetch=False)
        index = ChartIndex.build(release.source.charts_dir)
        out = phase_dir(self.config.require_state_dir(), self.phase_name)
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        seen: set[Any] = set()
        services: list[dict[str, Any]] = []
        left_out: list[str] = []
        with make_renderer("auto", timeout=RENDER_TIMEOUT) as renderer:
            for chart in charts:
                ref = index.lookup(chart.service)
                values = merge_values(service_values(base, ref, chart.service, None, None), dict(chart.values))
                result = renderer.render(ref.chart_dir, chart.service, values)
                own = [dict(o) for o in chart.objects]
                # A namespace the phase brings must exist before anything is applied into it.
                objects = [*(o for o in own if o.get("kind") == "Namespace"), *result.objects,
                           *(o for o in own if o.get("kind") != "Namespace")]
                workloads = [object_key(o) for o in objects if is_workload(o)]
                if workloads and all(k in seen for k in workloads):
                    ctx.log(f"{chart.service}: left out, an earlier chart of the phase already deploys "
                            f"{', '.join(str(k) for k in workloads)}")
                    left_out.append(chart.service)
                    continue
                dropped = [o for o in objects if object_key(o) in seen]
                if dropped:
                    ctx.log(f"{chart.service}: {len(dropped)} objects an earlier chart of the phase renders are "
                            "left to that chart")
                objects = [o for o in objects if object_key(o) not in seen]
                crds = [c for c in result.crds if object_key(c) not in seen]
                seen.update(object_key(o) for o in [*crds, *objects])
                text = canonical_yaml(crds, objects)
                atomic_write(out / f"{chart.service}.yaml", text, mode=0o600)
                services.append({"name": chart.service, "digest": hashlib.sha256(text.encode()).hexdigest(),
                                 "objects": len(objects), "crds": len(crds)})
                ctx.progress(len(services) + len(left_out), len(charts), f"rendered {chart.service}")
        keep = {f"{s['name']}.yaml" for s in services}
        for stale in out.glob("*.yaml"):
            if stale.name not in keep:
                stale.unlink()
        result_index = {"format": FORMAT, "inputs": digest, "services": services, "left_out": left_out}
        atomic_write(out / INDEX, json.dumps(result_index, indent=1), mode=0o600)
        ctx.log(f"rendered {len(services)} charts of the {self.phase_name} phase "
                f"({sum(s['objects'] + s['crds'] for s in services)} objects)")
        return result_index

    async def ensure(self, ctx: TaskContext) -> None:
        index = await ctx.run_sync(self._render, ctx)
        self._publish(ctx, index)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would render the {self.phase_name} charts with the generated environment and secrets files "
                f"into {self.config.state_dir or '<state dir>'}/rendered-{self.phase_name}/"]


class PhaseServiceTask(ServiceTask):
    """The release's service task over one chart a phase's render task wrote."""

    def __init__(self, service: str, deps: Iterable[str], *, cluster: Cluster, phase: str, task_id: str,
                 title: str, policy: WaitPolicy | None = None) -> None:
        super().__init__(service, deps, cluster=cluster, policy=policy)
        self.id, self.title, self.phase = task_id, title, phase
        self.render_id = f"{phase}-render"

    def _info(self, ctx: TaskContext) -> dict[str, Any]:
        info = (ctx.output(self.render_id).get("services") or {}).get(self.service)
        if not info:
            raise PermanentError(f"the {self.render_id} task has no output for {self.service}",
                                 remedy="run `digit-tui install` again")
        return dict(info)

    def _desired(self, ctx: TaskContext, kube: Kube) -> Desired:
        info = self._info(ctx)
        crds, objects = load_phase_rendered(self.cluster.config.require_state_dir(), self.phase, self.service)
        conversion = convert_objects([*crds, *objects], self.cluster.served(kube))
        digest = f"sha256:{info['digest']}"
        out = [_in_phase(managed(o, self.service, digest), self.phase) for o in conversion.objects]
        return Desired(info, [o for o in out if o.get("kind") == CRD_KIND],
                       [o for o in out if o.get("kind") != CRD_KIND], conversion)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would apply the rendered {self.service} chart of the {self.phase} phase (server-side apply, "
                "CRDs first), prune what it no longer renders and wait until ready"]


def _in_phase(obj: dict[str, Any], phase: str) -> dict[str, Any]:
    meta = dict(obj["metadata"])
    meta["labels"] = {**meta["labels"], PHASE_LABEL: phase}
    return {**obj, "metadata": meta}


class PhaseUnavailable(Task):
    """A phase the source cannot provide: a permanent error naming what is missing, and how to go on."""

    def __init__(self, phase: str, deps: Iterable[str], message: str, remedy: str) -> None:
        super().__init__(phase, f"The {phase} phase", phase, tuple(deps), retry=RetryPolicy(attempts=1))
        self.message, self.remedy = message, remedy

    async def ensure(self, ctx: TaskContext) -> None:
        raise PermanentError(self.message, remedy=self.remedy)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"cannot run: {self.message} ({self.remedy})"]


def missing_charts(config: InstallConfig, names: Iterable[str]) -> list[str]:
    """Which of ``names`` the source's chart index has no chart for."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.errors import InputError

    index = ChartIndex.build(config.open_release(fetch=False).source.charts_dir)
    missing = []
    for name in names:
        try:
            index.lookup(name)
        except InputError:
            missing.append(name)
    return missing
