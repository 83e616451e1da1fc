"""The install view's network indicator asks the cluster API itself: a partitioned API that still
accepts TCP connections shows as not answering, and recovers when the API answers again."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from digit_tui.app import DigitApp
from digit_tui.engine.journal import Journal
from digit_tui.engine.task import TaskState
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from digit_tui.viewmodel.feed import NetStatus, down_banner, format_for
from tests.tui.conftest import line_with, run_document, wait_screen


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path / "sandbox", nodes=1, speed=50.0) as handle:
        yield handle


@pytest.fixture(autouse=True)
def quick_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("digit_tui.screens.install.NET_INTERVAL", 0.5)


def journal_with(state: Path, endpoints: list[dict[str, object]]) -> Journal:
    state.mkdir(mode=0o700)
    j = Journal.in_dir(state)
    run = j.create_run("dev", "tests:graph", run_document("dev", "digit.local", endpoints), None)
    j.set_run_state(run, "running", engine_pid=os.getpid(), message="install started")
    j.sync_tasks(run, [("hold", "hold on", "release", [])])
    j.transition(run, "hold", TaskState.RUNNING, "applying", attempt=True)
    return j


async def test_a_partitioned_api_shows_as_not_answering_then_recovers(tmp_path: Path, sandbox: SandboxHandle) -> None:
    host, port = sandbox.url.removeprefix("https://").rsplit(":", 1)
    # No "scheme": a journal written before endpoints carried one; the cluster API is still asked itself.
    j = journal_with(tmp_path / "state", [{"host": host, "port": int(port), "label": "cluster API"}])
    app = DigitApp(start="install", state_dir=tmp_path / "state")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "network ✓" in t, what="the API answering")
        sandbox.fault({"kind": "partition", "seconds": 120, "mode": "drop"})
        text = await wait_screen(pilot, lambda t: "network ✗" in t, timeout=15, what="the partition to show")
        assert "cluster API not answering" in line_with(text, "network ✗")
        sandbox.clear_faults()
        await wait_screen(pilot, lambda t: "network ✓" in t, timeout=15, what="the API answering again")
    j.close()


async def test_a_closed_port_shows_as_unreachable(tmp_path: Path) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    j = journal_with(tmp_path / "state", [{"host": "127.0.0.1", "port": port, "label": "ssh worker-1"}])
    app = DigitApp(start="install", state_dir=tmp_path / "state")
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, lambda t: "network ✗" in t, timeout=15, what="the closed port")
        assert "ssh worker-1 unreachable" in line_with(text, "network ✗")
    j.close()


async def test_a_partition_shows_a_banner_with_its_age_until_the_api_answers(tmp_path: Path,
                                                                              sandbox: SandboxHandle) -> None:
    host, port = sandbox.url.removeprefix("https://").rsplit(":", 1)
    j = journal_with(tmp_path / "state", [{"host": host, "port": int(port), "label": "cluster API",
                                           "scheme": "https"}])
    app = DigitApp(start="install", state_dir=tmp_path / "state")
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, lambda t: "network ✓" in t, what="the API answering")
        assert "down since" not in text
        before = time.time()
        sandbox.fault({"kind": "partition", "seconds": 120, "mode": "drop"})
        text = await wait_screen(pilot, lambda t: "✗ cluster API down since" in t, timeout=15,
                                 what="the banner")
        banner = text.splitlines()[1]                     # right under the header
        assert banner.startswith("✗ cluster API down since ") and len(banner.rstrip()) <= 80
        assert "tasks wait, resume by themselves" in banner
        since = re.search(r"since (\d\d:\d\d:\d\d) for (\d+)s", banner)
        assert since is not None, banner
        assert abs(time.mktime(time.strptime(time.strftime("%Y-%m-%d ") + since[1], "%Y-%m-%d %H:%M:%S"))
                   - before) < 20
        first = int(since[2])
        # The age counts up by itself, between probes too.
        text = await wait_screen(pilot, lambda t: (m := re.search(r"for (\d+)s", t.splitlines()[1])) is not None
                                 and int(m[1]) >= first + 2, timeout=10, what="the banner's age to grow")
        assert since[1] in text.splitlines()[1]         # the same start, not restarted by each probe
        assert len(text.splitlines()) == 24 and "Phases" in text.splitlines()[2]
        sandbox.clear_faults()
        text = await wait_screen(pilot, lambda t: "network ✓" in t and "down since" not in t, timeout=15,
                                 what="the banner gone once the API answers")
        assert "Phases" in text.splitlines()[1]
    j.close()


def test_the_banner_says_more_where_the_terminal_is_wider() -> None:
    since = time.mktime((2026, 1, 5, 10, 41, 7, 0, 0, -1))
    net = NetStatus(ok=False, millis=None, failed="ssh worker-1", detail="connection refused")
    wide = down_banner(net, since, since + 130, 120)
    assert wide == ("✗ ssh worker-1 unreachable since 10:41:07 for 2m 10s — tasks that need it wait and continue "
                    "by themselves")
    assert down_banner(net, since, since + 130, 80) == "✗ ssh worker-1 down since 10:41:07 for 2m 10s — tasks wait, " \
                                                       "resume by themselves"
    narrow = down_banner(NetStatus(ok=False, millis=None, failed="x" * 60), since, since + 3700, 60)
    assert len(narrow) == 60 and narrow.endswith("…")
    assert format_for(42) == "42s" and format_for(3780) == "1h 03m"
