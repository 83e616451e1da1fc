"""Text snapshots of every screen at 80x24 and 160x50 (issue 14, done-when 1), in a deterministic state:
installs and the finished install's journal written by hand, the prerequisites' checks and the
dashboard's cluster objects fed by hand (a frozen clock), the pod log served by a stand-in for the
cluster client. No engine, no sandbox: the real ones are driven by test_guided_flow.py and
test_dashboard_views.py; these tests hold what each screen draws still, so a change to any of them
shows as a diff. The DIGIT health view's snapshots are test_health_view.py's (its report made by hand,
goldens health-view-*). How to read and update them: docs/testing.md."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from digit_tui.engine.task import TaskState
from digit_tui.health.model import parse_time
from digit_tui.health.watcher import Connection, obj_key
from digit_tui.preflight.model import CheckResult, Status
from digit_tui.screens.dashboard import DashboardScreen
from digit_tui.screens.prereqs import PrereqScreen
from digit_tui.screens.configure import ConfigScreen
from digit_tui.screens.plan import PlanScreen
from digit_tui.screens.sizing import SizingScreen
from digit_tui.viewmodel import prereqs as vm
from digit_tui.widgets.viewrows import NodePlan
from tests.tui import snapshots
from tests.tui.snapshots import ROOT_PREFIX, assert_snapshot, compare, normalise
from tests.tui.test_guided_flow import write_run
from tests.tui.test_install_view import write_journal

SIZES = [(80, 24), (160, 50)]
sizes = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")

T0 = "2024-05-01T10:00:00Z"
NOW = (parse_time(T0) or 0.0) + 3600          # the dashboard's frozen clock: an hour after T0
NO_PID = 2**22 + 1      # above any pid_max: the engine of a stopped install (a reaped child's pid may come back)


@pytest.fixture
def update(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-snapshots"))


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private root of a fixed length under /tmp (snapshots.MASKS masks its random part): a path on
    screen wraps at the same column in every run. XDG_STATE_HOME is under it."""
    base = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir="/tmp"))
    monkeypatch.setenv("XDG_STATE_HOME", str(base / "xdg"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(base / "home"))          # no ~/.kube/config of the operator's
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def answers_of(root: Path, env: str = "snap") -> tuple[Any, Path, Path]:
    from digit_tui.answers import parse_answers

    state = root / "xdg" / "digit-tui" / env
    answers = parse_answers(f"version: 1\nenvironment: {env}\ntarget: {{provider: sandbox}}\n"
                            f"digit: {{domain: {env}.example.test, modules: [m_pgr]}}\n"
                            "network: {probes: ['10.20.0.5:6443']}\n", state / "answers.yaml")
    return answers, state / "answers.yaml", state


async def welcome(pilot: Any) -> None:
    from tests.tui.conftest import wait_screen

    await wait_screen(pilot, lambda t: "New install" in t and "◌ looking" not in t, what="the welcome screen")


# -- the harness itself -------------------------------------------------------------------------------


def test_a_missing_golden_fails_and_a_difference_shows_as_a_diff(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshots, "GOLDEN_DIR", tmp_path)
    with pytest.raises(AssertionError, match="no golden") as missing:
        compare("screen", (20, 2), ["title", "keys"], update=False)
    assert "--update-snapshots" in str(missing.value) and not list(tmp_path.iterdir())    # never written by itself
    compare("screen", (20, 2), ["title", "keys"], update=True)
    assert (tmp_path / "screen-20x2.txt").read_text() == "title\nkeys\n"
    compare("screen", (20, 2), ["title   ", "keys"], update=False)           # trailing spaces are not a change
    with pytest.raises(AssertionError, match="differs from its golden") as changed:
        compare("screen", (20, 2), ["title", "keys changed"], update=False)
    assert "-keys\n+keys changed" in str(changed.value) and "--update-snapshots" in str(changed.value)


def test_masks_keep_what_is_aligned_in_place() -> None:
    short, long = "⏸ uat   stopped     3s ago", "⏸ uat   stopped    12s ago"
    assert normalise(short) == normalise(long) == ["⏸ uat   stopped      N ago"]      # it ends where it ended
    assert normalise("in /tmp/snap-ab3_x9qz/xdg │") == ["in /tmp/snap-XXXXXXXX/xdg │"]
    assert normalise("● running 00:01:07 · 127.0.0.1:41234 ⠹") == ["● running hh:mm:ss · 127.0.0.1:PORT ⠿"]
    boxed = f"│ in {snapshots.REPO}/bundles{' ' * 20}│"          # the border stays where it is
    assert normalise(boxed) == [f"│ in <repo>/bundles{' ' * (len(boxed) - 20)}│"]


# -- welcome, the health view's picker ---------------------------------------------------------------


@sizes
async def test_welcome_its_error_dialog_and_the_health_views_picker(root: Path, size: tuple[int, int], update: bool,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The welcome screen with a finished and a stopped install; over it, the one error dialog, then the
    cluster picker of the health view reading a kubeconfig of two contexts from $KUBECONFIG."""
    installs = root / "xdg" / "digit-tui"
    write_run(installs / "demo", "demo", 4, done=4, state_name="done")
    write_run(installs / "uat", "uat", 10, done=7, engine_pid=NO_PID)
    kubeconfig = root / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: sdc-prod\n"
        "clusters:\n- name: prod\n  cluster: {server: 'https://10.20.0.5:6443'}\n"
        "- name: uat\n  cluster: {server: 'https://10.30.0.5:6443'}\n"
        "users:\n- name: admin\n  user: {token: not-a-secret}\n"
        "contexts:\n- name: sdc-prod\n  context: {cluster: prod, user: admin}\n"
        "- name: sdc-uat\n  context: {cluster: uat, user: admin}\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        await assert_snapshot(pilot, "welcome", size, lambda t: "uat" in t and "demo" in t, update=update)
        app.report_error(FileNotFoundError(2, "No such file or directory", "/srv/digit/DIGIT-DevOps/deploy-as-code"),
                         what="reading the release's charts failed")
        await assert_snapshot(pilot, "error-dialog", size, lambda t: "Next:" in t, update=update)
        await pilot.press("escape")
        await pilot.press("h")
        await assert_snapshot(pilot, "health-picker", size, lambda t: "✓ 2 contexts" in t, update=update)


# -- the guided flow: target and source, its report, prerequisites, sizing, configuration, plan, confirm ----


@sizes
async def test_target_and_source_with_the_bundled_sample_and_its_report(root: Path, size: tuple[int, int],
                                                                         update: bool) -> None:
    from digit_tui.screens.newinstall import TargetScreen

    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        await welcome(pilot)
        app.push_screen(TargetScreen())
        await assert_snapshot(pilot, "target", size, lambda t: "✓ deployable" in t and "✗ 2 to fix" in t,
                              update=update, timeout=60)
        await pilot.press("ctrl+r")
        await assert_snapshot(pilot, "compat", size, lambda t: "services render" in t and "1/5 target" not in t,
                              update=update)


def checked_sections(plan: Any) -> list[vm.Section]:
    """The checklist's answers, as run_checks emits them: a pass, a probe with its latency, a warning with its
    remedy (the numbers fixed: a real run's latencies differ every time)."""
    def section(key: str, seconds: float, *results: CheckResult) -> vm.Section:
        return vm.Section(key, key, tuple(results), True, seconds=seconds)

    return [
        section("config", 0.001, CheckResult("config", "plan", Status.PASS,
                                             "no hosts: provider sandbox, cluster existing, tier dev")),
        section("network", 0.012, CheckResult("network", "reachable", Status.PASS, "10.20.0.5:6443 answers",
                                              subject="probe 10.20.0.5:6443", latency_ms=12.0)),
        section("tools", 0.116,
                CheckResult("tools", "kubectl", Status.PASS, "kubectl v1.30.2 (/usr/local/bin/kubectl)",
                            subject="kubectl"),
                CheckResult("tools", "helm", Status.WARN, "helm not found on PATH", subject="helm",
                            remedy="install helm 3 on this machine to debug the release by hand")),
    ]


class CheckedPrereqs(PrereqScreen):
    """The prerequisites screen given finished checks instead of running them (the real checks:
    test_guided_flow.py, test_prereqs_lab.py)."""

    def run_all(self, gen: int) -> None:  # type: ignore[override]
        for section in checked_sections(self.plan):
            self._apply(gen, section)
        self._set_facts(gen, {})


class HeldSizing(SizingScreen):
    """The sizing screen, its plan said to have taken 40 ms (the header says how long it took: a real run's
    time differs every time)."""

    def _apply(self, gen: int, result: Any) -> None:
        super()._apply(gen, dataclasses.replace(result, seconds=0.04))


def _first_line(needle: str) -> Callable[[str], bool]:
    return lambda t: needle in t.splitlines()[0] and "◌" not in t


# step: (its screen, when it is ready, then a key and the snapshot it leads to)
FLOW: dict[str, tuple[type[Any], Callable[[str], bool], tuple[str, str, Callable[[str], bool]] | None]] = {
    "prereqs": (CheckedPrereqs, _first_line("warning to acknowledge"), None),
    "sizing": (HeldSizing, _first_line("✓ fits"), None),
    # ctrl+o: the preview of the files, over the form at 80 columns (beside it when wide: hidden there)
    "configure": (ConfigScreen, _first_line("✓ valid"), ("ctrl+o", "configure-ctrl-o", lambda t: "✓ valid" in t)),
    "plan": (PlanScreen, lambda t: "tasks · " in t.splitlines()[0] and "Release" in t,
             ("c", "confirm", lambda t: "Start the install of snap?" in t)),
}


@sizes
@pytest.mark.parametrize("step", list(FLOW))
async def test_guided_flow_step(root: Path, size: tuple[int, int], step: str, update: bool) -> None:
    """Prerequisites (a warning to acknowledge), sizing, configuration (its defaults), the plan and its
    confirm step, each opened on answers of the bundled sample with m_pgr and one probe; nothing is written."""
    screen, ready, then = FLOW[step]
    answers, path, state = answers_of(root)
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        await welcome(pilot)
        app.push_screen(screen(answers, path, state))
        await assert_snapshot(pilot, step, size, ready, update=update, timeout=60)
        if then is not None:
            key, name, shown = then
            await pilot.press(key)
            await assert_snapshot(pilot, name, size, shown, update=update)
    assert not state.exists()


# -- the install view and its help ------------------------------------------------------------------------


def finished_install(state: Path) -> None:
    """The install view's journal (test_install_view.py), every task then done and the run finished."""
    j, run = write_journal(state)
    try:
        j.transition(run, "egov-user", TaskState.DONE, "rollout complete")
        for tid in ("egov-hrms", "jenkins", "grafana"):
            j.transition(run, tid, TaskState.RUNNING, "retrying" if tid == "grafana" else "applying", attempt=True)
            j.transition(run, tid, TaskState.DONE, "converged")
        j.set_run_state(run, "done", message="install finished")
    finally:
        j.close()


@sizes
async def test_install_view_of_a_finished_install(root: Path, size: tuple[int, int], update: bool) -> None:
    state = root / "install"
    state.mkdir(mode=0o700)
    finished_install(state)
    app = DigitApp(start="install", state_dir=state)
    async with app.run_test(size=size) as pilot:
        await assert_snapshot(pilot, "install", size, lambda t: "✓ done" in t.splitlines()[0], update=update)
        await pilot.press("question_mark")
        await assert_snapshot(pilot, "help", size, lambda t: "Help · install" in t, update=update)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await assert_snapshot(pilot, "command-palette", size, lambda t: "pause  (p)" in t and "Help ·" not in t,
                              update=update)


# -- the dashboard's views and the pod logs, fed by hand ---------------------------------------------------


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {"namespace": "egov", "name": name, "uid": f"uid-{name}", "creationTimestamp": T0, **extra}


def _pod(name: str, node: str | None, *, ready: bool = True, waiting: str = "", restarts: int = 0,
         cpu: str = "250m", mem: str = "256Mi", phase: str = "Running", owner: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": T0}}
    status: dict[str, Any] = {"phase": phase, "startTime": T0, "containerStatuses": [
        {"name": "app", "ready": ready, "restartCount": restarts, "state": state}]}
    if node is None:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": "0/2 nodes are available: 2 Insufficient cpu.", "lastTransitionTime": T0}]
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": f"egovio/{owner or name}:v1",
                                            "resources": {"requests": {"cpu": cpu, "memory": mem}}}]}
    if node:
        spec["nodeName"] = node
    labels = {"app": owner or name}
    return {"metadata": _meta(name, labels=labels), "spec": spec, "status": status}


def _workload(kind: str, name: str, replicas: int, ready: int) -> dict[str, Any]:
    status = {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": replicas}
    if kind == "DaemonSet":
        status = {"desiredNumberScheduled": replicas, "numberReady": ready, "numberAvailable": ready,
                  "updatedNumberScheduled": replicas}
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}}}
    if kind != "DaemonSet":
        spec["replicas"] = replicas
    return {"kind": kind, "metadata": _meta(name, generation=1), "spec": spec,
            "status": {"observedGeneration": 1, **status}}


def _node(name: str, ready: bool = True) -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": T0}, "status": {
        "allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _event(name: str, kind: str, reason: str, subject: str, message: str, minutes_ago: int,
           count: int = 1) -> dict[str, Any]:
    import time

    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - minutes_ago * 60))
    return {"metadata": _meta(name), "type": kind, "reason": reason, "message": message, "count": count,
            "lastTimestamp": when, "firstTimestamp": when,
            "involvedObject": {"kind": "Pod", "namespace": "egov", "name": subject}}


CRASH = "PSQLException: Connection to db-service:5432 refused."
CLUSTER: dict[str, list[dict[str, Any]]] = {
    "pods": [_pod("egov-user-7d9f-a", "node-1"), _pod("egov-user-7d9f-b", "node-2", owner="egov-user"),
             _pod("egov-crashy-5c4b-x", "node-1", ready=False, waiting="CrashLoopBackOff", restarts=7,
                  owner="egov-crashy"),
             _pod("egov-hrms-6f8d-y", "node-2", ready=False, waiting="ImagePullBackOff", owner="egov-hrms"),
             _pod("kafka-v2-0", "node-1", cpu="500m", mem="1Gi", owner="kafka-v2"),
             _pod("kafka-huge-0", None, cpu="100", phase="Pending", ready=False, owner="kafka-huge")],
    "deployments": [_workload("Deployment", "egov-user", 2, 2), _workload("Deployment", "egov-crashy", 1, 0),
                    _workload("Deployment", "egov-hrms", 1, 0)],
    "statefulsets": [_workload("StatefulSet", "kafka-v2", 1, 1), _workload("StatefulSet", "kafka-huge", 1, 0)],
    "jobs": [], "pvcs": [],
    "nodes": [_node("node-1"), _node("node-2")],
    "events": [_event("e1", "Warning", "BackOff", "egov-crashy-5c4b-x", "Back-off restarting failed container app",
                      2, count=7),
               _event("e2", "Warning", "Failed", "egov-hrms-6f8d-y",
                      'Failed to pull image "egovio/egov-hrms:v1": not found', 5, count=3),
               _event("e3", "Warning", "FailedScheduling", "kafka-huge-0", "0/2 nodes are available: 2 Insufficient cpu.",
                      9)],
}
EXTRA: dict[str, list[dict[str, Any]]] = {     # what the views' own watchers would list (views.EXTRA_TYPES)
    "daemonsets": [_workload("DaemonSet", "fluent-bit", 2, 2)],
    "normal-events": [_event("e4", "Normal", "Pulled", "egov-user-7d9f-a", "Container image already present", 30),
                      _event("e5", "Normal", "Scheduled", "kafka-v2-0", "Successfully assigned egov/kafka-v2-0 to node-1",
                             50)],
}


class HandFedDashboard(DashboardScreen):
    """The dashboard whose watchers are replaced by the objects above, listed once, the cluster answering:
    the same models, feeders and tables as against a cluster, with a frozen clock."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(None, clock=lambda: NOW, probe_interval=None, **kw)

    def _connect(self) -> None:
        from digit_tui.health.live import LiveModel
        from digit_tui.health.views import Tee, ViewsModel

        model, views = LiveModel(clock=self.clock), ViewsModel(clock=self.clock)
        views.activate(self.view if self.view != "pods" else None)
        sink = Tee(model, views)
        for kind, objs in CLUSTER.items():
            sink.upsert(kind, objs)
            sink.listed(kind, {obj_key(kind, o) for o in objs})
        for kind, objs in EXTRA.items():
            views.upsert(kind, objs)
            views.listed(kind, {obj_key(kind, o) for o in objs})
        sink.connection(Connection(reachable=True, data_time=NOW))
        self.model, self.views_model = model, views
        self._connected.set()

    def _extras_for(self, view: str) -> None:
        """Their objects are in already."""


@sizes
async def test_dashboard_views(root: Path, size: tuple[int, int], update: bool) -> None:
    """Pods, workloads, nodes (against a sizing plan of three 8C/16G workers), events: one after another."""
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        await welcome(pilot)
        app.push_screen(HandFedDashboard(plan=NodePlan(workers=3, cpus=8, memory_gib=16, flavor="8C/16G")))
        for key, view, shows in (("p", "pods", "kafka-v2-0"), ("w", "workloads", "fluent-bit"),
                                 ("n", "nodes", "node-2"), ("e", "events", "Scheduled")):
            await pilot.press(key)
            await assert_snapshot(pilot, f"dashboard-{view}", size,
                                  lambda t, v=view, s=shows: t.lower().startswith(v) and "● live" in t.splitlines()[0]
                                  and s in t, update=update)
            if view == "pods":          # enter: the first pod's details (no client here: the warnings seen)
                await pilot.press("enter")
                await assert_snapshot(pilot, "dashboard-pod-details", size,
                                      lambda t: "events not fetched" in t, update=update)
                await pilot.press("escape")


class StandInKube:
    """The two calls the logs screen makes of the cluster's client."""

    def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        return {"spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}}

    def pod_log(self, namespace: str, name: str, container: str, *, tail_lines: int, previous: bool) -> str:
        lines = [f"2024-05-01 10:0{i}:00.000  INFO [egov-crashy] starting step {i} of the service" for i in range(6)]
        return "\n".join([*lines, "2024-05-01 10:06:00.000 ERROR [egov-crashy] org.postgresql.util." + CRASH
                          + " Check that the hostname and port are correct and that the postmaster is accepting "
                          "TCP/IP connections."])


@sizes
async def test_pod_logs(root: Path, size: tuple[int, int], update: bool) -> None:
    from digit_tui.screens.logs import LogsScreen

    kube = StandInKube()
    app = DigitApp(start="welcome")
    async with app.run_test(size=size) as pilot:
        await welcome(pilot)
        app.push_screen(LogsScreen(lambda: kube, "egov", "egov-crashy-5c4b-x",  # type: ignore[arg-type, return-value]
                                   clock=lambda: NOW, refresh=3600))
        await assert_snapshot(pilot, "logs", size, lambda t: "postmaster" in t.replace("\n", ""), update=update)
