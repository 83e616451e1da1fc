"""A damaged journal is named, with its state directory, whoever meets the damage first:
the CLI before it acts (tests/test_bad_input.py), the engine at start, or any query later."""

from __future__ import annotations

from pathlib import Path

import pytest

from digit_tui.engine.journal import Journal, JournalError, JournalUnusable

from tests.support import write_journal

from .conftest import Env


def _truncate_half(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _scribble_over_the_second_half(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(b"\xa5" * (size - size // 2))


def test_a_query_that_meets_damaged_pages_names_the_journal(tmp_path: Path) -> None:
    path = write_journal(tmp_path / "state", events=3000, message_len=300)
    _scribble_over_the_second_half(path)
    j = Journal(path, readonly=True)  # opens: the schema pages are intact
    try:
        with pytest.raises(JournalUnusable) as err:
            run = j.latest_run()
            j.events(run.id if run else "", limit=100_000)
    finally:
        j.close()
    assert f"the journal {path} is corrupt" in str(err.value)
    assert f"state directory: {tmp_path / 'state'}" in str(err.value)
    assert isinstance(err.value, JournalError)  # readers polling for a journal keep their except clauses


def test_the_engine_refuses_to_resume_on_a_damaged_journal(tmp_path: Path) -> None:
    path = write_journal(tmp_path / "state", events=3000, message_len=300)
    _truncate_half(path)
    before = path.read_bytes()
    with pytest.raises(JournalUnusable, match="is corrupt"):
        Journal(path)  # the engine's own open: checked before a single write
    assert path.read_bytes() == before


def test_the_engine_process_on_a_corrupt_journal_exits_2_with_one_line(env: Env) -> None:
    env.state.mkdir(mode=0o700)
    (env.state / "journal.db").write_bytes(b"not a database at all" * 100)
    proc = env.engine("tests.engine.graphs:gate_graph")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"digit-tui: the journal {env.state / 'journal.db'} is corrupt (file is not a database); "
        f"state directory: {env.state} (expected: restore journal.db from a backup, or move the state directory "
        "aside and install again (finished steps are re-checked, not redone))"]
