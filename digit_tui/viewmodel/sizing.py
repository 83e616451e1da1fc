"""The sizing step of a new install, without Textual: the operator's inputs (ULBs, tier, preset;
the modules chosen earlier), the capacity plan `digit-tui size` would print for them, and its fit
check against the capacity the install will really have (the VMs the prerequisites found, the
existing cluster's nodes, or the sandbox the cluster phase starts).

Reading the release's workloads renders its charts (seconds, once: ``sizing.release``'s caches);
planning and the fit check are pure but not free (the scheduler replay): both run off the event
loop. Messages for bad inputs name the field and what it takes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui import yamldump
from digit_tui.errors import InputError

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers
    from digit_tui.answers.sizingplan import SizingPlan
    from digit_tui.sizing.fit import FitReport, NodeCapacity
    from digit_tui.sizing.model import Plan
    from digit_tui.sizing.presets import Preset
    from digit_tui.sizing.release import ReleaseWorkloads

TIERS = ("dev", "uat", "prod")
# The answers' database modes in the planner's words (as sizing/install.py plans the install).
DB_MODES = {"external": "managed", "vm": "vm", "in-cluster": "in-cluster"}
TIER_DEFAULT = ""                   # the preset field's "the tier's own preset"


@dataclass(frozen=True)
class SizingChoices:
    ulbs: str                       # as typed
    tier: str = "dev"
    preset: str = TIER_DEFAULT      # a preset's name, or the tier's default
    modules: tuple[str, ...] = ()   # the chosen m_ modules (their dependencies come with them)


def parse_ulbs(text: str) -> int:
    """The ULB count typed, or InputError saying what the field takes."""
    from digit_tui.sizing.planner import MAX_ULBS

    value = text.strip()
    expected = f"a whole number of ULBs, 1 to {MAX_ULBS}"
    if not value.isdigit():
        raise InputError(f"ULBs: {value!r} is not a whole number" if value else "ULBs: not set", expected=expected)
    n = int(value)
    if n < 1:
        raise InputError(f"ULBs: {n} is fewer than one", expected=expected)
    if n > MAX_ULBS:
        raise InputError(f"ULBs: {n} is more than digit-tui plans for", expected=expected)
    return n


@dataclass(frozen=True)
class Capacity:
    """What the fit check places the release on, and where that came from."""

    what: str                                   # "the cluster's 3 nodes", "2 worker VMs found by ..."
    nodes: tuple[NodeCapacity, ...] = ()
    problem: str | None = None                  # why there is nothing to check against


@dataclass(frozen=True)
class SizingResult:
    choices: SizingChoices
    ulbs: int | None
    preset: str                                 # the preset used
    tier: str
    plan: Plan | None
    fit: FitReport | None
    error: InputError | None
    seconds: float                              # planning and fit check
    recorded: SizingPlan | None = None          # what the install will record (sizing/install.py)
    recorded_error: str | None = None

    @property
    def fits(self) -> bool | None:
        if self.fit is None:
            return None
        return self.fit.fits and not (self.fit.replay is not None and self.fit.replay.pending)


@dataclass
class SizingModel:
    """The release's workloads (read once) and the presets, for one guided install."""

    answers: Answers
    answers_path: Path
    state_dir: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: ReleaseWorkloads | None = None
    _presets: dict[str, Preset] | None = None

    def presets(self) -> dict[str, Preset]:
        from digit_tui.sizing import presets

        with self._lock:
            if self._presets is None:
                self._presets = presets.load_all()
            return self._presets

    def preset_for(self, choices: SizingChoices) -> Preset:
        found = self.presets()
        name = choices.preset or choices.tier
        if name not in found:
            raise InputError(f"preset: unknown preset {name!r}", expected="one of " + ", ".join(sorted(found)))
        return found[name]

    def release(self) -> ReleaseWorkloads:
        """The workloads of the release the answers deploy, every module (rendered once)."""
        with self._lock:
            if self._release is None:
                self._release = _read_release(self.answers, self.answers_path, self.state_dir)
            return self._release

    def compute(self, choices: SizingChoices, capacity: Capacity | None) -> SizingResult:
        from digit_tui.sizing import fit as fitmod
        from digit_tui.sizing.model import SizingInputs
        from digit_tui.sizing.planner import check_bounds, plan

        started = time.monotonic()
        preset = self.preset_for(choices)
        try:
            ulbs = parse_ulbs(choices.ulbs)
        except InputError as exc:
            return SizingResult(choices, None, preset.name, preset.tier, None, None, exc, time.monotonic() - started)
        mode = self.answers.cluster.mode
        inputs = SizingInputs(ulbs=ulbs, tier=preset.tier, modules=choices.modules, flavor=preset.flavor.value,
                              managed_control_plane=True if mode == "terraform" else False if mode == "kubeadm"
                              else None, db_mode=DB_MODES.get(self.answers.database.mode))
        check_bounds(inputs)
        inputs.validate()
        got = self.release()
        deps = dict(got.module_deps)
        try:
            try:
                made = plan(list(got.workloads), inputs, preset, module_deps=deps)
            except InputError:
                # The preset's flavor cannot hold the largest pod: the cheapest that can, as the install does.
                inputs = replace(inputs, flavor="suggest")
                made = plan(list(got.workloads), inputs, preset, module_deps=deps)
        except InputError as exc:
            return SizingResult(choices, ulbs, preset.name, preset.tier, None, None, InputError(
                f"no plan for {ulbs} ULBs: {exc.message}", expected="fewer ULBs, a database outside the cluster "
                "(database.mode external or vm), or another preset"), time.monotonic() - started)
        report = None
        if capacity is not None and capacity.nodes:
            report = fitmod.check(list(got.workloads), inputs, preset, list(capacity.nodes), flavor=made.flavor,
                                  module_deps=deps)
        recorded, recorded_error = self._recorded(choices, preset.tier, ulbs)
        return SizingResult(choices, ulbs, preset.name, preset.tier, made, report, None, time.monotonic() - started,
                            recorded, recorded_error)

    def _recorded(self, choices: SizingChoices, tier: str, ulbs: int) -> tuple[SizingPlan | None, str | None]:
        """The plan the install records for these inputs (its own, from a DIGIT-shaped release)."""
        from digit_tui.sizing.install import install_plan

        try:
            answers = with_sizing(self.answers, self.answers_path, tier, ulbs, choices.preset or None)
            return install_plan(answers, self.answers_path), None
        except InputError as exc:
            return None, exc.message

    def namespaces(self) -> list[str]:
        return sorted({w.namespace for w in self.release().workloads})


def _read_release(answers: Answers, answers_path: Path, state_dir: Path) -> ReleaseWorkloads:
    from digit_tui.answers.config import InstallConfig
    from digit_tui.digit.selection import open_release
    from digit_tui.sizing import presets, release
    from digit_tui.sizing.diskcache import DiskCache, cache_dir

    config = InstallConfig.from_answers(answers, answers_path)
    chosen = open_release(config.source, config.release, list(answers.digit.modules), state_dir=state_dir,
                          fetch=False, answers_file=str(answers_path))
    env = answers.digit.environment_file
    secrets = answers.digit.secrets_file
    if env is None:
        # Requests do not depend on the environment's values: the sample's (or a minimal) file will do.
        sample = release.bundled_inputs(cache_dir() / "env")
        env, secrets = sample.env_file, sample.secrets_file
    inputs = release.ReleaseInputs(Path(chosen.source.root), Path(chosen.manifest_path), Path(env),
                                   Path(secrets) if secrets is not None else None)
    request_path = frozenset(r.service for p in presets.load_all().values() for r in p.request_path.services)
    return release.WorkloadCache(disk=DiskCache()).get(inputs, request_path)


def capacity_for(answers: Answers, vms: list[tuple[str, int, int]], has_hosts: bool,
                 namespaces: list[str]) -> Capacity:
    """Where the release will run: the worker VMs the prerequisites read, the existing cluster's
    schedulable nodes (read now: blocking, with the client's timeouts), or the sandbox's nodes."""
    from digit_tui.sizing import fit as fitmod

    if vms:
        names = ", ".join(n for n, _, _ in vms)
        return Capacity(f"{len(vms)} worker VM{'s' if len(vms) != 1 else ''} found by the prerequisites ({names})",
                        tuple(fitmod.NodeCapacity(n, cpus * 1000, mem) for n, cpus, mem in vms))
    if has_hosts:
        return Capacity("the VMs", problem="no worker VM's facts were read (see the prerequisites)")
    target = answers.target
    if target.provider == "sandbox":
        from digit_tui.sizing.quantity import bytes_of, cpu_millis
        from digit_tui.tasks.cluster_sandbox import SandboxSpec

        s = SandboxSpec()
        planned = tuple(fitmod.NodeCapacity(f"sandbox-{i + 1}", cpu_millis(s.node_cpu), bytes_of(s.node_memory),
                                            True) for i in range(s.nodes))
        return Capacity(f"the sandbox's {s.nodes} nodes of {s.node_cpu} CPU / {s.node_memory} (started by the "
                        "cluster phase)", planned)
    if target.kubeconfig is not None:
        try:
            nodes = fitmod.nodes_from_cluster(str(target.kubeconfig), target.context, namespaces)
        except (fitmod.ClusterReadError, InputError) as exc:
            return Capacity("the cluster's nodes", problem=str(exc))
        if not nodes:
            return Capacity("the cluster's nodes", problem="the cluster has no schedulable untainted node")
        return Capacity(f"the cluster's {len(nodes)} schedulable node{'s' if len(nodes) != 1 else ''}", tuple(nodes))
    return Capacity("the cluster", problem="nothing to check against before the cluster exists")


def with_sizing(answers: Answers, answers_path: Path, tier: str, ulbs: int, preset: str | None = None) -> Answers:
    """The answers with the sizing the screen chose (``sizing.tier``, ``sizing.ulbs``, and
    ``sizing.preset`` when one was picked), validated as the written file will be read."""
    from digit_tui.answers.loader import parse_answers

    sizing: dict[str, object] = {"tier": tier, "ulbs": ulbs}
    if preset:
        sizing["preset"] = preset
    return parse_answers(_sizing_text(answers, sizing), answers_path)


def _sizing_text(answers: Answers, sizing: dict[str, object]) -> str:
    import yaml

    from digit_tui.answers.settings import answers_to_yaml

    doc = yaml.safe_load(answers_to_yaml(answers)) or {}
    kept = {k: v for k, v in (doc.get("sizing") or {}).items() if k not in ("tier", "ulbs", "preset")}
    doc["sizing"] = {**kept, **sizing}
    return yamldump.safe_dump(doc, sort_keys=False, allow_unicode=True)


def plan_lines(result: SizingResult, capacity: Capacity | None) -> list[tuple[str, str]]:
    """The plan in short lines (≤ 50 columns where it can), each with its style, for a narrow pane."""
    from digit_tui.sizing.quantity import GI, fmt_cpu

    out: list[tuple[str, str]] = []
    if result.error is not None:
        text = result.error.message + (f" (expected: {result.error.expected})" if result.error.expected else "")
        return [("✗ " + text, "red")]
    p = result.plan
    if p is None:
        return []
    out.append((f"{p.preset} ({p.tier}) · {p.ulbs} ULBs · {p.users} peak users · {'HA' if p.ha else 'no HA'}",
                "bold"))

    def vm(label: str, count: int, flavor: str, note: str = "") -> None:
        out.append((f"{label:<9}{count:>3} × {flavor:<11}{note}", ""))

    if p.masters:
        vm("masters", p.masters.count, p.masters.flavor.name)
    else:
        out.append((f"{'masters':<9}  – managed control plane", "dim"))
    cpu_u, mem_u = p.worker_utilisation
    spare = " + 1 spare" if p.ha and p.workers else ""
    vm("workers", p.workers, p.flavor.name, f"{p.workers_packed}{spare}")
    out.append((f"{'':<15}CPU {cpu_u:.0%} · memory {mem_u:.0%} requested", "dim"))
    if p.postgres:
        vm("postgres", p.postgres.count, p.postgres.flavor.name)
    else:
        out.append((f"{'postgres':<9}  – managed / in-cluster, {p.postgres_disk_gb}G", "dim"))
    if p.lb:
        vm("LB", p.lb.count, p.lb.flavor.name, "HAProxy")
    if p.jenkins:
        vm("jenkins", p.jenkins.count, p.jenkins.flavor.name)
    t = p.totals
    out.append((f"{'total':<9}{t.vms:>3} VMs · {fmt_cpu(t.cpu_m)} vCPU · {t.mem_b / GI:.0f} GiB · {t.disk_gb} GB",
                "bold"))
    n_vol = sum(v.count for v in p.volumes)
    gb = sum(v.total_gb for v in p.volumes)
    out.append((f"{'volumes':<9}{n_vol:>3} · {gb} GB ("
                + ", ".join(f"{v.name} {v.count}×{v.size_gb}G" for v in p.volumes) + ")", ""))
    out.append((f"{'pods':<9}{p.pods:>3} · largest {p.largest_pod[0]}", "dim"))
    out.append(("", ""))
    if capacity is None:
        out.append(("◌ fit check: reading the capacity…", "yellow"))
    elif capacity.problem is not None:
        out.append((f"· fit check against {capacity.what}: {capacity.problem}", "dim"))
    elif result.fit is not None:
        out.append((f"Fit check against {capacity.what}", "bold"))
        ok = result.fits
        for i, line in enumerate(result.fit.lines()):
            if i == 0:
                out.append((("✓ " if ok else "✗ ") + line, "green" if ok else "red"))
            else:
                out.append(("  " + line, ""))
    return out + recorded_lines(result)


def recorded_lines(result: SizingResult) -> list[tuple[str, str]]:
    """What the install records of the sizing (and acts on: disks, terraform's nodes), which it plans
    from a DIGIT-shaped release rather than the rendered charts (sizing/install.py says why)."""
    r = result.recorded
    if r is None:
        return [(f"! the install cannot plan these inputs: {result.recorded_error}", "yellow")] \
            if result.recorded_error else []
    disks = ", ".join(f"{d.service} {d.count}×{d.size_gb}G" for d in r.disks)
    return [("", ""), ("The install records (its DIGIT-shaped plan):", "dim"),
            (f"  {r.workers} workers of {r.worker_flavor}, {r.masters} masters" + (f"; disks {disks}" if disks else ""),
             "dim")]
