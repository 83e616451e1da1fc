"""Moving through a guided-flow form checks nothing again: tab and shift+tab through the
configuration screen leave it as its last check left it (no "checking…", no check run), while a
changed value is checked once, with that value. A check reads files and validates the whole
answers document in a worker; run for every focus move it held the interpreter while the operator
was only moving on. Behaviour, not timing: bench/screens.py times the keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from tests.tui.conftest import wait_screen
from tests.tui.test_configure import SMALL, base_answers


def header(text: str) -> str:
    return text.splitlines()[0]


async def test_tab_through_the_configuration_form_checks_nothing_again(
        state_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.screens.configure import ConfigScreen
    from digit_tui.viewmodel import configure as vm
    from tests.tui.conftest import screen_text

    checked: list[Any] = []
    real = vm.check_config

    def counted(choices: Any, *args: Any) -> Any:
        checked.append(choices)
        return real(choices, *args)

    monkeypatch.setattr(vm, "check_config", counted)
    state = state_root / "tabs"
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(ConfigScreen(base_answers(state_root, "tabs"), state / "answers.yaml", state))
        await wait_screen(pilot, lambda t: "✓ valid" in header(t), what="the defaults, checked")
        assert len(checked) == 1

        seen = set()
        for key in ["tab"] * 9 + ["shift+tab"] * 4:
            await pilot.press(key)
            seen.add(app.focused.id if app.focused is not None else None)
            assert "✓ valid" in header(screen_text(app)), f"{key} put the form back into checking"
        assert len(seen) >= 8, seen                      # the focus did go through the form

        # A value that changes is checked, once, with the new value: the count above can see a check.
        app.screen.query_one("#state_tenant").focus()
        await pilot.press("end", "x")
        await wait_screen(pilot, lambda t: "◌ checking" not in header(t) and "✓ valid" in header(t),
                          what="the changed tenant, checked")
        assert [c.state_tenant for c in checked] == ["pb", "pbx"]
