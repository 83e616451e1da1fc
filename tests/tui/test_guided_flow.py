"""The guided flow, from a blank start: welcome -> target and source -> prerequisites -> sizing -> configuration ->
plan -> confirm -> the install view, against a real sandbox cluster (in process, its kubeconfig given as an existing cluster)
with the bundled sample release, no answers file at the start; the answers file it writes is the
one `install --headless` takes. Every screen's text is checked at 80x24 and 160x50."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from digit_tui.engine.journal import Journal
from digit_tui.engine.task import TaskState
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.tui.conftest import line_with, run_document, screen_text, type_text, wait_screen, wait_until

BIG = (160, 50)
SMALL = (80, 24)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    h = start_sandbox(tmp_path_factory.mktemp("flow-sandbox"), nodes=1, speed=50.0)
    try:
        yield h
    finally:
        h.stop()


async def paste(pilot: Any, selector: str, text: str) -> None:
    """What a terminal sends when the operator pastes (bracketed paste): one event, not a key per character."""
    from textual import events

    pilot.app.screen.query_one(selector).post_message(events.Paste(text))
    await pilot.pause()


async def both_sizes(pilot: Any, cond: Any, what: str, timeout: float = 10.0) -> tuple[str, str]:
    """The screen at 80x24, then at 160x50 (and back): both must satisfy ``cond``."""
    small = await wait_screen(pilot, cond, timeout=timeout, what=f"{what} at 80x24")
    await pilot.resize_terminal(*BIG)
    big = await wait_screen(pilot, cond, what=f"{what} at 160x50")
    await pilot.resize_terminal(*SMALL)
    await wait_screen(pilot, cond, what=f"{what} back at 80x24")
    return small, big


def flat_words(text: str) -> str:
    """The screen's words in one line, without the panes' borders (text wraps inside a pane)."""
    return " ".join(w for w in text.replace("│", " ").split() if w not in ("╭", "╰"))


def flat(text: str) -> str:
    """The screen without its line breaks and spaces: long paths wrap at 80 columns."""
    return text.replace("\n", "").replace(" ", "")


def assert_fits(text: str, width: int, height: int) -> None:
    lines = text.splitlines()
    assert len(lines) == height and all(len(line) <= width for line in lines), text


async def test_blank_start_to_a_started_install_with_the_sample_release(cluster: SandboxHandle, state_root: Path) -> None:
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig
    from digit_tui.cli.install import load_spec
    from digit_tui.cli.validate import main as validate_main
    from digit_tui.sizing.install import install_plan

    kubeconfig = str(cluster.kubeconfig_path)
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        # -- welcome -------------------------------------------------------------------------------
        small, big = await both_sizes(pilot, lambda t: "No install found" in t, "the welcome screen")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "n  New install" in line_with(text, "New install")
            assert "s  Try the sandbox" in text and "digit-tui demo" in text
            assert "h  Health view" in text and "digit-tui install --answers" in text
            assert "n new install" in text.splitlines()[-1] and "? help" in text.splitlines()[-1]
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · welcome" in t, what="the welcome's help")
        assert "try the sandbox" in text and "health view" in text
        assert "command palette" in line_with(text, "ctrl+p")             # every screen's help says it
        await pilot.press("escape")

        # -- target and source: nothing typed yet ------------------------------------------------------
        await pilot.press("n")
        small, big = await both_sizes(pilot, lambda t: "1/5 target and source" in t and "✗ 2 to fix" in t
                                      and "m_pgr" in t and "✓ deployable" in t, "the blank form, checked")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "●▌ sandbox (on this machine)" in line_with(text, "Cluster") and "○▌ existing cluster" in text
            assert "○▌ local directory" in line_with(text, "DIGIT source") and "○▌ git URL + ref" in text
            assert "DIGIT/dependancy_chart-digit-v2.8.yaml" in line_with(text, "Release")
            assert "[ ] m_pgr" in text and "needs core, business" in line_with(text, "m_pgr")
            assert "✓ deployable on Kubernetes 1.30 · 21/21 render" in text    # check-source's report
            assert "Kubeconfig" not in text                      # only for an existing cluster
            assert "✗ environment: '' is not a valid environment name" in text    # the first problem, below
            assert "^n prerequisites" in text.splitlines()[-1]

        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · new install · target and source" in t, what="the form's help")
        assert "next: the prerequisites" in line_with(text, "ctrl+n")
        await pilot.press("escape")

        # An existing cluster: the sandbox's kubeconfig; its context comes from the file.
        await pilot.press("right", "space")
        await wait_screen(pilot, lambda t: "●▌ existing cluster" in t and "Kubeconfig" in t, what="the kubeconfig row")
        await pilot.press("tab")
        await paste(pilot, "#kubeconfig", "/nonexistent/kubeconfig")
        text = await wait_screen(pilot, lambda t: "does not exist" in t, what="the kubeconfig's problem under it")
        below = text.splitlines()[text.splitlines().index(line_with(text, "Kubeconfig")) + 1]
        assert "✗ target.kubeconfig:" in below                 # validate's own words, next to the field
        app.screen.query_one("#kubeconfig").clear()            # type: ignore[attr-defined]
        await paste(pilot, "#kubeconfig", kubeconfig)
        await wait_screen(pilot, lambda t: "does not exist" not in t and "✗ target.kubeconfig" not in t,
                          what="the kubeconfig accepted")
        await pilot.press("tab", "tab")                        # context (its current one), environment
        await type_text(pilot, "Gflow")
        text = await wait_screen(pilot, lambda t: "✗ environment: Gflow is not a valid environment name" in t,
                                 what="the environment's problem")
        below = text.splitlines()[text.splitlines().index(line_with(text, "Environment")) + 1]
        assert "✗ environment: Gflow is not a valid environment name (expected:" in below
        await pilot.press("home", "delete")
        await type_text(pilot, "g")
        await wait_screen(pilot, lambda t: "state:" + str(state_root / "gflow") in flat(t),
                          what="the state directory of gflow")
        await pilot.press("enter")                             # the next field: the source choice
        await pilot.press("tab", "tab", "space")               # release (kept), modules: m_pgr
        await wait_screen(pilot, lambda t: "[✓] m_pgr" in t, what="m_pgr chosen")
        await pilot.press("tab")
        await type_text(pilot, "digit.")
        await paste(pilot, "#domain", "gflow.test")
        small, big = await both_sizes(pilot, lambda t: "✓ valid" in t.splitlines()[0], "the valid form")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "deploys 6 modules: backbone · authn-authz · core · business" in text.replace("\n", " ")
            assert "[✓] m_pgr" in text and "[ ] m_property-tax" in text
            assert str(state_root / "gflow" / "answers.yaml") in flat(text)
            assert "is not a valid" not in text

        # -- the release's warning (its untagged backbone services), then the prerequisites ---------------
        await pilot.press("ctrl+n")
        text = await wait_screen(pilot, lambda t: "1 warning in the compatibility report" in flat_words(t),
                                 what="the release's warning before going on")
        assert "ctrl+n again goes on with them" in flat_words(text)
        await pilot.press("ctrl+n")
        small, big = await both_sizes(pilot, lambda t: "2/5 prerequisites · gflow" in t and "✓ ready" in t
                                      and "◌" not in t, "the prerequisites, checked")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "✓ config" in text and "✓ network" in text and "tools" in text
            api = line_with(text, "cluster API")
            assert "✓ cluster API 127.0.0.1:" in api and " answers  (" in api and " ms)" in api   # with its latency
            assert "kubectl" in text
            assert "✓ every prerequisite passed — ctrl+n: sizing" in text
            assert "^n sizing" in text.splitlines()[-1] and "a acknowledge" in text.splitlines()[-1]
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · new install · prerequisites" in t, what="the checks' help")
        assert "acknowledge the warnings" in line_with(text, "│ a ") and "trust the host key" in line_with(text, "│ t ")
        await pilot.press("escape")

        # -- sizing: the plan follows the ULBs; the fit check reads the cluster's node -----------------------
        await pilot.press("ctrl+n")
        small, big = await both_sizes(pilot, lambda t: "3/5 sizing · gflow" in t and "◌" not in t
                                      and "Fit check against the cluster's 1 schedulable node" in flat_words(t),
                                      "the sizing plan")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "Inputs" in text and "Plan · dev" in text
            assert "dev (dev) · 10 ULBs · 50 peak users" in text
            assert "m_pgr" in line_with(text, "│ m_pgr")
            assert "^n configuration" in text.splitlines()[-1]
        await pilot.press("question_mark")                      # in the ULB field too: it takes digits only
        text = await wait_screen(pilot, lambda t: "Help · new install · sizing" in t, what="the sizing help")
        assert "the number of ULBs" in text and "next: the configuration" in line_with(text, "ctrl+n")
        await pilot.press("escape")
        await pilot.press("backspace", "backspace")
        await wait_screen(pilot, lambda t: "✗ ULBs: not set" in t, what="no ULBs: said under the field")
        await type_text(pilot, "40")
        text = await wait_screen(pilot, lambda t: "40 ULBs · 200 peak users" in t and "◌" not in t,
                                 what="the plan of 40 ULBs")
        assert "✗ ULBs" not in text
        await pilot.press("ctrl+n")
        if "ctrl+n again" in screen_text(app) or "does not fit" in screen_text(app).splitlines()[0]:
            await pilot.press("ctrl+n")        # one node may be short for 40 ULBs: the operator goes on

        # -- configuration: its defaults, valid as they are ---------------------------------------------------
        small, big = await both_sizes(pilot, lambda t: "4/5 configuration · gflow" in t and "✓ valid" in t,
                                      "the configuration's defaults")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "●▌ in-cluster" in line_with(text, "Database") and "●▌ dynamic" in line_with(text, "Storage")
        assert "db-host: postgres.egov" in big                 # the preview, beside the form when wide
        await pilot.press("ctrl+n")

        # -- plan ------------------------------------------------------------------------------------------
        small, big = await both_sizes(pilot, lambda t: "tasks · " in t.splitlines()[0] and "Release" in t,
                                      "the plan")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "5/5 plan · gflow · digit.gflow.test" in text.splitlines()[0]
            for phase in ("Prerequisites", "Cluster", "Volumes", "Helm configuration", "Release"):
                assert f"◌ {phase}" in text
            assert "would check kubectl" in text.replace("\n", " ")        # the selected phase: prerequisites
            assert "digit-tui install --answers" in text and "--headless" in text
            assert "c confirm and start" in text.splitlines()[-1]
        await pilot.press("question_mark")
        text = await wait_screen(pilot, lambda t: "Help · new install · plan" in t, what="the plan's help")
        assert "confirm: write the answers file" in line_with(text, "│ c ")
        await pilot.press("escape")
        await pilot.press("down", "enter", "down")              # Cluster, opened, its task
        text = await wait_screen(pilot, lambda t: "would use the kubeconfig" in t.replace("\n", " "),
                                 what="the cluster task's dry run")
        assert "cluster" in text and "after prerequisites" in text
        assert not (state_root / "gflow" / "answers.yaml").exists()         # nothing written before confirming

        # -- confirm -> the install view --------------------------------------------------------------------
        await pilot.press("c")
        text = await wait_screen(pilot, lambda t: "Start the install of gflow?" in t, what="the confirm step")
        assert "Write and start (s)" in text and "Cancel (c)" in text
        await pilot.press("s")
        text = await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · gflow · digit.gflow.test")
                                 and "● running" in t.splitlines()[0] and "Prerequisites" in t
                                 and "^q quit (install continues)" in t.splitlines()[-1], timeout=30,
                                 what="the install view of the started install")
        assert "✓ Prerequisites" in text or "● Prerequisites" in text
        await pilot.press("ctrl+q")
    assert app.attached == state_root / "gflow"

    # The answers file: valid, and what `install --headless` takes, to the byte of the run's document.
    path = state_root / "gflow" / "answers.yaml"
    assert validate_main(["validate", "--answers", str(path)]) == 0
    written = load_answers(path)
    assert written.target.provider == "existing" and str(written.target.kubeconfig) == kubeconfig
    assert written.digit.modules == ["m_pgr"] and written.digit.domain == "digit.gflow.test"
    assert written.sizing.tier == "dev"
    assert written.sizing.ulbs == 40                        # the sizing screen's ULBs
    reread = load_answers(path)
    again = InstallConfig.from_answers(reread, path, sizing=install_plan(reread, path)).to_document()
    assert load_spec(str(path)).settings == again
    assert again["derived"]["sizing"]["ulbs"] == 40 and again["derived"]["sizing"]["tier"] == "dev"
    j = Journal.in_dir(state_root / "gflow", readonly=True)
    try:
        run = j.latest_run()
    finally:
        j.close()
    assert run is not None and run.answers_path == str(path)
    assert run.settings == again                 # the engine recorded exactly that configuration


def write_run(state: Path, env: str, total: int, *, done: int, state_name: str = "running",
              waiting: int = 0, failed: str | None = None, engine_pid: int | None = None) -> None:
    state.mkdir(parents=True, mode=0o700)
    j = Journal.in_dir(state)
    run = j.create_run(env, "tests.tui.graphs:gate_graph", run_document(env, f"{env}.example.test"),
                       str(state / "answers.yaml"))
    j.set_run_state(run, state_name, engine_pid=engine_pid)
    rows: list[tuple[str, str, str, list[str]]] = [(f"t{i}", f"task {i}", "release", []) for i in range(total)]
    j.sync_tasks(run, rows + ([(failed, failed, "release/core", [])] if failed else []))
    for i in range(done):
        j.transition(run, f"t{i}", TaskState.RUNNING, "go", attempt=True)
        j.transition(run, f"t{i}", TaskState.DONE, "ok")
    for i in range(done, done + waiting):
        j.transition(run, f"t{i}", TaskState.RUNNING, "go", attempt=True)
        j.transition(run, f"t{i}", TaskState.WAITING_NETWORK, "cluster API unreachable")
    if failed:
        j.transition(run, failed, TaskState.RUNNING, "go", attempt=True)
        j.transition(run, failed, TaskState.FAILED, "boom", error="CrashLoopBackOff")
    j.close()


async def test_welcome_lists_every_install_with_its_status_read_only(state_root: Path) -> None:
    # A pid that is surely dead: a child that has exited and been reaped.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_run(state_root / "sdc-prod", "sdc-prod", 40, done=12, waiting=1, engine_pid=os.getpid())
    write_run(state_root / "dev", "dev", 5, done=3, state_name="failed", failed="egov-user")
    write_run(state_root / "demo", "demo", 4, done=4, state_name="done")
    write_run(state_root / "uat", "uat", 10, done=7, engine_pid=dead.pid)   # its engine was killed
    (state_root / "empty").mkdir()                                         # no journal: not an install
    before = {p: p.stat().st_mtime_ns for p in state_root.glob("*/*")}
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        small, big = await both_sizes(pilot, lambda t: "sdc-prod" in t and "uat" in t, "the installs")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert f"Installsin{state_root}" in flat(text)
            assert "⏸ sdc-prod" in line_with(text, "sdc-prod")
            assert "12/40 tasks done, waiting for network" in line_with(text, "sdc-prod")
            assert "✗ dev" in line_with(text, "failed: egov-user")
            assert "✓ demo" in line_with(text, "demo ") and "done" in line_with(text, "demo ")
            assert "stopped at 7/10 tasks done (engine not running)" in line_with(text, "uat")
            assert "empty" not in text
            assert "ago" in line_with(text, "sdc-prod")
        # Read-only: no journal was touched, no -wal or -shm appeared.
        assert {p: p.stat().st_mtime_ns for p in state_root.glob("*/*")} == before
        # enter on a failed install: resume it, or only look.
        await highlight(pilot, "dev ")
        await pilot.press("enter")
        text = await wait_screen(pilot, lambda t: "Resume the install of dev?" in t, what="the resume question")
        assert "Resume (r)" in text and "Only look (v)" in text and "finished work is re-checked" in text
        assert "✗ failed: egov-user" in text
        await pilot.press("v")
        await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · dev"), what="dev's install view")
        await pilot.press("q")


async def test_resuming_a_stopped_install_starts_its_engine_as_install_does(
        state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support import MINIMAL_ANSWERS, REPO

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("DT_TEST_DIR", str(work))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_run(state_root / "uat", "uat", 3, done=1, engine_pid=dead.pid)
    (state_root / "uat" / "answers.yaml").write_text(MINIMAL_ANSWERS.replace("enginetest", "uat"))
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "stopped at 1/3 tasks done" in t, what="the stopped install")
        await highlight(pilot, "uat ")
        await pilot.press("enter")
        await wait_screen(pilot, lambda t: "Resume the install of uat?" in t, what="the resume question")
        await pilot.press("r")
        text = await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · uat") and "● wait for the gate" in t,
                                 timeout=30, what="the resumed install, running")
        assert "● running" in text.splitlines()[0]
        await pilot.press("ctrl+q")
    assert app.attached == state_root / "uat"
    pid = int((state_root / "uat" / "engine.lock").read_text())
    os.kill(pid, 0)                                          # the engine outlives the TUI


async def highlight(pilot: Any, needle: str) -> None:
    """Move down the welcome list to the line that holds ``needle``."""
    menu = pilot.app.screen.query_one("#welcome-menu")
    for _ in range(12):
        option = menu.highlighted_option
        if option is not None and needle in str(option.prompt):
            return
        await pilot.press("down")
    raise AssertionError(f"no line with {needle!r} in the welcome list")


async def test_health_view_picks_the_kubeconfig_of_kubeconfig_and_leaves_it_alone(
        cluster: SandboxHandle, state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.cli.health import health_kubeconfig

    listed = f"{tmp_path / 'missing'}{os.pathsep}{cluster.kubeconfig_path}"
    monkeypatch.setenv("KUBECONFIG", listed)
    assert health_kubeconfig(None)[0] == str(cluster.kubeconfig_path)   # what `digit-tui health` would read
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        await pilot.press("h")
        small, big = await both_sizes(pilot, lambda t: "Health view of a cluster" in t and "✓ 1 context" in t,
                                      "the cluster picker")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "(from $KUBECONFIG)" in text and "current-context" in text
        await pilot.press("enter")
        await wait_screen(pilot, lambda t: "Nodes 1/1 ✓" in t, timeout=20, what="the pod dashboard of the sandbox")
        await pilot.press("q")
        await wait_screen(pilot, lambda t: "New install" in t, what="back on the welcome screen")
    assert os.environ["KUBECONFIG"] == listed


async def test_a_worker_error_becomes_the_one_error_dialog(state_root: Path) -> None:
    """A graph that cannot be loaded: the plan's worker fails and the app's error path says why."""
    from digit_tui.answers import parse_answers
    from digit_tui.screens.plan import PlanScreen

    answers = parse_answers("version: 1\nenvironment: broken\ntarget: {provider: sandbox}\n"
                            "digit: {domain: broken.example.test}\n", state_root / "answers.yaml")
    app = DigitApp(start="welcome", graph="tests.tui.no_such_module:graph")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(PlanScreen(answers, state_root / "broken" / "answers.yaml", state_root / "broken"))
        text = await wait_screen(pilot, lambda t: "✗ Building the plan failed" in t, what="the error dialog")
        assert "cannot load graph factory" in text and "Next:" in text
        await pilot.press("escape")
        text = await wait_screen(pilot, lambda t: "✗ no plan" in t.splitlines()[0], what="the plan screen after it")
        assert "✗ the plan could not be made" in text
        await pilot.press("c")
        await wait_screen(pilot, lambda t: "nothing to confirm: the plan could not be made" in t,
                          what="no confirm without a plan")
    assert not (state_root / "broken").exists()


def test_form_messages_are_those_of_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from digit_tui.cli.install import DEFAULT_GRAPH
    from digit_tui.cli.validate import main as validate_main
    from digit_tui.viewmodel.newinstall import Choices, SourceCache, check_choices
    from digit_tui.viewmodel.plan import INSTALL_GRAPH

    assert INSTALL_GRAPH == DEFAULT_GRAPH
    choices = Choices(provider="existing", kubeconfig=str(tmp_path / "nope"), environment="sdc-prod",
                      modules=("m_pgrr",), domain="egov.example.test")
    check = check_choices(choices, SourceCache())
    assert set(check.errors) == {"kubeconfig", "modules"} and check.first is not None
    assert check.first[0] == "kubeconfig" and check.answers is None
    text, _ = choices.candidate()
    path = tmp_path / "answers.yaml"
    path.write_text(text)
    assert validate_main(["validate", "--answers", str(path)]) == 2
    printed = capsys.readouterr().err
    first = check.errors["kubeconfig"]
    assert f"{first.message} (expected: {first.expected})" in printed


async def test_try_the_sandbox_runs_the_demo_and_opens_its_install(state_root: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.sandbox.runtime import stop_background

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("DT_TEST_DIR", str(work))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    app = DigitApp(start="welcome", graph="tests.tui.graphs:gate_graph")
    try:
        async with app.run_test(size=SMALL) as pilot:
            await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
            started = time.monotonic()
            await pilot.press("s")
            await wait_screen(pilot, lambda t: "◌ start" in t, timeout=5, what="the demo's progress line")
            await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · demo · digit.demo.local")
                              and "● wait for the gate" in t, timeout=90, what="the demo's install view")
            assert time.monotonic() - started < 90
            await pilot.press("ctrl+q")
        assert (state_root / "demo" / "answers.yaml").read_text().startswith("# Demo install")
        assert app.attached == state_root / "demo"
        (work / "gate").write_text("open")
        wait_until(lambda: (work / "done-last").exists(), timeout=30, what="the demo install to finish")
    finally:
        stop_background(state_root / "demo" / "sandbox")


async def test_an_existing_answers_file_is_replaced_only_when_the_operator_says_so(state_root: Path) -> None:
    from digit_tui.answers import parse_answers
    from digit_tui.screens.plan import PlanScreen, write_answers

    answers = parse_answers("version: 1\nenvironment: mine\ntarget: {provider: sandbox}\n"
                            "digit: {domain: mine.example.test}\n", state_root / "answers.yaml")
    state = state_root / "mine"
    state.mkdir(parents=True, mode=0o700)
    path = state / "answers.yaml"
    path.write_text("# the operator's own\n")
    app = DigitApp(start="welcome", graph="tests.tui.graphs:gate_graph")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(PlanScreen(answers, path, state))
        text = await wait_screen(pilot, lambda t: "3 tasks · 2 phases" in t, what="the plan of the gate graph")
        assert "exists:confirmingasksbeforereplacingit" in flat(text)
        await pilot.press("c")
        text = await wait_screen(pilot, lambda t: "Replace it and start (o)" in t, what="the question")
        assert "exists (modified" in text and "Write and start" not in text
        await pilot.press("c")                                     # cancel
        await wait_screen(pilot, lambda t: "Replace it and start" not in t, what="the question gone")
    assert path.read_text() == "# the operator's own\n" and not (state / "journal.db").exists()
    # And a file that appears after the question was asked is not replaced either.
    with pytest.raises(FileExistsError):
        write_answers(path, "version: 1\n", overwrite=False)
    assert path.read_text() == "# the operator's own\n" and [p.name for p in state.iterdir()] == ["answers.yaml"]
    write_answers(path, "version: 1\n", overwrite=True)
    assert path.read_text() == "version: 1\n" and (path.stat().st_mode & 0o777) == 0o600


# -- prerequisites and sizing on their own -------------------------------------------------------------


def answers_for(state_root: Path, env: str, target: str, extra: str = "") -> Any:
    from digit_tui.answers import parse_answers

    return parse_answers(f"version: 1\nenvironment: {env}\ntarget: {target}\n"
                         f"digit: {{domain: {env}.example.test, modules: [m_pgr]}}\n{extra}",
                         state_root / env / "answers.yaml")


async def test_a_failing_check_blocks_continue_and_shows_its_remedy(state_root: Path) -> None:
    """A probe the answers name that nothing answers (a closed port on this machine): a failure,
    with preflight's remedy under it and in the status line; ctrl+n stays on the checklist."""
    from digit_tui.screens.prereqs import PrereqScreen

    answers = answers_for(state_root, "closed", "{provider: sandbox}", "network: {probes: ['127.0.0.1:1']}\n")
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(PrereqScreen(answers, state_root / "closed" / "answers.yaml", state_root / "closed"))
        small, big = await both_sizes(pilot, lambda t: "✗ 1 failed" in t.splitlines()[0], "the failed check")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "✗ network" in text and "✗ probe 127.0.0.1:1 does not answer" in flat_words(text)
            assert "→ check the address in the answers, the firewall and the VPN" in flat_words(text)
            assert "✓ config" in text and "tools" in text          # what was checked besides
            assert "✗ 1 failed (probe 127.0.0.1:1): its remedy (→) says what to do; r checks again" in flat_words(
                "\n".join(text.splitlines()[-3:-1]))                # the status line, above the keys
        await pilot.press("ctrl+n")
        text = await wait_screen(pilot, lambda t: "2/5 prerequisites" in t.splitlines()[0], what="continue refused")
        assert "3/5 sizing" not in text and isinstance(app.screen, PrereqScreen)
        await pilot.press("a")                                   # no warning: nothing to acknowledge, still blocked
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, PrereqScreen)
    assert not (state_root / "closed").exists()                   # checking writes nothing


async def test_a_warning_must_be_acknowledged_and_the_install_records_it(
        cluster: SandboxHandle, state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kubectl not on PATH for an existing cluster: a warning. ctrl+n stays until `a`; the plan's
    command then says --skip-checks, and the engine the confirm starts records skip_checks in the
    run's document, as `install --skip-checks` does."""
    from digit_tui.screens.prereqs import PrereqScreen
    from digit_tui.screens.sizing import SizingScreen
    from tests.support import REPO

    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("DT_TEST_DIR", str(work))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    answers = answers_for(state_root, "warned", f"{{provider: existing, kubeconfig: '{cluster.kubeconfig_path}'}}")
    app = DigitApp(start="welcome", graph="tests.tui.graphs:gate_graph")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(PrereqScreen(answers, state_root / "warned" / "answers.yaml", state_root / "warned"))
        small, big = await both_sizes(pilot, lambda t: "! 1 warning to acknowledge" in t.splitlines()[0],
                                      "the warning")
        for text, (w, h) in ((small, SMALL), (big, BIG)):
            assert_fits(text, w, h)
            assert "! kubectl not found on PATH" in text and "→ install kubectl on this machine" in flat_words(text)
            assert "a acknowledges them (as `install --skip-checks`)" in flat_words(text)
            assert "✓ cluster API" in text
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, PrereqScreen)               # not without the acknowledgement
        await pilot.press("a")
        text = await wait_screen(pilot, lambda t: "✓ ready (1 acknowledged)" in t.splitlines()[0],
                                 what="the warning acknowledged")
        assert "acknowledged (recorded as --skip-checks; a: take back)" in flat_words(text)
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "3/5 sizing" in t and "◌" not in t, timeout=60, what="the sizing screen")
        assert isinstance(app.screen, SizingScreen)
        await pilot.press("ctrl+n")
        await pilot.pause()
        if isinstance(app.screen, SizingScreen):
            await pilot.press("ctrl+n")                           # short on one node: go on anyway
        await wait_screen(pilot, lambda t: "4/5 configuration" in t and "✓ valid" in t.splitlines()[0], timeout=30,
                          what="the configuration")
        await pilot.press("ctrl+n")
        text = await wait_screen(pilot, lambda t: "3 tasks · 2 phases" in t, timeout=30, what="the plan")
        assert "--skip-checks--headless" in flat_words(text).replace(" ", "")
        await pilot.press("c")
        text = await wait_screen(pilot, lambda t: "Start the install of warned?" in t, what="the confirm step")
        assert "acknowledged (as --skip-checks)" in flat_words(text)
        await pilot.press("s")
        await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · warned"), timeout=30,
                          what="the install view")
        await pilot.press("ctrl+q")
    j = Journal.in_dir(state_root / "warned", readonly=True)
    try:
        run = j.latest_run()
    finally:
        j.close()
    assert run is not None and run.settings["preflight"]["skip_checks"] is True
    (work / "gate").write_text("open")


async def test_the_sizing_plan_follows_the_ulbs_and_the_tier(state_root: Path) -> None:
    """Typing the ULBs plans again (debounced, in a worker): users, workers, disks and the fit on the
    sandbox's three nodes follow; inputs the planner refuses are said under the field; a prod tier
    is said to change the prerequisites' thresholds."""
    from digit_tui.screens.sizing import SizingScreen

    answers = answers_for(state_root, "sized", "{provider: sandbox}")
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(SizingScreen(answers, state_root / "sized" / "answers.yaml", state_root / "sized"))
        text = await wait_screen(pilot, lambda t: "10 ULBs · 50 peak users" in t and "✓ fits" in t.splitlines()[0],
                                 timeout=60, what="the plan of the tier's ULBs")
        assert "Fit check against the sandbox's 3 nodes of 8 CPU / 16Gi" in flat_words(text)
        before = line_with(text, "workers ")
        await pilot.press("backspace", "backspace")
        await type_text(pilot, "3000")
        text = await wait_screen(pilot, lambda t: "✗ fix the inputs" in t.splitlines()[0], what="no plan for 3000")
        assert "✗ no plan for 3000 ULBs: no candidate flavor fits the largest pod" in flat_words(text)
        assert_fits(text, *SMALL)
        for _ in range(4):
            await pilot.press("backspace")
        await type_text(pilot, "300")
        small, big = await both_sizes(pilot, lambda t: "300 ULBs · 1500 peak users" in t
                                      and "◌" not in t.splitlines()[0], "the plan of 300 ULBs")
        assert line_with(small, "workers ") != before              # larger workers for 300 ULBs
        # A plan, which the sandbox's 8 CPU / 16Gi nodes cannot hold: its in-cluster database needs 8C/32G
        assert "✗ no plan" not in small and "✗ does not fit" in small.splitlines()[0]
        assert_fits(small, *SMALL)
        assert_fits(big, *BIG)
        assert "DIGIT sizing · dev (dev) · 300 ULBs" in big and "Volumes (14)" in big   # the whole report, wide
        assert "scheduler replay (apply order)" in big
        assert "The install records (its DIGIT-shaped plan):" in big       # what it will act on, said apart
        await pilot.press("tab")                                    # the tier: prod
        await pilot.press("right", "right", "space")
        text = await wait_screen(pilot, lambda t: "Plan · prod" in t and "◌" not in t.splitlines()[0],
                                 what="the prod plan")
        assert "prod (prod) · 300 ULBs" in text
        note = text.splitlines()[text.splitlines().index(line_with(text, "▐●▌ prod")) + 1:][:3]
        assert "prerequisites were checked as dev; the install checks as prod" in flat_words("\n".join(
            line[:30] for line in note))                          # under the tier, in the inputs' pane


async def test_a_sizing_worker_error_becomes_the_one_error_dialog(state_root: Path, tmp_path: Path) -> None:
    """A DIGIT tree gone since the target screen checked it: the worker that reads the release fails,
    and the app's one error path says what, why and what next; the screen says it has no plan."""
    from digit_tui.answers import parse_answers
    from digit_tui.screens.sizing import SizingScreen

    gone = tmp_path / "gone-tree"
    answers = parse_answers(f"version: 1\nenvironment: gone\ntarget: {{provider: sandbox}}\n"
                            f"digit: {{domain: gone.example.test, source: {{path: '{gone}'}}, "
                            "release: dependancy_chart-x.yaml}\n", state_root / "gone" / "answers.yaml",
                            check_files=False)
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(SizingScreen(answers, state_root / "gone" / "answers.yaml", state_root / "gone"))
        # Deadlines of a loaded machine (the suite runs three workers on two cores): the worker starts
        # a thread and reads the tree before it fails.
        text = await wait_screen(pilot, lambda t: "✗ Reading the release's charts failed" in t, timeout=30,
                                 what="the error dialog")
        assert str(gone) in flat(text).replace("│", "") and "Next:" in text
        await pilot.press("escape")
        text = await wait_screen(pilot, lambda t: "✗ no plan" in t.splitlines()[0], timeout=30,
                                 what="the sizing screen after it")
        assert "reading the release's charts failed" in flat_words(text)
        # Whatever redraws the header later (a key in the form, a control's late Changed message)
        # leaves it saying there is no plan: the read will not come.
        await pilot.press("5")
        await pilot.pause()
        text = screen_text(app)
        assert "✗ no plan" in text.splitlines()[0], text
    assert not (state_root / "gone").exists()


async def test_the_checklist_fills_in_by_section_while_the_keys_answer(
        state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kubectl that answers only once the test opens its gate (a script on PATH: the real one
    answers too fast to be caught in the middle): the sections already known are shown while the
    tools are still being checked, the keys answer meanwhile, ctrl+n waits, and the tools' row
    is replaced by its result when it comes."""
    from digit_tui.screens.prereqs import PrereqScreen

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gate = tmp_path / "gate"
    kubectl = bin_dir / "kubectl"
    kubectl.write_text("#!/bin/sh\nwhile [ ! -e '%s' ]; do sleep 0.05; done\n"
                       "echo '{\"clientVersion\": {\"gitVersion\": \"v1.31.0\"}}'\n" % gate)
    kubectl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    answers = answers_for(state_root, "slow", "{provider: sandbox}")
    app = DigitApp(start="welcome")
    try:
        async with app.run_test(size=SMALL) as pilot:
            await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
            app.push_screen(PrereqScreen(answers, state_root / "slow" / "answers.yaml", state_root / "slow"))
            text = await wait_screen(pilot, lambda t: "✓ config" in t and "no endpoint in the answers to probe" in t
                                     and "◌ tools  looking for the tools on this machine…" in t,
                                     what="config and network known, the tools pending")
            assert "◌ checking 2/3" in text.splitlines()[0]
            assert "◌ checking (nothing is changed on any host)…" in text
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert isinstance(app.screen, PrereqScreen)           # not before the checks have finished
            await pilot.press("question_mark")                    # the keys answer while a check runs
            await wait_screen(pilot, lambda t: "Help · new install · prerequisites" in t, what="the help")
            await pilot.press("escape")
            gate.write_text("open")
            text = await wait_screen(pilot, lambda t: "✓ ready" in t.splitlines()[0], what="the tools checked")
            assert f"✓kubectlv1.31.0({kubectl})" in flat_words(text).replace(" ", "") and "◌" not in text
    finally:
        gate.write_text("open")
