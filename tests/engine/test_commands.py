"""The install / plan / status commands as an operator runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from .conftest import REPO, Env, wait_until

GATE = "tests.engine.graphs:gate_graph"


def _start(env: Env, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers),
                             "--headless", "--state-dir", str(env.state), "--graph", GATE, *extra],
                            env=env.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_headless_streams_events_and_exits_with_the_install_code(env: Env) -> None:
    (env.work / "gate").write_text("go")
    proc = _start(env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert any(" first " in f" {line} " and "running: checking" in line for line in lines)
    assert any("second" in line and "done: completed" in line for line in lines)
    assert "install complete" in err


def test_ctrl_c_in_headless_detaches_and_the_install_goes_on(env: Env) -> None:
    proc = _start(env)
    wait_until(lambda: env.engine_pid(), what="engine started")
    wait_until(lambda: env.status()["tasks"] and env.status()["tasks"][0]["state"] == "running", what="first running")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    assert "detached: the install continues in the background" in err
    assert env.status()["run"]["engine_alive"] is True
    (env.work / "gate").write_text("go")
    wait_until(lambda: env.status()["complete"], what="install completes after the client left")


def test_ctrl_c_in_foreground_stops_the_install_and_it_resumes(env: Env) -> None:
    proc = _start(env, "--foreground")
    wait_until(lambda: (env.state / "journal.db").exists() and env.status()["tasks"]
               and env.status()["tasks"][0]["state"] == "running", what="first running")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    st = env.status()
    assert st["run"]["state"] == "interrupted"
    assert {t["id"]: t["state"] for t in st["tasks"]} == {"first": "cancelled", "second": "cancelled"}

    (env.work / "gate").write_text("go")
    proc = _start(env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    st = env.status()
    assert st["complete"] and st["run"]["id"]  # the interrupted run was resumed, not replaced
    r = env.cli("status", "--state-dir", str(env.state), "--json", "--events", "200")
    messages = [e["message"] for e in json.loads(r.stdout)["events"]]
    assert any(m.startswith("resuming run") for m in messages)


def test_plan_shows_the_graph_in_order_and_changes_nothing(env: Env) -> None:
    r = env.cli("plan", "--answers", str(env.answers), "--state-dir", str(env.state), "--graph",
                "tests.engine.graphs:failing_graph", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    ids = [t["id"] for t in plan["tasks"]]
    assert ids.index("broken") < ids.index("child") < ids.index("grandchild")
    assert {t["id"]: t["deps"] for t in plan["tasks"]}["grandchild"] == ["child"]
    assert all(t["would"] for t in plan["tasks"])
    assert not env.state.exists()
    assert not list(env.work.iterdir())  # no task ran


def test_status_reports_failure_with_remedy_and_blocked_dependants(env: Env) -> None:
    r = env.cli("install", "--answers", str(env.answers), "--headless", "--state-dir", str(env.state),
                "--graph", "tests.engine.graphs:failing_graph")
    assert r.returncode == 1
    assert "FAILED broken: the chart does not render" in r.stderr
    assert "remedy: fix the chart" in r.stderr
    assert f"log: {env.state}/logs/engine.log" in r.stderr
    r = env.cli("status", "--state-dir", str(env.state))
    assert r.returncode == 0
    assert "1 failed, 2 blocked" in r.stdout
    assert "broken: the chart does not render" in r.stdout
    assert (env.work / "ok-independent").exists() and not (env.work / "ok-child").exists()


def test_status_without_an_install_is_bad_input(env: Env) -> None:
    r = env.cli("status", "--state-dir", str(env.tmp / "nowhere"))
    assert r.returncode == 2
    assert "no install has run here" in r.stderr
