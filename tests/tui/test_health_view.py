"""The TUI's DIGIT health view against the bundled sample installed on a real sandbox (the install of
tests/health/installed.py): every check ✓, a core service broken through the API turns its check ✗
with the service and the remedy, exports identical to `health --once --markdown/--json`, an
unreachable cluster keeps the last report with its age and the view recovers by itself, and the
ways in (the welcome screen's health path, the dashboard's `h`, the command palette).

"The cluster stops" is the sandbox's partition fault (its API refuses connections, its objects
kept), not a stop of the process: an in-process sandbox that stops loses its store and its port,
so a restarted one would be another cluster.
"""

from __future__ import annotations

import json
import re
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from textual.widgets import Static

from digit_tui.app import DigitApp, screen_actions
from digit_tui.screens.dashboard import DashboardScreen
from digit_tui.screens.health import HealthScreen
from tests.health.installed import ALL_CHECKS, Installed, healthy_again, installed_sample
from tests.release.test_api_failures import broken_kubeconfig
from tests.tui.conftest import line_with, wait_screen

if TYPE_CHECKING:
    from digit_tui.health.report import HealthReport

BIG = (160, 50)
SMALL = (80, 24)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    with installed_sample(tmp_path_factory.mktemp("health-view")) as env:
        yield env


def flat(text: str) -> str:
    """The screen's words in one line: a detail that wraps in its column reads as one sentence."""
    return " ".join(text.split())


def _open(app: DigitApp, env: Installed, export_dir: Path | None = None) -> HealthScreen:
    screen = HealthScreen(str(env.install.kubeconfig), interval=1.0, retry=0.5, export_dir=export_dir)
    app.push_screen(screen)
    return screen


def all_ok(text: str) -> bool:
    return "✓ healthy" in text and all(f"✓ {name} " in text for name in ALL_CHECKS)


async def test_after_the_install_every_check_shows_ok_at_both_sizes(installed: Installed, tmp_path: Path) -> None:
    healthy_again(installed)
    app = DigitApp(start="welcome")
    async with app.run_test(size=BIG) as pilot:
        screen = _open(app, installed, tmp_path)
        text = await wait_screen(pilot, all_ok, timeout=20, what="every check ✓")
        assert "◌ reading" not in text.splitlines()[0]
        assert f"cluster {installed.cluster.url}" in text and "release" in line_with(text, "services recorded")
        assert "└ egov-idgen: skipped on purpose" in text     # the drift lines: left out on purpose
        assert "Recent warnings" in text or "No warning events." in text
        # It reads again by itself.
        before = screen.reads
        await wait_screen(pilot, lambda t: screen.reads >= before + 2, timeout=10, what="two more reads")
        # 80x24: the verdict, every check with its mark and the keys fit without scrolling.
        await pilot.resize_terminal(*SMALL)
        text = await wait_screen(pilot, all_ok, what="every check ✓ at 80x24")
        lines = text.splitlines()
        assert len(lines) == 24 and all(len(line) <= 80 for line in lines)
        assert "DIGIT health · ✓ healthy" in lines[0] and re.search(r"● \d\d:\d\d:\d\d \(\d+s ago\)$", lines[0].rstrip())
        footer = lines[-1]
        for key in ("r refresh", "m export md", "j export json", "d pods", "? help", "q back"):
            assert key in footer, footer


async def test_export_writes_what_the_cli_prints(installed: Installed, tmp_path: Path) -> None:
    healthy_again(installed)
    app = DigitApp(start="welcome")
    async with app.run_test(size=BIG) as pilot:
        screen = _open(app, installed, tmp_path)
        await wait_screen(pilot, all_ok, timeout=20, what="the report")
        await pilot.press("m")
        await pilot.press("j")
        text = await wait_screen(pilot, lambda t: "Markdown written to" in t and "JSON written to" in t,
                                 what="both paths on screen")
        md, js = screen.exported["markdown"], screen.exported["json"]
        assert str(md) in flat(text) and str(js) in flat(text)
        assert md.parent == js.parent == tmp_path and md.suffix == ".md" and js.suffix == ".json"
        assert md.stat().st_mode & 0o777 == 0o600
        report = screen.report
        assert report is not None
        # The exported report is the one on screen, in the text the CLI prints for a report.
        exported_md, exported_js = md.read_text(), js.read_text()
        cli_md = installed.install.cli("health", "--kubeconfig", str(installed.install.kubeconfig), "--markdown",
                                       timeout=60)
        cli_js = installed.install.cli("health", "--kubeconfig", str(installed.install.kubeconfig), "--json",
                                       timeout=60)
        assert cli_md.returncode == cli_js.returncode == 0, cli_md.stderr + cli_js.stderr
        # The CLI read the cluster again, seconds later: only the time of the check differs.
        js_now, js_cli = json.loads(exported_js), json.loads(cli_js.stdout)
        assert exported_js == json.dumps(js_now, indent=1) + "\n"
        assert js_now.pop("generated") == report.to_json()["generated"]
        js_cli.pop("generated")
        assert js_now == js_cli

        def undated(text: str) -> list[str]:
            return [line for line in text.splitlines() if not line.startswith("- checked: ")]
        assert undated(exported_md) == undated(cli_md.stdout) and exported_md.endswith("\n")
        assert exported_md.startswith("## DIGIT health: healthy\n") and "| core-services | ok |" in exported_md

        # Again, for the same report: a new name, the first file left as it was.
        await pilot.press("m")
        await wait_screen(pilot, lambda t: screen.exported["markdown"] != md, what="a second Markdown file")
        again = screen.exported["markdown"]
        assert again.name == md.name.replace(".md", "-2.md") and md.read_text() == exported_md
        assert again.read_text() == exported_md


async def test_a_broken_core_service_turns_its_check_red_with_the_remedy(installed: Installed, tmp_path: Path) -> None:
    healthy_again(installed)
    good = installed.image("egov-user")
    app = DigitApp(start="welcome")
    async with app.run_test(size=BIG) as pilot:
        _open(app, installed, tmp_path)
        await wait_screen(pilot, all_ok, timeout=20, what="every check ✓")
        installed.set_image("egov-user", "egovio/egov-user:v0.0.0-missing")
        try:
            text = await wait_screen(pilot, lambda t: "✗ core-services" in t and "└ egov-user:" in t,
                                     timeout=60, what="the core-services check to fail")
            core = line_with(text, "✗ core-services")
            assert "not ready: egov-user" in flat(text)
            assert "image egovio/egov-user:v0.0.0-missing cannot be pulled" in flat(text)
            assert "remedy:" in text and "image name and tag" in flat(text)
            assert "✗ failed: core-services" in text.splitlines()[0]
            # At 80x24 the verdict and the failing check are on the first screen, without scrolling.
            await pilot.resize_terminal(*SMALL)
            text = await wait_screen(pilot, lambda t: "✗ core-services" in t, what="the failed check at 80x24")
            # The names where they fit beside the state, else how many (the pods may fail by now too).
            assert re.search(r"✗ (failed: .*core-services|\d+ of 10 checks failed)", text.splitlines()[0]), text
            assert core.split()[1] == "core-services"
            assert "✓ nodes" in text and "✓ backbone" in text
        finally:
            installed.set_image("egov-user", good)
        await wait_screen(pilot, lambda t: "✓ core-services" in t, timeout=60, what="the service to recover")
    healthy_again(installed)


async def test_an_unreachable_cluster_keeps_the_report_with_its_age_and_recovers(installed: Installed,
                                                                                tmp_path: Path) -> None:
    healthy_again(installed)
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        screen = _open(app, installed, tmp_path)
        await wait_screen(pilot, all_ok, timeout=20, what="every check ✓")
        checked = screen.report.generated if screen.report else 0.0
        # Long enough never to heal by itself before the test has seen it; the test ends it.
        installed.cluster.fault({"kind": "partition", "seconds": 300, "mode": "refuse"})
        try:
            text = await wait_screen(pilot, lambda t: "⏸ reconnecting" in t and "cluster unreachable for" in t,
                                     timeout=15, what="the reconnecting indicator and the banner")
            banner = line_with(text, "cluster unreachable for")
            assert "data from" in banner and "retrying" in banner
            assert all_ok(text)                      # the last report stays on screen
            assert screen.query_one("#health-body").has_class("-stale")
            failed = screen.reads
            await wait_screen(pilot, lambda t: screen.reads >= failed + 2 and "cluster unreachable for" in t,
                              timeout=10, what="it retries by itself")
            assert app.screen is screen              # no dialog, no exit: the network's failures are the banner's
            await pilot.press("m")                   # the last report can still be exported
            await wait_screen(pilot, lambda t: "Markdown written to" in t, what="an export while unreachable")
        finally:
            installed.cluster.clear_faults()
        text = await wait_screen(pilot, lambda t: "⏸ reconnecting" not in t and "ago)" in t.splitlines()[0],
                                 timeout=20, what="recovery")
        assert "cluster unreachable" not in text and all_ok(text)
        assert screen.report is not None and screen.report.generated > checked
        assert not screen.query_one("#health-body").has_class("-stale")


async def test_the_ways_in_welcome_dashboard_and_palette(installed: Installed, state_root: Path,
                                                         monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBECONFIG", str(installed.install.kubeconfig))
    monkeypatch.chdir(tmp_path)     # not where an export goes
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        await pilot.press("h")
        text = await wait_screen(pilot, lambda t: "Health view of a cluster" in t and "✓ 1 context" in t,
                                 what="the cluster picker")
        assert "DIGIT checks (f2)" in text
        await pilot.press("f2")
        text = await wait_screen(pilot, lambda t: "DIGIT health" in t and "✓ nodes" in t, timeout=20,
                                 what="the health view from the welcome screen")
        health = app.screen
        assert isinstance(health, HealthScreen)
        labels = {label for _, label, _, _ in screen_actions(health)}
        assert {"refresh", "export md", "export json", "pods", "help", "back"} <= labels
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · DIGIT health" in t, what="the help")
        assert "ctrl+p" in text and "export the report as Markdown" in text
        await pilot.press("escape")
        # d: the pod dashboard of the same cluster; h there: back to this health view.
        await pilot.press("d")
        await wait_screen(pilot, lambda t: "Nodes 3/3 ✓" in t, timeout=20, what="the pod dashboard")
        await pilot.press("h")
        await wait_screen(pilot, lambda t: "DIGIT health" in t, what="back on the health view")
        assert app.screen is health
        await pilot.press("q")
        await wait_screen(pilot, lambda t: "New install" in t, what="back on the welcome screen")

        # After an install: the dashboard the install view opens (d there), then h.
        app.push_screen(DashboardScreen(str(installed.install.kubeconfig), None))
        await wait_screen(pilot, lambda t: "Nodes 3/3 ✓" in t, timeout=20, what="the dashboard")
        await pilot.press("h")
        await wait_screen(pilot, lambda t: "DIGIT health" in t and "✓ nodes" in t, timeout=20,
                          what="the health view from the dashboard")
        await pilot.press("m")
        text = await wait_screen(pilot, lambda t: "Markdown written to" in t, what="an export")
        [written] = (state_root / "reports").glob("digit-health-*.md")
        assert written.read_text().startswith("## DIGIT health") and not list(tmp_path.glob("digit-health-*"))
        await pilot.press("d")                      # opened from that dashboard: back to it
        await wait_screen(pilot, lambda t: "Nodes 3/3 ✓" in t, what="back on the dashboard")
        assert isinstance(app.screen, DashboardScreen)



async def _refused(kubeconfig: Path, tmp_path: Path, why: str) -> None:
    """Not the network's failure: the app's error dialog says why and what to do, once; the view stays
    and reads again by itself."""
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        screen = HealthScreen(str(kubeconfig), interval=1.0, retry=0.2, export_dir=tmp_path)
        app.push_screen(screen)
        text = await wait_screen(pilot, lambda t: "✗ Reading the cluster's health failed" in t, timeout=20,
                                 what="the dialog")
        assert why in flat(text) and "Next: fix the kubeconfig or its context" in flat(text)
        await pilot.press("escape")
        reads = screen.reads
        text = await wait_screen(pilot, lambda t: screen.reads >= reads + 3, timeout=20, what="more reads")
        assert app.screen is screen and "✗ read failed · retrying" in text.splitlines()[0]
        assert "the cluster could not be read — no data yet — retrying" in flat(text)
        assert "cluster unreachable" not in text         # it may well answer: the client could not ask
        await pilot.press("m")
        await wait_screen(pilot, lambda t: "no Markdown written: no report yet" in flat(t), what="nothing to export")
        assert not list(tmp_path.glob("digit-health-*"))


async def test_a_kubeconfig_the_client_cannot_load_is_one_dialog_and_the_view_stays(tmp_path: Path) -> None:
    bad = tmp_path / "kubeconfig"
    bad.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\n")
    await _refused(bad, tmp_path, "Expected key current-context")


async def test_a_token_the_cluster_refuses_is_one_dialog_and_the_view_stays(installed: Installed,
                                                                            tmp_path: Path) -> None:
    bad = broken_kubeconfig(installed.cluster, "wrong-token", tmp_path / "kubeconfig")
    await _refused(bad, tmp_path, "credentials refused (401)")


# -- a report made by hand: the real checks on cluster objects written here, a fixed time ----------
T0 = "2024-05-01T10:00:00Z"
LABEL = "digit.org/service"
BAD_IMAGE = "egovio/egov-user:v0.0.0-missing"


def _workload(kind: str, ns: str, name: str, image: str, ready: bool = True) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"namespace": ns, "name": name, "generation": 1, "labels": {LABEL: name},
                                       "creationTimestamp": T0},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": name, "image": image}]}}},
            "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1 if ready else 0,
                       "updatedReplicas": 1, "availableReplicas": 1 if ready else 0, "currentReplicas": 1}}


def _pod(ns: str, name: str, app: str, image: str, waiting: dict[str, str] | None = None) -> dict[str, Any]:
    state = {"waiting": waiting} if waiting else {"running": {"startedAt": T0}}
    return {"metadata": {"namespace": ns, "name": name, "uid": name, "creationTimestamp": T0, "labels": {"app": app}},
            "spec": {"nodeName": "node-1", "containers": [{"name": app, "image": image}]},
            "status": {"phase": "Pending" if waiting else "Running", "startTime": T0,
                       "conditions": [{"type": "PodScheduled", "status": "True"}],
                       "containerStatuses": [{"name": app, "ready": waiting is None, "restartCount": 0,
                                              "image": image, "state": state}]}}


def broken_report() -> HealthReport:
    """A release of five recorded services (one skipped on purpose) whose egov-user cannot pull its
    image: core-services, workloads and pods fail, release-drift warns."""
    from digit_tui.health.model import parse_time
    from digit_tui.health.report import build_report
    from digit_tui.health.snapshot import ClusterObjects, Single

    services = {"kafka-v2": {"module": "backbone"}, "nginx-ingress": {"module": "authn-authz"},
                "egov-user": {"module": "core", "tag": "v1.3.0-6cfa52c1f9-2"},
                "egov-localization": {"module": "core", "tag": "v1.1.4-72f8a8f87b-8"},
                "pgr-services": {"module": "m_pgr", "tag": "v1.1.0-1a2b3c4d5e-1"}}
    record = {"metadata": {"namespace": "egov", "name": "digit-tui-release"},
              "data": {"release": "v2.8", "environment": "dev", "services.json": json.dumps(services),
                       "skipped": "egov-idgen"}}
    images = {"nginx-ingress": "nginx/nginx-ingress:3.4.0", "egov-user": BAD_IMAGE,
              "egov-localization": "egovio/egov-localization:v1.1.4-72f8a8f87b-8",
              "pgr-services": "egovio/pgr-services:v1.1.0-1a2b3c4d5e-1",
              "postgres": "docker.io/library/postgres:15-alpine", "kafka-v2": "confluentinc/cp-kafka:5.5.0"}
    ns = {"nginx-ingress": "backbone", "kafka-v2": "kafka-cluster"}
    deployments = [_workload("Deployment", ns.get(n, "egov"), n, images[n], ready=n != "egov-user")
                   for n in ("nginx-ingress", "egov-user", "egov-localization", "pgr-services", "postgres")]
    deployments[-1]["metadata"]["labels"] = {}          # the database is not the release's
    pull = {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{BAD_IMAGE}"'}
    pods = [_pod(ns.get(n, "egov"), f"{n}-0", n, images[n], pull if n == "egov-user" else None) for n in images]

    def service(namespace: str, name: str, port: int, labels: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": name, "labels": labels},
                "spec": {"type": "NodePort" if name == "nginx-ingress" else "ClusterIP", "selector": {"app": name},
                         "ports": [{"port": port, **({"nodePort": 32080} if name == "nginx-ingress" else {})}]}}

    def endpoints(namespace: str, name: str, ip: str, port: int) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": name},
                "subsets": [{"addresses": [{"ip": ip}], "ports": [{"port": port}]}]}

    warning = {"metadata": {"namespace": "egov", "name": "egov-user-0.1"}, "type": "Warning", "reason": "Failed",
               "message": f'Failed to pull image "{BAD_IMAGE}": not found', "count": 4,
               "involvedObject": {"kind": "Pod", "namespace": "egov", "name": "egov-user-0"},
               "lastTimestamp": "2024-05-01T10:58:00Z"}
    config = {"metadata": {"namespace": "egov", "name": "egov-config"}, "data": {"db-host": "postgres.egov"}}
    objects = ClusterObjects(
        "https://10.0.0.5:6443", pods=pods, deployments=deployments,
        statefulsets=[_workload("StatefulSet", "kafka-cluster", "kafka-v2", images["kafka-v2"])],
        nodes=[{"metadata": {"name": "node-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}],
        events=[warning], services=[service("backbone", "nginx-ingress", 80, {LABEL: "nginx-ingress"}),
                                    service("egov", "postgres", 5432, {})],
        endpoints=[endpoints("backbone", "nginx-ingress", "10.244.0.5", 80),
                   endpoints("egov", "postgres", "10.244.0.9", 5432)],
        record=Single(record), egov_config=Single(config))
    return build_report(objects, server=objects.server, now=(parse_time(T0) or 0.0) + 3600)


@pytest.mark.parametrize("size", [SMALL, BIG], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_broken_release_at_both_sizes_cuts_nothing(size: tuple[int, int], tmp_path: Path) -> None:
    report = broken_report()
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        screen = HealthScreen("kubeconfig", interval=3600, export_dir=tmp_path, clock=lambda: report.generated + 5,
                              reader=lambda kubeconfig, context: report)
        app.push_screen(screen)
        text = await wait_screen(pilot, lambda t: "✗ core-services" in t, what="the report")
        lines = text.splitlines()
        assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines), text
        checked = time.strftime("%H:%M:%S", time.localtime(report.generated))
        assert lines[0].rstrip().endswith(f"● {checked} (5s ago)"), lines[0]
        assert "DIGIT health · ✗ failed: core-services, workloads, pods" in lines[0]
        assert "release v2.8 (dev) · 5 services recorded · skipped on purpose: egov-idgen" in flat(text)
        for key in ("r refresh", "m export md", "j export json", "d pods", "? help", "q back"):
            assert key in lines[-1], lines[-1]
        # The failed check, what and why, and the remedy, on the first screen at 80x24 too.
        assert f"└ egov-user: Deployment egov/egov-user 0/1 ready: image {BAD_IMAGE} cannot be pulled" in flat(text)
        assert "remedy: check the image name and tag" in flat(text)
        if size == BIG:         # everything at once: the drift lines, the pods, the newest warning
            assert "! release-drift" in text and "└ egov-idgen: skipped on purpose (digit.skip_services)" in text
            assert f"runs {BAD_IMAGE}, the record says tag v1.3.0-6cfa52c1f9-2" in flat(text)
            assert "✗ pods" in text and "└ egov/egov-user-0: ImagePullBackOff" in text
            assert "Recent warnings (1 newest)" in text
            assert f'egov/egov-user-0 Failed: Failed to pull image "{BAD_IMAGE}": not found ×4' in flat(text)
        else:                   # the rest scrolls
            body = screen.query_one("#health-body")
            await pilot.press("end")
            text = await wait_screen(pilot, lambda t: "Recent warnings (1 newest)" in t, what="the end of the report")
            assert body.scroll_y > 0 and "✗ pods" in text


@asynccontextmanager
async def shown(report: HealthReport) -> AsyncIterator[tuple[Any, HealthScreen]]:
    """(pilot, view) once the view shows ``report``, read once; it exports where it does by default."""
    app = DigitApp(start="welcome")
    async with app.run_test(size=BIG) as pilot:
        screen = HealthScreen("kubeconfig", interval=3600, clock=lambda: report.generated + 5,
                              reader=lambda kubeconfig, context: report)
        app.push_screen(screen)
        await wait_screen(pilot, lambda t: "✗ core-services" in t, what="the report")
        yield pilot, screen


def unwrapped(text: str) -> str:
    """The screen without its whitespace: a path folded at the edge reads as one (paths here have no spaces)."""
    return "".join(text.split())


async def test_an_export_goes_to_the_private_reports_directory_not_the_current_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import digit_tui.paths

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cwd = tmp_path / "started-here"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    made_on: list[threading.Thread] = []
    real = digit_tui.paths.ensure_private_dir

    def ensure_private_dir(path: Path, what: str = "the state directory") -> Path:
        made_on.append(threading.current_thread())
        return real(path, what)
    monkeypatch.setattr(digit_tui.paths, "ensure_private_dir", ensure_private_dir)
    reports = tmp_path / "state" / "digit-tui" / "reports"
    report = broken_report()
    async with shown(report) as (pilot, screen):
        assert not reports.exists() and not made_on         # made when an export is written, not before
        await pilot.press("m")
        text = await wait_screen(pilot, lambda t: "Markdown written to" in t, what="the path on screen")
        [written] = reports.glob("digit-health-*.md")
        assert screen.exported["markdown"] == written and unwrapped(str(written)) in unwrapped(text)
        assert stat.S_IMODE(reports.stat().st_mode) == 0o700 and stat.S_IMODE(written.stat().st_mode) == 0o600
        assert written.read_text() == report.render("markdown")
        assert list(cwd.iterdir()) == []
        assert made_on and threading.main_thread() not in made_on     # the worker's, not the event loop's


async def test_a_file_in_the_way_of_the_reports_directory_is_one_line_and_the_view_stays(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "state" / "digit-tui" / "reports"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a directory\n")
    async with shown(broken_report()) as (pilot, screen):
        await pilot.press("m")
        text = await wait_screen(pilot, lambda t: "✗ no Markdown written" in t, what="the failure on screen")
        said = f"✗ no Markdown written: {blocker}: the reports directory is a file"
        assert unwrapped(said) in unwrapped(text)
        assert str(screen.query_one("#health-export", Static).content) == said      # one line of its own
        assert screen.app.screen is screen and screen.app.is_running      # no dialog, no exit
        assert blocker.read_text() == "not a directory\n" and not list(tmp_path.glob("digit-health-*"))
        assert "Markdown written to" not in text
        # Once the path is fixed, the next export is written and the failure's line goes.
        blocker.unlink()
        await pilot.press("j")
        text = await wait_screen(pilot, lambda t: "JSON written to" in t, what="an export once the path is free")
        assert "✗ no" not in text and len(list(blocker.glob("digit-health-*.json"))) == 1


@pytest.mark.parametrize("size", [SMALL, BIG], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_snapshot_of_a_broken_release(size: tuple[int, int], tmp_path: Path,
                                            request: pytest.FixtureRequest) -> None:
    """The view of ``broken_report`` against its golden (tests/tui/snapshots.py; docs/testing.md)."""
    from tests.tui.snapshots import assert_snapshot

    report = broken_report()
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        app.push_screen(HealthScreen("kubeconfig", interval=3600, export_dir=tmp_path,
                                     clock=lambda: report.generated + 5, reader=lambda kubeconfig, context: report))
        await assert_snapshot(pilot, "health-view", size, lambda t: "✗ core-services" in t and "ago)" in t,
                              update=bool(request.config.getoption("--update-snapshots")))
