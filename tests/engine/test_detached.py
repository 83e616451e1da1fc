"""The install outlives its terminal and waits out network loss by itself."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .conftest import REPO, Env, wait_until


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"did not see {needle!r} in {buf!r}"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_install_survives_terminal_hangup(env: Env) -> None:
    env.state.mkdir(mode=0o700)
    argv = [sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers), "--headless",
            "--state-dir", str(env.state), "--graph", "tests.engine.graphs:gate_graph"]
    pid, fd = pty.fork()
    if pid == 0:  # the operator's shell on the terminal
        os.chdir(REPO)
        os.execve(sys.executable, argv, env.environ)
    try:
        out = _read_until(fd, b"first", timeout=30)  # the client is streaming the install's events
        assert b"install running in the background" in out
        engine = env.engine_pid()
        assert engine and engine != pid
    finally:
        os.close(fd)  # the terminal goes away: the kernel hangs up the client's session
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGHUP, "the client should die of SIGHUP"

    os.kill(engine, 0)  # the engine is still there...
    (env.work / "gate").write_text("go")  # ...and finishes the work once it can
    wait_until(lambda: env.status()["complete"], timeout=30, what="install complete after hangup")
    st = env.status()
    assert st["counts"]["done"] == 2 and st["run"]["state"] == "done"


class PongServer:
    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]

    def serve(self) -> None:
        self.sock.listen()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(16)
                conn.sendall(b"pong\n")

    def close(self) -> None:
        self.sock.close()


def test_task_waits_for_network_and_continues_by_itself(env: Env) -> None:
    # Bound but not listening: connects are refused, as when the server is gone, and no other
    # process (another test worker) can take the port before the server comes back on it.
    server = PongServer()
    port = server.port
    down_since = time.monotonic()
    env.environ["DT_PORT"] = str(port)
    proc = env.engine("tests.engine.graphs:network_graph")
    wait_until(lambda: (env.state / "journal.db").exists() and env.status()["run"] and
               env.status()["tasks"][0]["state"] == "waiting-for-network", timeout=30,
               what="task parked in waiting-for-network")
    st = env.status()
    assert "127.0.0.1" in (st["tasks"][0]["message"] or "") or "test server" in (st["tasks"][0]["message"] or "")

    wait_until(lambda: time.monotonic() - down_since >= 20, timeout=40, interval=0.2, what="20 s outage")
    assert env.status()["tasks"][0]["state"] == "waiting-for-network"  # still parked, nobody touched it
    server.serve()
    try:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        st = env.status()
        assert st["complete"]
        r = env.cli("status", "--state-dir", str(env.state), "--json", "--events", "100")
        messages = [e["message"] for e in json.loads(r.stdout)["events"]]
        assert any(m.startswith("waiting-for-network:") for m in messages)
        assert any(m.startswith("network back after") for m in messages)
        assert (env.work / "talked").read_text().strip() == "pong"
    finally:
        server.close()


def test_the_engine_a_client_starts_keeps_nothing_of_the_client(env: Env) -> None:
    """The headless client forks its engine (it already holds the validated answers): the engine
    must then be as detached as an exec'd one. Its own session, stdin from /dev/null, output into
    the engine log, none of the client's descriptors (the spawn turn's lock among them: a second
    client would wait for it), and the client's death does not end it."""
    env.state.mkdir(mode=0o700)
    argv = [sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers), "--headless",
            "--state-dir", str(env.state), "--graph", "tests.engine.graphs:gate_graph"]
    client = subprocess.Popen(argv, env=env.environ, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    try:
        wait_until(lambda: env.engine_pid() not in (None, client.pid), timeout=30, what="the engine running")
        engine = env.engine_pid()
        assert engine is not None
        assert os.getsid(engine) == engine, "the engine leads a session of its own (no terminal)"
        fds = {fd.name: os.readlink(fd) for fd in Path(f"/proc/{engine}/fd").iterdir()}
        assert fds["0"] == os.devnull
        assert fds["1"] == fds["2"] == str((env.state / "logs" / "engine.log").resolve())
        assert not any(target.endswith("install.lock") for target in fds.values()), fds
        assert Path(f"/proc/{engine}/cwd").resolve() == Path("/")
        client.kill()
        client.wait(timeout=10)
        run = wait_until(lambda: env.status()["run"], timeout=30, what="the engine's run in the journal")
        assert run["engine_alive"], "the engine outlives the client that started it"
        (env.work / "gate").write_text("go")
        wait_until(lambda: env.status()["complete"], timeout=30, what="install complete after the client died")
    finally:
        if client.poll() is None:
            client.kill()
        client.communicate(timeout=10)
