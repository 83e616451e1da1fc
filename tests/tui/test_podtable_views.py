"""The pod table on its own, in a headless Textual app: filters, the order of rows, scrolling while
rows come and go. No cluster: the rows are ``PodView``s as the live model hands them over
(tests/tui/test_dashboard.py covers the same table fed by a sandbox cluster's watch)."""

from __future__ import annotations

import random
from collections.abc import Callable

from textual.app import App, ComposeResult

from digit_tui.health.model import PodView
from digit_tui.widgets.podrow import sort_key
from digit_tui.widgets.podtable import PodTable

NOW = 1_800_000_000.0


def pod(i: int, *, faulty: bool = False, restarts: int = 0, ns: str = "egov") -> PodView:
    return PodView(key=f"{ns}/p-{i:04d}", namespace=ns, name=f"p-{i:04d}", ready="0/1" if faulty else "1/1",
                   status="ImagePullBackOff" if faulty else "Running", restarts=restarts, created=NOW - 60 - i,
                   node=f"node-{i % 3}", fault="image" if faulty else None,
                   reason="Back-off pulling image" if faulty else None)


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PodTable(id="pods", clock=lambda: NOW)


def fresh_order(table: PodTable, sort: str, keep: Callable[[PodView], bool] | None = None) -> list[tuple[str, int]]:
    """The lines a table laid out from scratch would show: every kept pod by the sort key, its reason under it."""
    pods = sorted((p for p in table.rows.values() if keep is None or keep(p)), key=sort_key(sort))
    return [(p.key, part) for p in pods for part in ((0, 1) if p.reason else (0,))]


def shown_order(table: PodTable) -> list[tuple[str, int]]:
    return [(key, part) for _, part, key in table._lines]


async def test_faults_and_back_keep_the_order_and_the_selection_while_pods_change() -> None:
    rnd = random.Random(7)
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(PodTable)
        table.apply({p.key: p for p in (pod(i, faulty=i % 9 == 0, restarts=i % 4) for i in range(300))})
        table.set_view(predicate=None, sort="restarts")
        await pilot.pause()
        # The selection: a faulty pod a few rows down, so both views show it.
        table.action_cursor_edge(0)
        for _ in range(3):
            table.action_cursor(1)
        while not table.rows[table.cursor_key or ""].faulty:
            table.action_cursor(1)
        chosen = table.cursor_key
        assert chosen is not None and chosen != table.visible_keys()[0]

        for round_ in range(6):
            faults = round_ % 2 == 0
            table.set_view(predicate=(lambda p: p.faulty) if faults else None, sort="restarts")
            # Pods change, come and go while the filter is on (or off); the chosen pod stays.
            upserts = {p.key: p for p in (pod(rnd.randrange(300), faulty=rnd.random() < 0.3,
                                              restarts=rnd.randrange(6)) for _ in range(40))}
            upserts.pop(chosen, None)
            gone = {f"egov/p-{rnd.randrange(300):04d}" for _ in range(5)} - {chosen}
            table.apply(upserts, gone)
            table.apply({p.key: p for p in (pod(300 + 10 * round_ + j) for j in range(3))})
            await pilot.pause()
            keep = (lambda p: p.faulty) if faults else None
            assert shown_order(table) == fresh_order(table, "restarts", keep)
            assert table.shown == len({k for k, _ in fresh_order(table, "restarts", keep)})
            assert table.virtual_size.height == len(table._lines)
            assert table.cursor_key == chosen

        # Back on all pods: the chosen pod is still selected, the order that of a fresh layout.
        table.set_view(predicate=None, sort="restarts")
        await pilot.pause()
        assert shown_order(table) == fresh_order(table, "restarts")
        assert table.cursor_key == chosen
        # Another sort mode still sorts again.
        table.set_view(predicate=None, sort="node")
        assert shown_order(table) == fresh_order(table, "node")
        assert table.cursor_key == chosen


async def test_rows_that_come_and_go_change_how_far_the_table_scrolls() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(PodTable)
        table.apply({p.key: p for p in (pod(i) for i in range(100))})
        table.set_view(predicate=None)
        await pilot.pause()

        # New pods at the end: the last one can be reached and is on screen.
        table.apply({p.key: p for p in (pod(i) for i in range(100, 160))})
        await pilot.pause()
        table.action_cursor_edge(1)
        await pilot.pause()
        assert table.cursor_key == "egov/p-0159"
        assert table.visible_keys()[-1] == "egov/p-0159"
        assert table.max_scroll_y == 160 - table.size.height

        # The last rows on screen go: the view moves up to the pods that are left, no blank lines.
        height = table.size.height
        table.apply({}, [f"egov/p-{i:04d}" for i in range(150, 160)])
        await pilot.pause()
        assert table.max_scroll_y == 150 - height and table.scroll_offset.y == 150 - height
        assert table.visible_keys() == [f"egov/p-{i:04d}" for i in range(150 - height, 150)]
        assert table.cursor_key == "egov/p-0149"        # the cursor's pod went: the last row takes it

        # Most pods go, above the view as well: it shows those left.
        table.apply({}, [f"egov/p-{i:04d}" for i in range(20, 150)])
        await pilot.pause()
        assert table.max_scroll_y == 0 and table.scroll_offset.y == 0
        assert table.visible_keys() == [f"egov/p-{i:04d}" for i in range(20)]
