"""The guided flow's configuration step (screens/configure.py) on its own: validate's messages
under their fields, a bad value blocking ctrl+n, a typed password masked and revealed, written
0600 beside the journal and nowhere else, the preview of the environment file's external-database
block, and the answers it hands on driving the same install headless. A real engine runs the
confirmed install on a synthetic graph (tests/tui/graphs.py): the cluster is not the point here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from digit_tui.engine.journal import Journal
from tests.tui.conftest import line_with, wait_screen

SMALL = (80, 24)
BIG = (160, 50)
PASSWORD = "Tr0ub4dor-and-3"


def base_answers(state_root: Path, env: str) -> Any:
    from digit_tui.answers import parse_answers

    return parse_answers(f"version: 1\nenvironment: {env}\ntarget: {{provider: sandbox}}\n"
                         f"digit: {{domain: {env}.example.test, modules: [m_pgr]}}\nsizing: {{tier: dev, ulbs: 20}}\n",
                         state_root / env / "answers.yaml")


def under(text: str, needle: str) -> str:
    """The two lines below the one holding ``needle`` in one line: where a field's message is (it
    wraps at 80 columns), left of the preview when it is beside the form."""
    lines = [line.split("│")[0] for line in text.splitlines()]
    at = lines.index(line_with("\n".join(lines), needle))
    return " ".join(" ".join(lines[at + 1:at + 3]).split())


def assert_fits(text: str, width: int, height: int) -> None:
    lines = text.splitlines()
    assert len(lines) == height and all(len(line) <= width for line in lines), text


async def focus(pilot: Any, selector: str) -> None:
    pilot.app.screen.query_one(selector).focus()
    await pilot.pause()


async def retype(pilot: Any, selector: str, text: str) -> None:
    await focus(pilot, selector)
    pilot.app.screen.query_one(selector).clear()
    for ch in text:
        await pilot.press(ch)


@pytest.mark.parametrize("size", [SMALL, BIG], ids=["80x24", "160x50"])
async def test_configuration_checks_masks_previews_and_hands_on_the_answers(
        state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]) -> None:
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig
    from digit_tui.cli.install import load_spec
    from digit_tui.cli.validate import main as validate_main
    from digit_tui.screens.configure import ConfigScreen
    from digit_tui.screens.plan import PlanScreen
    from digit_tui.sizing.install import install_plan
    from tests.support import REPO

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("DT_TEST_DIR", str(work))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    state = state_root / "cfg"
    app = DigitApp(start="welcome", graph="tests.tui.graphs:gate_graph")
    try:
        async with app.run_test(size=size) as pilot:
            await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
            app.push_screen(ConfigScreen(base_answers(state_root, "cfg"), state / "answers.yaml", state))
            text = await wait_screen(pilot, lambda t: "4/5 configuration · cfg" in t and "✓ valid" in t,
                                     what="the defaults, valid")
            assert_fits(text, *size)
            assert "●▌ in-cluster" in line_with(text, "Database") and "●▌ dynamic" in line_with(text, "Storage")
            assert "pb" in line_with(text, "State tenant") and "egovio" in line_with(text, "Registry")
            assert "^n plan" in text.splitlines()[-1] and "^r reveal password" in text.splitlines()[-1]
            await pilot.press("f1")                          # a text field has the focus: f1, not ?
            text = await wait_screen(pilot, lambda t: "Help · new install · configuration" in t, what="the help")
            assert "reveal or hide the typed database password" in line_with(text, "ctrl+r")
            assert "show or hide the preview" in line_with(text, "ctrl+o")
            await pilot.press("escape")

            # A bad value: validate's message under its field; ctrl+n stays.
            await retype(pilot, "#db_port", "70000")
            text = await wait_screen(pilot, lambda t: "✗ 1 to fix" in t.splitlines()[0], what="the bad port")
            assert "✗ database.port: 70000 is not a valid port (expected: an integer 1-65535)" in under(text, "DB port")
            await pilot.press("ctrl+n")
            await pilot.pause()
            assert isinstance(app.screen, ConfigScreen)
            await retype(pilot, "#db_port", "5432")
            await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="the port fixed")

            # An external database: its host is asked for, in validate's words, under the mode.
            await focus(pilot, "#db_mode")
            await pilot.press("right", "right", "space")
            text = await wait_screen(pilot, lambda t: "an external database needs host" in t, what="host needed")
            assert "✗ database.mode: an external database needs host" in under(text, "Database")
            await retype(pilot, "#db_host", "10.20.0.5")
            await retype(pilot, "#db_password", PASSWORD)
            text = await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="external, valid")
            assert PASSWORD not in text and "•" * len(PASSWORD) in line_with(text, "DB password")
            assert "kept 0600 as db-password in the state dir, not in the answers" in under(text, "DB password")
            await pilot.press("ctrl+r")
            text = await wait_screen(pilot, lambda t: PASSWORD in t, what="the password revealed")
            assert PASSWORD in line_with(text, "DB password")
            await pilot.press("ctrl+r")
            text = await wait_screen(pilot, lambda t: PASSWORD not in t, what="the password masked again")

            # The preview: the env file's external-database block; the password masked.
            if size == SMALL:
                await pilot.press("ctrl+o")              # at 80 columns the preview takes the form's place
            text = await wait_screen(pilot, lambda t: "cluster-configs.db:" in t and "- ip: 10.20.0.5" in t,
                                     what="the env file's db block in the preview")
            assert_fits(text, *size)
            assert "egov-config.db-host: db-service.egov" in text and "name: db-service" in text
            assert "db.password: ••••" in text and PASSWORD not in text
            if size == SMALL:
                assert "DB port" not in text
                await pilot.press("ctrl+o")
                await wait_screen(pilot, lambda t: "DB port" in t, what="the form back")
            else:
                assert "DB port" in text                 # beside the form

            await pilot.press("ctrl+n")
            text = await wait_screen(pilot, lambda t: "5/5 plan · cfg" in t and "3 tasks · 2 phases" in t,
                                     timeout=30, what="the plan")
            assert isinstance(app.screen, PlanScreen)
            secret = state / "db-password"
            assert secret.read_text() == PASSWORD + "\n" and (secret.stat().st_mode & 0o777) == 0o600
            await pilot.press("c")
            await wait_screen(pilot, lambda t: "Start the install of cfg?" in t, what="the confirm step")
            await pilot.press("s")
            await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · cfg") and "● wait for the gate" in t,
                              timeout=30, what="the install view")
            await pilot.press("ctrl+q")
    finally:
        (work / "gate").write_text("open")

    path = state / "answers.yaml"
    assert validate_main(["validate", "--answers", str(path)]) == 0
    written = load_answers(path)
    assert written.database.mode == "external" and written.database.host == "10.20.0.5"
    assert written.database.password_file == state / "db-password"
    assert written.storage.mode == "dynamic" and not written.phases.jenkins and written.sizing.ulbs == 20
    again = InstallConfig.from_answers(written, path, sizing=install_plan(written, path)).to_document()
    assert load_spec(str(path)).settings == again       # what `install --headless` takes
    j = Journal.in_dir(state, readonly=True)
    try:
        run = j.latest_run()
    finally:
        j.close()
    assert run is not None and run.settings == again
    # The password is in its file and nowhere else the install keeps.
    for kept in state.rglob("*"):
        if kept.is_file() and kept.name != "db-password":
            assert PASSWORD.encode() not in kept.read_bytes(), kept


async def test_jenkins_and_static_storage_say_what_they_need(state_root: Path, tmp_path: Path) -> None:
    """Jenkins on asks for its repositories (validate's message), a repository makes it valid;
    static storage is validate's refusal plus where to write its disks; a password and a password
    file both given is refused at the password."""
    from digit_tui.screens.configure import ConfigScreen

    state = state_root / "ci"
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        app.push_screen(ConfigScreen(base_answers(state_root, "ci"), state / "answers.yaml", state))
        await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="the defaults, valid")
        assert "Repositories" not in await wait_screen(pilot, lambda t: True)
        await focus(pilot, "#jenkins")
        await pilot.press("right", "space")
        text = await wait_screen(pilot, lambda t: "✗ jenkins.repositories" in t, what="Jenkins' repositories asked")
        assert "✗ jenkins.repositories: a list has too few entries (at least 1)" in under(text, "Repositories")
        await retype(pilot, "#jenkins_repositories", "git@github.com:egovernments/Digit-Core.git")
        await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="Jenkins valid")

        await focus(pilot, "#storage_mode")
        await pilot.press("right", "space")
        text = await wait_screen(pilot, lambda t: "✗ storage.mode: static volumes need a provider" in t,
                                 what="static refused")
        assert "edit storage.* in the answers file" in " ".join(text.split())
        assert "Class " not in text                          # the class is for dynamic volumes only
        await pilot.press("left", "space")
        await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="dynamic again")

        own = tmp_path / "pw"
        own.write_text("from-a-file\n")
        own.chmod(0o600)
        await retype(pilot, "#db_password", "typed-secret")
        await retype(pilot, "#db_password_file", str(own))
        text = await wait_screen(pilot, lambda t: "a password is typed and a password file named" in t,
                                 what="both refused")
        assert "typed-secret" not in text
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, ConfigScreen)
    assert not state.exists()                                # nothing written while it is refused


def test_a_password_typed_then_cleared_leaves_no_file(state_root: Path) -> None:
    """Back from the plan, the password cleared: the file written on the first visit goes, and the
    answers name no password file (the install generates one)."""
    from dataclasses import replace

    from digit_tui.viewmodel.configure import ConfigChoices, final_answers

    state = state_root / "again"
    base = base_answers(state_root, "again")
    typed = replace(ConfigChoices.of(base), db_password=PASSWORD)
    assert PASSWORD not in repr(typed)
    first = final_answers(typed, base, state / "answers.yaml", state)
    secret = state / "db-password"
    assert first.database.password_file == secret and (secret.stat().st_mode & 0o777) == 0o600
    assert (state.stat().st_mode & 0o777) == 0o700
    second = final_answers(ConfigChoices.of(base), base, state / "answers.yaml", state)
    assert second.database.password_file is None and not secret.exists()
