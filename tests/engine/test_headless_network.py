"""The headless output says when the cluster API stops answering, while it lasts and when it is back:
against a real engine and a real sandbox API under a partition (drop mode: TCP accepted, no answer)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digit_tui.engine.follow import follow
from digit_tui.engine.netprobe import ProbeResult
from digit_tui.engine.netwatch import ApiWaitReport
from digit_tui.engine.task import Endpoint
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.support import REPO, EngineEnv, wait_until

GATE_GRAPH = "tests.tui.graphs:gate_graph"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path / "sandbox", nodes=1, speed=50.0) as handle:
        yield handle


@pytest.fixture
def env(tmp_path: Path, sandbox: SandboxHandle) -> Iterator[EngineEnv]:
    e = EngineEnv(tmp_path)
    e.answers.write_text("version: 1\nenvironment: nettest\ntarget:\n  provider: sandbox\n"
                         f"  kubeconfig: {sandbox.kubeconfig_path}\ndigit:\n  domain: egov.example.test\n")
    yield e
    (e.work / "gate").write_text("open")
    e.cleanup()


def api_name(sandbox: SandboxHandle) -> str:
    return f"cluster API {sandbox.url.removeprefix('https://')}"


def current_run(env: EngineEnv) -> str | None:
    if not (env.state / "journal.db").exists():
        return None
    run = env.status()["run"]
    return run["id"] if run else None


class Lines:
    """A text stream for ``follow`` that a test can read while it is written, line by line, with arrival times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = ""
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._buf += text
            *done, self._buf = self._buf.split("\n")
            self.lines += [(time.monotonic(), x) for x in done]
        return len(text)

    def flush(self) -> None:
        pass

    def find(self, pattern: str) -> tuple[float, str] | None:
        with self._lock:
            return next(((t, x) for t, x in self.lines if re.search(pattern, x)), None)

    def text(self) -> str:
        with self._lock:
            return "\n".join(x for _, x in self.lines)


def test_the_report_says_start_every_30s_and_end() -> None:
    api = Endpoint("10.0.0.1", 6443, "cluster API", "https")
    down = [ProbeResult(api, False, "connected but the API did not answer within 3s", connected=True)]
    up = [ProbeResult(api, True, "4 ms (HTTP 401)", millis=4.0, connected=True)]
    report = ApiWaitReport(repeat=30)
    said = {t: report.observe(r, t) for t, r in [(0, up), (5, down), (10, down), (30, down), (35, down),
                                                 (40, down), (65, down), (95, down), (100, down), (101, up),
                                                 (106, up)]}
    assert said == {
        0: [], 5: ["cluster API 10.0.0.1:6443 not answering: connected but the API did not answer within 3s"],
        10: [], 30: [], 35: ["cluster API 10.0.0.1:6443 still not answering after 30s"], 40: [],
        65: ["cluster API 10.0.0.1:6443 still not answering after 60s"],
        95: ["cluster API 10.0.0.1:6443 still not answering after 90s"], 100: [],
        101: ["cluster API 10.0.0.1:6443 answering again after 96s"], 106: []}


def test_follow_reports_the_wait_while_it_lasts_and_its_end(env: EngineEnv, sandbox: SandboxHandle) -> None:
    env.engine(GATE_GRAPH, output=False)
    run_id = wait_until(lambda: current_run(env), timeout=30, what="the run to start")
    out = Lines()
    follower = threading.Thread(target=follow, args=(env.state, run_id, out),
                                kwargs={"net_interval": 0.3, "net_timeout": 0.5, "net_repeat": 1.0}, daemon=True)
    follower.start()
    wait_until(lambda: out.find("waiting for the gate file"), timeout=30, what="the gate task's event")
    assert out.find("network") is None, "nothing is said while the API answers"

    sandbox.fault({"kind": "partition", "seconds": 120, "mode": "drop"})
    name = re.escape(api_name(sandbox))
    wait_until(lambda: out.find(rf"network +{name} not answering: connected but the API did not answer within 0.5s"),
               timeout=10, what="the start of the wait")
    wait_until(lambda: out.find(rf"network +{name} still not answering after [1-9]\d*s"),
               timeout=10, what="a reminder while it lasts")
    assert follower.is_alive()
    sandbox.clear_faults()
    wait_until(lambda: out.find(rf"network +{name} answering again after \d+s"), timeout=10, what="the end of the wait")

    (env.work / "gate").write_text("open")
    follower.join(timeout=30)
    assert not follower.is_alive(), "follow returns when the run ends"
    text = out.text()
    assert text.index("not answering:") < text.index("answering again")
    assert text.count("not answering:") == 1 and text.count("answering again") == 1


def test_headless_install_shows_a_30s_partition_and_its_end(env: EngineEnv, sandbox: SandboxHandle) -> None:
    """`digit-tui install --headless` with its default probe interval, a 30 s partition in drop mode."""
    proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--headless", "--answers",
                             str(env.answers), "--state-dir", str(env.state), "--graph", GATE_GRAPH],
                            env=env.environ, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    env.procs.append(proc)
    out = Lines()
    reader = threading.Thread(target=lambda: [out.write(x) for x in iter(proc.stdout.readline, "")],  # type: ignore[union-attr]
                              daemon=True)
    reader.start()
    wait_until(lambda: out.find("waiting for the gate file"), timeout=60, what="the gate task's event")

    sandbox.fault({"kind": "partition", "seconds": 30, "mode": "drop"})
    cut = time.monotonic()
    name = re.escape(api_name(sandbox))
    started = wait_until(lambda: out.find(rf"^\d\d:\d\d:\d\d network +{name} not answering: "
                                          r"connected but the API did not answer within \d+s$"),
                         timeout=25, what="the wait in the headless output")
    assert started[0] - cut < 25
    ended = wait_until(lambda: out.find(rf"^\d\d:\d\d:\d\d network +{name} answering again after (\d+)s$"),
                       timeout=50, what="the end of the wait in the headless output")
    assert ended[0] - cut >= 29, "it is over only when the partition is"
    waited = int(re.search(r"after (\d+)s", ended[1]).group(1))  # type: ignore[union-attr]
    assert 20 <= waited <= 40, ended[1]

    (env.work / "gate").write_text("open")
    assert proc.wait(timeout=60) == 0, proc.stderr.read()  # type: ignore[union-attr]
    reader.join(timeout=10)
    assert "not answering" not in out.text().split("answering again")[-1], "nothing more once it is back"
