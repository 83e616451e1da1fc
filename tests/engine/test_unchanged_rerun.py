"""A rerun that finds nothing the last full check read changed is recorded in one pass (no graph,
no check run again); anything changed, or a task whose reads cannot be compared, and the rerun
checks every task as before (engine/unchanged.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from digit_tui.engine import unchanged

from .conftest import REPO, Env

GRAPH = "tests.engine.graphs:witnessed_graph"
ONE_PASS = "checked the finished install in one pass"


def _install(env: Env) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers),
                           "--headless", "--state-dir", str(env.state), "--graph", GRAPH],
                          env=env.environ, cwd=REPO, capture_output=True, text=True, timeout=120)


def _latest_run_events(env: Env) -> list[tuple[str | None, str, str]]:
    db = sqlite3.connect(f"file:{env.state / 'journal.db'}?mode=ro", uri=True)
    try:
        run = db.execute("SELECT id FROM runs ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()[0]
        return list(db.execute("SELECT task, kind, message FROM events WHERE run_id=? ORDER BY seq", (run,)))
    finally:
        db.close()


def _starts(env: Env) -> int:
    return (env.work / "audit.txt").read_text().count("start ")


def test_a_rerun_with_nothing_changed_is_recorded_in_one_pass_and_a_change_is_checked_in_full(env: Env) -> None:
    first = _install(env)
    assert first.returncode == 0, first.stderr
    assert _starts(env) == 3
    assert not (env.state / unchanged.RECORD).exists()     # it applied: its checks saw the world before

    full = _install(env)                                    # every check passes: what they read is recorded
    assert full.returncode == 0 and ONE_PASS not in full.stderr, full.stderr
    record = json.loads((env.state / unchanged.RECORD).read_text())
    assert (env.state / unchanged.RECORD).stat().st_mode & 0o777 == 0o600
    assert str(env.work / "data.txt") in record["files"]
    checked_run = record["run"]

    quick = _install(env)
    assert quick.returncode == 0, quick.stderr
    assert ONE_PASS in quick.stderr and f"since the checks of run {checked_run}" in quick.stderr
    assert "install complete" in quick.stderr
    events = _latest_run_events(env)
    assert not [e for e in events if e[1] == "check"]       # no task's check ran
    assert {t for t, _, m in events if m == f"done: unchanged since the checks of run {checked_run}"} == \
        {"w0", "w1", "w2"}
    st = env.status()
    assert st["run"]["state"] == "done" and st["run"]["id"] != checked_run
    assert all(t["state"] == "done" for t in st["tasks"])
    assert _starts(env) == 3

    again = _install(env)                                   # the record stands for the repeat too
    assert ONE_PASS in again.stderr and f"since the checks of run {checked_run}" in again.stderr

    # What a check read changed: the rerun checks every task, and the one with work does it.
    data = env.work / "data.txt"
    data.write_text("".join(line + "\n" for line in data.read_text().splitlines() if line != "key=w1"))
    changed = _install(env)
    assert changed.returncode == 0, changed.stderr
    assert ONE_PASS not in changed.stderr
    assert (env.work / "audit.txt").read_text().splitlines()[3:] == ["start w1 present=False"]
    assert "key=w1" in data.read_text().splitlines()
    assert not (env.state / unchanged.RECORD).exists()     # that run applied: no record until a full check passes


def test_a_changed_answers_file_or_an_old_record_means_a_full_check(env: Env) -> None:
    assert _install(env).returncode == 0
    assert _install(env).returncode == 0
    assert (env.state / unchanged.RECORD).exists()
    record = json.loads((env.state / unchanged.RECORD).read_text())
    options = {"skip_checks": False}
    answers = str(env.answers.resolve())
    assert not isinstance(unchanged.still(env.state, answers_path=answers, graph=GRAPH, options=options),
                          str)
    too_late = record["expires"] + 1
    assert unchanged.still(env.state, answers_path=answers, graph=GRAPH, options=options, now=too_late) == \
        "the record of the last full check is too old"
    assert unchanged.still(env.state, answers_path=answers, graph=GRAPH, options={"skip_checks": True}) == \
        "other options"

    env.answers.write_text(env.answers.read_text() + "# a comment changes no answer, but the file is not the same\n")
    rerun = _install(env)
    assert rerun.returncode == 0, rerun.stderr
    assert ONE_PASS not in rerun.stderr
    assert [e for e in _latest_run_events(env) if e[1] == "check"]    # the checks ran
    assert (env.state / unchanged.RECORD).exists()                       # and found all converged again


def test_a_graph_with_a_task_whose_check_is_not_witnessed_is_always_checked_in_full(env: Env) -> None:
    env.environ["DT_BLIND"] = "1"
    for _ in range(3):
        proc = _install(env)
        assert proc.returncode == 0, proc.stderr
        assert ONE_PASS not in proc.stderr
    assert not (env.state / unchanged.RECORD).exists()
    assert [e for e in _latest_run_events(env) if e[1] == "check"]
