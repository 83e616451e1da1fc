"""The guided flow's header line: the step on the left, its state on the right, in one row."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


def flow_header(step: str | Text, right: Text, width: int) -> Text:
    """``New install · <step>`` with ``right`` at the far end; the step is cut short, never the state."""
    head = Text()
    head.append("New install", style="bold")
    head.append(" · ")
    head.append_text(step if isinstance(step, Text) else Text(step))
    if head.cell_len + right.cell_len + 1 > width:
        head.truncate(max(10, width - right.cell_len - 2), overflow="ellipsis")
    head.append(" " * max(1, width - head.cell_len - right.cell_len))
    head.append_text(right)
    return head


class FlowHeader(Widget):
    """The header row of a guided screen. It lays the line out when it is drawn, at its own width:
    a line padded for the width it had before a resize would push the state off its row."""

    DEFAULT_CSS = "FlowHeader { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._step: str | Text = ""
        self._right = Text()

    def show(self, step: str | Text, right: Text) -> None:
        if (step, right) != (self._step, self._right):
            self._step, self._right = step, right
            self.refresh()

    def render(self) -> Text:
        return flow_header(self._step, self._right, self.size.width or 80)
