"""The `?` help at 80x24: a help taller than the terminal scrolls by keyboard and says so; a short one
does not say so; q / escape close it."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_tui.app import DigitApp
from digit_tui.sandbox.runtime import start_sandbox
from digit_tui.screens.dashboard import DashboardScreen
from digit_tui.screens.help import BACK, SCROLL_HINT
from tests.tui.conftest import line_with, wait_screen
from tests.tui.test_install_view import write_journal

LAST_NOTE = "re-attaches and shows the whole history."      # the install help's last line
LEGEND_LAST = "✗ failed (blocked tasks: dim ✗)"


@pytest.fixture
def install_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    state = tmp_path / "install"
    state.mkdir(mode=0o700)
    j, _ = write_journal(state)
    j.close()
    return state


def hint_of(text: str) -> str:
    return line_with(text, BACK).strip(" │")


async def test_install_help_at_80x24_scrolls_below_the_fold_and_says_how(install_state: Path) -> None:
    app = DigitApp(start="install", state_dir=install_state)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "Grafana" in t, timeout=20, what="the install view")
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · install" in t and SCROLL_HINT in t,
                                 what="the help, with the scroll hint")
        assert hint_of(text) == SCROLL_HINT
        assert LAST_NOTE not in text and LEGEND_LAST not in text       # below the fold

        await pilot.press("down")
        text = await wait_screen(pilot, lambda t: "Help · install" not in t, what="a line scrolled")
        assert "enter / space" in text

        await pilot.press("end")
        text = await wait_screen(pilot, lambda t: LAST_NOTE in t, what="the help's end")
        assert LEGEND_LAST in text
        assert hint_of(text) == SCROLL_HINT                             # still on the box's last row
        assert text.splitlines().index(line_with(text, SCROLL_HINT)) \
            == text.splitlines().index(line_with(text, LAST_NOTE)) + 1

        await pilot.press("home")
        text = await wait_screen(pilot, lambda t: "Help · install" in t, what="the help's top")
        assert LAST_NOTE not in text

        await pilot.press("q")
        text = await wait_screen(pilot, lambda t: "Help ·" not in t and "Grafana" in t, what="the install view")
        assert "pause" in text.splitlines()[-1]


async def test_dashboard_help_last_key_is_reached_by_pagedown(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    try:
        app = DigitApp(start="welcome")
        async with app.run_test(size=(80, 24)) as pilot:
            app.push_screen(DashboardScreen(str(h.kubeconfig_path), faults_only=False, probe_interval=0.3))
            await wait_screen(pilot, lambda t: "Nodes 1/1" in t, timeout=15, what="the dashboard")
            await pilot.press("question_mark")
            text = await wait_screen(pilot, lambda t: "Help · dashboard" in t and SCROLL_HINT in t,
                                     what="the dashboard's help, with the scroll hint")
            assert "ctrl+p" not in text                                 # its last key, below the fold
            for _ in range(3):
                await pilot.press("pagedown")
                text = await wait_screen(pilot, lambda t: "Help · dashboard" not in t, what="a page down")
                if "ctrl+p" in text:
                    break
            assert "command palette" in line_with(text, "ctrl+p")
            await pilot.press("escape")
            await wait_screen(pilot, lambda t: "Help ·" not in t and "Nodes 1/1" in t, what="the dashboard")
    finally:
        h.stop()


async def test_a_help_that_fits_has_no_scroll_hint_until_the_terminal_shrinks(install_state: Path) -> None:
    app = DigitApp(start="install", state_dir=install_state)
    async with app.run_test(size=(160, 50)) as pilot:
        await wait_screen(pilot, lambda t: "Grafana" in t, timeout=20, what="the install view")
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · install" in t and LAST_NOTE in t, what="the whole help")
        assert hint_of(text) == BACK

        await pilot.resize_terminal(80, 24)
        text = await wait_screen(pilot, lambda t: SCROLL_HINT in t, what="the hint after shrinking")
        assert LAST_NOTE not in text

        await pilot.resize_terminal(160, 50)
        text = await wait_screen(pilot, lambda t: LAST_NOTE in t and SCROLL_HINT not in t,
                                 what="no hint once it fits again")
        assert hint_of(text) == BACK

        await pilot.press("question_mark")
        await wait_screen(pilot, lambda t: "Help ·" not in t and "Grafana" in t, what="the install view")
