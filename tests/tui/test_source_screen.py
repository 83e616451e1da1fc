"""The target screen's DIGIT source as a git URL and ref (the real git binary, a local repository
of the bundled sample served over file://, no network) and the chosen release's compatibility
report (check-source's findings) before anything is deployed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.app import DigitApp
from tests.realtree import real_tree
from tests.release.test_git_source import closed_port, sample_repo
from tests.tui.conftest import line_with, screen_text, wait_screen
from tests.tui.test_guided_flow import SMALL, assert_fits, flat, flat_words, paste

MANIFEST = "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"


@pytest.fixture
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    yield tmp_path / "xdg" / "digit-tui"


def hold_the_pack(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make the serving side hold its pack until the returned gate file exists: git's upload-pack
    runs this hook instead of pack-objects (a protected setting: from a global config file, which
    a local transport passes on, unlike GIT_CONFIG_COUNT). The server's counting lines reach the
    screen first; the pack waits."""
    gate = tmp / "gate"
    hook = tmp / "pack-hook.sh"
    hook.write_text(f'#!/bin/sh\n"$@" > "{tmp}/pack.out"\n'
                    f'while [ ! -e "{gate}" ]; do sleep 0.05; done\ncat "{tmp}/pack.out"\n')
    hook.chmod(0o755)
    config = tmp / "gitconfig"
    config.write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    return gate


async def open_form(pilot: Any, environment: str) -> None:
    await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
    await pilot.press("n")
    await wait_screen(pilot, lambda t: "target and source" in t and "m_pgr" in t, what="the form")
    pilot.app.screen.query_one("#environment").focus()
    await paste(pilot, "#environment", environment)


async def choose_git(pilot: Any, url: str, ref: str) -> None:
    pilot.app.screen.query_one("#source").focus()
    await pilot.press("right", "right", "space")
    await wait_screen(pilot, lambda t: "●▌ git URL + ref" in t and "Git URL" in t, what="the git fields")
    await pilot.press("tab")
    await paste(pilot, "#git_url", url)
    await pilot.press("tab")
    await paste(pilot, "#git_ref", ref)
    await wait_screen(pilot, lambda t: "is not fetched yet" in t, what="the source waiting to be fetched")


async def test_a_git_source_is_fetched_with_progress_and_its_releases_fill_the_form(
        state_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.answers.config import SourceRef
    from digit_tui.digit.selection import open_release
    from digit_tui.digit.source import fetch_git
    from digit_tui.screens.prereqs import PrereqScreen

    repo = sample_repo(tmp_path)
    gate = hold_the_pack(tmp_path, monkeypatch)
    url = f"file://{repo}"
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await open_form(pilot, "gitflow")
        await choose_git(pilot, url, "main")
        text = screen_text(app)
        assert_fits(text, *SMALL)
        assert "^g fetch" in text.splitlines()[-1]
        assert "ctrl+g: fetch it" in flat_words(text)
        # enter in the Ref field fetches; the server's progress shows while the pack is held.
        await pilot.press("enter")
        text = await wait_screen(pilot, lambda t: "Compressing objects 100%" in t or "Counting objects 100%" in t,
                                 what="git's progress on the form")
        assert_fits(text, *SMALL)
        assert "escape cancels" in text and "━" in text          # the bar, under the Ref field
        # escape while fetching stops git and stays on the form; nothing half-fetched is left.
        await pilot.press("escape")
        text = await wait_screen(pilot, lambda t: "✗ fetch cancelled: ctrl+g fetches again" in t,
                                 what="the fetch cancelled")
        assert "target and source" in text.splitlines()[0]
        sources = state_root / "gitflow" / "sources"
        assert not any(sources.iterdir()) if sources.exists() else True
        # ctrl+g again; the pack is let go this time.
        await pilot.press("ctrl+g")
        await wait_screen(pilot, lambda t: "escape cancels" in t, what="the second fetch under way")
        gate.write_text("open")
        text = await wait_screen(pilot, lambda t: "✓ fetched main at" in t
                                 and "DIGIT/dependancy_chart-digit-v2.8.yaml" in line_with(t, "Release")
                                 and "m_pgr" in t, timeout=30, what="the fetched tree's release and modules")
        assert_fits(text, *SMALL)
        assert "not fetched" not in text
        text = await wait_screen(pilot, lambda t: "✓ deployable on Kubernetes 1.30" in t, timeout=60,
                                 what="the fetched release's compatibility")
        assert "1 warning" in flat_words(text)
        app.screen.query_one("#modules").focus()
        await pilot.press("space")
        await wait_screen(pilot, lambda t: "[✓] m_pgr" in t, what="m_pgr chosen")
        app.screen.query_one("#domain").focus()
        await paste(pilot, "#domain", "gitflow.test")
        await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="the valid form")
        # The warning (untagged services) is said before going on; a second ctrl+n goes on with it.
        await pilot.press("ctrl+n")
        text = await wait_screen(pilot, lambda t: "1 warning in the compatibility report" in flat_words(t),
                                 what="the warning before the prerequisites")
        assert "ctrl+n again goes on with them" in flat_words(text)
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "prerequisites · gitflow" in t.splitlines()[0], timeout=30,
                          what="the prerequisites")
        assert isinstance(app.screen, PrereqScreen)
        answers = app.screen.answers
        assert answers.digit.source.git == url and answers.digit.source.ref == "main"   # type: ignore[union-attr]
        assert answers.digit.release == MANIFEST and answers.digit.modules == ["m_pgr"]
        await pilot.press("ctrl+q")
    # The install finds the tree where the form fetched it: the graph is built without fetching, and
    # the render task's fetch sees the checkout already at the ref's commit (no second clone).
    ref = SourceRef("git", git=url, ref="main")
    release = open_release(ref, MANIFEST, ["m_pgr"], state_dir=state_root / "gitflow", fetch=False)
    assert "m_pgr" in release.modules
    said: list[str] = []
    fetch_git(url, "main", state_root / "gitflow" / "sources", progress=said.append, timeout=30)
    assert any("already checked out" in line for line in said), said


def test_gits_progress_lines_read_as_a_phase_and_a_share_of_the_whole() -> None:
    """Lines as `git fetch --progress` prints them (its own and the server's), split on CR."""
    from digit_tui.viewmodel.gitfetch import parse_progress

    counting = parse_progress("remote: Counting objects:  50% (78/156)        ")
    assert counting.label == "Counting objects 50%" and counting.overall == pytest.approx(0.10)
    receiving = parse_progress("Receiving objects:  17% (27/156), 1.20 MiB | 2.40 MiB/s")
    assert receiving.label == "Receiving objects 17%" and 0.25 < (receiving.overall or 0) < 0.9
    assert parse_progress("Resolving deltas: 100% (16/16), done.").overall == pytest.approx(1.0)
    total = parse_progress("remote: Total 156 (delta 16), reused 0 (delta 0), pack-reused 0")
    assert total.phase is None and total.overall is None and total.label.startswith("remote: Total 156")


async def test_a_url_with_a_token_is_refused_without_showing_it(state_root: Path) -> None:
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await open_form(pilot, "tokenurl")
        app.screen.query_one("#source").focus()
        await pilot.press("right", "right", "space")
        await wait_screen(pilot, lambda t: "Git URL" in t, what="the git fields")
        await pilot.press("tab")
        await paste(pilot, "#git_url", "https://ghp_secret1234@github.com/egovernments/DIGIT-DevOps.git")
        await pilot.press("tab")
        await paste(pilot, "#git_ref", "master")
        await wait_screen(pilot, lambda t: "carries a password or token" in t, what="the URL refused")
        await pilot.press("ctrl+g")                           # nothing to fetch: the field's problem instead
        await pilot.pause()
        text = screen_text(app)
        assert "it is not repeated here" in flat_words(text) and "escape cancels" not in text
        # Only the field the operator typed it in holds the token: no message repeats it.
        assert [line for line in text.splitlines() if "ghp_" in line] == [line_with(text, "Git URL")]
    assert not (state_root / "tokenurl" / "sources").exists()


async def test_a_bad_ref_and_an_unreachable_server_are_the_one_error_dialog(
        state_root: Path, tmp_path: Path) -> None:
    repo = sample_repo(tmp_path)
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await open_form(pilot, "badref")
        await choose_git(pilot, f"file://{repo}", "no-such-branch")
        await pilot.press("ctrl+g")
        text = await wait_screen(pilot, lambda t: "✗ Fetching the DIGIT source failed" in t, timeout=30,
                                 what="the error dialog")
        assert_fits(text, *SMALL)
        words = flat_words(text)
        assert "git found no branch, tag or commit 'no-such-branch'" in words
        assert "Next: check digit.source.ref: a branch, tag or commit" in words
        await pilot.press("escape")
        text = await wait_screen(pilot, lambda t: "✗ the fetch failed: ctrl+g tries again" in t,
                                 what="the form after the dialog")
        assert "(no release manifest)" in line_with(text, "Release")
        assert not any((state_root / "badref" / "sources").iterdir())     # no partial checkout left
        # A server that does not answer: the same dialog, with the network's reason and remedy.
        app.screen.query_one("#git_url").clear()      # type: ignore[attr-defined]
        await paste(pilot, "#git_url", f"http://127.0.0.1:{closed_port()}/DIGIT-DevOps.git")
        await wait_screen(pilot, lambda t: "127.0.0.1" in t and "not fetched yet" in t, what="the new URL checked")
        await pilot.press("ctrl+g")
        text = await wait_screen(pilot, lambda t: "✗ Fetching the DIGIT source failed" in t, timeout=30,
                                 what="the unreachable server's dialog")
        words = flat_words(text)
        assert "connection refused" in words and "Next: nothing accepts connections at that host and port" in words
        assert "then ctrl+g fetches again" in words and "the fetch is retried" not in words


async def test_the_real_trees_releases_are_checked_before_anything_is_deployed(
        state_root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The real DIGIT-DevOps snapshot: v2.6's manifest has a YAML error at line 60 (blocks, with
    file:line); v2.8 renders its 84 services and warns of zuul listed twice."""
    from digit_tui.screens.compat import CompatScreen
    from digit_tui.screens.newinstall import TargetScreen

    tree = real_tree(tmp_path_factory)
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await open_form(pilot, "realtree")
        app.screen.query_one("#source").focus()
        await pilot.press("right", "space")
        await wait_screen(pilot, lambda t: "Tree" in t, what="the tree field")
        await pilot.press("tab")
        await paste(pilot, "#source_path", str(tree))
        app.screen.query_one("#domain").focus()
        await paste(pilot, "#domain", "real.example.test")
        await wait_screen(pilot, lambda t: "choose the release manifest" in t, timeout=20, what="the tree's releases")
        screen = app.screen
        assert isinstance(screen, TargetScreen)
        releases = screen._release_opts
        v26 = next(r for r in releases if r.endswith("dependancy_chart-digit-v2.6.yaml"))
        v28 = next(r for r in releases if r.endswith("dependancy_chart-digit-v2.8.yaml"))
        screen.query_one("#release").value = v26            # type: ignore[attr-defined]
        text = await wait_screen(pilot, lambda t: "✗ not deployable (1 error)" in t, timeout=60,
                                 what="v2.6's report")
        assert_fits(text, *SMALL)
        assert "DIGIT/dependancy_chart-digit-v2.6.yaml:60: release manifest: YAML syntax error at line 60" \
            in flat_words(text)
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, TargetScreen)          # blocked
        await pilot.press("ctrl+r")
        text = await wait_screen(pilot, lambda t: "Compatibility report" in t, what="v2.6's whole report")
        assert "✗ error DIGIT/dependancy_chart-digit-v2.6.yaml:60:" in flat_words(text)
        assert "did not find expected '-' indicator" in flat_words(text)
        await pilot.press("q")
        await wait_screen(pilot, lambda t: "target and source" in t, what="back on the form")

        screen.query_one("#release").value = v28            # type: ignore[attr-defined]
        text = await wait_screen(pilot, lambda t: "✓ deployable on Kubernetes 1.30" in t, timeout=120,
                                 what="v2.8's report")
        assert "84/84 render" in flat_words(text) and "2 warnings" in flat_words(text)
        await pilot.press("ctrl+r")
        text = await wait_screen(pilot, lambda t: "Compatibility report" in t, what="v2.8's whole report")
        assert isinstance(app.screen, CompatScreen)
        words = flat_words(text)
        assert "! warning DIGIT/dependancy_chart-digit-v2.8.yaml:29: service zuul is listed 2 times" in words
        assert "line 17 (authn-authz, v1.3.1-96b24b0d72-39), line 29 (core, v1.3.2-6cfa52c1f9-1)" in words
        assert flat("converted 94 objects") in flat(text)
        await pilot.press("q")
        await wait_screen(pilot, lambda t: "target and source" in t, what="back on the form")
        await pilot.press("ctrl+n")
        text = await wait_screen(pilot, lambda t: "2 warnings in the compatibility report" in flat_words(t),
                                 what="the warnings before going on")
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "prerequisites · realtree" in t.splitlines()[0], timeout=30,
                          what="the prerequisites")
