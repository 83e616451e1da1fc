"""One-line progress bar with percentage, time left and the network status."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from digit_tui.viewmodel.feed import NetStatus
from digit_tui.viewmodel.install import Progress, format_eta


def progress_text(p: Progress, net: NetStatus | None, width: int, *, state: str = "running") -> Text:
    pct = f"{int(p.fraction * 100)}%"
    eta = format_eta(p.eta_seconds) if state == "running" else ""
    tail = Text()
    tail.append(f" {pct:>4}  ")
    if eta:
        tail.append(eta + "  ", style="dim")
    tail.append_text(net_text(net))
    bar_w = max(10, min(40, width - tail.cell_len - 1))
    filled = int(round(bar_w * p.fraction))
    t = Text()
    colour = {"failed": "red", "done": "green"}.get(state, "yellow" if state != "running" else "green")
    t.append("█" * filled, style=colour)
    t.append("░" * (bar_w - filled), style="dim")
    t.append_text(tail)
    return t


def net_text(net: NetStatus | None) -> Text:
    t = Text()
    if net is None:
        t.append("network …", style="dim")
    elif net.ok is None:
        t.append("network – (nothing to probe)", style="dim")
    elif net.ok:
        t.append("network ")
        t.append("✓", style="green")
        t.append(f" {net.millis:.0f} ms")
    else:
        t.append("network ")
        t.append("✗", style="bold red")
        t.append(f" {net.failed} {'not answering' if net.silent else 'unreachable'}", style="red")
    return t


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; }
    """
