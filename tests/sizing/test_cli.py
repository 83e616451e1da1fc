"""``digit-tui size`` through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXE = [sys.executable, "-m", "digit_tui.cli"]


def size(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp)}
    return subprocess.run([*EXE, "size", *args], capture_output=True, text=True, timeout=60, env=env,
                          cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("args,reason", [
    (["--ulbs", "-5"], "--ulbs must be a whole number of 0 or more, got -5"),
    (["--ulbs", "10", "--modules", "m_pgr,m_water"], "unknown module 'm_water'"),
    (["--ulbs", "10", "--flavor", "2C/2G"], "flavor 2C/2G is smaller than pod es-cluster/elasticsearch-data-v1"),
    (["--ulbs", "10", "--flavor", "lots"], "not a node flavor"),
    (["--preset", "tiny"], "unknown preset 'tiny'"),
    (["--users", "0"], "--users must be 1 or more"),
])
def test_bad_input_exits_2_with_the_reason(tmp_path, args, reason):
    r = size(*args, tmp=tmp_path)
    assert r.returncode == 2, r.stderr
    assert reason in r.stderr
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1


def test_table_fits_80_columns_and_names_the_plan(tmp_path):
    r = size("--preset", "sdc-dev", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = r.stdout
    assert "workers" in text and "8C/16G" in text and "Volumes (13)" in text and "Assumptions" in text
    assert "DIGIT publishes 4 × 8C/16G workers" in text


def test_json_plan_has_counts_volumes_and_sourced_assumptions(tmp_path):
    r = size("--ulbs", "300", "--tier", "prod", "--modules", "m_pgr", "--flavor", "suggest", "--json", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["preset"] == "prod" and plan["ulbs"] == 300 and plan["users"] == 1500
    assert plan["workers"]["count"] >= 2 and plan["workers"]["suggested"] is True
    assert "m_property-tax" not in plan["modules"]
    assert {v["name"] for v in plan["volumes"]} >= {"kafka", "es-data", "zookeeper", "es-master", "filestore"}
    assert plan["postgres"]["count"] == 2 and plan["postgres"]["disk_gb"] >= 100
    assert all(a["source"] for a in plan["assumptions"])


def test_fit_check_reports_shortfall_and_exits_1(tmp_path):
    r = size("--preset", "sdc-dev", "--check-nodes", "1x8C/16G", "--json", tmp=tmp_path)
    assert r.returncode == 1, r.stderr
    fit = json.loads(r.stdout)["fit"]
    assert not fit["fits"] and fit["short_by"] >= 1
    assert fit["summary"].startswith(f"short by {fit['short_by']} worker")
    r = size("--preset", "sdc-dev", "--check-nodes", "4x8C/16G", tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "fits with" in r.stdout and "% headroom on 4 nodes" in r.stdout
