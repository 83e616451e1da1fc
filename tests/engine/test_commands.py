"""The install / plan / status commands as an operator runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from .conftest import REPO, Env, wait_until

GATE = "tests.engine.graphs:gate_graph"


def _interactive() -> None:
    """In the child: Ctrl-C as at a terminal. A test run started in the background of a shell
    without job control (`pytest ... &` in a script) ignores SIGINT and SIGQUIT, every child inherits
    that, and a Python started with SIGINT ignored never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(env: Env, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers),
                             "--headless", "--state-dir", str(env.state), "--graph", GATE, *extra],
                            env=env.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_interactive)


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


START_GATE = "tests.engine.startgate:graph"


def _install(env: Env, graph: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers),
                             "--headless", "--state-dir", str(env.state), "--graph", graph],
                            env=env.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_install_started_while_an_engine_is_starting_attaches_to_it(env: Env) -> None:
    """An engine that holds the lock but does not answer yet (the TUI started it; it is loading
    the graph) is waited for; after a while the client starts its own engine, which loses on the
    lock: the client attaches to the first one all the same, and no second run appears."""
    first = env.engine(START_GATE)
    wait_until(lambda: env.engine_pid() == first.pid, what="first engine holds the lock")
    client = _install(env, START_GATE)
    log = env.state / "logs" / "engine.log"
    wait_until(lambda: log.exists() and f"pid {first.pid}) holds" in log.read_text(), timeout=60,
               what="the client's own engine giving up on the lock")
    assert client.poll() is None, "the client must wait for the engine that holds the lock, not exit"
    (env.work / "start-gate").write_text("go")
    (env.work / "gate").write_text("go")
    out, err = client.communicate(timeout=60)
    assert client.returncode == 0, err
    assert f"attaching to the running install (engine pid {first.pid})" in err
    assert "install complete" in err and "second" in out
    first.communicate(timeout=30)
    assert first.returncode == 0
    assert len(env.runs()) == 1


def test_two_installs_started_at_the_same_instant_share_one_run(env: Env) -> None:
    errs = [env.tmp / "err-a", env.tmp / "err-b"]
    cmd = [sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers), "--headless",
           "--state-dir", str(env.state), "--graph", GATE]
    procs = []
    for e in errs:
        with open(e, "w") as fh:
            procs.append(subprocess.Popen(cmd, env=env.environ, cwd=REPO, stdout=subprocess.DEVNULL, stderr=fh))
    following = ("install running in the background", "attaching to the running install")
    wait_until(lambda: all(any(f in e.read_text() for f in following) for e in errs), timeout=30,
               what="both clients following an install")
    (env.work / "gate").write_text("go")
    for p, e in zip(procs, errs):
        assert p.wait(timeout=60) == 0, e.read_text()
        assert "install complete" in e.read_text()
    assert len(env.runs()) == 1, (env.state / "logs" / "engine.log").read_text()
    assert sum("attaching" in e.read_text() for e in errs) == 1


def test_status_while_an_engine_starts_says_so(env: Env) -> None:
    """In an engine's first moment (it holds the lock; the journal or its run is not there yet)
    `status` waits a little for the run, then says the engine is starting instead of "no install
    has run here"; once the run is recorded it shows it."""
    first = env.engine(START_GATE)
    wait_until(lambda: env.engine_pid() == first.pid, what="the engine holds the lock")
    r = env.cli("status", "--state-dir", str(env.state))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{env.state}: the engine (pid {first.pid}) is starting the install; no run recorded yet"
    r = env.cli("status", "--state-dir", str(env.state), "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"state_dir": str(env.state), "run": None,
                                                          "engine_starting": first.pid}
    (env.work / "start-gate").write_text("go")
    wait_until(lambda: env.status()["run"] is not None, timeout=60, what="the run recorded")
    assert env.status()["run"]["engine_pid"] == first.pid
    (env.work / "gate").write_text("go")
    first.communicate(timeout=60)
    assert first.returncode == 0
