"""How one pod reads in the dashboard: columns, widths, the status cell, the order of rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text

from digit_tui.health.model import PodView, age

SORTS = ("namespace", "status", "restarts", "age", "node")
COLUMNS = ("NAMESPACE", "NAME", "READY", "STATUS", "RST", "AGE", "NODE")


def column_widths(width: int) -> list[int]:
    """Fixed widths per terminal width; NAME takes what is left."""
    ns, node = (11, 8) if width < 110 else (16, 16)
    fixed = [ns, 0, 6, 20, 4, 5, node]
    name = max(12, width - sum(fixed) - 2)
    fixed[1] = name
    return fixed


def pod_status_cell(p: PodView) -> tuple[str, str]:
    """(text, style) of the STATUS cell: symbol and colour say the same thing."""
    if p.faulty:
        return "✗ " + p.status, "bold red"
    ready, _, total = p.ready.partition("/")
    if p.status == "Running" and ready == total:
        return "✓ " + p.status, "green"
    if p.status in ("Succeeded", "Completed"):
        return "✓ " + p.status, "dim"
    return "● " + p.status, "yellow"


def cell(text: Text, value: str, width: int, style: str = "") -> None:
    value = " " + value
    if len(value) > width:
        value = value[: max(1, width - 1)] + "…"
    text.append(value.ljust(width), style=style or None)


def row_text(p: PodView, widths: list[int], now: float) -> Text:
    """The pod's row, each cell padded to its column."""
    status, st_style = pod_status_cell(p)
    values = ((p.namespace, ""), (p.name, ""), (p.ready, ""), (status, st_style),
              (str(p.restarts), "yellow" if p.restarts else ""), (row_age(p, now), ""), (p.node, ""))
    text = Text(no_wrap=True, overflow="crop")
    for (value, style), width in zip(values, widths):
        cell(text, value, width, style)
    return text


def reason_text(p: PodView, width: int) -> Text:
    """The line under a row: why the pod is not fine (the scheduler's or the kubelet's words)."""
    line = ("  └ " + (p.reason or ""))[:width]
    return Text(line, style="red dim" if p.faulty else "dim", no_wrap=True, overflow="crop")


def header_text(widths: list[int]) -> Text:
    return header_line(COLUMNS, widths)


def header_line(names: tuple[str, ...], widths: list[int]) -> Text:
    """A column header (every dashboard view's): each name padded to its column, bold."""
    text = Text(no_wrap=True, overflow="crop")
    for name, width in zip(names, widths):
        cell(text, name, width, "bold")
    return text


def row_age(p: PodView, now: float) -> str:
    return age(now - p.created if p.created else None)


def sort_key(mode: str) -> Callable[[PodView], tuple[Any, ...]]:
    """Row order for a sort mode; ties by namespace and name, so every key is unique."""
    if mode == "status":
        return lambda p: (not p.faulty, p.status, p.namespace, p.name)
    if mode == "restarts":
        return lambda p: (-p.restarts, p.namespace, p.name)
    if mode == "age":
        return lambda p: (-(p.created or 0), p.namespace, p.name)
    if mode == "node":
        return lambda p: (p.node, p.namespace, p.name)
    return lambda p: (p.namespace, p.name)


def matches(p: PodView, needle: str) -> bool:
    """The `/` filter: a substring of namespace, name, status, node or fault."""
    return needle in f"{p.namespace} {p.name} {p.status} {p.node} {p.fault or ''}".lower()
