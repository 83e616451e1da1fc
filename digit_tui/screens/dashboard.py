"""The pod dashboard: workload summary and a pods table that changes row by row, faults first.

Threads do the work, the event loop only draws: ``ClusterWatcher`` lists and
watches the cluster into a ``LiveModel`` keyed by pod; a worker thread runs the
``Feeder``, which classifies only the pods that changed and hands the screen at
most ten ``Delta``s a second (changes in between join the next one); the screen
puts each changed pod in its place in the ``PodTable`` and redraws what it
touched. Nothing is redrawn while nothing changes, except an age that ticks
over on screen.

When the cluster stops answering, the last data stays on screen, dimmed, under
a banner with its age, and the watcher reconnects by itself.

The garbage collector's full passes walk every object the process holds (the
modules of Textual and the kubernetes client, thousands of rows): 70–160 ms
each, a frozen screen every few seconds under churn. What exists once the
screen is up, and after each page of the first list, is frozen (``gc.freeze``):
later passes walk only what changed since. Those objects are still freed by
reference counting when they go.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from digit_tui.health.model import KINDS, PodView, Summary, age, event_time
from digit_tui.screens.base import DigitScreen
from digit_tui.widgets.podrow import SORTS, column_widths, header_text, matches, pod_status_cell
from digit_tui.widgets.podtable import PodTable

if TYPE_CHECKING:  # at run time they are imported on the worker's thread (the kubernetes client is slow)
    from digit_tui.health.live import Delta, Feeder, LiveModel
    from digit_tui.health.watcher import ClusterWatcher, Connection

SUMMARY_KINDS = (("Deploy", "deployments"), ("StatefulSet", "statefulsets"), ("Job", "jobs"), ("PVC", "pvcs"),
                 ("Nodes", "nodes"))


FREEZE_AFTER = 500      # rows in one frame that are worth hiding from the collector (see above)


class PodsChanged(Message):
    """A frame from the feeder thread."""

    def __init__(self, delta: Delta) -> None:
        super().__init__()
        self.delta = delta


class DashboardScreen(DigitScreen):
    HELP_TITLE = "pod dashboard"
    HELP_KEYS = [("↑ ↓ pgup pgdn", "move between pods"), ("enter", "pod details with its events"),
                 ("l", "logs of the selected pod"), ("e", "recent warnings in the cluster"),
                 ("f", "faults only / all pods"), ("/", "filter by text (escape clears)"),
                 ("s", "sort: " + " → ".join(SORTS)), ("q", "back"), ("ctrl+q", "quit")]
    HELP_NOTES = ["When the cluster does not answer, the last data stays on screen, dimmed, with its age; "
                  "the dashboard reconnects by itself."]

    BINDINGS = [
        Binding("enter", "details", "details", show=True),
        Binding("l", "logs", "logs"),
        Binding("e", "events", "events"),
        Binding("f", "faults", "faults"),
        Binding("slash", "filter", "filter"),
        Binding("s", "sort", "sort"),
        Binding("question_mark", "help", "help"),
        Binding("q,escape", "back", "back"),
    ]

    def __init__(self, kubeconfig: str | None, context: str | None = None, *, faults_only: bool = False,
                 top_level: bool = False, probe_interval: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(id="dashboard")
        self.probe_interval = probe_interval
        self.kubeconfig, self.context = kubeconfig, context
        self.faults_only = faults_only
        self.top_level = top_level
        self.clock = clock
        self.sort_mode = SORTS[0]
        self.text_filter = ""
        self.watcher: ClusterWatcher | None = None
        self.model: LiveModel | None = None
        self.feeder: Feeder | None = None
        self.summary: Summary | None = None
        self.listed: frozenset[str] = frozenset()
        self.connection: Connection | None = None
        self.frames = 0                      # deltas applied (tests and benches read it)
        self._shown: dict[str, Any] = {}     # what each Static shows now: updated only when it changes
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._connect_error: BaseException | None = None
        # Connect now, not once mounted: importing the client and the first list pages overlap with
        # the screen's own start (the list is most of the time to a full table).
        threading.Thread(target=self._connect, name="dashboard-connect", daemon=True).start()

    def compose(self) -> ComposeResult:
        yield Static(id="dash-title")
        yield Static(id="dash-summary")
        yield Static(id="dash-banner")
        yield Input(placeholder="filter: namespace, name, status or node (escape clears)", id="dash-filter")
        yield Static(id="pods-header")
        yield PodTable(id="pods", clock=self.clock)
        yield Footer(show_command_palette=False)

    @property
    def table(self) -> PodTable:
        return self.query_one("#pods", PodTable)

    def on_mount(self) -> None:
        self.query_one("#dash-filter", Input).display = False
        self.query_one("#dash-banner", Static).display = False
        self._set("#dash-summary", Text("● connecting to the cluster…", style="yellow"))
        self._layout_columns()
        self.table.set_view(predicate=self._predicate(), sort=self.sort_mode)
        self._render_title()
        self.table.focus()
        gc.freeze()
        self.watch_cluster()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._stop.set()
        if self.feeder is not None:
            self.feeder.stop()
        if self.watcher is not None:
            threading.Thread(target=self.watcher.stop, name="watch-stop", daemon=True).start()

    def on_resize(self) -> None:
        self._layout_columns()
        self._render_title()     # its right-hand side sits at the new width

    # -- threads: watcher → model → frames -----------------------------------------------------
    def _connect(self) -> None:
        """Build the model and start watching (the kubernetes client is imported here, off the loop)."""
        try:
            from digit_tui.health.live import LiveModel
            from digit_tui.health.watcher import PROBE_INTERVAL, ClusterWatcher

            model = LiveModel(clock=self.clock)
            watcher = ClusterWatcher(self.kubeconfig, self.context, sink=model,
                                     probe_interval=self.probe_interval or PROBE_INTERVAL)
            self.model = model
            if not self._stop.is_set():
                watcher.start()  # ValueError for a broken kubeconfig: the worker turns it into the dialog
                self.watcher = watcher
                if self._stop.is_set():   # the screen went away meanwhile
                    watcher.stop()
        except BaseException as exc:
            self._connect_error = exc
        finally:
            self._connected.set()

    @work(thread=True, exclusive=True, group="cluster", exit_on_error=False, description="watching the cluster")
    def watch_cluster(self) -> None:
        from digit_tui.health.live import Feeder

        worker = get_current_worker()
        while not self._connected.wait(0.5):
            if self._stop.is_set() or worker.is_cancelled:
                return
        if self._connect_error is not None:
            raise self._connect_error
        assert self.model is not None
        self.feeder = Feeder(self.model, lambda delta: self.post_message(PodsChanged(delta)))
        if self._stop.is_set() or worker.is_cancelled:
            return
        self.feeder.run()

    def on_pods_changed(self, message: PodsChanged) -> None:
        delta = message.delta
        try:
            if delta.rows_changed:
                self.table.apply(delta.upserts, delta.removed)
            if len(delta.upserts) >= FREEZE_AFTER or ("pods" in delta.listed and "pods" not in self.listed):
                gc.freeze()     # a page of the list, or all of it: rows that live as long as the screen
            self.summary, self.listed = delta.summary, delta.listed
            stale_before = self.connection is not None and not self.connection.reachable
            self.connection = delta.connection
            self.frames += 1
            self._render_summary()
            self._render_title()
            if stale_before != (not delta.connection.reachable):
                self._render_banner()
        finally:
            if self.feeder is not None:
                self.feeder.ack()

    # -- rendering ----------------------------------------------------------------------------
    def _set(self, selector: str, text: Text) -> None:
        """Update a Static only when what it shows changes (an update redraws it)."""
        sig = (text.plain, tuple(text.spans), str(text.style))
        if self._shown.get(selector) != sig:
            self._shown[selector] = sig
            self.query_one(selector, Static).update(text)

    def _layout_columns(self) -> None:
        widths = column_widths(self.size.width or 80)
        self._set("#pods-header", header_text(widths))
        self.table.set_widths(widths)

    def _predicate(self) -> Callable[[PodView], bool] | None:
        needle = self.text_filter.lower()
        if self.faults_only and needle:
            return lambda p: p.faulty and matches(p, needle)
        if self.faults_only:
            return lambda p: p.faulty
        if needle:
            return lambda p: matches(p, needle)
        return None

    def _tick(self) -> None:
        """Once a second: ages that tick over on screen, the banner's count while stale."""
        self.table.refresh_ages()
        if self.connection is not None and not self.connection.reachable:
            self._render_banner()

    def _title_text(self) -> Text:
        left = Text("Pods · all namespaces", style="bold")
        left.append(" · faults only [f]" if self.faults_only else " · all [f]")
        if self.text_filter:
            left.append(f" · /{self.text_filter}")
        right = Text()
        table = self.table
        if "pods" not in self.listed:
            right.append("◌ connecting" if not table.rows else f"◌ listing… {len(table.rows)} pods", style="dim")
        else:
            right.append(f"{len(table.rows)} pods · ")
            right.append(f"{table.faulty} faulty", style="bold red" if table.faulty else "green")
            right.append(" · ")
            if self.connection is not None and not self.connection.reachable:
                right.append("⏸ stale", style="yellow")
            elif not set(KINDS) <= self.listed:
                right.append("◌ syncing", style="dim")
            else:
                right.append("● live", style="green")
        width = self.size.width or 80
        left.append(" " * max(1, width - left.cell_len - right.cell_len))
        left.append_text(right)
        return left

    def _render_title(self) -> None:
        self._set("#dash-title", self._title_text())

    def _render_summary(self) -> None:
        s = self.summary
        if s is None:
            return
        t = Text()
        for label, kind in SUMMARY_KINDS:
            count = getattr(s, kind)
            if kind not in self.listed:
                t.append(f"{label} … ", style="dim")
            else:
                t.append(f"{label} {count} ")
                t.append("✓" if count.ok else "✗", style="green" if count.ok else "bold red")
            t.append("  ")
        self._set("#dash-summary", t)

    def _render_banner(self) -> None:
        f = self.connection
        banner = self.query_one("#dash-banner", Static)
        stale = f is not None and not f.reachable
        self.table.set_class(stale, "-stale")
        self.query_one("#dash-summary", Static).set_class(stale, "-stale")
        if not stale:
            banner.display = False
            return
        assert f is not None
        now = self.clock()
        since = f.unreachable_since or now
        text = Text("⏸ ", style="bold yellow")
        text.append(f"cluster unreachable for {int(max(0, now - since))} s")
        if f.data_time:
            text.append(" — data from " + time.strftime("%H:%M:%S", time.localtime(f.data_time)))
        else:
            text.append(" — no data yet")
        text.append(" — retrying")
        if f.error:
            text.append(f" ({f.error})", style="dim")
        self._set("#dash-banner", text)
        banner.display = True

    def _selected(self) -> PodView | None:
        key = self.table.cursor_key
        return self.table.rows.get(key) if key else None

    def _relayout(self) -> None:
        self.table.set_view(predicate=self._predicate(), sort=self.sort_mode)
        self._render_title()

    # -- actions -----------------------------------------------------------------------------
    def action_faults(self) -> None:
        self.faults_only = not self.faults_only
        self._relayout()

    def action_sort(self) -> None:
        self.sort_mode = SORTS[(SORTS.index(self.sort_mode) + 1) % len(SORTS)]
        self.notify(f"sorted by {self.sort_mode}", timeout=2)
        self._relayout()

    def action_filter(self) -> None:
        box = self.query_one("#dash-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value.strip()
        self._relayout()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#dash-filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self.table.focus()
            event.stop()
            event.prevent_default()

    def action_back(self) -> None:
        if self.top_level:
            self.app.exit()
        else:
            self.app.pop_screen()

    def action_details(self) -> None:
        pod = self._selected()
        if pod is None:
            return
        self.fetch_details(pod)

    @work(thread=True, group="details", exit_on_error=False, description="fetching the pod's events")
    def fetch_details(self, pod: PodView) -> None:
        """The pod's events, all of them (the live view keeps warnings only), asked for when wanted."""
        from digit_tui.health.watcher import describe_error
        from digit_tui.screens.dialogs import TextViewer

        events: list[Any] = []
        note = ""
        kube = self.watcher.kube if self.watcher is not None else None
        try:
            if kube is None:
                raise ConnectionError("not connected yet")
            events = kube.events_for(pod.namespace, "Pod", pod.name)
        except Exception as exc:
            events = self.model.pod_warnings(pod.key) if self.model is not None else []
            note = f"events not fetched ({describe_error(exc)}): warnings seen so far"
        self.app.call_from_thread(self.app.push_screen, TextViewer(
            f"{pod.namespace}/{pod.name}", details_lines(pod, events, note, self.clock()),
            subtitle="q back · l logs"))

    def action_events(self) -> None:
        from digit_tui.screens.dialogs import TextViewer

        events = self.model.warnings(300) if self.model is not None else []
        lines: list[Text | str] = []
        for e in events:
            inv = e.get("involvedObject") or {}
            t = event_time(e)
            lines.append(Text.assemble(
                time.strftime("%H:%M:%S", time.localtime(t)) if t else "--:--:--", " ", ("! ", "yellow"),
                (f"{(inv.get('kind') or '').lower()}/{inv.get('name') or ''} ", "bold"),
                f"{e.get('reason') or ''}: {e.get('message') or ''}"))
        self.app.push_screen(TextViewer("recent warnings (latest last)", lines or ["no warnings"]))

    def action_logs(self) -> None:
        pod = self._selected()
        if pod is None:
            self.notify("select a pod first", severity="warning")
            return
        self.notify(f"fetching logs of {pod.name}…", timeout=2)
        self.fetch_logs(pod.namespace, pod.name)

    @work(thread=True, group="logs", exit_on_error=False, description="fetching pod logs")
    def fetch_logs(self, namespace: str, name: str) -> None:
        import json

        from digit_tui.health.watcher import describe_error
        from digit_tui.screens.dialogs import TextViewer

        kube = self.watcher.kube if self.watcher is not None else None
        try:
            if kube is None:
                raise ConnectionError("not connected to the cluster yet")
            text = kube.pod_log(namespace, name, tail_lines=500)
        except Exception as exc:
            body = getattr(exc, "body", None)
            why = describe_error(exc)
            if body:
                try:
                    why = json.loads(body).get("message") or why
                except ValueError:
                    pass
            self.app.call_from_thread(self.app.show_error, f"No logs for {namespace}/{name}",  # type: ignore[attr-defined]
                                      why, "press enter for the pod's events; a waiting container has no logs yet.")
            return
        lines = (text or "").splitlines() or ["(the container has written nothing)"]
        self.app.call_from_thread(self.app.push_screen, TextViewer(f"logs · {namespace}/{name}", lines))


def details_lines(pod: PodView, events: list[Any], note: str, now: float) -> list[Text | str]:
    """The details page of one pod: its state, why, and its events (oldest first)."""
    status, st = pod_status_cell(pod)
    lines: list[Text | str] = [
        Text.assemble(("pod ", "bold"), f"{pod.namespace}/{pod.name}"),
        Text.assemble(("status ", "bold"), (status, st), f"   ready {pod.ready}   restarts {pod.restarts}"),
        Text.assemble(("node ", "bold"), pod.node, ("   created ", "bold"),
                      time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(pod.created)) if pod.created else "–"),
    ]
    if pod.reason:
        lines.append(Text.assemble(("why ", "bold"), (pod.reason, "red" if pod.faulty else "")))
    lines.append("")
    lines.append(Text(f"events ({len(events)})", style="bold"))
    if note:
        lines.append(Text(note, style="dim"))
    for e in events[-100:]:
        t = event_time(e)
        warn = e.get("type") == "Warning"
        lines.append(Text.assemble(
            time.strftime("%H:%M:%S", time.localtime(t)) if t else "--:--:--",
            (f" {age(now - t) if t else '–':>4} ago ", "dim"),
            ("! " if warn else "  ", "yellow" if warn else ""),
            (f"{e.get('reason') or ''}: ", "bold"), str(e.get("message") or "")))
    if not events:
        lines.append(Text("no events recorded for this pod", style="dim"))
    return lines
