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
screen is up (every screen's policy, ``screens/base.py``), and after each page of
the first list, is frozen (``gc.freeze``):
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
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from digit_tui.health.model import KINDS, PodView, Summary, age, event_time
from digit_tui.health.viewwatchers import LINGER, ViewWatchers
from digit_tui.screens.base import DigitScreen
from digit_tui.widgets.podrow import SORTS, column_widths, header_text, matches, pod_status_cell
from digit_tui.widgets.footer import QuietFooter
from digit_tui.widgets.podtable import PodTable
from digit_tui.widgets.rowtable import RowTable
from digit_tui.widgets.stale import stale_banner
from digit_tui.widgets.viewrows import SPECS, NodePlan, nodes_footer

VIEWS = tuple(SPECS)    # the further views (their model, health/views.py, is imported off the event loop)

if TYPE_CHECKING:  # at run time they are imported on the worker's thread (the kubernetes client is slow)
    from digit_tui.health.live import Delta, Feeder, LiveModel
    from digit_tui.health.views import EventRow, NodeRow, ViewDelta, ViewsModel
    from digit_tui.health.watcher import ClusterWatcher, Connection

SUMMARY_KINDS = (("Deploy", "deployments"), ("StatefulSet", "statefulsets"), ("Job", "jobs"), ("PVC", "pvcs"),
                 ("Nodes", "nodes"))


FREEZE_AFTER = 500      # rows in one frame that are worth hiding from the collector (see above)


class PodsChanged(Message):
    """A frame from the feeder thread."""

    def __init__(self, delta: Delta) -> None:
        super().__init__()
        self.delta = delta


class ViewChanged(Message):
    """A frame of the view on screen (workloads, nodes, events) from the views' feeder thread."""

    def __init__(self, delta: ViewDelta) -> None:
        super().__init__()
        self.delta = delta


ORDER = ("pods", *VIEWS)


class DashboardScreen(DigitScreen):
    AUTO_FOCUS = "#pods"        # not the (hidden) filter box: a key pressed at once is a dashboard key
    HELP_TITLE = "dashboard"
    HELP_KEYS = [("tab / shift+tab", "next / previous view: pods → workloads → nodes → events"),
                 ("p w n e", "pods, workloads (ready x/y), nodes (requested vs allocatable), events"),
                 ("↑ ↓ pgup pgdn", "move"), ("enter", "pods: details with its events · workloads: its pods · "
                                                     "events: the whole message"),
                 ("l", "pods: logs of the selected pod (p there: the previous container)"),
                 ("f", "only what is wrong: faulty pods, workloads or nodes not ready, warnings"),
                 ("/", "filter by text (escape clears)"),
                 ("s", "pods: sort " + " → ".join(SORTS)),
                 ("h", "DIGIT health: the checks of `health --once`, exported as Markdown or JSON"),
                 ("q", "back"), ("ctrl+q", "quit")]
    HELP_NOTES = ["When the cluster does not answer, the last data stays on screen, dimmed, with its age; "
                  "the dashboard reconnects by itself.",
                  "Events: warnings first, then normal events, newest first (the newest 500 of each); "
                  "with f only warnings, and a minute later only they are watched (field-selected type=Warning)."]

    EXTRA_LINGER = LINGER       # seconds a view's own watcher runs on once no view shown wants it
    BINDINGS = [
        Binding("enter", "details", "details", show=True),
        Binding("l", "logs", "logs"),
        Binding("f", "faults", "faults"),
        Binding("slash", "filter", "filter"),
        Binding("s", "sort", "sort"),
        Binding("tab", "next_view(1)", "view"),
        Binding("shift+tab", "next_view(-1)", "view", show=False),
        Binding("p", "view('pods')", "pods", show=False),
        Binding("w", "view('workloads')", "workloads", show=False),
        Binding("n", "view('nodes')", "nodes", show=False),
        Binding("e", "view('events')", "events", show=False),
        Binding("h", "health", "health"),
        Binding("question_mark", "help", "help"),
        Binding("q,escape", "back", "back"),
    ]

    def __init__(self, kubeconfig: str | None, context: str | None = None, *, faults_only: bool = False,
                 top_level: bool = False, probe_interval: float | None = None,
                 clock: Callable[[], float] = time.time, plan: NodePlan | None = None) -> None:
        super().__init__(id="dashboard")
        self.probe_interval = probe_interval
        self.kubeconfig, self.context = kubeconfig, context
        self.faults_only = faults_only
        self.top_level = top_level
        self.clock = clock
        self.plan = plan                     # the install's sizing plan, for the nodes view (None: none)
        self.sort_mode = SORTS[0]
        self.text_filter = ""
        self.view = "pods"
        self.only: dict[str, bool] = {v: False for v in VIEWS}     # `f` per further view
        self.watcher: ClusterWatcher | None = None
        self.model: LiveModel | None = None
        self.feeder: Feeder[Delta] | None = None
        self.views_model: ViewsModel | None = None
        self.views_feeder: Feeder[ViewDelta] | None = None
        self.view_listed: frozenset[str] = frozenset()
        # the watchers only a shown view needs (DaemonSets, normal events), kept a while once unwanted
        self.extras: ViewWatchers[ClusterWatcher] = ViewWatchers(self._start_extra, self._stop_extra,
                                                                 linger=self.EXTRA_LINGER)
        self._extra_lock = threading.Lock()
        self.summary: Summary | None = None
        self.listed: frozenset[str] = frozenset()
        self.connection: Connection | None = None
        self.frames = 0                      # deltas applied (tests and benches read it)
        self.view_frames = 0
        self._shown: dict[str, Any] = {}     # what each Static shows now: updated only when it changes
        self._laid_out: dict[str, tuple[Any, ...]] = {}    # per view: the filter its table is laid out for
        self._mounted: set[str] = set()      # the further views mounted so far (on their first showing)
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
        with Vertical(id="view-pods", classes="dash-view"):
            yield Static(id="pods-header", classes="view-header")
            yield PodTable(id="pods", clock=self.clock)
        # The further views are mounted when first shown (``_mount_view``): composed here, hidden,
        # their widgets' styles were applied with the first frame's, about 50 ms later on screen.
        yield QuietFooter(show_command_palette=False)

    def _view_widgets(self, view: str) -> Vertical:
        spec = SPECS[view]
        table = RowTable[Any](id=f"rows-{view}", sort_key=spec.sort, clock=self.clock, ticks=spec.ticks,
                              follow_top=spec.follow_top, line_text=self._renderer(view))
        parts: list[Static | RowTable[Any]] = [Static(id=f"{view}-header", classes="view-header"), table]
        if view == "nodes":
            parts.append(Static(id="nodes-footer"))
        return Vertical(*parts, id=f"view-{view}", classes="dash-view")

    async def _mount_view(self, view: str) -> None:
        """Mount a further view the first time it is shown, hidden until ``action_view`` shows it.
        Its rows come only once it is active in the model (``ViewsModel.activate``), which is after this."""
        if view == "pods" or view in self._mounted:
            return
        self._mounted.add(view)
        box = self._view_widgets(view)
        box.display = False
        await self.mount(box, before=self.query_one(QuietFooter))
        self._layout_columns()
        stale = self.connection is not None and not self.connection.reachable
        self.view_table(view).set_class(stale, "-stale")

    def _renderer(self, view: str) -> Callable[[Any, float], Text]:
        spec = SPECS[view]
        return lambda row, now: spec.text(row, self._columns[view], now)

    @property
    def table(self) -> PodTable:
        return self.query_one("#pods", PodTable)

    def view_table(self, view: str) -> RowTable[Any]:
        return self.query_one(f"#rows-{view}", RowTable)

    def on_mount(self) -> None:
        self.query_one("#dash-filter", Input).display = False
        self.query_one("#dash-banner", Static).display = False
        self._set("#dash-summary", Text("● connecting to the cluster…", style="yellow"))
        self._columns: dict[str, Any] = {}
        self._layout_columns()
        self._relayout()
        self.table.focus()
        self.watch_cluster()
        self.watch_views()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._stop.set()
        for feeder in (self.feeder, self.views_feeder):
            if feeder is not None:
                feeder.stop()
        watchers = [w for w in (self.watcher, *self.extras.close()) if w is not None]
        for w in watchers:
            threading.Thread(target=w.stop, name="watch-stop", daemon=True).start()

    def on_resize(self) -> None:
        self._layout_columns()
        self._render_title()     # its right-hand side sits at the new width

    # -- threads: watcher → model → frames -----------------------------------------------------
    def _connect(self) -> None:
        """Build the model and start watching (the kubernetes client is imported here, off the loop)."""
        try:
            from digit_tui.health.live import LiveModel
            from digit_tui.health.watcher import PROBE_INTERVAL, ClusterWatcher

            from digit_tui.health.views import Tee, ViewsModel

            model = LiveModel(clock=self.clock)
            views = ViewsModel(clock=self.clock)
            self.views_model = views
            views.activate(self.view if self.view != "pods" else None)   # a view chosen meanwhile
            # One watcher feeds the pods and the other views: the types they share are watched once.
            watcher = ClusterWatcher(self.kubeconfig, self.context, sink=Tee(model, views),
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

    def _await_connection(self, *, report: bool) -> bool:
        """On a worker thread: wait until connected. False when the screen went away, or the
        connection failed (raised instead when ``report``: the worker turns it into the dialog)."""
        worker = get_current_worker()
        while not self._connected.wait(0.5):
            if self._stop.is_set() or worker.is_cancelled:
                return False
        if self._connect_error is not None:
            if report:
                raise self._connect_error
            return False
        return not (self._stop.is_set() or worker.is_cancelled)

    @work(thread=True, exclusive=True, group="cluster", exit_on_error=False, description="watching the cluster")
    def watch_cluster(self) -> None:
        from digit_tui.health.live import Feeder

        if not self._await_connection(report=True):
            return
        assert self.model is not None
        self.feeder = Feeder(self.model, lambda delta: self.post_message(PodsChanged(delta)))
        if not self._stop.is_set():
            self.feeder.run()

    @work(thread=True, exclusive=True, group="views", exit_on_error=False, description="watching the cluster")
    def watch_views(self) -> None:
        from digit_tui.health.live import Feeder

        if not self._await_connection(report=False):    # watch_cluster reports a failure
            return
        assert self.views_model is not None
        self.views_feeder = Feeder(self.views_model, lambda delta: self.post_message(ViewChanged(delta)))
        if not self._stop.is_set():
            self.views_feeder.run()

    def _extras_for(self, view: str) -> None:
        """Run the watchers the shown view needs alone, park the others (``ViewWatchers``; a worker
        thread: a watcher's start reads the kubeconfig, its stop joins threads)."""
        threading.Thread(target=self._set_extras, name="dashboard-extras", daemon=True).start()

    def _set_extras(self) -> None:
        from digit_tui.health.views import EXTRA_TYPES

        if not self._connected.wait(30) or self._connect_error is not None or self.views_model is None:
            return
        with self._extra_lock:
            if self._stop.is_set():
                return
            # What the view shown now needs (read under the lock: the last of several quick switches wins).
            view = self.view
            self.extras.want(set(EXTRA_TYPES.get(view, {})) if not (view == "events" and self.only["events"]) else ())

    def _start_extra(self, kind: str) -> ClusterWatcher | None:
        from digit_tui.health.views import EXTRA_SELECTORS, EXTRA_TYPES
        from digit_tui.health.watcher import ClusterWatcher

        if self.views_model is None:
            return None
        types = {v: t for views in EXTRA_TYPES.values() for v, t in views.items() if v == kind}
        watcher = ClusterWatcher(self.kubeconfig, self.context, sink=self.views_model, probe_interval=None,
                                 types=types, field_selectors=EXTRA_SELECTORS)
        try:
            watcher.start()
        except ValueError:
            return None         # the main watcher has said why (the same kubeconfig)
        return watcher

    def _stop_extra(self, watcher: ClusterWatcher) -> None:
        if self.views_model is not None:
            self.views_model.forget(watcher.types)
        watcher.stop()

    def on_view_changed(self, message: ViewChanged) -> None:
        delta = message.delta
        try:
            self.view_table(delta.view).apply(delta.upserts, delta.removed)
            self.view_listed = delta.listed
            self.view_frames += 1
            if delta.view == self.view:
                self._render_title()
                if delta.view == "nodes":
                    self._render_nodes_footer()
        finally:
            if self.views_feeder is not None:
                self.views_feeder.ack()

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
        """Update a Static only when what it shows changes (an update redraws it). Each is one line
        high (dashboard.tcss), so new text never changes the layout: no layout of the whole screen
        (a full redraw) for a title whose count changed."""
        sig = (text.plain, tuple(text.spans), str(text.style))
        if self._shown.get(selector) != sig:
            self._shown[selector] = sig
            self.query_one(selector, Static).update(text, layout=False)

    def _layout_columns(self) -> None:
        width = self.size.width or 80
        widths = column_widths(width)
        self._set("#pods-header", header_text(widths))
        self.table.set_widths(widths)
        for view in self._mounted:
            cols = SPECS[view].columns(width)
            if self._columns.get(view) != cols:
                self._columns[view] = cols
                self._set(f"#{view}-header", cols.header())
                self.view_table(view).clear_cache()

    def _predicate(self) -> Callable[[PodView], bool] | None:
        needle = self.text_filter.lower()
        if self.faults_only and needle:
            return lambda p: p.faulty and matches(p, needle)
        if self.faults_only:
            return lambda p: p.faulty
        if needle:
            return lambda p: matches(p, needle)
        return None

    def _view_predicate(self, view: str) -> Callable[[Any], bool] | None:
        spec, needle, only = SPECS[view], self.text_filter.lower(), self.only[view]
        if only and needle:
            return lambda r: spec.bad(r) and spec.matches(r, needle)
        if only:
            return spec.bad
        if needle:
            return lambda r: spec.matches(r, needle)
        return None

    def _tick(self) -> None:
        """Once a second: ages that tick over on screen, the banner's count while stale."""
        if self.view == "pods":
            self.table.refresh_ages()
        else:
            self.view_table(self.view).refresh_ages()
        if self.connection is not None and not self.connection.reachable:
            self._render_banner()

    def _state_text(self, listed: bool) -> Text:
        if self.connection is not None and not self.connection.reachable:
            return Text("⏸ stale", style="yellow")
        if not listed:
            return Text("◌ syncing", style="dim")
        return Text("● live", style="green")

    def _title_text(self) -> Text:
        if self.view != "pods":
            return self._view_title(self.view)
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
            right.append_text(self._state_text(set(KINDS) <= self.listed))
        return self._spread(left, right)

    def _view_title(self, view: str) -> Text:
        spec, table = SPECS[view], self.view_table(view)
        left = Text(spec.title, style="bold")
        if view == "events":
            left.append(" · warnings first")
        left.append(f" · {spec.bad_label} only [f]" if self.only[view] else " · all [f]")
        if self.text_filter:
            left.append(f" · /{self.text_filter}")
        from digit_tui.health.views import VIEW_KINDS

        kinds = set(VIEW_KINDS[view]) - ({"normal-events"} if view == "events" and self.only["events"] else set())
        right = Text()
        if kinds <= self.view_listed or table.rows:
            bad = sum(1 for r in table.rows.values() if spec.bad(r))
            right.append(f"{len(table.rows)} {spec.noun} · ")
            right.append(f"{bad} {spec.bad_label}", style=("bold yellow" if view == "events" else "bold red")
                         if bad else "green")
            right.append(" · ")
        right.append_text(self._state_text(kinds <= self.view_listed))
        return self._spread(left, right)

    def _spread(self, left: Text, right: Text) -> Text:
        width = self.size.width or 80
        left.append(" " * max(1, width - left.cell_len - right.cell_len))
        left.append_text(right)
        return left

    def _render_nodes_footer(self) -> None:
        rows: list[NodeRow] = list(self.view_table("nodes").rows.values())
        self._set("#nodes-footer", nodes_footer(rows, self.plan, self.size.width or 80))

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
        for view in self._mounted:
            self.view_table(view).set_class(stale, "-stale")
        self.query_one("#dash-summary", Static).set_class(stale, "-stale")
        if not stale:
            banner.display = False
            return
        assert f is not None
        text = stale_banner(f.unreachable_since, f.data_time, f.error, self.clock())
        self._set("#dash-banner", text)
        banner.display = True

    def _selected(self) -> PodView | None:
        key = self.table.cursor_key
        return self.table.rows.get(key) if key else None

    def _relayout(self) -> None:
        """Lay the shown view out for its filter (the others when they are shown: a view's layout
        sorts all its rows, so it is done only when it is seen)."""
        view = self.view
        sig = (self.text_filter, self.faults_only if view == "pods" else self.only[view], self.sort_mode)
        if self._laid_out.get(view) != sig:
            self._laid_out[view] = sig
            if view == "pods":
                self.table.set_view(predicate=self._predicate(), sort=self.sort_mode)
            else:
                self.view_table(view).set_view(self._view_predicate(view))
        self._render_title()

    def _focused_table(self) -> PodTable | RowTable[Any]:
        return self.table if self.view == "pods" else self.view_table(self.view)

    # -- views -------------------------------------------------------------------------------
    async def action_view(self, view: str) -> None:
        if view == self.view or view not in ORDER:
            return
        await self._mount_view(view)
        self.query_one(f"#view-{self.view}").display = False
        self.view = view
        self.query_one(f"#view-{view}").display = True
        if self.views_model is not None:      # else it is activated for self.view once made
            self.views_model.activate(view if view != "pods" else None)
        self._extras_for(view)
        self._relayout()
        if view == "nodes":
            self._render_nodes_footer()
        if not self.query_one("#dash-filter", Input).has_focus:
            self._focused_table().focus()
        self.refresh_bindings()

    async def action_next_view(self, step: int) -> None:
        await self.action_view(ORDER[(ORDER.index(self.view) + step) % len(ORDER)])

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("logs", "sort"):
            return self.view == "pods"
        if action == "details":
            return self.view != "nodes"
        return True

    # -- actions -----------------------------------------------------------------------------
    def action_faults(self) -> None:
        if self.view == "pods":
            self.faults_only = not self.faults_only
        else:
            self.only[self.view] = not self.only[self.view]
            if self.view == "events":
                self._extras_for("events")     # warnings only: the normal events' watcher is parked
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
        self._focused_table().focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#dash-filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self._focused_table().focus()
            event.stop()
            event.prevent_default()

    def action_back(self) -> None:
        if self.top_level:
            self.app.exit()
        else:
            self.app.pop_screen()

    def action_health(self) -> None:
        from digit_tui.screens.health import HealthScreen

        stack = self.app.screen_stack
        if not self.top_level and len(stack) > 1 and isinstance(stack[-2], HealthScreen):
            self.app.pop_screen()       # opened from that health view: back to it
        else:
            self.app.push_screen(HealthScreen(self.kubeconfig, self.context))

    async def action_details(self) -> None:
        if self.view == "workloads":
            await self._workload_pods()
            return
        if self.view == "events":
            self._event_details()
            return
        pod = self._selected()
        if pod is None:
            return
        self.fetch_details(pod)

    async def _workload_pods(self) -> None:
        """enter on a workload: the pods view, filtered by its name."""
        key = self.view_table("workloads").cursor_key
        row = self.view_table("workloads").rows.get(key) if key else None
        if row is None:
            return
        box = self.query_one("#dash-filter", Input)
        box.display = True
        box.value = row.name            # on_input_changed lays the pods out for it
        await self.action_view("pods")
        self.table.focus()

    def _event_details(self) -> None:
        from digit_tui.screens.dialogs import TextViewer

        key = self.view_table("events").cursor_key
        row: EventRow | None = self.view_table("events").rows.get(key) if key else None
        if row is None:
            return
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row.time)) if row.time else "–"
        self.app.push_screen(TextViewer(f"event · {row.namespace} {row.subject}", [
            Text.assemble(("type ", "bold"), ("Warning", "yellow") if row.warning else "Normal",
                          ("   reason ", "bold"), row.reason, ("   count ", "bold"), str(row.count)),
            Text.assemble(("last seen ", "bold"), when, f"  ({age(self.clock() - row.time)} ago)" if row.time else ""),
            "", row.message or "(no message)"]))

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

    def action_logs(self) -> None:
        from digit_tui.screens.logs import LogsScreen

        pod = self._selected()
        if pod is None:
            self.notify("select a pod first", severity="warning")
            return
        self.app.push_screen(LogsScreen(lambda: self.watcher.kube if self.watcher is not None else None,
                                        pod.namespace, pod.name, clock=self.clock))


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
