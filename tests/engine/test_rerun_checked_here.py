"""A rerun of a finished install is decided by the `install` client itself: when every task is
converged no engine is started; when one has work to do, the detached engine takes the run over."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO, Env

GRAPH = "tests.engine.graphs:kill_graph"


def _install(env: Env) -> tuple[subprocess.CompletedProcess[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers),
                             "--headless", "--state-dir", str(env.state), "--graph", GRAPH],
                            env=env.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env.procs.append(proc)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc.pid


def test_a_converged_rerun_starts_no_engine_and_one_with_work_hands_it_over(env: Env) -> None:
    env.environ.update(DT_TASKS="6", DT_DELAY="0.01")
    first, _ = _install(env)
    assert first.returncode == 0, first.stderr
    assert (env.work / "audit.txt").read_text().count("start ") == 6

    again, client_pid = _install(env)
    assert again.returncode == 0, again.stderr
    assert "checked the finished install: nothing to change" in again.stderr
    assert "install complete" in again.stderr
    st = env.status()
    assert st["run"]["state"] == "done" and st["run"]["engine_pid"] == client_pid  # no engine process ran
    assert all(t["state"] == "done" for t in st["tasks"])
    assert (env.work / "audit.txt").read_text().count("start ") == 6  # nothing ensured

    data = env.work / "data.txt"
    data.write_text("".join(line + "\n" for line in data.read_text().splitlines() if line != "key=t5"))
    third, client_pid = _install(env)
    assert third.returncode == 0, third.stderr
    assert "install running in the background" in third.stderr
    st = env.status()
    assert st["run"]["state"] == "done" and st["run"]["engine_pid"] != client_pid
    audit = (env.work / "audit.txt").read_text().splitlines()
    assert audit[6:] == ["start t5 present=False"]  # only the task with work was ensured
    assert "key=t5" in data.read_text().splitlines()
    assert not (env.state / "engine-spec.json").exists()  # none left: a forked engine needs none, an exec'd one takes it


def test_the_engine_a_client_starts_takes_its_validated_spec_instead_of_the_answers(env: Env) -> None:
    """The spec file the client writes is all the engine reads (here the answers file it names does
    not exist), and it is gone once the engine has taken it."""
    from digit_tui.engine.daemon import InstallSpec, write_spec

    env.environ.update(DT_TASKS="3", DT_DELAY="0.01")
    env.state.mkdir(mode=0o700)
    spec = write_spec(env.state, InstallSpec("t", {}, str(env.tmp / "gone.yaml"), GRAPH))
    assert spec.stat().st_mode & 0o777 == 0o600
    proc = subprocess.run([sys.executable, "-m", "digit_tui.cli", "engine", "--state-dir", str(env.state),
                           "--answers", str(env.tmp / "gone.yaml"), "--graph", GRAPH, "--spec", str(spec)],
                          env=env.environ, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not spec.exists()
    assert env.status()["run"]["state"] == "done"
