"""The terraform runner and TerraformTask with the real terraform binary, under the real engine.

The module (tests/infra/tf_fixture/, copied per test because terraform writes .terraform/ and
its state into the directory) uses only the built-in terraform_data resource, so no provider is
downloaded. Its last resource waits on a gate file while it is being created: that is how a test
looks at the journal in the middle of an apply, or kills terraform there, without sleeping.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.engine.errors import ErrorKind, classify
from digit_tui.engine.journal import Journal
from digit_tui.engine.plan import dry_run_all
from digit_tui.engine.redact import MASK
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import FunctionTask, RetryPolicy, TaskState
from digit_tui.infra.terraform import Cause, Terraform, TerraformError, Timeouts
from digit_tui.infra.tfevents import ApplyComplete, ApplyStart, diagnostics_from_text
from digit_tui.procs import pid_alive
from digit_tui.tasks.terraform import PLAN_FILE, VAR_FILE, TerraformTask, _as_task_error
from tests.support import wait_until, wait_until_async

FIXTURE = Path(__file__).parent / "tf_fixture"
PASSWORD = "tf-Secret-9f2c1e7a"
ENV = "tftest"
COUNTS = {"zookeeper": 3, "kafka": 3, "es-data": 2, "es-master": 3}
RESOURCE = {"zookeeper": "volume_zk", "kafka": "volume_kafka", "es-data": "volume_es_data",
            "es-master": "volume_es_master"}
TIMEOUTS = Timeouts(version=15, init=30, plan=30, apply=30, output=15, interrupt_grace=5)


def volume_id(service: str, i: int) -> str:
    """What the module computes: the test knows the IDs without asking terraform."""
    return "vol-0" + hashlib.sha1(f"{ENV}-volume-{service}-{i}".encode()).hexdigest()[:16]


def expected_volume_ids(counts: dict[str, int] = COUNTS) -> dict[str, list[str]]:
    return {svc: [volume_id(svc, i) for i in range(n)] for svc, n in counts.items()}


VOLUME_ADDRESSES = [f"terraform_data.{RESOURCE[s]}[{i}]" for s, n in COUNTS.items() for i in range(n)]
ALL_ADDRESSES = [*VOLUME_ADDRESSES, "terraform_data.db", "terraform_data.gate"]
DB_HOST = f"{ENV}-db.postgres.example.internal"


@pytest.fixture
def tf_env(tmp_path: Path) -> dict[str, str]:
    if shutil.which("terraform") is None:
        pytest.fail("terraform is not on PATH: the machine image has /usr/local/bin/terraform "
                    "(scripts/bootstrap.sh --tests checks for it)")
    rc = tmp_path / "terraformrc"
    rc.write_text("")   # no operator CLI config (mirrors, credentials) leaks into the test
    return {"TF_CLI_CONFIG_FILE": str(rc)}


@pytest.fixture
def module(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "infra"))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[tuple[Journal, str, dict[str, Any]]]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    j = Journal.in_dir(state)
    yield j, j.create_run(ENV, "test", {}, None), {"state_dir": str(state)}
    j.close()


def infra_task(module: Path, env: dict[str, str], gate: Path | None = None, **kw: Any) -> TerraformTask:
    variables = {"environment": ENV, "db_password": PASSWORD, "gate": str(gate) if gate else "",
                 **kw.pop("variables", {})}
    return TerraformTask("infra", module, variables, secret_variables=["db_password"],
                         required_outputs=["volume_ids", "db_host"], env=env, timeouts=TIMEOUTS,
                         lock_timeout="0s", state_dir=module.parent / "state", **kw)


async def never(ctx: Any) -> bool:
    return False


def reader(seen: list[dict[str, Any]]) -> FunctionTask:
    """A dependant, like the volume task that turns volume IDs into PersistentVolumes."""
    async def read(ctx: Any) -> None:
        seen.append(dict(ctx.output("infra")))
    return FunctionTask("volumes", never, read, deps=("infra",))


def tfstate(module: Path) -> dict[str, Any]:
    return json.loads((module / "terraform.tfstate").read_text())


def instances(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(address, terraform's id) of every resource instance in a state file, duplicates kept."""
    out = []
    for r in state["resources"]:
        for inst in r["instances"]:
            key = f"[{inst['index_key']}]" if "index_key" in inst else ""
            out.append((f"{r['type']}.{r['name']}{key}", inst["attributes"]["id"]))
    return out


def started(gate: Path) -> Path:
    return gate.with_name(gate.name + ".started")


async def wait_for_gate(gate: Path) -> tuple[int, int]:
    """Wait (in a thread: the engine runs on this loop) until the gate resource is being created;
    returns (terraform's pid, the waiting provisioner's pid)."""
    marker = started(gate)
    await asyncio.to_thread(wait_until, marker.exists, 30, 0.02, "the gate resource's provisioner to start")
    tf_pid, sh_pid = (int(x) for x in marker.read_text().split())
    return tf_pid, sh_pid


async def first_apply(module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    assert await Scheduler([infra_task(module, tf_env)], j, run).run() == "done"


# -- done-when 3 --------------------------------------------------------------------------------
async def test_apply_streams_progress_per_resource_and_outputs_reach_dependants(
        tmp_path: Path, module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    gate = tmp_path / "gate"
    seen: list[dict[str, Any]] = []
    sched = Scheduler([infra_task(module, tf_env, gate), reader(seen)], j, run)

    async def midway() -> None:
        try:
            tf_pid, _ = await wait_for_gate(gate)
            # The provisioner may start before the engine has read terraform's last lines (a busy
            # machine): wait for the gate's own start, which terraform prints after every resource
            # it depends on is complete.
            await wait_until_async(lambda: any("terraform_data.gate: Creating..." in e.message
                                               for e in j.events(run, task="infra") if e.kind == "progress"),
                                   timeout=30, what="the gate's start in the journal")
            # terraform is still applying (blocked on the gate), and the journal already shows
            # every resource it finished, each as it finished.
            assert pid_alive(tf_pid)
            progress = [e.message for e in j.events(run, task="infra") if e.kind == "progress"]
            for address in [*VOLUME_ADDRESSES, "terraform_data.db"]:
                assert any(f"{address}: Creation complete" in m for m in progress), (address, progress)
            assert any("terraform_data.gate: Creating..." in m for m in progress)
            row = j.task(run, "infra")
            assert row is not None and row.progress_total == len(ALL_ADDRESSES)
            assert row.progress_done == len(ALL_ADDRESSES) - 1
            # The password travels in the 0600 var-file, never on terraform's command line.
            cmdline = Path(f"/proc/{tf_pid}/cmdline").read_bytes().split(b"\0")
            assert b"apply" in cmdline and not any(PASSWORD.encode() in a for a in cmdline)
            var_file = Path(settings["state_dir"]) / "terraform" / "infra" / VAR_FILE
            assert var_file.stat().st_mode & 0o777 == 0o600
            assert PASSWORD in var_file.read_text()
        finally:
            gate.touch()

    final, _ = await asyncio.gather(sched.run(), midway())
    assert final == "done"
    assert seen == [{"volume_ids": expected_volume_ids(), "db_host": DB_HOST, "db_password": PASSWORD}]
    row = j.task(run, "infra")
    assert row is not None and row.progress_done == row.progress_total == len(ALL_ADDRESSES)
    # The sensitive output reached the dependant, but the journal never holds it.
    assert row.outputs["volume_ids"] == expected_volume_ids() and row.outputs["db_password"] == MASK
    assert not any(PASSWORD in e.message for e in j.events(run, limit=100000))
    assert (Path(settings["state_dir"]) / "terraform" / "infra" / PLAN_FILE).stat().st_mode & 0o777 == 0o600
    assert (module / "terraform.tfstate").stat().st_mode & 0o777 == 0o600   # umask 077: state is private


async def test_rerun_shows_no_changes_applies_nothing_and_dependants_still_get_outputs(
        module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    seen: list[dict[str, Any]] = []
    assert await Scheduler([infra_task(module, tf_env), reader(seen)], j, run).run() == "done"
    before = tfstate(module)
    mark = j.events(run, limit=100000)[-1].seq

    # Resume the same run (what `digit-tui install` does after any stop): finished tasks are
    # re-checked; the journal's copy of the outputs has the password masked, so the value the
    # dependant gets must come from terraform again.
    assert await Scheduler([infra_task(module, tf_env), reader(seen)], j, run).run() == "done"
    events = j.events(run, after=mark, task="infra")
    assert any(e.message == "check: already converged" for e in events)
    assert not any("applying" in e.message or e.kind == "progress" for e in events), [e.message for e in events]
    after = tfstate(module)
    assert after["serial"] == before["serial"] and instances(after) == instances(before)
    assert seen[1] == seen[0] == {"volume_ids": expected_volume_ids(), "db_host": DB_HOST, "db_password": PASSWORD}

    lines = await dry_run_all([infra_task(module, tf_env)])
    assert lines == {"infra": [f"terraform in {module}: no changes"]}


async def test_apply_killed_midway_converges_on_rerun_and_the_state_file_is_kept(
        tmp_path: Path, module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    gate = tmp_path / "gate"
    once = RetryPolicy(attempts=1, network_wait=0)  # a killed apply is transient: stop this run at once
    sched = Scheduler([infra_task(module, tf_env, gate, retry=once), reader([])], j, run)

    async def kill_midway() -> None:
        tf_pid, sh_pid = await wait_for_gate(gate)
        os.kill(tf_pid, signal.SIGKILL)     # a crash, an OOM kill: terraform gets no chance to clean up
        os.kill(sh_pid, signal.SIGKILL)

    final, _ = await asyncio.gather(sched.run(), kill_midway())
    assert final == "failed"
    row = j.task(run, "infra")
    assert row is not None and row.state == TaskState.FAILED and "killed by SIGKILL" in (row.error or "")
    killed = tfstate(module)
    kept = dict(instances(killed))
    assert "terraform_data.gate" not in kept and set(VOLUME_ADDRESSES) <= set(kept)

    gate.touch()
    seen: list[dict[str, Any]] = []
    mark = j.events(run, limit=100000)[-1].seq
    sched = Scheduler([infra_task(module, tf_env, gate), reader(seen)], j, run)
    assert await sched.run() == "done"
    assert seen == [{"volume_ids": expected_volume_ids(), "db_host": DB_HOST, "db_password": PASSWORD}]

    # Only what the killed apply had not finished was created; the rest was kept, each once.
    created = [e.message for e in j.events(run, after=mark, task="infra") if "Creation complete" in e.message]
    assert len(created) == 1 and "terraform_data.gate" in created[0], created
    final_state = tfstate(module)
    addresses = [a for a, _ in instances(final_state)]
    assert sorted(addresses) == sorted(ALL_ADDRESSES), collections.Counter(addresses)
    assert {a: i for a, i in instances(final_state) if a != "terraform_data.gate"} == kept
    assert final_state["lineage"] == killed["lineage"] and final_state["serial"] > killed["serial"]
    assert sorted(p.name for p in module.glob("*tfstate*")) == ["terraform.tfstate", "terraform.tfstate.backup"]

    # And now it is converged: one more run applies nothing.
    mark = j.events(run, limit=100000)[-1].seq
    assert await Scheduler([infra_task(module, tf_env)], j, run).run() == "done"
    assert "check: already converged" in [e.message for e in j.events(run, after=mark, task="infra")]


async def test_cancelling_the_install_interrupts_terraform_and_the_rerun_replaces_the_tainted_resource(
        tmp_path: Path, module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    gate = tmp_path / "gate"
    sched = Scheduler([infra_task(module, tf_env, gate), reader([])], j, run)

    async def cancel_midway() -> tuple[int, int]:
        pids = await wait_for_gate(gate)
        sched.cancel()
        return pids

    final, (tf_pid, sh_pid) = await asyncio.gather(sched.run(), cancel_midway())
    assert final == "cancelled"
    # terraform got SIGINT and stopped, taking its provisioner with it: nothing runs unattended.
    await asyncio.to_thread(wait_until, lambda: not pid_alive(tf_pid) and not pid_alive(sh_pid), TIMEOUTS.interrupt_grace,
                            0.02, "terraform and its provisioner to stop")
    state = tfstate(module)
    gate_status = [i.get("status") for r in state["resources"] if r["name"] == "gate" for i in r["instances"]]
    assert gate_status == ["tainted"]   # terraform recorded the interrupted create itself

    gate.touch()
    seen: list[dict[str, Any]] = []
    mark = j.events(run, limit=100000)[-1].seq
    assert await Scheduler([infra_task(module, tf_env, gate), reader(seen)], j, run).run() == "done"
    logged = [e.message for e in j.events(run, after=mark, task="infra")]
    assert any(m.startswith("will replace terraform_data.gate (tainted") for m in logged), logged
    assert seen[0]["volume_ids"] == expected_volume_ids()
    assert sorted(a for a, _ in instances(tfstate(module))) == sorted(ALL_ADDRESSES)


# -- what an operator sees before and instead of an apply ----------------------------------------
async def test_dry_run_lists_each_resource_change_and_changes_nothing(
        module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    _, _, settings = engine
    lines = (await dry_run_all([infra_task(module, tf_env)]))["infra"]
    assert lines[:-1] == sorted(f"would create {a}" for a in ALL_ADDRESSES)
    assert lines[-1] == f"terraform in {module}: Plan: {len(ALL_ADDRESSES)} to add, 0 to change, 0 to destroy."
    assert not (module / "terraform.tfstate").exists()
    assert not (Path(settings["state_dir"]) / "terraform").exists()   # the preview's var-file was temporary


async def test_a_plan_that_destroys_a_volume_stops_unless_allowed(
        module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    await first_apply(module, tf_env, engine)
    fewer = {"variables": {"zookeeper_volumes": 2}}
    lines = (await dry_run_all([infra_task(module, tf_env, **fewer)]))["infra"]
    assert "would destroy terraform_data.volume_zk[2] (the count went down)" in lines
    assert lines[-1].startswith("would stop before applying")

    run2 = j.create_run(ENV, "test", {}, None)
    assert await Scheduler([infra_task(module, tf_env, **fewer)], j, run2).run() == "failed"
    row = j.task(run2, "infra")
    assert row is not None and row.attempts == 1 and "terraform_data.volume_zk[2] (destroy)" in (row.error or "")
    assert "terraform_data.volume_zk[2]" in dict(instances(tfstate(module)))

    run3 = j.create_run(ENV, "test", {}, None)
    seen: list[dict[str, Any]] = []
    tasks = [infra_task(module, tf_env, destroy_ok=True, **fewer), reader(seen)]
    assert await Scheduler(tasks, j, run3).run() == "done"
    assert seen[0]["volume_ids"]["zookeeper"] == expected_volume_ids()["zookeeper"][:2]


# -- failures, typed and classified ------------------------------------------------------------
async def test_a_configuration_error_is_permanent_and_names_file_and_line(
        module: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    (module / "broken.tf").write_text('output "oops" {\n  value = var.not_declared\n}\n')
    var_file = module.parent / "vars.json"
    var_file.write_text(json.dumps({"environment": ENV, "db_password": PASSWORD}))
    tf = Terraform(module, env=tf_env, timeouts=TIMEOUTS)
    await tf.init()
    with pytest.raises(TerraformError) as info:
        await tf.plan(None, [var_file])
    err = info.value
    assert err.cause is Cause.CONFIG and not err.transient
    assert err.diagnostics[0].summary == "Reference to undeclared input variable"
    assert err.diagnostics[0].where == "broken.tf:2" and "(broken.tf:2)" in str(err)

    assert await Scheduler([infra_task(module, tf_env)], j, run).run() == "failed"
    row = j.task(run, "infra")
    assert row is not None and row.state == TaskState.FAILED
    assert not any("retrying" in e.message for e in j.events(run, task="infra"))    # permanent: never retried
    assert "Reference to undeclared input variable" in (row.error or "") and "broken.tf:2" in (row.error or "")
    assert row.remedy is not None and f"{module / 'broken.tf'}:2" in row.remedy


async def test_a_state_lock_held_by_another_run_is_transient(
        tmp_path: Path, module: Path, tf_env: dict[str, str]) -> None:
    gate = tmp_path / "gate"
    var_file = tmp_path / "vars.json"
    var_file.write_text(json.dumps({"environment": ENV, "db_password": PASSWORD, "gate": str(gate)}))
    holder = Terraform(module, env=tf_env, timeouts=TIMEOUTS)
    await holder.init()
    plan = await holder.plan(tmp_path / "plan", [var_file])
    seen: list[str] = []
    apply = asyncio.create_task(holder.apply(plan.file or Path(), on_event=lambda e: seen.append(type(e).__name__)))
    try:
        await wait_for_gate(gate)
        other = Terraform(module, env=tf_env, timeouts=TIMEOUTS, lock_timeout="0s")
        with pytest.raises(TerraformError) as info:
            await other.plan(None, [var_file])
    finally:
        gate.touch()
    applied = await apply
    err = info.value
    assert err.cause is Cause.LOCKED and err.transient
    assert "force-unlock" in (err.remedy or "") and classify(_as_task_error(err)) is ErrorKind.TRANSIENT
    assert applied.completed and sorted(applied.completed) == sorted(ALL_ADDRESSES)
    assert seen.count(ApplyStart.__name__) == seen.count(ApplyComplete.__name__) == len(ALL_ADDRESSES)


async def test_an_unreachable_registry_is_transient_and_retried(
        tmp_path: Path, tf_env: dict[str, str], engine: tuple[Journal, str, dict[str, Any]]) -> None:
    j, run, settings = engine
    workdir = tmp_path / "needs-provider"
    workdir.mkdir()
    (workdir / "main.tf").write_text('terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n'
                                     '  }\n}\n')
    # A proxy port nothing listens on: the registry is unreachable however this machine's DNS is set up.
    env = dict(tf_env, HTTPS_PROXY="http://127.0.0.1:1", HTTP_PROXY="http://127.0.0.1:1", NO_PROXY="")
    task = TerraformTask("infra", workdir, {}, env=env, timeouts=TIMEOUTS, state_dir=Path(settings["state_dir"]),
                         retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, network_wait=0))
    assert await Scheduler([task], j, run).run() == "failed"
    messages = [e.message for e in j.events(run, task="infra")]
    assert any("Failed to query available provider packages" in m and "transient; attempt 1/2" in m
               for m in messages), messages
    row = j.task(run, "infra")
    assert row is not None and row.state == TaskState.FAILED and "registry.terraform.io" in (row.error or "")
    with pytest.raises(TerraformError) as info:
        await Terraform(workdir, env=env, timeouts=TIMEOUTS).init()
    assert info.value.cause is Cause.UNREACHABLE and "provider mirror" in (info.value.remedy or "")


async def test_an_apply_past_its_deadline_is_interrupted_and_transient(
        tmp_path: Path, module: Path, tf_env: dict[str, str]) -> None:
    gate = tmp_path / "gate"    # never opened: the apply cannot finish by itself
    var_file = tmp_path / "vars.json"
    var_file.write_text(json.dumps({"environment": ENV, "db_password": PASSWORD, "gate": str(gate)}))
    tf = Terraform(module, env=tf_env, timeouts=Timeouts(apply=1.0, interrupt_grace=5))
    await tf.init()
    plan = await tf.plan(tmp_path / "plan", [var_file])
    with pytest.raises(TerraformError) as info:
        await tf.apply(plan.file or Path())
    assert info.value.cause is Cause.TIMEOUT and info.value.transient
    assert "did not finish within 1s" in str(info.value) and "state file is kept" in str(info.value)
    tf_pid, sh_pid = (int(x) for x in started(gate).read_text().split())
    assert not pid_alive(tf_pid)    # reaped before apply() returned
    await asyncio.to_thread(wait_until, lambda: not pid_alive(sh_pid), 5, 0.02, "the provisioner to stop")
    assert set(VOLUME_ADDRESSES) <= {a for a, _ in instances(tfstate(module))}


async def test_no_terraform_binary_is_a_permanent_failure_with_a_remedy(module: Path, tf_env: dict[str, str]) -> None:
    with pytest.raises(TerraformError) as info:
        await Terraform(module, binary=str(module / "no-such-terraform"), env=tf_env).init()
    assert info.value.cause is Cause.MISSING and not info.value.transient
    assert "terraform not found" in str(info.value) and "/usr/local/bin/terraform" in (info.value.remedy or "")


def test_text_diagnostics_of_terraform_without_json_are_parsed(module: Path, tf_env: dict[str, str]) -> None:
    """`init` before terraform 1.9 has no -json: its errors are read from the text terraform prints."""
    (module / "broken.tf").write_text('variable "x" { type = number\n default = 1 }\n')
    res = subprocess.run(["terraform", f"-chdir={module}", "init", "-input=false", "-no-color"], capture_output=True,
                         text=True, timeout=30, env=dict(os.environ, **tf_env))
    assert res.returncode == 1
    diags = diagnostics_from_text(res.stderr)
    assert diags[0].severity == "error" and diags[0].summary == "Invalid single-argument block definition"
    assert diags[0].where == "broken.tf:1" and "closing brace" in diags[0].detail

