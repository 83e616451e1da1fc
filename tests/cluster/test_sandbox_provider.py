"""The sandbox provider with real sandbox processes (`digit-tui sandbox up`, detached): the
cluster task starts this install's sandbox when it is stopped, reuses it when it runs, and
publishes a 0600 copy of its kubeconfig in the state directory that the real kubectl uses.
$KUBECONFIG names a file that is no kubeconfig throughout: nothing may read it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from digit_tui.answers.model import Storage, Target
from digit_tui.engine.plan import dry_run_all
from digit_tui.tasks.cluster import TASK_ID, cluster_tasks
from digit_tui.tasks.cluster_sandbox import sandbox_dir
from tests.cluster.conftest import FAST_SANDBOX, Engine, cli, kubectl, mode, sandbox_status

SANDBOX = Target(provider="sandbox")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine) -> Iterator[Path]:
    bogus = tmp_path / "not-a-kubeconfig"
    bogus.write_text("this is not a kubeconfig\n")
    monkeypatch.setenv("KUBECONFIG", str(bogus))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    yield engine.state
    cli("sandbox", "--state-dir", str(sandbox_dir(engine.state)), "down")     # never leave one running


def tasks(state: Path) -> list:
    return cluster_tasks(SANDBOX, Storage(), state, sandbox=FAST_SANDBOX)


def server_of(path: Path) -> str:
    return yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]


async def test_a_stopped_sandbox_is_started_and_a_running_one_reused(state: Path, engine: Engine, tmp_path: Path) -> None:
    graph = tasks(state)
    assert [t.id for t in graph] == [TASK_ID]
    plan = (await dry_run_all(graph))[TASK_ID]
    assert plan[0].startswith("would start the sandbox (3 nodes") and str(sandbox_dir(state)) in plan[0]
    assert not sandbox_status(sandbox_dir(state))["running"]     # the plan started nothing

    assert await engine.run(graph) == "done"
    out = engine.row().outputs
    written = state / "kubeconfig"
    assert out["kubeconfig"] == str(written) and out["context"] == "digit-sandbox" and out["provider"] == "sandbox"
    assert mode(written) == 0o600
    first = sandbox_status(sandbox_dir(state))
    assert first["running"] and out["server"] == first["url"] == server_of(written)
    nodes = kubectl(out["kubeconfig"], "get", "nodes", "-o", "name", cache=tmp_path)
    assert nodes.returncode == 0, nodes.stderr
    assert nodes.stdout.split() == ["node/node-1", "node/node-2", "node/node-3"]

    # A rerun finds it converged: no ensure, no second sandbox.
    assert await engine.run(tasks(state)) == "done"
    assert engine.messages(kind="check") == ["check: already converged"]
    assert sandbox_status(sandbox_dir(state))["pid"] == first["pid"]
    plan = (await dry_run_all(tasks(state)))[TASK_ID]
    assert plan[0].startswith("the sandbox in") and "would reuse it" in plan[0]
    assert "would check 3 nodes Ready" in plan[2]

    # Running, but the install has no copy yet (as `digit-tui demo` leaves it, or a state
    # directory restored without its kubeconfig): ensure reuses it.
    written.unlink()
    assert await engine.run(tasks(state)) == "done"
    assert engine.messages(kind="check") == ["check: not converged"]
    assert sandbox_status(sandbox_dir(state))["pid"] == first["pid"]
    assert written.read_text() == (sandbox_dir(state) / "kubeconfig").read_text() and mode(written) == 0o600

    # Stopped behind the install's back: the next run starts it again (on a new port) and the
    # published copy follows.
    assert cli("sandbox", "--state-dir", str(sandbox_dir(state)), "down").returncode == 0
    assert await engine.run(tasks(state)) == "done"
    assert engine.messages(kind="check") == ["check: not converged"]
    second = sandbox_status(sandbox_dir(state))
    assert second["running"] and second["pid"] != first["pid"]
    assert server_of(written) == second["url"] == engine.row().outputs["server"] and mode(written) == 0o600
    assert kubectl(str(written), "get", "nodes", cache=tmp_path).returncode == 0
    assert os.path.commonpath([written, state]) == str(state)

