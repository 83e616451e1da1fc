"""Keys on the install view drive a real detached engine over its control socket."""

from __future__ import annotations

from digit_tui.app import DigitApp
from digit_tui.engine.journal import Journal, RunRow, TaskRow
from digit_tui.widgets.phasetree import NodeRef
from tests.tui.conftest import EngineEnv, line_with, wait_screen, wait_until


def _latest(env: EngineEnv, task_id: str | None = None) -> tuple[RunRow | None, TaskRow | None]:
    """The latest run in the journal, and one of its tasks."""
    j = Journal.in_dir(env.state, readonly=True)
    try:
        run = j.latest_run()
        return run, (j.task(run.id, task_id) if run and task_id else None)
    finally:
        j.close()


def _paused(env: EngineEnv) -> bool:
    run, _ = _latest(env)
    return bool(run and run.paused)


def _task(env: EngineEnv, task_id: str) -> tuple[str, str | None]:
    _, row = _latest(env, task_id)
    return (row.state.value, row.message) if row else ("", None)


def _control_app(env: EngineEnv) -> DigitApp:
    """The install view of a real engine running tests.tui.graphs:control_graph, once it takes commands."""
    env.engine("tests.tui.graphs:control_graph", output=False)
    wait_until(lambda: (env.state / "engine.sock").exists(), what="the engine's control socket")
    return DigitApp(start="install", state_dir=env.state)


async def test_p_pauses_and_resumes_r_retries_a_failed_task(engine_env: EngineEnv) -> None:
    env = engine_env
    app = _control_app(env)
    async with app.run_test(size=(80, 24)) as pilot:
        text = await wait_screen(pilot, lambda t: "✗ fragile chart" in t,
                                 what="the fragile task failing")
        assert "the chart does not render" in text          # its reason, with the remedy, in the hint line
        assert "fix values.yaml and retry" in text

        await pilot.press("p")
        text = await wait_screen(pilot, lambda t: "⏸ paused" in t.splitlines()[0], what="the paused header")
        assert _paused(env), "the engine recorded the pause in the journal"
        await pilot.press("p")
        await wait_screen(pilot, lambda t: "● running" in t.splitlines()[0], what="running again")
        assert not _paused(env)

        # Fix the cause, then r: the engine retries the failed task and the one it blocked.
        (env.work / "fixed").write_text("yes")
        await pilot.press("r")
        text = await wait_screen(pilot, lambda t: "✓ apps" in t, what="the retried task and its dependant done")
        assert "2/2" in line_with(text, "✓ apps")
        assert (env.work / "done-fragile").exists() and (env.work / "done-after").exists()

        # The gate task still runs: open the gate and watch the install complete.
        (env.work / "gate").write_text("open")
        text = await wait_screen(pilot, lambda t: "✓ done" in t.splitlines()[0], timeout=15, what="the install done")
        assert "install complete" in text
        assert "100%" in line_with(text, "100%")


async def test_retry_without_engine_explains_how_to_resume(engine_env: EngineEnv) -> None:
    """A finished engine cannot take commands: the dialog says so and names the next step."""
    env = engine_env
    proc = env.engine("tests.engine.graphs:failing_graph", output=False)
    proc.wait(timeout=30)  # the failing graph ends the run: the engine exits
    app = DigitApp(start="install", state_dir=env.state)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "✗ failed" in t.splitlines()[0], what="the failed run")
        await pilot.press("r")
        text = await wait_screen(pilot, lambda t: "Could not retry" in t, what="the error dialog")
        assert "digit-tui install --answers" in text
        await pilot.press("escape")
        await wait_screen(pilot, lambda t: "Could not retry" not in t, what="the dialog to close")


async def test_s_skips_a_failed_task_after_confirmation_and_its_dependant_runs(engine_env: EngineEnv) -> None:
    env = engine_env
    app = _control_app(env)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "✗ fragile chart" in t, what="the fragile task failing")
        assert _task(env, "after")[0] == "blocked"

        await pilot.press("s")
        text = await wait_screen(pilot, lambda t: "Skip fragile chart?" in t, what="the confirmation")
        assert "Its dependants will run as if it were done" in text
        await pilot.press("enter")                      # Cancel is the default: nothing is skipped
        await wait_screen(pilot, lambda t: "Skip fragile chart?" not in t, what="the dialog to close")
        assert _task(env, "fragile")[0] == "failed"

        await pilot.press("s")
        await wait_screen(pilot, lambda t: "Skip fragile chart?" in t, what="the confirmation again")
        await pilot.press("y")
        wait_until(lambda: _task(env, "after")[0] == "done", what="the dependant run after the skip")
        assert _task(env, "fragile") == ("done", "skipped by operator")
        assert not (env.work / "done-fragile").exists() and (env.work / "done-after").exists()

        # The skipped task reads as skipped (dim ↷), not done, where the tree shows it.
        await pilot.press("c")
        app.screen.query_one("#phases").select_ref(NodeRef("task", "fragile"))  # type: ignore[attr-defined]
        text = await wait_screen(pilot, lambda t: "↷ fragile chart" in t, what="the skipped task's symbol")

        (env.work / "gate").write_text("open")
        text = await wait_screen(pilot, lambda t: "✓ done" in t.splitlines()[0], timeout=15, what="the install done")
        assert "install complete" in text


async def test_the_command_palette_lists_the_screens_keys_and_runs_one(engine_env: EngineEnv) -> None:
    env = engine_env
    app = _control_app(env)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_screen(pilot, lambda t: "✗ fragile chart" in t, what="the fragile task failing")
        await pilot.press("ctrl+p")
        text = await wait_screen(pilot, lambda t: "Search for commands" in t and "help  (?)" in t,
                                 what="the palette with the install view's actions")
        for entry in ("pause  (p)", "retry  (r)", "skip  (s)", "logs  (l)", "dashboard  (d)"):
            assert entry in text, entry
        assert "pause the install (running tasks finish)" in text          # the help screen's words
        await pilot.press(*"quit")
        await wait_screen(pilot, lambda t: "quit (install continues)  (q / ^q)" in t, what="quit, with both keys")
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await wait_screen(pilot, lambda t: "Search for commands" in t, what="the palette again")
        await pilot.press(*"pause")
        # The palette searches in a task of its own: enter once its answer is shown.
        await wait_screen(pilot, lambda t: "pause  (p)" in t and "retry  (r)" not in t, what="pause alone")
        await pilot.press("enter")
        await wait_screen(pilot, lambda t: "⏸ paused" in t.splitlines()[0], what="the install paused from the palette")
        assert _paused(env)
