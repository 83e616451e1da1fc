"""A rerun that finds nothing the last full check read changed is recorded in one pass (no graph,
no check run again); anything changed, or a task whose reads cannot be compared, and the rerun
checks every task as before (engine/unchanged.py)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from digit_tui.engine import unchanged

from .conftest import REPO, Env, wait_until

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


def _checked_after_install(env: Env) -> None:
    """Wait for the last install's engine, which checks every task once more after its client has
    exited, to have finished (it names itself in converged.pending until just after it let the lock go)."""
    wait_until(lambda: not (env.state / unchanged.CONFIRMING).exists(), 30, what="the checks after the install")


def _status(env: Env) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "digit_tui.cli", "status", "--state-dir", str(env.state)],
                          env=env.environ, cwd=REPO, capture_output=True, text=True, timeout=60)


def test_a_rerun_with_nothing_changed_is_recorded_in_one_pass_and_a_change_is_checked_in_full(env: Env) -> None:
    first = _install(env)
    assert first.returncode == 0, first.stderr
    assert _starts(env) == 3
    # It applied, so its own checks saw the world before: the engine checked every task once more
    # after the run was done (no run journaled for that) and recorded what those checks read. The
    # install's client has exited by then; the next install waits for that record.
    (checked_run,) = env.runs()

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
    _checked_after_install(env)
    record = json.loads((env.state / unchanged.RECORD).read_text())
    assert (env.state / unchanged.RECORD).stat().st_mode & 0o777 == 0o600
    assert str(env.work / "data.txt") in record["files"] and record["checked_run"] == checked_run
    assert not list(env.state.glob(".confirm-*"))          # the scratch journal of those checks is gone

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
    repaired = env.runs()[-1]
    after = _install(env)                                   # the checks after that run were recorded too
    assert ONE_PASS in after.stderr and f"since the checks of run {repaired}" in after.stderr, after.stderr
    assert _starts(env) == 4


def test_an_install_whose_check_still_finds_work_after_it_applied_leaves_no_record(env: Env) -> None:
    """w1's ensure runs but its check never passes (DT_FICKLE): the checks after the install find
    that, so no record is written and each rerun checks every task (and applies w1 again). A
    scratch directory a killed engine left is cleared by the next one's checks."""
    env.environ["DT_FICKLE"] = "w1"
    env.state.mkdir(parents=True, exist_ok=True)
    (env.state / ".confirm-killed").mkdir()
    for n in (1, 2):
        proc = _install(env)
        assert proc.returncode == 0, proc.stderr
        assert ONE_PASS not in proc.stderr
        assert not (env.state / unchanged.RECORD).exists()
        assert (env.work / "audit.txt").read_text().count("start w1") == n
    _checked_after_install(env)
    assert not list(env.state.glob(".confirm-*"))
    assert "the checks after the install found w1" in (env.state / "logs" / "engine.log").read_text()


def test_a_changed_answers_file_or_an_old_record_means_a_full_check(env: Env) -> None:
    assert _install(env).returncode == 0
    _checked_after_install(env)
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
    assert json.loads((env.state / unchanged.RECORD).read_text())["checked_run"] == env.runs()[-1]


def test_a_graph_with_a_task_whose_check_is_not_witnessed_is_always_checked_in_full(env: Env) -> None:
    env.environ["DT_BLIND"] = "1"
    for _ in range(3):
        proc = _install(env)
        assert proc.returncode == 0, proc.stderr
        assert ONE_PASS not in proc.stderr
    assert not (env.state / unchanged.RECORD).exists()
    assert [e for e in _latest_run_events(env) if e[1] == "check"]


def test_status_says_when_the_engine_checks_the_finished_install_once_more(env: Env) -> None:
    """The moment after an install while its engine checks every task again, held open by a stand-in
    process (the real moment lasts a fraction of a second): `status` says what the live engine does."""
    assert _install(env).returncode == 0
    _checked_after_install(env)
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        db = sqlite3.connect(env.state / "journal.db")
        db.execute("UPDATE runs SET engine_pid=?", (stand_in.pid,))
        db.commit()
        db.close()
        (env.state / unchanged.CONFIRMING).write_text(f"{stand_in.pid}\n")
        out = _status(env)
        assert out.returncode == 0, out.stderr
        assert f"done · engine pid {stand_in.pid} checking every task once more, for the next rerun" in out.stdout
    finally:
        stand_in.kill()
        stand_in.wait()
    out = _status(env)
    assert "done · engine not running" in out.stdout, out.stdout
