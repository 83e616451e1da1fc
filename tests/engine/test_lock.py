"""One engine per state directory; a dead engine's lock is taken over."""

from __future__ import annotations

import os
import signal

from .conftest import Env, wait_until

GRAPH = "tests.engine.graphs:gate_graph"


def test_second_engine_exits_2_naming_the_holder(env: Env) -> None:
    first = env.engine(GRAPH)
    wait_until(lambda: env.status()["run"] if (env.state / "journal.db").exists() else None, what="first engine's run")
    assert env.engine_pid() == first.pid

    second = env.engine(GRAPH)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 2
    assert f"pid {first.pid}" in err
    assert "engine.lock" in err
    assert first.poll() is None, "the second engine must not disturb the first"

    (env.work / "gate").write_text("go")
    first.communicate(timeout=30)
    assert first.returncode == 0


def test_stale_lock_of_dead_engine_is_taken_over(env: Env) -> None:
    first = env.engine(GRAPH)
    wait_until(lambda: (env.state / "journal.db").exists() and env.status()["run"]
               and env.status()["run"]["engine_pid"] == first.pid, what="first engine's run in the journal")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert env.engine_pid() == first.pid  # the file still names the dead engine

    st = env.status()
    assert st["run"]["state"] == "interrupted"  # status sees the engine is gone

    (env.work / "gate").write_text("go")
    second = env.engine(GRAPH)
    _, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    log = (env.state / "logs" / "engine.log").read_text()
    assert f"took over the stale lock of engine pid {first.pid}" in log
    st = env.status()
    assert st["complete"] is True


def test_control_socket_is_private(env: Env) -> None:
    first = env.engine(GRAPH)
    sock = env.state / "engine.sock"
    wait_until(sock.exists, what="control socket")
    assert oct(os.stat(sock).st_mode & 0o777) == "0o600"
    assert oct(os.stat(env.state).st_mode & 0o777) == "0o700"
    r = env.cli("pause", "--state-dir", str(env.state))
    assert r.returncode == 0, r.stderr
    (env.work / "gate").write_text("go")
    # paused: the first task may finish but the second must not start
    wait_until(lambda: env.status()["run"]["paused"], what="paused flag in the journal")
    wait_until(lambda: (env.work / "done-first").exists(), what="first task done")
    st = env.status()
    assert {t["id"]: t["state"] for t in st["tasks"]}["second"] == "pending"
    r = env.cli("resume", "--state-dir", str(env.state))
    assert r.returncode == 0, r.stderr
    first.communicate(timeout=30)
    assert first.returncode == 0


def test_install_with_bad_answers_exits_2_and_writes_nothing(env: Env) -> None:
    bad = env.tmp / "bad.yaml"
    bad.write_text("version: 1\nenvironment: enginetest\ntarget:\n  provider: sandbox\ndigit:\n  domain: egov.example.test\n"
                   "engine:\n  concurrency: 99\n")
    r = env.cli("install", "--answers", str(bad), "--headless", "--state-dir", str(env.state))
    assert r.returncode == 2
    assert r.stderr.strip().startswith(f"digit-tui: {bad}:8:")
    assert "expected" in r.stderr
    assert not env.state.exists()
    assert not (env.tmp / "xdg").exists()
    assert bad.read_text().endswith("concurrency: 99\n")  # never rewritten
