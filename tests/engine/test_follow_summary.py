"""A run read as running, whose engine then writes its end and exits, is not called interrupted;
nor is one whose engine was gone when it was read, but which another engine has taken over since.

The follower reads the run, then asks whether its engine lives; an engine that finished in between
(a forked engine exits within milliseconds of its last commit) would otherwise look killed mid-run
and the client would exit 3 after a complete install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from digit_tui.engine.follow import summarise
from digit_tui.engine.journal import Journal, RunState
from digit_tui.viewmodel.feed import JournalFeed


def _gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=30)
    return proc.pid   # reaped: no process has it now


def _started_by_a_gone_engine(state: Path) -> tuple[Journal, str]:
    """A journal whose one run is running, recorded by an engine that no longer exists."""
    state.mkdir(mode=0o700)
    journal = Journal.in_dir(state)
    run_id = journal.create_run("t", "g:f", {}, "answers.yaml")
    journal.set_run_state(run_id, RunState.RUNNING, engine_pid=_gone_pid(), message="started")
    return journal, run_id


def _run_that_ended_after_it_was_read(state: Path) -> tuple[Journal, object]:
    journal, run_id = _started_by_a_gone_engine(state)
    read = journal.run(run_id)
    journal.set_run_state(run_id, RunState.DONE, message="install done")   # then the engine exits
    return journal, read


def test_the_follower_reads_the_end_the_engine_wrote_before_it_exited(tmp_path: Path) -> None:
    journal, read = _run_that_ended_after_it_was_read(tmp_path / "state")
    try:
        assert read is not None and read.state == "running"
        summary = summarise(journal, read)  # type: ignore[arg-type]
        assert summary.state == "done"
        assert not summary.engine_alive
    finally:
        journal.close()


def test_a_run_whose_engine_is_gone_without_an_end_is_interrupted(tmp_path: Path) -> None:
    state = tmp_path / "state"
    journal, run_id = _started_by_a_gone_engine(state)
    try:
        run = journal.run(run_id)
        assert run is not None
        assert summarise(journal, run).state == "interrupted"
        feed = JournalFeed(state).poll()
        assert feed is not None and feed.run is not None and feed.run.state == "running" and not feed.engine_alive
    finally:
        journal.close()


def test_a_run_another_engine_took_over_after_it_was_read_is_running(tmp_path: Path) -> None:
    journal, run_id = _started_by_a_gone_engine(tmp_path / "state")
    try:
        read = journal.run(run_id)           # read with the killed engine's pid
        assert read is not None
        journal.set_run_state(run_id, RunState.RUNNING, engine_pid=os.getpid(), message="resumed")  # a new engine
        summary = summarise(journal, read)
        assert summary.engine_alive and summary.state == "running"
        assert summary.run.engine_pid == os.getpid()
    finally:
        journal.close()
