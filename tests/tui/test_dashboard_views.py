"""The dashboard's further views against a real sandbox cluster: workloads, nodes, events, pod logs,
and an unreachable cluster (the sandbox's partition fault, cleared by the test)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from digit_tui.infra.kube import Kube
from digit_tui.infra.podrequests import pod_requests
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from digit_tui.screens.dashboard import DashboardScreen
from digit_tui.widgets.rowtable import RowTable
from digit_tui.widgets.viewrows import NodePlan, cpu_text, mem_text
from tests.tui.conftest import SIZES, line_with, screen_text, wait_screen

CRASH_LOG = "PSQLException: Connection to db-service:5432 refused."


def _template(name: str, image: str, cpu: str | None, mem: str | None) -> dict[str, Any]:
    res = {"requests": {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}} if cpu or mem else {}
    return {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image, "resources": res}]}}


def _workload(kind: str, name: str, image: str, *, replicas: int | None = 1, cpu: str | None = None,
              mem: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}, "template": _template(name, image, cpu, mem)}
    if replicas is not None:
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "egov"}, "spec": spec}


def _create(kube: Kube, obj: dict[str, Any]) -> None:
    plural = obj["kind"].lower() + "s"
    kube.request("POST", f"/apis/apps/v1/namespaces/egov/{plural}", body=obj)


def scale(kube: Kube, name: str, replicas: int) -> None:
    kube.request("PATCH", f"/apis/apps/v1/namespaces/egov/deployments/{name}", body={"spec": {"replicas": replicas}},
                 content_type="application/merge-patch+json")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxHandle, Kube]]:
    h = start_sandbox(tmp_path_factory.mktemp("views-sandbox"), nodes=2, speed=50.0,
                      crash_rules=[{"image_pattern": "crashy", "exit_code": 1, "after": 1.0, "log": CRASH_LOG}])
    kube = Kube(h.kubeconfig_path, timeout=10)
    try:
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "egov"}})
        _create(kube, _workload("Deployment", "egov-user", "egovio/egov-user:v1", replicas=2, cpu="250m", mem="256Mi"))
        _create(kube, _workload("Deployment", "egov-crashy", "egovio/egov-crashy:v1"))
        _create(kube, _workload("Deployment", "egov-hrms", "egovio/does-not-exist:v1"))
        _create(kube, _workload("StatefulSet", "kafka-v2", "egovio/kafka:v1", cpu="500m", mem="1Gi"))
        _create(kube, _workload("DaemonSet", "fluent-bit", "fluent/fluent-bit:1.9", replicas=None, cpu="100m",
                                mem="128Mi"))
        yield h, kube
    finally:
        kube.close()
        h.stop()


def _open(app: DigitApp, h: SandboxHandle, **kw: Any) -> DashboardScreen:
    screen = DashboardScreen(str(h.kubeconfig_path), probe_interval=0.3, **kw)
    app.push_screen(screen)
    return screen


def _no_line_wider(text: str, width: int) -> None:
    assert all(len(line) <= width for line in text.splitlines()), text


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_workloads_show_ready_x_of_y_and_follow_a_scale(cluster: tuple[SandboxHandle, Kube],
                                                              size: tuple[int, int]) -> None:
    h, kube = cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        frozen = time.time() + 3600       # ages never tick over: a line drawn again was drawn for a change
        screen = _open(app, h, clock=lambda: frozen)
        await wait_screen(pilot, lambda t: "● live" in t, timeout=20, what="the pods, live")
        # The further views are mounted on their first showing, not with the screen (its first frame).
        assert not screen.query(RowTable)
        await pilot.press("w")
        assert [t.id for t in screen.query(RowTable)] == ["rows-workloads"]
        text = await wait_screen(pilot, lambda t: "Workloads" in t and "● live" in t.splitlines()[0]
                                 and "✓ 2/2" in line_with(t, "egov-user") and "✓ 1/1" in line_with(t, "kafka-v2")
                                 and "✓ 2/2" in line_with(t, "fluent-bit"), timeout=20, what="workloads ready")
        _no_line_wider(text, size[0])
        assert "✗ 0/1" in line_with(text, "egov-hrms") or "● 0/1" in line_with(text, "egov-hrms")
        assert "READY" in text and "NAME" in text
        kinds = ("Deploy", "STS", "DS") if size[0] < 110 else ("Deployment", "StatefulSet", "DaemonSet")
        for kind, name in zip(kinds, ("egov-user", "kafka-v2", "fluent-bit")):
            assert line_with(text, name).lstrip().startswith(kind)

        table = screen.view_table("workloads")
        others = {k: (table.rows[k], table.cached_strip(k)) for k in table.visible_keys() if "egov-user" not in k}
        assert others and all(strip for _, strip in others.values())
        scale(kube, "egov-user", 3)
        text = await wait_screen(pilot, lambda t: "/3" in line_with(t, "egov-user"), what="the scale on screen")
        text = await wait_screen(pilot, lambda t: "✓ 3/3" in line_with(t, "egov-user"), timeout=20,
                                 what="three ready")
        # Updated by row key: the lines of the workloads that did not change (the crashing one does) were
        # not drawn again.
        same = [k for k, (row, _) in others.items() if table.rows[k] is row]
        assert any("kafka-v2" in k for k in same) and any("fluent-bit" in k for k in same)
        assert all(table.cached_strip(k) is others[k][1] for k in same)
        scale(kube, "egov-user", 2)
        await wait_screen(pilot, lambda t: "✓ 2/2" in line_with(t, "egov-user"), timeout=20, what="back to two")

        # The shown view's own watches are the active ones: DaemonSets here; after quick switches, the
        # last view's. The others are parked, still running: back on their view, nothing is listed again.
        await wait_screen(pilot, lambda t: set(screen.extras.active) == {"daemonsets"}, what="the DaemonSets' watch")
        daemonsets = screen.extras.active["daemonsets"]
        for key in ("e", "n", "e", "w", "p"):
            await pilot.press(key)
        await wait_screen(pilot, lambda t: t.startswith("Pods ·") and not screen.extras.active
                          and set(screen.extras.parked) == {"daemonsets", "normal-events"}, what="no active extra watch")
        assert not daemonsets.stopped
        await pilot.press("w")
        await wait_screen(pilot, lambda t: set(screen.extras.active) == {"daemonsets"} and "✓ 2/2" in line_with(
            t, "fluent-bit") and "● live" in t.splitlines()[0], timeout=20, what="the workloads again")
        assert screen.extras.active["daemonsets"] is daemonsets       # taken back, not started again
        # unwanted for the linger, a parked watcher is stopped (60 s in the product, shortened here)
        screen.extras.linger = 0.3
        await pilot.press("p")
        await wait_screen(pilot, lambda t: not screen.extras.parked and daemonsets.stopped, what="the parked watches stopped")
        await pilot.press("w")
        await wait_screen(pilot, lambda t: "daemonsets" in screen.extras.active and "✓ 2/2" in line_with(t, "fluent-bit")
                          and "● live" in t.splitlines()[0], timeout=20, what="the workloads, watched anew")
        assert screen.extras.active["daemonsets"] is not daemonsets

        await pilot.press("f")     # not ready only
        text = await wait_screen(pilot, lambda t: "not ready only" in t and "egov-user" not in t, what="f")
        assert "egov-hrms" in text
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help" in t, what="help")
        assert "workloads" in text and "nodes" in text and "events" in text
        await pilot.press("escape")


async def test_nodes_show_requested_against_allocatable(cluster: tuple[SandboxHandle, Kube]) -> None:
    h, kube = cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        _open(app, h, plan=NodePlan(workers=3, cpus=8, memory_gib=16, flavor="8C/16G"))
        await pilot.press("n")
        await wait_screen(pilot, lambda t: "Nodes" in t.splitlines()[0] and "● live" in t.splitlines()[0]
                          and "node-2" in t, timeout=20, what="the nodes")

        def expected() -> dict[str, tuple[int, int, int]]:
            want: dict[str, list[int]] = {"node-1": [0, 0, 0], "node-2": [0, 0, 0]}
            for pod in kube.request("GET", "/api/v1/pods")["items"]:
                node = pod["spec"].get("nodeName")
                if node and pod["status"].get("phase") not in ("Succeeded", "Failed"):
                    r = pod_requests(pod["spec"])
                    want[node][0] += r.cpu
                    want[node][1] += r.mem
                    want[node][2] += 1
            return {k: (v[0], v[1], v[2]) for k, v in want.items()}

        def shows(t: str, want: dict[str, tuple[int, int, int]]) -> bool:
            return all(f"{cpu_text(c)}/8 " in line_with(t, f" {n} ") and f"{mem_text(m)}/16Gi" in line_with(t, f" {n} ")
                       and f"{p}/110" in line_with(t, f" {n} ") for n, (c, m, p) in want.items())

        want = expected()
        assert sum(c for c, _, _ in want.values()) >= 1200     # 2×250m + 500m + 2×100m, at least
        text = await wait_screen(pilot, lambda t: shows(t, expected()), timeout=20, what=f"requests {want}")
        _no_line_wider(text, 80)
        header = line_with(text, "CPU REQ/ALLOC")
        assert "MEMORY REQ/ALLOC" in header and "PODS" in header
        assert "✓ Ready" in line_with(text, " node-1 ")
        total = line_with(text, "2 nodes:")
        want = expected()
        assert f"cpu {cpu_text(sum(c for c, _, _ in want.values()))}/16 " in total
        assert "plan 3×8C/16G" in total and "✗ 1 node short" in total


async def test_events_list_warnings_first_then_normal_newest_first(cluster: tuple[SandboxHandle, Kube]) -> None:
    h, _ = cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = _open(app, h)
        await pilot.press("e")
        text = await wait_screen(pilot, lambda t: "Events" in t.splitlines()[0] and "● live" in t.splitlines()[0]
                                 and " ! " in t and " · " in t, timeout=20, what="warnings and normal events")
        _no_line_wider(text, 80)
        marks = [line[5:8] for line in text.splitlines()[3:-1] if line[5:8] in (" ! ", " · ")]
        assert marks and marks == sorted(marks, key=lambda m: m != " ! "), marks   # no normal event above a warning
        table = screen.view_table("events")
        rows = [table.rows[k] for _, k in table._lines]
        warnings = [r for r in rows if r.warning]
        normal = [r for r in rows if not r.warning]
        assert warnings and normal and rows == warnings + normal
        assert [r.time for r in warnings] == sorted((r.time for r in warnings), reverse=True)
        assert [r.time for r in normal] == sorted((r.time for r in normal), reverse=True)
        assert any("egov-hrms" in r.subject or "egov-crashy" in r.subject for r in warnings)

        # `f` twice (warnings only, then all): the normal events' watcher is parked, then taken back,
        # never listed again; unwanted for the linger (60 s, shortened here) it is stopped.
        await wait_screen(pilot, lambda t: "normal-events" in screen.extras.active, what="its watch")
        normal = screen.extras.active["normal-events"]
        await pilot.press("f")
        await wait_screen(pilot, lambda t: "warnings only" in t and screen.extras.parked.get("normal-events") is normal,
                          what="warnings only, the normal events parked")
        await pilot.press("f")
        await wait_screen(pilot, lambda t: "· all [f]" in t and " · " in "".join(line[5:8] for line in t.splitlines()[3:-1]),
                          what="all events again")
        assert screen.extras.active["normal-events"] is normal and not normal.stopped
        screen.extras.linger = 0.3
        await pilot.press("f")     # warnings only
        text = await wait_screen(pilot, lambda t: "warnings only" in t and " · " not in "".join(
            line[5:8] for line in t.splitlines()[3:-1]), what="warnings only")
        await wait_screen(pilot, lambda t: not screen.extras.parked and normal.stopped,
                          what="the normal events' watch stopped")
        await pilot.press("enter")
        text = await wait_screen(pilot, lambda t: "event ·" in t and "reason" in t, what="one event's details")
        assert "Warning" in text


async def _select_pod(pilot: Any, name: str) -> None:
    await pilot.press("slash")
    for ch in name:
        await pilot.press(ch)
    await pilot.press("enter")
    await wait_screen(pilot, lambda t: f"/{name}" in t.splitlines()[0] and name in line_with(t, " egov "),
                      what=f"{name} selected")


async def test_logs_show_the_pod_log_and_the_previous_container(cluster: tuple[SandboxHandle, Kube]) -> None:
    h, kube = cluster
    app = DigitApp(start="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        _open(app, h)
        await wait_screen(pilot, lambda t: "CrashLoopBackOff" in t, timeout=30, what="the crashing pod")
        await _select_pod(pilot, "egov-crashy")
        await pilot.press("l")
        text = await wait_screen(pilot, lambda t: "Logs · egov/egov-crashy" in t and "PSQLException" in t and "5432 refused." in t,
                                 timeout=15, what="the crashed container's log")
        assert "current [p]" in text.splitlines()[0]
        await pilot.press("p")
        text = await wait_screen(pilot, lambda t: "previous container [p]" in t and "PSQLException" in t and "5432 refused." in t,
                                 timeout=15, what="the previous container's log")
        assert "(no log" not in text
        await pilot.press("q")
        await wait_screen(pilot, lambda t: t.startswith("Pods ·"), what="back to the pods")

        # A container that never restarted has no previous log: the API's own words.
        box = app.screen.query_one("#dash-filter")
        box.value = ""                                  # type: ignore[attr-defined]
        await _select_pod(pilot, "egov-user")
        await pilot.press("l")
        await wait_screen(pilot, lambda t: "Logs · egov/egov-user" in t and "Started" in t, timeout=15,
                          what="egov-user's log")
        await pilot.press("p")
        text = await wait_screen(pilot, lambda t: "(no log:" in t, timeout=15, what="no previous container")
        assert "previous terminated container" in text and "not found" in text


async def test_unreachable_cluster_keeps_the_views_data_with_its_age_and_recovers(tmp_path: Path) -> None:
    h = start_sandbox(tmp_path / "sb", nodes=1, speed=50.0)
    kube = Kube(h.kubeconfig_path, timeout=10)
    try:
        kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": "egov"}})
        _create(kube, _workload("Deployment", "egov-user", "egovio/egov-user:v1", replicas=1))
        app = DigitApp(start="welcome")
        async with app.run_test(size=(80, 24)) as pilot:
            screen = _open(app, h)
            await pilot.press("w")
            await wait_screen(pilot, lambda t: "✓ 1/1" in line_with(t, "egov-user") and "● live" in t,
                              timeout=20, what="the workload, live")
            # Longer than any deadline here: the test ends it.
            h.fault({"kind": "partition", "seconds": 300, "mode": "refuse"})
            text = await wait_screen(pilot, lambda t: "cluster unreachable for" in t, timeout=10, what="the banner")
            banner = line_with(text, "cluster unreachable for")
            assert "data from" in banner and "retrying" in banner
            assert "✓ 1/1" in line_with(text, "egov-user")      # the last data stays
            assert "⏸ stale" in text.splitlines()[0]
            assert screen.view_table("workloads").has_class("-stale")
            await pilot.press("n")                              # every view keeps its data
            text = await wait_screen(pilot, lambda t: "node-1" in t and "cluster unreachable for" in t, what="nodes")
            assert "⏸ stale" in text.splitlines()[0]
            assert screen.view_table("nodes").has_class("-stale")     # first shown (mounted) while stale
            await pilot.press("w")
            h.clear_faults()
            await wait_screen(pilot, lambda t: "cluster unreachable" not in t and "● live" in t, timeout=20,
                              what="recovery")
            assert not screen.view_table("workloads").has_class("-stale")
            assert not screen.view_table("nodes").has_class("-stale")
            scale(kube, "egov-user", 2)                         # the watches run again
            await wait_screen(pilot, lambda t: "✓ 2/2" in line_with(t, "egov-user"), timeout=20, what="live again")

            # The logs screen: the same banner over the last log, and it fetches again by itself.
            await pilot.press("p")
            await wait_screen(pilot, lambda t: "egov-user" in t and "✓ Running" in t, what="the pods")
            await pilot.press("l")
            await wait_screen(pilot, lambda t: "Logs · egov/egov-user" in t and "Started" in t, timeout=15,
                              what="the log")
            h.fault({"kind": "partition", "seconds": 300, "mode": "refuse"})
            text = await wait_screen(pilot, lambda t: "cluster unreachable for" in t, timeout=15, what="logs banner")
            assert "Started" in text and "data from" in line_with(text, "cluster unreachable for")
            assert app.screen.query_one("#logs-text").has_class("-stale")
            h.clear_faults()
            await wait_screen(pilot, lambda t: "cluster unreachable" not in t and "Started" in t, timeout=20,
                              what="the log, live again")
            assert screen_text(app).startswith("Logs ·")
    finally:
        kube.close()
        h.stop()


async def test_the_install_view_opens_the_dashboard_with_the_install_sizing_plan(
        cluster: tuple[SandboxHandle, Kube], tmp_path: Path) -> None:
    import os

    from digit_tui.answers.config import InstallConfig
    from digit_tui.answers.model import Answers
    from digit_tui.answers.sizingplan import SizingPlan
    from digit_tui.engine.journal import Journal

    h, _ = cluster
    answers = Answers.model_validate({"environment": "sdc-prod", "target": {
        "provider": "existing", "kubeconfig": str(h.kubeconfig_path)}, "digit": {"domain": "egov.example.gov.in"}},
        context={"check_files": False})
    sizing = SizingPlan(preset="sdc", tier="prod", ulbs=100, workers=3, worker_flavor="8C/16G", worker_cpus=8,
                        worker_memory_gib=16, worker_disk_gb=None, masters=0, disks=(), workloads="test")
    j = Journal.in_dir(tmp_path)
    run = j.create_run("sdc-prod", "tests:graph", InstallConfig.from_answers(answers, sizing=sizing).to_document(),
                       None)
    j.set_run_state(run, "running", engine_pid=os.getpid(), message="install started")
    j.sync_tasks(run, [("vpn", "Reach the VPN", "prerequisites", [])])
    app = DigitApp(start="install", state_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "Prerequisites" in t, what="the install view")
        await pilot.press("d")
        await wait_screen(pilot, lambda t: t.startswith("Pods ·") and "● live" in t, timeout=20, what="the dashboard")
        await pilot.press("n")
        text = await wait_screen(pilot, lambda t: "2 nodes:" in t, timeout=20, what="the nodes line")
        total = line_with(text, "2 nodes:")
        assert "plan 3×8C/16G" in total and "✗ 1 node short" in total
