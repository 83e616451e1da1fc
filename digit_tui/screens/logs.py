"""The log of one pod's container, the previous container's on `p`, fetched again every 2 s.

Fetched on a worker thread (``pod_log`` with ``tailLines``, and ``previous=true`` for the container
that ran before this one: what ``kubectl logs --previous`` shows after a crash). What the API
answers is shown as it says it: a container that never restarted has no previous log ("previous
terminated container … not found"), a waiting one none yet. When the cluster does not answer, the
last log stays on screen, dimmed, under the dashboard's banner with its age, and the next fetch
(every 2 s) reconnects by itself. Only new lines are written when the log grew.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Log, Static

from digit_tui.screens.base import DigitScreen
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.stale import stale_banner

if TYPE_CHECKING:
    from digit_tui.infra.kube import Kube

TAIL_LINES = 500
REFRESH = 2.0


@dataclass(frozen=True)
class LogFetch:
    """One fetch: the log's lines, or the API's reason there is none, or why the cluster did not answer."""

    container: str
    previous: bool
    lines: tuple[str, ...] | None = None
    wrapped: tuple[tuple[str, ...], ...] = ()      # each line as the screen's width shows it
    width: int = 0
    answer: str = ""            # the API answered, but with no log (its message)
    unreachable: str = ""       # no answer (why)
    containers: tuple[str, ...] = ()


class LogsScreen(DigitScreen):
    HELP_TITLE = "pod logs"
    HELP_KEYS = [("p", "previous container (previous=true) ↔ current"), ("c", "next container of the pod"),
                 ("r", "fetch again now (it is fetched every 2 s)"), ("↑ ↓ pgup pgdn home end", "scroll"),
                 ("q / escape", "back to the dashboard")]
    HELP_NOTES = [f"The last {TAIL_LINES} lines. When the cluster does not answer, the last log stays, dimmed, "
                  "with its age; it is fetched again by itself."]
    BINDINGS = [
        Binding("p", "previous", "previous"),
        Binding("c", "container", "container"),
        Binding("r", "reload", "reload"),
        Binding("question_mark", "help", "help"),
        Binding("q,escape", "back", "back"),
    ]

    def __init__(self, kube: Callable[[], Kube | None], namespace: str, name: str, *,
                 clock: Callable[[], float] = time.time, refresh: float = REFRESH) -> None:
        super().__init__(id="logs")
        self.kube, self.pod_namespace, self.pod_name = kube, namespace, name
        self.clock, self.refresh_every = clock, refresh
        self.previous = False
        self.containers: tuple[str, ...] = ()
        self.container: str | None = None
        self.fetches = 0                          # fetches shown (tests wait on it)
        self._lines: tuple[str, ...] = ()
        self._data_time: float | None = None
        self._unreachable_since: float | None = None
        self._error = ""
        self._width = 0
        self._message: str | None = None          # shown instead of a log (the API's answer, a placeholder)

    def compose(self) -> ComposeResult:
        yield Static(id="logs-title")
        yield Static(id="logs-banner")
        yield Log(id="logs-text", max_lines=TAIL_LINES * 2)
        yield QuietFooter(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#logs-banner", Static).display = False
        self._render_title()
        self.query_one("#logs-text", Log).focus()
        self.fetch()
        self.set_interval(self.refresh_every, self._tick)

    def _tick(self) -> None:
        self.fetch()
        if self._unreachable_since is not None:
            self._render_banner()

    # -- fetching (a worker thread) ------------------------------------------------------------
    @work(thread=True, exclusive=True, group="pod-log", exit_on_error=False, description="fetching the pod's log")
    def fetch(self) -> None:
        container, previous = self.container, self.previous
        result = self._fetch(container, previous, max(20, (self.size.width or 80) - 2))
        self.app.call_from_thread(self._show, result)

    def _fetch(self, container: str | None, previous: bool, width: int) -> LogFetch:
        from digit_tui.health.watcher import describe_error
        from digit_tui.infra.failures import http_status

        kube = self.kube()
        containers = self.containers
        try:
            if kube is None:
                raise ConnectionError("not connected to the cluster yet")
            if not containers:
                pod = kube.request("GET", f"/api/v1/namespaces/{self.pod_namespace}/pods/{self.pod_name}") or {}
                spec = pod.get("spec") or {}
                containers = tuple(str(c.get("name")) for c in [*(spec.get("containers") or ()),
                                                                *(spec.get("initContainers") or ())])
            container = container or (containers[0] if containers else None)
            if container is None:
                return LogFetch("", previous, answer="the pod has no containers")
            text = kube.pod_log(self.pod_namespace, self.pod_name, container, tail_lines=TAIL_LINES, previous=previous)
        except Exception as exc:
            status = http_status(exc)
            if status is not None and 400 <= status < 500:
                return LogFetch(container or "", previous, answer=_api_message(exc) or describe_error(exc),
                                containers=containers)
            return LogFetch(container or "", previous, unreachable=describe_error(exc), containers=containers)
        lines = tuple(text.splitlines())
        # Wrapped here, off the event loop: a crash's last line is the one that matters, and it is long.
        wrapped = tuple(tuple(textwrap.wrap(line, width, subsequent_indent="  ", drop_whitespace=False,
                                            replace_whitespace=False)) or ("",) if len(line) > width else (line,)
                        for line in lines)
        return LogFetch(container or "", previous, lines=lines, wrapped=wrapped, width=width, containers=containers)

    # -- showing (the event loop) --------------------------------------------------------------
    def _show(self, r: LogFetch) -> None:
        if (r.container and r.container != (self.container or r.container)) or r.previous != self.previous:
            return      # the operator switched meanwhile: the next fetch is for what they chose
        if r.containers:
            self.containers = r.containers
        if self.container is None and r.container:
            self.container = r.container
        self.fetches += 1
        if r.unreachable:
            if self._unreachable_since is None:
                self._unreachable_since = self.clock()
            self._error = r.unreachable
            self._render_banner()
            return
        self._data_time, self._unreachable_since, self._error = self.clock(), None, ""
        self._render_banner()
        self._write(r.lines or (), r.wrapped, r.width, r.answer)
        self._render_title()

    def _write(self, lines: tuple[str, ...], wrapped: tuple[tuple[str, ...], ...], width: int, answer: str) -> None:
        log = self.query_one("#logs-text", Log)
        if answer or not lines:
            message = f"(no log: {answer})" if answer else "(the container has written nothing)"
            if self._message != message:
                log.clear()
                log.write_lines(textwrap.wrap(message, max(20, (self.size.width or 80) - 2)))
                self._message, self._lines = message, ()
            return
        old = self._lines
        if self._message is None and old and width == self._width and lines[:len(old)] == old:
            if len(lines) > len(old):
                log.write_lines([part for parts in wrapped[len(old):] for part in parts])   # it grew: the new lines
        else:
            log.clear()
            log.write_lines([part for parts in wrapped for part in parts])
        self._message, self._lines, self._width = None, lines, width

    def _render_title(self) -> None:
        t = Text("Logs · ", style="bold")
        t.append(f"{self.pod_namespace}/{self.pod_name}", style="bold")
        if self.container:
            n = len(self.containers)
            t.append(f" · {self.container}" + (f" ({self.containers.index(self.container) + 1}/{n}) [c]"
                                               if n > 1 and self.container in self.containers else ""))
        t.append(" · previous container [p]" if self.previous else " · current [p]",
                 style="yellow" if self.previous else "")
        self.query_one("#logs-title", Static).update(t)

    def _render_banner(self) -> None:
        banner = self.query_one("#logs-banner", Static)
        stale = self._unreachable_since is not None
        self.query_one("#logs-text", Log).set_class(stale, "-stale")
        banner.display = stale
        if stale:
            banner.update(stale_banner(self._unreachable_since, self._data_time, self._error, self.clock()))

    # -- actions -------------------------------------------------------------------------------
    def action_previous(self) -> None:
        self.previous = not self.previous
        self._switched()

    def action_container(self) -> None:
        if len(self.containers) < 2 or self.container not in self.containers:
            self.notify("the pod has one container", timeout=2)
            return
        self.container = self.containers[(self.containers.index(self.container) + 1) % len(self.containers)]
        self._switched()

    def action_reload(self) -> None:
        self.fetch()

    def _switched(self) -> None:
        log = self.query_one("#logs-text", Log)
        log.clear()
        self._message, self._lines = "◌ fetching…", ()
        log.write_line(self._message)
        self._render_title()
        self.fetch()

    def action_back(self) -> None:
        self.app.pop_screen()


def _api_message(exc: Any) -> str:
    """The ``message`` of the API's Status body (what ``kubectl logs`` prints)."""
    body = getattr(exc, "body", None)
    if not body:
        return ""
    try:
        return str(json.loads(body).get("message") or "")
    except (ValueError, AttributeError):
        return ""
