"""Sizing plans kept on disk, so that a rerun of ``digit-tui install`` (and ``validate``) on the same
answers neither imports nor runs the planner.

An install's plan (``sizing/install.py``) depends only on five answers (``sizing.preset``,
``sizing.tier``, ``sizing.ulbs``, ``cluster.mode``, ``database.mode``), on the preset files and on
the code that plans. A digest of all of them names the plan:
``$XDG_CACHE_HOME/digit-tui/plans/<digest>.json`` (0600 in a 0700 directory). The planner's modules
(31 dataclasses and the presets' schema) were a tenth of a converged rerun's CPU, the plan itself
5 ms. ``CODE`` lists the source files the plan is computed by; tests/sizing/test_plancache.py
fails when planning imports a module of digit-tui that is not in it, so a new dependency cannot
leave a stale plan behind. A refused plan (InputError) is never kept: it is planned again, and
says so again, every time. A file that cannot be read or does not fit is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from digit_tui.answers.sizingplan import SizingPlan
from digit_tui.paths import cache_root

FORMAT = 1                                       # bump when the stored layout changes
_PACKAGE = Path(__file__).resolve().parent.parent
# Every module of digit-tui that planning runs (tests/sizing/test_plancache.py checks the list
# against what `_plan` imports), the whole sizing package included.
CODE = (*sorted((_PACKAGE / "sizing").glob("*.py")), _PACKAGE / "deepmerge.py", _PACKAGE / "errors.py",
        _PACKAGE / "atomic.py", _PACKAGE / "digit" / "disks.py", _PACKAGE / "digit" / "envinputs.py",
        _PACKAGE / "infra" / "podrequests.py", _PACKAGE / "infra" / "kubesched.py",
        _PACKAGE / "digit" / "volumes.py", _PACKAGE / "answers" / "sizingplan.py")
PROFILES_DIR = _PACKAGE / "profiles"


def cache_dir() -> Path:
    return cache_root() / "plans"


def _library_quantity() -> Path | None:
    """The kubernetes library's ``utils/quantity.py``, which reads the workloads' quantities
    (infra/podrequests.py), found without importing the package."""
    try:
        spec = importlib.util.find_spec("kubernetes")
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).parent / "utils" / "quantity.py" if spec is not None and spec.origin else None


def digest(inputs: Mapping[str, Any], profiles: Path = PROFILES_DIR) -> str:
    """sha256 over the plan's answers, the planning code and every preset file (name and content)."""
    h = hashlib.sha256(f"{FORMAT}\n{json.dumps(dict(inputs), sort_keys=True)}\n{profiles.resolve()}\n".encode())
    library = _library_quantity()
    for path in (*CODE, *([library] if library is not None else []), *sorted(profiles.glob("*.yaml"))):
        try:
            h.update(f"{path.name}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            h.update(f"{path.name}\0?".encode())
    return h.hexdigest()


def load(key: str, root: Path | None = None) -> SizingPlan | None:
    """The plan stored under ``key``; None when absent or unreadable."""
    try:
        doc = json.loads(((root or cache_dir()) / f"{key}.json").read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        return SizingPlan.from_dict(doc["plan"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None     # absent, truncated, or another layout: plan again


def save(key: str, plan: SizingPlan, root: Path | None = None) -> None:
    """Best effort: a plan that cannot be written costs the next run a plan, nothing else."""
    from digit_tui.atomic import atomic_write

    base = root or cache_dir()
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(base / f"{key}.json", json.dumps({"format": FORMAT, "plan": plan.to_dict()}), mode=0o600)
    except OSError:
        pass
