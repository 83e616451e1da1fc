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
COMMENT_START = "# Written by the digit-tui guided install."     # the answers file's first line


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


def pane_rows(text: str, width: int) -> list[str]:
    """The preview's rows on screen (the pane in the terminal's whole width, ctrl+o at 80 columns):
    its content columns, right of the border and the padding."""
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("╭─ Preview"))
    bottom = next(i for i, line in enumerate(lines) if i > top and line.startswith("╰"))
    return [line[2:2 + width].rstrip() for line in lines[top + 1:bottom]]


def continuation(rows: list[str], line: str) -> list[str] | None:
    """The rows after its first that ``line`` of the preview takes on screen (taken while they give
    the rest of its text, a row's leading ``#`` or ``↪`` aside), or None if it is not wrapped there."""
    want = line.replace(" ", "")
    for at, row in enumerate(rows):
        got = row.replace(" ", "")
        if not got or got == want or not want.startswith(got):
            continue
        rest = []
        for more in rows[at + 1:]:
            piece = more.replace(" ", "")
            if piece[:1] in ("#", "↪") and want.startswith(got + piece[1:]):
                piece = piece[1:]           # the continuation's mark
            if not piece or not want.startswith(got + piece):
                break
            got += piece
            rest.append(more)
            if got == want:
                return rest
    return None


async def test_the_preview_wraps_a_comment_as_a_comment_and_a_value_under_its_value(state_root: Path) -> None:
    """At 80x24 the preview's pane is narrower than the files' long lines: a comment's continuation
    starts with its own ``#`` (not as YAML of its own), a long value's goes on under the value marked
    ``↪``; a wider terminal wraps them again to its width."""
    from digit_tui.screens.configure import ConfigScreen

    registry = "registry.example.internal/mirrors/egovernments-digit-images-for-pilots"
    state = state_root / "wrap"
    answers = base_answers(state_root, "wrap")
    answers = answers.model_copy(update={"digit": answers.digit.model_copy(update={"container_registry": registry})})
    app = DigitApp(start="welcome")
    app.animation_level = "none"        # pgdn lands at once: the pages, not the scrolling, are the point
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        screen = ConfigScreen(answers, state / "answers.yaml", state)
        app.push_screen(screen)
        await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="the long registry, valid")
        await pilot.press("ctrl+o")
        text = await wait_screen(pilot, lambda t: "Answers file ·" in t, what="the preview")
        pane = screen.query_one("#config-preview")
        width = screen.query_one("#config-preview-text").content_size.width
        assert 60 < width < 80

        # Every page of the preview, down to its end.
        rows = pane_rows(text, width)
        while pane.scroll_y < pane.max_scroll_y:
            goal = min(pane.scroll_y + pane.scrollable_content_region.height, pane.max_scroll_y)
            await pilot.press("pagedown")
            text = await wait_screen(pilot, lambda t: pane.scroll_y >= goal, what="the next page")
            rows += pane_rows(text, width)
        assert_fits(text, *SMALL)
        preview = screen.check.preview if screen.check is not None else None
        assert preview is not None
        source = preview.answers_text.splitlines() + preview.env_text.splitlines() + list(preview.env_lines)

        comments = [line for line in source if line.lstrip().startswith("#") and len(line) > width]
        assert len(comments) >= 2        # the answers file's header, the environment file's
        for line in comments:
            rest = continuation(rows, line)
            indent = line[:len(line) - len(line.lstrip())]
            assert rest, f"{line!r} not wrapped on screen:\n" + "\n".join(rows)
            assert all(row.startswith(indent + "#") for row in rest), rest
        assert "# unattended install:" in rows

        values = [line for line in source if registry in line]
        assert len(values) >= 2          # the answers' digit.container_registry, the env file's keys
        for line in values:
            rest = continuation(rows, line)
            assert rest, f"{line!r} not wrapped on screen:\n" + "\n".join(rows)
            assert all(row.lstrip().startswith("↪ ") for row in rest), rest
            assert all(len(row) - len(row.lstrip()) > len(line) - len(line.lstrip()) for row in rest), rest

        # Wider: the same lines wrapped again to the new width (the header comment now fits).
        await pilot.resize_terminal(110, 30)
        await pilot.press("home")
        text = await wait_screen(pilot, lambda t: COMMENT_START in t and "unattended install:" in line_with(
            t, COMMENT_START), what="the preview wrapped again")
        assert "# unattended install:" not in text
