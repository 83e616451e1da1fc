"""The guided flow's header line: the step on the left, its state on the right, in one row."""

from __future__ import annotations

from rich.text import Text


def flow_header(step: str, right: Text, width: int) -> Text:
    """``New install · <step>`` with ``right`` at the far end; the step is cut short, never the state."""
    head = Text()
    head.append("New install", style="bold")
    head.append(f" · {step}")
    if head.cell_len + right.cell_len + 1 > width:
        head.truncate(max(10, width - right.cell_len - 2), overflow="ellipsis")
    head.append(" " * max(1, width - head.cell_len - right.cell_len))
    head.append_text(right)
    return head
