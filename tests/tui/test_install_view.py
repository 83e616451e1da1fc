"""The install view renders the journal: symbols, counts, events, progress, and follows new writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from digit_tui.app import DigitApp
from digit_tui.engine.journal import Journal
from digit_tui.engine.task import TaskState
from tests.tui.conftest import SIZES, line_with, run_document, wait_screen

TASKS = [
    ("hosts", "Check hosts", "prerequisites", []),
    ("tools", "Check tools", "prerequisites", []),
    ("vpn", "Reach the VPN", "prerequisites", []),
    ("kafka", "kafka", "release/backbone", ["vpn"]),
    ("zookeeper", "zookeeper", "release/backbone", ["vpn"]),
    ("egov-user", "egov-user", "release/core", ["kafka"]),
    ("egov-hrms", "egov-hrms", "release/core", ["egov-user"]),
    ("jenkins", "Jenkins", "jenkins", ["egov-hrms"]),
    ("grafana", "Grafana", "monitoring", []),
]


def write_journal(state: Path) -> tuple[Journal, str]:
    j = Journal.in_dir(state)
    run = j.create_run("sdc-prod", "tests:graph", run_document("sdc-prod", "egov.example.gov.in"), None)
    j.set_run_state(run, "running", engine_pid=os.getpid(), message="install started")
    j.sync_tasks(run, TASKS)
    for tid in ("hosts", "tools", "vpn", "kafka", "zookeeper"):
        j.transition(run, tid, TaskState.RUNNING, "starting", attempt=True)
        j.transition(run, tid, TaskState.DONE, "converged")
    j.transition(run, "egov-user", TaskState.RUNNING, "applying", attempt=True)
    j.log(run, "egov-user", "applied Deployment egov-user")
    j.progress(run, "egov-user", 1, 2, "waiting for rollout 1/2 ready")
    j.transition(run, "grafana", TaskState.RUNNING, "installing", attempt=True)
    j.transition(run, "grafana", TaskState.FAILED, "chart render error", level="error",
                 error="grafana chart does not render", remedy="fix monitoring values and retry")
    return j, run


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_install_view_shows_phases_events_and_follows_the_journal(tmp_path: Path, size: tuple[int, int]) -> None:
    j, run = write_journal(tmp_path)
    app = DigitApp(start="install", state_dir=tmp_path)
    async with app.run_test(size=size) as pilot:
        text = await wait_screen(pilot, lambda t: "Prerequisites" in t and "applied Deployment" in t,
                                 what="phases and the current task's events")
        header = text.splitlines()[0]
        assert "DIGIT installer · sdc-prod · egov.example.gov.in" in header
        assert "● running 00:00:" in header
        assert "✓ Prerequisites" in line_with(text, "Prerequisites") and "3/3" in line_with(text, "Prerequisites")
        release = line_with(text, "Release")
        assert "● Release" in release and "2/4" in release
        assert "✓ backbone" in line_with(text, "backbone")          # a settled group folds away
        assert "● egov-user" in line_with(text, "egov-user")         # the running task is shown and followed
        assert "◌ egov-hrms" in line_with(text, "egov-hrms")
        assert "◌ Jenkins" in line_with(text, "Jenkins") and "0/1" in line_with(text, "Jenkins")
        assert "✗ Monitoring" in line_with(text, "Monitoring")
        assert "[1/2] waiting for rollout" in text                  # right panel: egov-user's events
        assert "55%" in text and "network" in text                  # 5 of 9 tasks done
        assert "✗ grafana: grafana chart does not render" in text   # a failure elsewhere is not hidden
        assert "pause" in text.splitlines()[-1] and "dashboard" in text.splitlines()[-1]

        # The engine moves on: the view follows without being asked.
        j.transition(run, "egov-user", TaskState.DONE, "rollout complete")
        j.transition(run, "egov-hrms", TaskState.RUNNING, "applying", attempt=True)
        j.log(run, "egov-hrms", "pod egov-hrms-7d9f Pulling")
        text = await wait_screen(pilot, lambda t: "pod egov-hrms-7d9f Pulling" in t, what="the next task's events")
        assert "3/4" in line_with(text, "Release")
        assert "✓ egov-user" in line_with(text, "egov-user")
        assert "● egov-hrms" in line_with(text, "egov-hrms")
        assert "66%" in text

        # The run ends: header and hint say so.
        j.transition(run, "egov-hrms", TaskState.DONE, "ok")
        j.transition(run, "jenkins", TaskState.DONE, "ok")
        j.set_run_state(run, "failed", message="install failed")
        text = await wait_screen(pilot, lambda t: "✗ failed" in t.splitlines()[0], what="the failed run")
        # It follows the failed task and says why, and what to do.
        assert "✗ grafana chart does not render — fix monitoring values and retry" in text
        assert "✓ Release" in line_with(text, "Release") and "4/4" in line_with(text, "Release")
    j.close()


async def test_moving_to_a_failed_task_shows_its_events_reason_and_remedy(tmp_path: Path) -> None:
    from digit_tui.widgets.phasetree import NodeRef, PhaseTree

    j, run = write_journal(tmp_path)
    app = DigitApp(start="install", state_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "Monitoring" in t, what="phases")
        tree = app.screen.query_one(PhaseTree)
        tree.focus()
        for _ in range(20):
            if tree.selected_ref == NodeRef("task", "grafana"):
                break
            await pilot.press("down")
        assert tree.selected_ref == NodeRef("task", "grafana")
        # The operator chose: new work elsewhere does not pull the panel away.
        j.log(run, "egov-user", "pod egov-user-7d9f Running")
        text = await wait_screen(pilot, lambda t: "✗ Grafana ─" in t and "failed: chart render error" in t,
                                 what="the failed task's events")
        assert "pod egov-user-7d9f Running" not in text
        assert "✗ grafana chart does not render — fix monitoring values and retry — r retry" in text
        await pilot.press("c")   # follow the current task again
        await wait_screen(pilot, lambda t: "pod egov-user-7d9f Running" in t, what="following again")
    j.close()


async def test_no_engine_shows_a_dialog_with_the_next_step(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "engine.log").write_text("digit-tui engine: cannot load graph factory 'x:y'\n")
    Journal.in_dir(tmp_path).close()   # a journal without a run: the engine died before starting one
    app = DigitApp(start="install", state_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, lambda t: "engine is not running" in t, timeout=15, what="the error dialog")
        assert "cannot load graph factory" in text
        assert "Next:" in text
        await pilot.press("escape")
        text = await wait_screen(pilot, lambda t: "no install engine is running" in t, what="the hint after closing")


async def test_welcome_when_there_is_no_install(tmp_path: Path) -> None:
    app = DigitApp(start="welcome", state_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        assert "digit-tui demo" in text and "digit-tui install --answers" in text
        await pilot.press("q")
    assert app.return_code == 0


async def test_labels_come_from_titles_and_module_names_not_capitalised_ids(tmp_path: Path) -> None:
    """The ids of the real graph: phase helmconfig, modules authn-authz and m_pgr under release."""
    j = Journal.in_dir(tmp_path)
    run = j.create_run("dev", "tests:graph", run_document("dev", "digit.local"), None)
    j.set_run_state(run, "running", engine_pid=os.getpid(), message="install started")
    j.sync_tasks(run, [("helm-config", "Generate the env files", "helmconfig", []),
                       ("render", "Render the release", "release", ["helm-config"]),
                       ("egov-enc-service", "Deploy egov-enc-service", "release/authn-authz", ["render"]),
                       ("pgr-services", "Deploy pgr-services", "release/m_pgr", ["render"])])
    for tid in ("helm-config", "render"):
        j.transition(run, tid, TaskState.RUNNING, "starting", attempt=True)
        j.transition(run, tid, TaskState.DONE, "converged")
    for tid in ("egov-enc-service", "pgr-services"):
        j.transition(run, tid, TaskState.RUNNING, "applying", attempt=True)
    app = DigitApp(start="install", state_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, lambda t: "m_pgr" in t and "authn-authz" in t, what="the module groups")
        assert "✓ Helm configuration" in line_with(text, "Helm configuration")
        assert "● authn-authz" in line_with(text, "authn-authz") and "● m_pgr" in line_with(text, "m_pgr")
        assert "● Deploy pgr-services" in text or "● Deploy egov-enc-service" in text    # tasks: their titles
        for wrong in ("Helmconfig", "Authn-authz", "M_pgr"):
            assert wrong not in text
    j.close()


def test_phase_titles_come_from_one_mapping() -> None:
    from digit_tui.viewmodel.install import phase_title, phase_trail

    assert [phase_title(p) for p in ("helmconfig", "helm-config", "postgres", "release/m_pgr", "custom-step")] \
        == ["Helm configuration", "Helm configuration", "PostgreSQL", "m_pgr", "custom-step"]
    assert phase_trail("release/authn-authz") == "Release · authn-authz"
