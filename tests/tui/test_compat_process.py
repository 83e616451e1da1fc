"""The release's compatibility check runs in a process of its own, not the app's (whose event loop
would wait for the GIL behind it): the bundled sample rendered with the real Helm SDK in a
forkserver worker; the report comes back whole, with its progress lines; a stopped or overdue check
kills the worker; leaving the target screen, or the app, leaves no worker behind."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.app import DigitApp
from digit_tui.procs import pid_alive
from digit_tui.viewmodel.compat import CheckCancelled, Compat, CompatChecks, check_release
from tests.support import wait_until
from tests.tui.conftest import wait_screen
from tests.tui.test_guided_flow import SMALL

MANIFEST = BUNDLED_SOURCE / "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"


def test_the_report_is_made_in_another_process_and_is_the_same_report() -> None:
    checks = CompatChecks()
    lines: list[str] = []
    try:
        compat = checks.run(BUNDLED_SOURCE, MANIFEST, None, lines.append)
        assert compat.pid != os.getpid() and compat.pid in checks.workers()
        # The next release chosen on the same screen is checked by the same worker (its imports paid once).
        again = checks.run(BUNDLED_SOURCE, MANIFEST, None, lambda line: None)
        assert again.pid == compat.pid
    finally:
        checks.close()
    assert any(line.startswith("rendering ") for line in lines), lines
    here = check_release(BUNDLED_SOURCE, MANIFEST, lambda line: None)
    assert here.pid == os.getpid()
    assert (compat.deployable, compat.problems(), compat.kube) == (here.deployable, here.problems(), here.kube)
    assert (compat.report.services, compat.report.rendered) == (here.report.services, here.report.rendered)
    wait_until(lambda: not pid_alive(compat.pid), timeout=10, what="the worker gone after close")


def test_a_cancelled_check_kills_its_worker() -> None:
    checks = CompatChecks()
    cancel = threading.Event()
    seen: list[int] = []

    def progress(line: str) -> None:
        seen.extend(checks.workers())
        cancel.set()              # at the first progress line: the check is under way in the worker

    with pytest.raises(CheckCancelled):
        checks.run(BUNDLED_SOURCE, MANIFEST, None, progress, cancel)
    assert seen and os.getpid() not in seen
    wait_until(lambda: not any(pid_alive(pid) for pid in seen), timeout=10, what="the cancelled worker gone")
    with pytest.raises(CheckCancelled):           # closed for good: a screen that went checks nothing more
        checks.run(BUNDLED_SOURCE, MANIFEST, None, lambda line: None)


def test_an_overdue_check_is_stopped_and_the_next_one_gets_a_new_worker() -> None:
    checks = CompatChecks(timeout=0.01)           # far less than starting a worker takes
    try:
        with pytest.raises(TimeoutError, match="took over"):
            checks.run(BUNDLED_SOURCE, MANIFEST, None, lambda line: None)
        assert checks.workers() == []
        checks.timeout = 120
        assert checks.run(BUNDLED_SOURCE, MANIFEST, None, lambda line: None).deployable
    finally:
        checks.close()


async def test_the_target_screen_checks_in_another_process_and_leaves_none_behind(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.screens.newinstall import TargetScreen

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        await pilot.press("n")
        await wait_screen(pilot, lambda t: "✓ deployable on Kubernetes 1.30" in t, timeout=60,
                          what="the release's compatibility")
        screen = app.screen
        assert isinstance(screen, TargetScreen)
        reports = [r for r in screen.compat.values() if isinstance(r, Compat)]
        assert reports and all(r.pid != os.getpid() for r in reports)
        workers = screen.compat_checks.workers()
        assert workers == [reports[0].pid]
        await pilot.press("escape")               # back to the welcome screen: the form goes
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen again")
        wait_until(lambda: not any(pid_alive(pid) for pid in workers), timeout=10, what="the worker gone")
        # Quitting with the form up again (its check under way or done): the app ends, and so does its worker.
        await pilot.press("n")
        await wait_screen(pilot, lambda t: "compatibility" in t, timeout=30, what="a check under way")
        assert isinstance(app.screen, TargetScreen)
        running = wait_until(app.screen.compat_checks.workers, timeout=30, what="the new worker")
        await pilot.press("ctrl+q")
    wait_until(lambda: not any(pid_alive(pid) for pid in running), timeout=10, what="the worker gone with the app")
