"""The sizing plan of an install, from its answers (``sizing.ulbs``, ``sizing.preset``, ``sizing.tier``).

Planned once when the install starts (``digit-tui install``, ``plan``, ``validate --json``) and
recorded in the run's document (``answers/sizingplan.py``), so the engine never plans again.

The workloads are the built-in DIGIT-shaped release (``synthetic.digit_like``), not the rendered
charts: rendering the release takes seconds to minutes, and a plan that depended on whether a
render happened to be cached would size the same answers differently from one run to the next,
which terraform would show as a change. ``digit-tui size --source ...`` plans from the rendered
charts; an operator who wants that size writes it into ``terraform.variables``, which win.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from digit_tui.answers.model import Answers
from digit_tui.answers.sizingplan import SizingPlan
from digit_tui.errors import InputError
from digit_tui.sizing import plancache

WORKLOADS = "a DIGIT-shaped release (digit_tui/sizing/synthetic.py), not the rendered charts"
# The answers' database modes in the planner's words.
_DB_MODE = {"external": "managed", "vm": "vm", "in-cluster": "in-cluster"}


def install_plan(answers: Answers, answers_file: str | os.PathLike[str] | None = None) -> SizingPlan:
    """The plan for these answers (InputError naming the answers file when the planner refuses them).
    A plan made before from the same answers, presets and code is read from disk (sizing/plancache.py):
    the planner's modules are imported only to plan."""
    key = plancache.digest(plan_inputs(answers))
    stored = plancache.load(key)
    if stored is not None:
        return stored
    try:
        made = _plan(answers)
    except InputError as exc:
        shown = os.fspath(answers_file) if answers_file is not None else None
        raise InputError(f"sizing: no plan for these answers: {exc.message}", path=shown,
                         line=_sizing_line(shown, answers),
                         expected="fewer sizing.ulbs, a database outside the cluster (database.mode external or "
                                  "vm), or another sizing.preset") from None
    plancache.save(key, made)
    return made


def plan_inputs(answers: Answers) -> dict[str, Any]:
    """Every answer ``_plan`` reads: the plan is a function of these, the presets and the code."""
    s = answers.sizing
    return {"preset": s.preset, "tier": s.tier, "ulbs": s.ulbs, "cluster_mode": answers.cluster.mode,
            "database_mode": answers.database.mode}


def _sizing_line(path: str | None, answers: Answers) -> int | None:
    """The line of ``sizing.ulbs`` (else of ``sizing``) in the answers file, for the error."""
    if path is None:
        return None
    from digit_tui.answers.locate import parse, read_text

    key = ("sizing", "ulbs") if "ulbs" in answers.sizing.model_fields_set else ("sizing",)
    try:
        return parse(read_text(Path(path), path), path).line(key, key=True) or None
    except InputError:
        return None


def _plan(answers: Answers) -> SizingPlan:
    from dataclasses import replace

    from digit_tui.answers.sizingplan import PlannedDisks
    from digit_tui.digit.volumes import BY_SERVICE
    from digit_tui.sizing import presets, synthetic
    from digit_tui.sizing.model import SizingInputs
    from digit_tui.sizing.planner import plan
    from digit_tui.sizing.quantity import GI

    s = answers.sizing
    preset = presets.load(s.preset) if s.preset else presets.default_for_tier(s.tier)
    managed = True if answers.cluster.mode == "terraform" else False if answers.cluster.mode == "kubeadm" else None
    inputs = SizingInputs(ulbs=s.ulbs if s.ulbs is not None else preset.ulbs.value, tier=preset.tier,
                          flavor=preset.flavor.value, managed_control_plane=managed,
                          db_mode=_DB_MODE[answers.database.mode])
    workloads = synthetic.digit_like()
    try:
        made = plan(workloads, inputs, preset)
    except InputError:
        # The preset's flavor cannot hold the largest pod (an in-cluster Postgres of the tier's
        # size): the cheapest flavor that can, as `digit-tui size --flavor suggest` picks it.
        made = plan(workloads, replace(inputs, flavor="suggest"), preset)
    disks = tuple(PlannedDisks(v.workload, v.count, v.size_gb) for v in made.volumes if v.workload in BY_SERVICE)
    return SizingPlan(preset=preset.name, tier=preset.tier, ulbs=made.ulbs, workers=made.workers,
                      worker_flavor=made.flavor.name, worker_cpus=made.flavor.cpu_m / 1000,
                      worker_memory_gib=round(made.flavor.mem_b / GI, 2), worker_disk_gb=made.flavor.disk_gb,
                      masters=made.masters.count if made.masters else 0, disks=disks, workloads=WORKLOADS)
