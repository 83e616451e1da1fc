"""The compatibility report of the chosen release (check-source's findings), as the target
screen's one-line summary and as a page of its own (ctrl+r there)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from digit_tui.viewmodel.compat import Compat

SYMBOLS = {"error": ("✗", "red"), "warning": ("!", "yellow"), "note": ("·", "dim")}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def summary(compat: Compat) -> Text:
    """One line under the release: deployable or not, and the first reason. It fits the field at 80
    columns when deployable; the footer offers the report (^r)."""
    r = compat.report
    warnings = len(compat.warnings())
    if compat.deployable:
        return Text.assemble(("✓ ", "green"), f"deployable on Kubernetes {compat.kube_version}",
                             f" · {r.rendered}/{r.services} render" if r.services else "",
                             (f" · {_plural(warnings, 'warning')}", "yellow") if warnings else "")
    first = compat.errors()[0]
    return Text.assemble(("✗ ", "red"), (f"not deployable ({_plural(len(compat.errors()), 'error')}): ", "red"),
                         f"{compat.where(first)}: {first.message}")


def report_lines(compat: Compat) -> list[Text]:
    r = compat.report
    head = Text.assemble((compat.name, "bold"), f" ({r.version})" if r.version else "", ": ")
    if compat.deployable:
        head.append("✓ deployable", style="green")
    else:
        head.append(f"✗ not deployable ({_plural(len(compat.errors()), 'error')})", style="red")
    out = [head, Text(f"{r.shown} in {compat.root}", style="dim"),
           Text(f"checked for Kubernetes {compat.kube_version} ({compat.kube.whose}), rendered with a preview environment"
                      + (f"; {r.rendered} of {r.services} services rendered" if r.services else ""), style="dim")]
    for p in compat.problems():
        symbol, style = SYMBOLS.get(p.severity, ("?", ""))
        line = Text(f"{symbol} {p.severity} ", style=style)
        line.append(f"{compat.where(p)}: " if p.line else "")
        line.append(p.message)
        out.append(line)
    if not r.problems:
        out.append(Text("✓ no problem found", style="green"))
    if compat.warnings():
        out.append(Text("Warnings do not stop the install (DIGIT's deployer behaves the same); "
                        "ctrl+n on the form goes on with them once you have read them.", style="dim"))
    return out


class CompatScreen(ModalScreen[None]):
    """The whole report, one problem a line, read from its top; q or escape goes back to the form."""

    BINDINGS = [Binding("escape,q", "dismiss", "back")]

    def __init__(self, compat: Compat) -> None:
        super().__init__(classes="viewer")
        self.compat = compat

    def compose(self) -> ComposeResult:
        body = VerticalScroll(Static(Text("\n").join(report_lines(self.compat))), id="compat-report")
        body.border_title = "Compatibility report · check-source"
        body.border_subtitle = "↑↓ scroll  q back"
        yield body

    def on_mount(self) -> None:
        self.query_one("#compat-report").focus()

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
