"""The guided screens' header keeps the form's state on its one row through a resize: the line is laid
out at the width it is drawn at, not at the width it had when the state last changed."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult

from digit_tui.widgets.flowheader import FlowHeader
from tests.tui.conftest import wait_screen


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FlowHeader(id="flow-header")

    def on_mount(self) -> None:
        self.query_one(FlowHeader).show("1/5 target and source · a step whose name is long", Text("✓ valid"))


async def test_the_state_stays_at_the_end_of_the_first_row_after_a_resize() -> None:
    app = HeaderApp()
    async with app.run_test(size=(160, 10)) as pilot:
        text = await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="the header at 160 columns")
        assert text.splitlines()[0].rstrip().endswith("✓ valid") and len(text.splitlines()[0]) == 160
        await pilot.resize_terminal(80, 10)
        text = await wait_screen(pilot, lambda t: len(t.splitlines()[0]) == 80, what="the screen at 80 columns")
        first = text.splitlines()[0]
        assert first.startswith("New install · 1/5 target and source") and first.endswith("✓ valid"), text
        await pilot.resize_terminal(40, 10)
        text = await wait_screen(pilot, lambda t: len(t.splitlines()[0]) == 40, what="the screen at 40 columns")
        first = text.splitlines()[0]
        assert first.startswith("New install · 1/5") and "…" in first and first.endswith("✓ valid"), text  # the step cut short
