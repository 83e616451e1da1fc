"""The pod dashboard against a real sandbox cluster: faults, reasons, and an unreachable cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from digit_tui.infra.kube import Kube
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from digit_tui.screens.dashboard import DashboardScreen
from digit_tui.widgets.podtable import PodTable
from tests.tui.conftest import SIZES, line_with, wait_screen
from tests.tui.test_dashboard_model import create_pod, set_restarts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    from kubernetes import client, config

    h = start_sandbox(tmp_path_factory.mktemp("dash-sandbox"), nodes=3, speed=50.0)
    api = config.new_client_from_config(str(h.kubeconfig_path))
    try:
        apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
        core.create_namespace({"metadata": {"name": "egov"}})

        def deployment(name: str, image: str, cpu: str = "100m") -> dict:
            return {"metadata": {"name": name}, "spec": {
                "replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
                    {"name": name, "image": image, "resources": {"requests": {"cpu": cpu}}}]}}}}

        apps.create_namespaced_deployment("egov", deployment("egov-user", "egovio/egov-user:v1"))
        apps.create_namespaced_deployment("egov", deployment("egov-hrms", "egovio/does-not-exist:v1"))
        apps.create_namespaced_deployment("egov", deployment("kafka-huge", "egovio/kafka:v1", cpu="100"))
        yield h
    finally:
        api.close()
        h.stop()


def _open(app: DigitApp, h: SandboxHandle, **kw: object) -> None:
    app.push_screen(DashboardScreen(str(h.kubeconfig_path), faults_only=False, probe_interval=0.3, **kw))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_faults_only_shows_the_bad_image_and_the_unschedulable_pod(cluster: SandboxHandle,
                                                                         size: tuple[int, int]) -> None:
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        _open(app, cluster)
        text = await wait_screen(pilot, lambda t: "ImagePullBackOff" in t and "nodes are available" in t
                                 and "✓ Running" in t and "● live" in t, timeout=20,
                                 what="all three pods with their states")
        summary = text.splitlines()[1]
        assert "Deploy 1/3 ✗" in summary and "Nodes 3/3 ✓" in summary
        assert "3 pods · 2 faulty · ● live" in text.splitlines()[0]
        await pilot.press("f")
        # The bad image's row is there once its first failed pull has been retried (infra/podstate.py).
        text = await wait_screen(pilot, lambda t: "faults only" in t and "✓ Running" not in t and "egov-hrms" in t,
                                 what="faults only")
        assert "egov-user" not in text
        bad = line_with(text, "egov-hrms")
        # The kubelet's retries flip the pod between the two, live: either is the image fault.
        assert ("✗ ImagePullBackOff" in bad or "✗ ErrImagePull" in bad) and "0/1" in bad
        pending = line_with(text, "kafka-huge")
        assert "✗ Pending" in pending
        below = text.splitlines()[text.splitlines().index(pending) + 1]
        assert "└" in below and "nodes are available" in below   # the scheduler's reason, under the pod

        # enter: details with the pod's events
        app.screen.query_one("#pods").focus()
        await pilot.press("enter")
        text = await wait_screen(pilot, lambda t: "events (" in t, what="pod details")
        assert "FailedScheduling" in text or "Failed" in text
        await pilot.press("q")
        await wait_screen(pilot, lambda t: "faults only" in t, what="back to the table")


async def test_unreachable_cluster_keeps_dimmed_data_with_its_age(tmp_path: Path) -> None:
    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    try:
        app = DigitApp(start="welcome")
        async with app.run_test(size=(80, 24)) as pilot:
            _open(app, h)
            await wait_screen(pilot, lambda t: "Nodes 1/1 ✓" in t and "● live" in t, timeout=15, what="live data")
            # Long enough never to heal by itself before the banner is seen; the test ends it.
            h.fault({"kind": "partition", "seconds": 300, "mode": "refuse"})
            text = await wait_screen(pilot, lambda t: "cluster unreachable for" in t, timeout=10, what="the banner")
            banner = line_with(text, "cluster unreachable for")
            assert "data from" in banner and "retrying" in banner
            assert "Nodes 1/1 ✓" in text           # the last data stays on screen
            assert "⏸ stale" in text.splitlines()[0]
            assert app.screen.query_one("#pods").has_class("-stale")
            h.clear_faults()
            text = await wait_screen(pilot, lambda t: "cluster unreachable" not in t and "● live" in t,
                                     timeout=15, what="recovery")
            assert not app.screen.query_one("#pods").has_class("-stale")
    finally:
        h.stop()


# -- rows change in place -------------------------------------------------------------------------
@pytest.fixture
def rows_cluster(tmp_path: Path) -> Iterator[tuple[SandboxHandle, Kube]]:
    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    kube = Kube(h.kubeconfig_path, timeout=10)
    try:
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "rows"}})
        for i in range(5):
            create_pod(kube, f"p-{i}")
        yield h, kube
    finally:
        kube.close()
        h.stop()


async def _open_rows(pilot: Any, h: SandboxHandle, want: list[str]) -> tuple[DashboardScreen, PodTable]:
    # A clock that stands still: ages never tick over, so anything redrawn was redrawn for a change.
    frozen = time.time() + 3600
    screen = DashboardScreen(str(h.kubeconfig_path), probe_interval=0.3, clock=lambda: frozen)
    pilot.app.push_screen(screen)
    await _open_rows_wait(pilot, want)
    return screen, screen.table


async def test_a_pod_change_redraws_that_row_and_no_other(rows_cluster: tuple[SandboxHandle, Kube]) -> None:
    h, kube = rows_cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _open_rows(pilot, h, [f"p-{i}" for i in range(5)])
        before = {k: table.cached_strip(k) for k in table.visible_keys()}
        assert len(before) == 5 and all(before.values())
        renders, frames = table.renders, screen.frames

        set_restarts(kube, "p-2", 7)
        text = await wait_screen(pilot, lambda t: " 7 " in line_with(t, " p-2 "), what="p-2 with 7 restarts")
        assert " 0 " in line_with(text, " p-1 ")
        after = {k: table.cached_strip(k) for k in table.visible_keys()}
        assert after["rows/p-2"] is not before["rows/p-2"]
        assert all(after[k] is before[k] for k in before if k != "rows/p-2")   # the others: the same lines
        assert table.renders - renders == 1                                   # one line drawn anew
        assert screen.frames > frames


async def test_a_new_pod_adds_one_row_and_a_deleted_pod_removes_one(rows_cluster: tuple[SandboxHandle, Kube]) -> None:
    h, kube = rows_cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=(120, 40)) as pilot:
        screen, table = await _open_rows(pilot, h, [f"p-{i}" for i in range(5)])
        before = {k: table.cached_strip(k) for k in table.visible_keys()}

        create_pod(kube, "p-5")
        await _open_rows_wait(pilot, ["p-5"])
        assert table.shown == 6 and len(table.rows) == 6
        assert table.visible_keys() == [f"rows/p-{i}" for i in range(6)]
        assert all(table.cached_strip(k) is strip for k, strip in before.items())

        kube.request("DELETE", "/api/v1/namespaces/rows/pods/p-1")
        text = await wait_screen(pilot, lambda t: " p-1 " not in t and "5 pods" in t, what="p-1 gone")
        assert table.shown == 5 and "rows/p-1" not in table.rows
        assert table.visible_keys() == ["rows/p-0", "rows/p-2", "rows/p-3", "rows/p-4", "rows/p-5"]
        # The rows below moved up a line; what they show was not drawn again.
        assert all(table.cached_strip(k) is before[k] for k in ("rows/p-0", "rows/p-2", "rows/p-3", "rows/p-4"))
        assert "5 pods · 0 faulty" in text.splitlines()[0]


async def test_nothing_is_redrawn_while_nothing_changes(rows_cluster: tuple[SandboxHandle, Kube]) -> None:
    h, _ = rows_cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        screen, table = await _open_rows(pilot, h, [f"p-{i}" for i in range(5)])
        await pilot.pause()
        assert screen.watcher is not None
        drawn, renders, frames = table.lines_drawn, table.renders, screen.frames
        # Time passes for the watcher (it asks the cluster every 0.3 s and its watches stay open)...
        probes = screen.watcher.probes
        for _ in range(4):
            await wait_until_async(pilot, lambda: screen.watcher is not None and screen.watcher.probes > probes)
            probes = screen.watcher.probes
        # ...and nothing reaches the screen: no frame, no line drawn.
        assert (table.lines_drawn, table.renders, screen.frames) == (drawn, renders, frames)


async def _open_rows_wait(pilot: Any, names: list[str]) -> None:
    await wait_screen(pilot, lambda t: "● live" in t and all(f" {n} " in t and "✓ Running" in line_with(t, f" {n} ")
                                                             for n in names), timeout=20, what=f"{names} running")


async def wait_until_async(pilot: Any, cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await pilot.pause(0.05)
