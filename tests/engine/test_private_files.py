"""What an install leaves on disk is private: the state directory 0700 (tightened when it
already existed), the journal with its -wal/-shm, the engine log and the generated
environment files 0600 (tightened when an older digit-tui left them readable)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from digit_tui import paths
from digit_tui.errors import InputError

from .conftest import REPO, Env, wait_until

GATE = "tests.engine.graphs:gate_graph"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_install_keeps_its_state_private_and_tightens_what_was_loose(env: Env) -> None:
    env.state.mkdir(mode=0o755)
    os.chmod(env.state, 0o755)  # an operator's mkdir with the usual umask
    journal = env.state / "journal.db"
    for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
        (env.state / name).touch(mode=0o644)  # left by an older digit-tui (empty files: a fresh journal)
        os.chmod(env.state / name, 0o644)

    proc = subprocess.Popen([sys.executable, "-m", "digit_tui.cli", "install", "--answers", str(env.answers),
                             "--headless", "--state-dir", str(env.state), "--graph", GATE],
                            env=env.environ, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_until(lambda: (env.state / "engine.sock").exists(), what="engine running")
    assert mode(env.state) == 0o700
    # While the engine runs, SQLite keeps -wal and -shm beside the journal: all three private.
    for name in ("journal.db", "journal.db-wal", "journal.db-shm", "engine.lock", "logs/engine.log"):
        assert mode(env.state / name) == 0o600, name
    assert mode(env.state / "logs") == 0o700
    (env.work / "gate").write_text("go")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert mode(journal) == 0o600


def test_a_shared_or_foreign_directory_is_refused_not_chmod_ed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    with pytest.raises(InputError, match="writable by everyone"):
        paths.ensure_private_dir(shared)
    assert mode(shared) == 0o1777
    if os.getuid() == 0:  # only root can hand a directory to someone else
        foreign = tmp_path / "foreign"
        foreign.mkdir(mode=0o755)
        os.chown(foreign, 65534, 65534)
        with pytest.raises(InputError, match="belongs to uid 65534"):
            paths.ensure_private_dir(foreign)
        assert mode(foreign) == 0o755


def test_generated_env_files_are_private_and_rewritten_when_loose(tmp_path: Path) -> None:
    """The helm-config task writes both files 0600; one an older version left 0644 is not
    "converged": the next install rewrites it 0600 (same content)."""
    import asyncio

    from digit_tui.engine.journal import Journal
    from digit_tui.engine.scheduler import Scheduler
    from digit_tui.tasks.helmconfig import HelmConfigTask
    from tests.release.conftest import config_for

    config = config_for(tmp_path)

    def run(tag: str) -> str:
        (tmp_path / tag).mkdir()
        journal = Journal.in_dir(tmp_path / tag)
        try:
            run_id = journal.create_run("dev", "test", {}, None)
            return asyncio.run(Scheduler([HelmConfigTask(config)], journal, run_id).run())
        finally:
            journal.close()

    assert run("first") == "done"
    environments = config.state_dir / "helm" / "environments"
    env_file, secrets_file = environments / "dev.yaml", environments / "dev-secrets.yaml"
    assert mode(env_file) == 0o600 and mode(secrets_file) == 0o600
    content = env_file.read_text()

    os.chmod(env_file, 0o644)
    assert run("second") == "done"
    assert mode(env_file) == 0o600
    assert env_file.read_text() == content
