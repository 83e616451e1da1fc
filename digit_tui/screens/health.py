"""The DIGIT health view: the checks of `digit-tui health --once`, read again every few seconds.

A worker thread reads the cluster and builds the report (``health.report.read_report``: the read
and the checks the CLI makes); the event loop only draws it. One read at a time: the next one is
due ``interval`` seconds after the last ended (``retry`` while the cluster does not answer), or at
once on ``r``. While another screen covers this one (the pod dashboard), nothing is read.

When the cluster does not answer, the last report stays on screen, dimmed, under the banner with
its age, and the view reads again by itself. A failure that is not the network's (a kubeconfig the
client refuses to load, a bug) also goes to the app's error dialog, once per distinct message.

Exports write ``HealthReport.render``, the text `health --once --markdown|--json` prints, to a new
file (``health.report.export_report``: never over an existing one) in digit-tui's own reports
directory (``reports_dir``), not the directory it was started in: reports left in a repository or
in ~ are litter. The directory is made private (0700) on the export's worker thread; a directory or
file that cannot be written is a line on the screen, not a dialog: the operator fixes the path.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static

from digit_tui.errors import InputError, PermanentError
from digit_tui.health.checks import Verdict
from digit_tui.health.report import MARK, Format, noted
from digit_tui.screens.base import DigitScreen
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.stale import stale_banner

if TYPE_CHECKING:
    from digit_tui.health.report import HealthReport

Reader = Callable[[str, "str | None"], "HealthReport"]

INTERVAL = 10.0     # seconds from one read's end to the next while the cluster answers
RETRY = 3.0         # ... while it does not
KUBECONFIG_REMEDY = ("fix the kubeconfig or its context (q, then h on the welcome screen chooses another); "
                     "the view reads again by itself.")

STYLE = {Verdict.OK: "green", Verdict.WARN: "yellow", Verdict.FAIL: "bold red"}
TITLE_RIGHT = 25    # columns the title keeps for its state and a space ("✗ read failed · retrying")
FORMAT_NAME: dict[Format, str] = {"markdown": "Markdown", "json": "JSON", "text": "text"}


class HealthRead(Message):
    """A read's end, from the worker thread: the report, or why there is none."""

    def __init__(self, report: HealthReport | None, error: str = "", network: bool = True) -> None:
        super().__init__()
        self.report, self.error, self.network = report, error, network


class Exported(Message):
    """An export's end, from the worker thread: the file written, or why none was (one line)."""

    def __init__(self, fmt: Format, path: Path | None, error: str = "") -> None:
        super().__init__()
        self.fmt, self.path, self.error = fmt, path, error


def reports_dir() -> Path:
    """Where exports go by default: ``$XDG_STATE_HOME/digit-tui/reports`` (nothing is created here)."""
    from digit_tui.paths import state_root

    return state_root() / "reports"


class HealthScreen(DigitScreen):
    AUTO_FOCUS = "#health-body"
    HELP_TITLE = "DIGIT health"
    HELP_KEYS = [("r", "read the cluster again now (it is read by itself every few seconds)"),
                 ("m", "export the report as Markdown (what `health --once --markdown` prints)"),
                 ("j", "export the report as JSON (what `health --once --json` prints)"),
                 ("d", "the pod dashboard of this cluster"),
                 ("↑ ↓ pgup pgdn home end", "scroll"), ("q / escape", "back"), ("ctrl+q", "quit")]
    HELP_NOTES = ["✓ ok · ! warning (drift, a rollout under way) · ✗ failed: each check that is not ok names "
                  "what and why, and its remedy. Checks: docs/health.md.",
                  "An export goes to digit-tui's private reports directory ($XDG_STATE_HOME/digit-tui/reports, "
                  "by default ~/.local/state/digit-tui/reports), to a new file named by the time of the check "
                  "(digit-health-YYYYMMDD-HHMMSS.md / .json), never over an existing one; its path is shown.",
                  "When the cluster does not answer, the last report stays on screen, dimmed, with its age; "
                  "the view reads again by itself."]
    BINDINGS = [
        Binding("r", "refresh", "refresh"),
        Binding("m", "export('markdown')", "export md"),
        Binding("j", "export('json')", "export json"),
        Binding("d", "dashboard", "pods"),
        Binding("question_mark", "help", "help"),
        Binding("q,escape", "back", "back"),
    ]
    DEFAULT_CSS = """
    HealthScreen #health-title { height: 1; background: $boost; }
    HealthScreen #health-cluster { height: auto; }
    HealthScreen #health-banner { height: auto; background: $warning 20%; }
    HealthScreen #health-export { height: auto; color: $text-muted; }
    HealthScreen #health-body { height: 1fr; scrollbar-size-vertical: 1; }
    HealthScreen #health-body.-stale { opacity: 55%; }
    """

    def __init__(self, kubeconfig: str | None, context: str | None = None, *, interval: float = INTERVAL,
                 retry: float = RETRY, export_dir: Path | None = None,
                 clock: Callable[[], float] = time.time, reader: Reader | None = None) -> None:
        """``reader``: what makes a report of (kubeconfig, context), on the worker thread; by default
        ``read_report``, the read of `health --once` (tests hand in a report made by hand)."""
        super().__init__(id="health")
        self.kubeconfig, self.context, self.reader = kubeconfig, context, reader
        self.interval, self.retry, self.clock = interval, retry, clock
        # None: reports_dir(), resolved and made private when an export is written (a worker thread).
        self.export_dir = None if export_dir is None else Path(export_dir)
        self.report: HealthReport | None = None
        self.reads = 0                          # reads ended, with a report or not (tests wait on it)
        self.reading = False
        self.unreachable_since: float | None = None
        self.error = ""
        self.network = True                     # the last failure was the network's (else the client's)
        self.exported: dict[Format, Path] = {}
        self._reported = ""                     # the last failure sent to the error dialog
        self._next: Timer | None = None
        self._wanted = False                    # a read fell due while another screen covered this one

    def compose(self) -> ComposeResult:
        yield Static(id="health-title")
        yield Static(id="health-cluster")
        yield Static(id="health-banner")
        yield Static(id="health-export")
        with VerticalScroll(id="health-body"):
            yield Static(id="health-checks")
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#health-banner").display = False
        self.query_one("#health-export").display = False
        where = f"{self.kubeconfig or '(no kubeconfig)'}" + (f", context {self.context}" if self.context else "")
        self.query_one("#health-checks", Static).update(Text(f"◌ reading the cluster of {where}…", style="dim"))
        self._start_read()
        self.set_interval(1.0, self._tick)

    def on_resize(self) -> None:
        self._render_title()

    # -- reading (a worker thread) -------------------------------------------------------------
    def _start_read(self) -> None:
        if self._next is not None:
            self._next.stop()
            self._next = None
        if self.reading:
            return
        if not self.is_current:
            self._wanted = True
            return
        self.reading = True
        self._render_title()
        self.read_health()

    @work(thread=True, exclusive=True, group="health-read", exit_on_error=False,
          description="reading the cluster's health")
    def read_health(self) -> None:
        from digit_tui.health.report import read_report
        from digit_tui.health.watcher import describe_error
        from digit_tui.infra.failures import TRANSIENT_KINDS, FailureKind, failure_of

        try:
            if not self.kubeconfig:
                raise ValueError("no kubeconfig to read")
            report = (self.reader or read_report)(self.kubeconfig, self.context)
        except Exception as exc:
            failure = failure_of(exc)
            # What waiting can fix is the banner's; the operator must act on the others: the dialog's too.
            network = failure is not None and (failure.kind in TRANSIENT_KINDS
                                               or failure.kind is FailureKind.NO_SUCH_HOST)
            message = describe_error(exc)
            self.post_message(HealthRead(None, message, network))
            if network or message == self._reported:
                return
            self._reported = message
            # The app's one error dialog says what and what to do (DigitScreen). The client's refusals
            # (a kubeconfig it cannot load; a certificate, a token or rights the cluster refuses) in
            # the operator's terms; anything else as it is (a bug to report).
            config = sys.modules.get("kubernetes.config")
            if failure is not None or isinstance(exc, (ValueError, OSError)) \
                    or (config is not None and isinstance(exc, config.ConfigException)):
                raise PermanentError(f"{self.kubeconfig}: {message}", KUBECONFIG_REMEDY) from exc
            raise
        self.post_message(HealthRead(report))

    def on_health_read(self, message: HealthRead) -> None:
        self.reading = False
        self.reads += 1
        if message.report is not None:
            self.report, self.unreachable_since, self.error, self._reported = message.report, None, "", ""
            self._render_report()
        else:
            if self.unreachable_since is None:
                self.unreachable_since = self.clock()
            self.error, self.network = message.error, message.network
            if self.report is None:
                self.query_one("#health-checks", Static).update(Text("no report yet", style="dim"))
        self._render_banner()
        self._render_title()
        self._next = self.set_timer(self.interval if message.report is not None else self.retry, self._start_read)

    def on_screen_resume(self) -> None:
        if self._wanted:
            self._wanted = False
            self._start_read()

    def _tick(self) -> None:
        """Once a second: the age in the title, the banner's count while the cluster does not answer."""
        self._render_title()
        if self.unreachable_since is not None:
            self._render_banner()

    # -- drawing -------------------------------------------------------------------------------
    def _render_title(self) -> None:
        r = self.report
        right = Text()
        if self.unreachable_since is not None:
            right.append("⏸ reconnecting" if self.network else "✗ read failed · retrying", style="bold yellow")
        elif self.reading:
            right.append("◌ reading…", style="dim")
        elif r is not None:
            right.append("● ", style="green")
            right.append(time.strftime('%H:%M:%S', time.localtime(r.generated)))
            right.append(f" ({_ago(self.clock() - r.generated)} ago)", style="dim")
        width = self.size.width or 80
        left = Text("DIGIT health", style="bold")
        if r is not None:
            failed = [c.name for c in r.checks if c.verdict is Verdict.FAIL]
            warned = sum(1 for c in r.checks if c.verdict is Verdict.WARN)
            left.append(" · ")
            if failed:
                # The names when they fit beside the widest state on the right, else how many (not
                # by the state shown now: the title would change its words with each read).
                named = "✗ failed: " + ", ".join(failed)
                room = width - left.cell_len - TITLE_RIGHT
                left.append(named if len(named) <= room else f"✗ {len(failed)} of {len(r.checks)} checks failed",
                            style="bold red")
            else:
                left.append("✓ healthy", style="green")
                if warned:
                    left.append(f", {warned} warning{'s' if warned > 1 else ''}", style="yellow")
        left.append(" " * max(1, width - left.cell_len - right.cell_len))
        left.append_text(right)
        self.query_one("#health-title", Static).update(left)

    def _render_banner(self) -> None:
        banner = self.query_one("#health-banner", Static)
        stale = self.unreachable_since is not None
        self.query_one("#health-body").set_class(stale, "-stale")
        self.query_one("#health-cluster").set_class(stale, "-stale")
        banner.display = stale
        if not stale:
            return
        data_time = self.report.generated if self.report else None
        if self.network:
            banner.update(stale_banner(self.unreachable_since, data_time, self.error, self.clock()))
        else:   # the cluster may answer: the client could not ask (the error dialog said why)
            text = Text("✗ ", style="bold red")
            text.append("the cluster could not be read — " + (
                "data from " + time.strftime("%H:%M:%S", time.localtime(data_time)) if data_time else "no data yet"))
            text.append(f" — retrying every {self.retry:g} s")
            text.append(f" ({self.error})", style="dim")
            banner.update(text)

    def _render_report(self) -> None:
        r = self.report
        assert r is not None
        self.query_one("#health-cluster", Static).update(cluster_lines(r))
        self.query_one("#health-checks", Static).update(report_renderable(r))

    # -- actions -------------------------------------------------------------------------------
    def action_refresh(self) -> None:
        if self.reading:
            self.notify("already reading the cluster", timeout=2)
            return
        self._start_read()

    def action_export(self, fmt: Format) -> None:
        if self.report is None:
            self._show_exports(Text(f"no {FORMAT_NAME[fmt]} written: no report yet (the cluster has not been read)",
                                    style="yellow"))
            return
        self.write_export(self.report, fmt)

    @work(thread=True, group="health-export", exit_on_error=False, description="writing the health report")
    def write_export(self, report: HealthReport, fmt: Format) -> None:
        from digit_tui.health.report import export_report
        from digit_tui.paths import ensure_private_dir

        try:
            directory = ensure_private_dir(reports_dir(), "the reports directory") if self.export_dir is None else self.export_dir
            path = export_report(report, fmt, directory)
        except (OSError, InputError) as exc:
            # The path's failure (read-only, a file in the way, not ours): the operator's to fix, said
            # beside the exports. Anything else is a bug: the app's error dialog (DigitScreen).
            self.post_message(Exported(fmt, None, export_failure(exc)))
            return
        self.post_message(Exported(fmt, path))

    def on_exported(self, message: Exported) -> None:
        if message.path is not None:
            self.exported[message.fmt] = message.path
        text = Text()
        for fmt, path in self.exported.items():
            text.append(f"{FORMAT_NAME[fmt]} written to ", style="dim")
            text.append(str(path))
            text.append("\n")
        if message.path is None:
            text.append(f"✗ no {FORMAT_NAME[message.fmt]} written: {message.error}", style="bold red")
        text.rstrip()
        self._show_exports(text)
        if message.path is not None:
            self.notify(f"{FORMAT_NAME[message.fmt]} report: {message.path}", timeout=4)

    def _show_exports(self, text: Text) -> None:
        box = self.query_one("#health-export", Static)
        box.update(text)
        box.display = True

    def action_dashboard(self) -> None:
        from digit_tui.screens.dashboard import DashboardScreen

        stack = self.app.screen_stack
        if len(stack) > 1 and isinstance(stack[-2], DashboardScreen):
            self.app.pop_screen()       # opened from that dashboard: back to it
        else:
            self.app.push_screen(DashboardScreen(self.kubeconfig, self.context))

    def action_back(self) -> None:
        self.app.pop_screen()


def export_failure(exc: OSError | InputError) -> str:
    """One line: the path and what is wrong with it (an InputError's ``expected`` is for a command's
    option, not this screen)."""
    if isinstance(exc, InputError):
        return f"{exc.path}: {exc.message}" if exc.path is not None else exc.message
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _ago(seconds: float) -> str:
    from digit_tui.health.model import age

    return age(seconds)


def cluster_lines(r: HealthReport) -> Text:
    """The cluster and the release it runs as recorded (the checks give the counts)."""
    t = Text("cluster ", style="dim")
    t.append(r.server or "?")
    if r.record is not None:
        t.append(" · ", style="dim")
        t.append(r.record.line())
    else:
        t.append(" · no release record (ConfigMap egov/digit-tui-release)", style="yellow")
    return t


def report_renderable(r: HealthReport) -> RenderableType:
    """Every check with its mark; under one that is not ok (and under release-drift, what was left out
    on purpose) its findings and remedy; then the newest warnings. Long lines wrap in their column."""
    checks = Table.grid(padding=(0, 1))
    checks.add_column(width=1, no_wrap=True)
    checks.add_column(width=14, no_wrap=True)
    checks.add_column(ratio=1, overflow="fold")
    for c in r.checks:
        checks.add_row(Text(MARK[c.verdict], style=STYLE[c.verdict]), Text(c.name, style="bold"), Text(c.detail))
        for f in noted(c):
            line = Text("└ ", style="dim")
            line.append(f.subject, style=STYLE[f.verdict] if f.verdict is not Verdict.OK else "")
            line.append(f": {f.detail}", style="dim" if f.verdict is Verdict.OK else "")
            checks.add_row("", "", line)
        if c.remedy:
            checks.add_row("", "", Text.assemble(("remedy: ", "bold yellow"), c.remedy))
    parts: list[RenderableType] = [checks, Text("")]
    if r.warnings:
        parts.append(Text(f"Recent warnings ({len(r.warnings)} newest)", style="bold"))
        warnings = Table.grid(padding=(0, 1))
        warnings.add_column(width=8, no_wrap=True)
        warnings.add_column(ratio=1, overflow="fold")
        warnings.add_column(ratio=2, overflow="fold")
        for w in r.warnings:
            warnings.add_row(Text(time.strftime("%H:%M:%S", time.localtime(w.when)), style="dim"), w.subject,
                             Text.assemble((w.reason, "yellow"), f": {w.message}",
                                           (f" ×{w.count}" if w.count > 1 else "", "dim")))
        parts.append(warnings)
    else:
        parts.append(Text("No warning events.", style="dim"))
    return Group(*parts)
