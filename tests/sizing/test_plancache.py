"""Sizing plans kept on disk (sizing/plancache.py): a second plan of the same answers is read back equal,
without the planner's modules, and the digest covers every module of digit-tui that planning runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from digit_tui.answers.loader import parse_answers
from digit_tui.sizing import install, plancache
from tests.support import REPO

ANSWERS = "environment: sbx\ntarget:\n  provider: sandbox\ndigit:\n  domain: sbx.example.org\n"


def test_a_stored_plan_is_the_planned_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    answers = parse_answers(ANSWERS, "answers.yaml", check_files=False)
    planned = install._plan(answers)
    first = install.install_plan(answers)
    stored = list((tmp_path / "cache" / "digit-tui" / "plans").glob("*.json"))
    assert len(stored) == 1 and oct(stored[0].stat().st_mode & 0o777) == "0o600"
    assert first == planned and install.install_plan(answers) == planned
    other = parse_answers(ANSWERS + "sizing:\n  ulbs: 400\n", "answers.yaml", check_files=False)
    assert install.install_plan(other) == install._plan(other) != planned     # another key, another plan
    stored[0].write_text("{not json")
    assert install.install_plan(answers) == planned                            # a damaged file is a miss


def test_the_digest_covers_every_module_planning_imports(tmp_path: Path) -> None:
    probe = ("import json, sys\nfrom digit_tui.answers.loader import parse_answers\nimport digit_tui.answers.config\n"
             "from digit_tui.sizing import install\nbefore = set(sys.modules)\n"
             f"install._plan(parse_answers({ANSWERS!r}, 'a.yaml', check_files=False))\n"
             "print(json.dumps([m.__file__ for n, m in sys.modules.items() if n not in before\n"
             "                  and n.startswith('digit_tui') and getattr(m, '__file__', None)]))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO,
                       env={"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    used = {Path(f).resolve() for f in json.loads(r.stdout)}
    assert used and used <= {p.resolve() for p in plancache.CODE}, used - set(plancache.CODE)
