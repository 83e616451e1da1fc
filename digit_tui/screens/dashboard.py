"""The pod dashboard: workload summary, pods table updated in place by row key, faults first.

A ``ClusterWatcher`` keeps the snapshot in background threads; a worker thread
turns it into the health model and hands it to the screen, so building the
rows never blocks the event loop. When the cluster stops answering, the last
data stays on screen, dimmed, under a banner with its age.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Input, Static
from textual.worker import get_current_worker

from digit_tui.health.model import HealthModel, PodView, age, build_model, event_time, events_by_object
from digit_tui.health.watcher import ClusterWatcher, WatchSnapshot
from digit_tui.screens.base import DigitScreen

REFRESH = 0.5
SORTS = ("namespace", "status", "restarts", "age", "node")
COLUMNS = ("NAMESPACE", "NAME", "READY", "STATUS", "RST", "AGE", "NODE")


@dataclass(frozen=True)
class Frame:
    """What the worker hands the screen each refresh."""

    model: HealthModel | None
    synced: bool
    reachable: bool
    unreachable_since: float | None
    data_time: float | None
    error: str | None
    snapshot: WatchSnapshot | None


def column_widths(width: int) -> list[int]:
    """Fixed widths per terminal width; NAME takes what is left."""
    ns, node = (11, 8) if width < 110 else (16, 16)
    fixed = [ns, 0, 6, 20, 4, 5, node]
    name = max(12, width - sum(fixed) - 2)
    fixed[1] = name
    return fixed


def _cell(value: str, width: int, style: str = "") -> Text:
    text = " " + value
    if len(text) > width:
        text = text[: max(1, width - 1)] + "…"
    return Text(text.ljust(width), style=style, no_wrap=True, overflow="crop")


def pod_status_cell(p: PodView) -> tuple[str, str]:
    if p.faulty:
        return "✗ " + p.status, "bold red"
    if p.status in ("Running",) and p.ready.split("/")[0] == p.ready.split("/")[1]:
        return "✓ " + p.status, "green"
    if p.status in ("Succeeded", "Completed"):
        return "✓ " + p.status, "dim"
    return "● " + p.status, "yellow"


def row_cells(p: PodView, widths: list[int], now: float) -> list[Text]:
    status, st_style = pod_status_cell(p)
    values = [(p.namespace, ""), (p.name, ""), (p.ready, ""), (status, st_style),
              (str(p.restarts), "yellow" if p.restarts else ""), (age(now - p.created if p.created else None), ""),
              (p.node, "")]
    cells = [_cell(v, w, s) for (v, s), w in zip(values, widths)]
    if p.reason:
        # The reason reads as one line under the row: split it across the cells (no padding between them).
        line = "  └ " + p.reason
        pos = 0
        for i, w in enumerate(widths):
            chunk = line[pos: pos + w] if i < len(widths) - 1 else line[pos:]
            pos += w
            cells[i].append("\n" + chunk.ljust(w)[:w] if i < len(widths) - 1 else "\n" + chunk[:w],
                            style="red dim" if p.faulty else "dim")
    return cells


def sort_pods(pods: list[PodView], mode: str, now: float) -> list[PodView]:
    if mode == "status":
        return sorted(pods, key=lambda p: (not p.faulty, p.status, p.namespace, p.name))
    if mode == "restarts":
        return sorted(pods, key=lambda p: (-p.restarts, p.namespace, p.name))
    if mode == "age":
        return sorted(pods, key=lambda p: (-(p.created or 0), p.namespace, p.name))
    if mode == "node":
        return sorted(pods, key=lambda p: (p.node, p.namespace, p.name))
    return sorted(pods, key=lambda p: (p.namespace, p.name))


class DashboardScreen(DigitScreen):
    HELP_TITLE = "pod dashboard"
    HELP_KEYS = [("↑ ↓", "move between pods"), ("enter", "pod details with its events"),
                 ("l", "logs of the selected pod"), ("e", "recent cluster events"),
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
                 top_level: bool = False, probe_interval: float | None = None) -> None:
        super().__init__(id="dashboard")
        self.probe_interval = probe_interval
        self.kubeconfig, self.context = kubeconfig, context
        self.faults_only = faults_only
        self.top_level = top_level
        self.sort_mode = SORTS[0]
        self.text_filter = ""
        self.watcher: ClusterWatcher | None = None
        self.frame: Frame | None = None
        self._layout: list[tuple[str, int]] = []   # (row key, height) in table order
        self._cells: dict[str, list[Text]] = {}
        self._widths: list[int] = []
        self._wake = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static(id="dash-title")
        yield Static(id="dash-summary")
        yield Static(id="dash-banner")
        yield Input(placeholder="filter: namespace, name, status or node (escape clears)", id="dash-filter")
        table: DataTable[Text] = DataTable(id="pods", cursor_type="row", cell_padding=0, zebra_stripes=False)
        yield table
        yield Footer(show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#dash-filter", Input).display = False
        self.query_one("#dash-banner", Static).display = False
        self.query_one("#dash-title", Static).update(self._title_text())
        self.query_one("#dash-summary", Static).update(Text("● connecting to the cluster…", style="yellow"))
        self._setup_columns()
        self.query_one("#pods", DataTable).focus()
        self.watch_cluster()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._wake.set()
        if self.watcher is not None:
            w, self.watcher = self.watcher, None
            threading.Thread(target=w.stop, name="watch-stop", daemon=True).start()

    def on_resize(self) -> None:
        self._setup_columns()
        self._rebuild()

    # -- worker: watcher → model -----------------------------------------------------------
    @work(thread=True, exclusive=True, group="cluster", exit_on_error=False, description="watching the cluster")
    def watch_cluster(self) -> None:
        worker = get_current_worker()
        watcher = ClusterWatcher(self.kubeconfig, self.context, **(
            {"probe_interval": self.probe_interval} if self.probe_interval else {}))
        watcher.start()  # ValueError for a broken kubeconfig: becomes the error dialog
        self.watcher = watcher
        seen = -1
        last_push = 0.0
        started = time.monotonic()
        while not worker.is_cancelled:
            version = watcher.version
            if version != seen or time.monotonic() - last_push > 5:
                seen = version
                snap = watcher.snapshot()
                # Wait for every type's first list (a half-listed cluster would look falsely healthy),
                # unless one type never lists (RBAC): then show what there is.
                partial_ok = time.monotonic() - started > 5 and bool(snap.objects.get("pods"))
                model = build_model(snap.objects) if snap.synced or partial_ok else None
                frame = Frame(model=model, synced=snap.synced, reachable=snap.reachable,
                              unreachable_since=snap.unreachable_since, data_time=snap.data_time,
                              error=snap.error, snapshot=snap)
                last_push = time.monotonic()
                if worker.is_cancelled:
                    break
                self.app.call_from_thread(self._apply, frame)
            self._wake.wait(REFRESH)
        watcher.stop()

    # -- rendering ----------------------------------------------------------------------------
    def _setup_columns(self) -> None:
        width = self.size.width or 80
        widths = column_widths(width)
        if widths == self._widths:
            return
        self._widths = widths
        table = self.query_one("#pods", DataTable)
        table.clear(columns=True)
        for name, w in zip(COLUMNS, widths):
            table.add_column(Text((" " + name).ljust(w), style="bold"), width=w, key=name)
        self._layout = []
        self._cells = {}

    def _visible(self) -> list[PodView]:
        if self.frame is None or self.frame.model is None:
            return []
        pods = self.frame.model.faults if self.faults_only else self.frame.model.pods
        if self.text_filter:
            needle = self.text_filter.lower()
            pods = [p for p in pods if needle in f"{p.namespace} {p.name} {p.status} {p.node} {p.fault or ''}".lower()]
        return sort_pods(pods, self.sort_mode, time.time())

    def _apply(self, frame: Frame) -> None:
        self.frame = frame
        self._render_summary()
        self._render_banner()
        self._render_rows()

    def _tick(self) -> None:
        self._render_banner()
        self.query_one("#dash-title", Static).update(self._title_text())

    def _title_text(self) -> Text:
        f = self.frame
        left = Text("Pods · all namespaces", style="bold")
        left.append(" · faults only [f]" if self.faults_only else " · all [f]")
        if self.text_filter:
            left.append(f" · /{self.text_filter}")
        right = Text()
        if f is None or f.model is None:
            right.append("◌ connecting", style="dim")
        else:
            s = f.model.summary
            right.append(f"{s.pods} pods · ")
            right.append(f"{s.faulty} faulty", style="bold red" if s.faulty else "green")
            if f.reachable:
                right.append(" · ")
                right.append("● live", style="green")
            else:
                right.append(" · ")
                right.append("⏸ stale", style="yellow")
        width = self.size.width or 80
        left.append(" " * max(1, width - left.cell_len - right.cell_len))
        left.append_text(right)
        return left

    def _render_summary(self) -> None:
        f = self.frame
        if f is None or f.model is None:
            return
        s = f.model.summary
        t = Text()
        for label, count in (("Deploy", s.deployments), ("StatefulSet", s.statefulsets), ("Job", s.jobs),
                             ("PVC", s.pvcs), ("Nodes", s.nodes)):
            t.append(f"{label} {count} ")
            t.append("✓" if count.ok else "✗", style="green" if count.ok else "bold red")
            t.append("  ")
        self.query_one("#dash-summary", Static).update(t)
        self.query_one("#dash-title", Static).update(self._title_text())

    def _render_banner(self) -> None:
        f = self.frame
        banner = self.query_one("#dash-banner", Static)
        table = self.query_one("#pods", DataTable)
        stale = f is not None and not f.reachable
        table.set_class(stale, "-stale")
        self.query_one("#dash-summary", Static).set_class(stale, "-stale")
        if not stale:
            banner.display = False
            return
        assert f is not None
        since = f.unreachable_since or time.time()
        text = Text("⏸ ", style="bold yellow")
        text.append(f"cluster unreachable for {int(time.time() - since)} s")
        if f.data_time:
            text.append(" — data from " + time.strftime("%H:%M:%S", time.localtime(f.data_time)))
        else:
            text.append(" — no data yet")
        text.append(" — retrying")
        if f.error:
            text.append(f" ({f.error})", style="dim")
        banner.update(text)
        banner.display = True

    def _render_rows(self) -> None:
        table = self.query_one("#pods", DataTable)
        now = time.time()
        pods = self._visible()
        layout = [(p.key, 2 if p.reason else 1) for p in pods]
        cells = {p.key: row_cells(p, self._widths, now) for p in pods}
        if layout != self._layout:
            self._rebuild(pods=pods, cells=cells, layout=layout)
            return
        # Same rows in the same order: touch only the cells that changed (cursor and scroll stay put).
        for key, _h in layout:
            old, new = self._cells.get(key), cells[key]
            if old is None:
                continue
            for col, (a, b) in enumerate(zip(old, new)):
                if a.plain != b.plain or a.style != b.style:
                    table.update_cell(key, COLUMNS[col], b)
        self._cells = cells

    def _rebuild(self, *, pods: list[PodView] | None = None, cells: dict[str, list[Text]] | None = None,
                 layout: list[tuple[str, int]] | None = None) -> None:
        table = self.query_one("#pods", DataTable)
        if pods is None:
            now = time.time()
            pods = self._visible()
            layout = [(p.key, 2 if p.reason else 1) for p in pods]
            cells = {p.key: row_cells(p, self._widths, now) for p in pods}
        assert cells is not None and layout is not None
        keep = self._cursor_key()
        table.clear()
        for key, height in layout:
            table.add_row(*cells[key], key=key, height=height)
        self._layout, self._cells = layout, cells
        if keep is not None and keep in cells:
            table.move_cursor(row=table.get_row_index(keep), animate=False)

    def _cursor_key(self) -> str | None:
        table = self.query_one("#pods", DataTable)
        if table.row_count == 0:
            return None
        try:
            return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def _selected(self) -> PodView | None:
        key = self._cursor_key()
        if key is None or self.frame is None or self.frame.model is None:
            return None
        return next((p for p in self.frame.model.pods if p.key == key), None)

    # -- actions -----------------------------------------------------------------------------
    def action_faults(self) -> None:
        self.faults_only = not self.faults_only
        self._render_rows()
        self._tick()

    def action_sort(self) -> None:
        self.sort_mode = SORTS[(SORTS.index(self.sort_mode) + 1) % len(SORTS)]
        self.notify(f"sorted by {self.sort_mode}", timeout=2)
        self._render_rows()

    def action_filter(self) -> None:
        box = self.query_one("#dash-filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.text_filter = event.value.strip()
        self._render_rows()
        self._tick()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#pods", DataTable).focus()

    def on_key(self, event: Any) -> None:
        box = self.query_one("#dash-filter", Input)
        if event.key == "escape" and box.has_focus:
            box.value = ""
            box.display = False
            self.query_one("#pods", DataTable).focus()
            event.stop()
            event.prevent_default()

    def action_back(self) -> None:
        if self.top_level:
            self.app.exit()
        else:
            self.app.pop_screen()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_details()

    def action_details(self) -> None:
        from digit_tui.screens.dialogs import TextViewer

        pod = self._selected()
        if pod is None:
            return
        snap = self.frame.snapshot if self.frame else None
        events = events_by_object(snap.objects.get("events") or []).get(pod.key, []) if snap else []
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
        now = time.time()
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
        self.app.push_screen(TextViewer(f"{pod.namespace}/{pod.name}", lines, subtitle="q back · l logs"))

    def action_events(self) -> None:
        from digit_tui.screens.dialogs import TextViewer

        snap = self.frame.snapshot if self.frame else None
        events = sorted(snap.objects.get("events") or [], key=event_time)[-300:] if snap else []
        lines: list[Text | str] = []
        for e in events:
            inv = e.get("involvedObject") or {}
            t = event_time(e)
            warn = e.get("type") == "Warning"
            lines.append(Text.assemble(
                time.strftime("%H:%M:%S", time.localtime(t)) if t else "--:--:--", " ",
                ("! " if warn else "  ", "yellow" if warn else ""),
                (f"{(inv.get('kind') or '').lower()}/{inv.get('name') or ''} ", "bold"),
                f"{e.get('reason') or ''}: {e.get('message') or ''}"))
        self.app.push_screen(TextViewer("cluster events (latest last)", lines or ["no events"]))

    def action_logs(self) -> None:
        pod = self._selected()
        if pod is None:
            self.notify("select a pod first", severity="warning")
            return
        self.notify(f"fetching logs of {pod.name}…", timeout=2)
        self.fetch_logs(pod.namespace, pod.name)

    @work(thread=True, group="logs", exit_on_error=False, description="fetching pod logs")
    def fetch_logs(self, namespace: str, name: str) -> None:
        from kubernetes import client

        from digit_tui.health.watcher import POLICY, describe_error, make_api_client
        from digit_tui.screens.dialogs import TextViewer

        api = make_api_client(self.kubeconfig, self.context)
        try:
            text = client.CoreV1Api(api).read_namespaced_pod_log(name, namespace, tail_lines=500,
                                                                  _request_timeout=POLICY.request_timeout(15.0))
        except Exception as exc:
            body = getattr(exc, "body", None)
            why = describe_error(exc)
            if body:
                try:
                    import json
                    why = json.loads(body).get("message") or why
                except ValueError:
                    pass
            self.app.call_from_thread(self.app.show_error, f"No logs for {namespace}/{name}",  # type: ignore[attr-defined]
                                      why, "press enter for the pod's events; a waiting container has no logs yet.")
            return
        finally:
            api.close()
        lines = (text or "").splitlines() or ["(the container has written nothing)"]
        self.app.call_from_thread(self.app.push_screen, TextViewer(f"logs · {namespace}/{name}", lines))
