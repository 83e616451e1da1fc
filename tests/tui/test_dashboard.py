"""The pod dashboard against a real sandbox cluster: faults, reasons, and an unreachable cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from digit_tui.app import DigitApp
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from digit_tui.screens.dashboard import DashboardScreen
from tests.tui.conftest import SIZES, line_with, wait_screen


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
        text = await wait_screen(pilot, lambda t: "faults only" in t and "✓ Running" not in t, what="faults only")
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
