"""database.mode external: an endpoint is given and checked from the jump host, against a real
PostgreSQL 15 running in a namespace VM (vm3, set up by hand as a managed service would be).
Also: the SCRAM verifiers this code computes are the server's own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import RetryPolicy, TaskState
from digit_tui.infra import scram
from digit_tui.infra.postgres import PgOptions
from digit_tui.tasks.postgres import TASK_ID, password_source, postgres_tasks
from tests.postgres.pglab import (MANAGED_DIR, PG_BIN, Lab, database, journal, journal_bytes, messages,
                                  password_file, state_dir, states, wait_for)

FAST = RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.2, jitter=0, network_wait=30)
OPTIONS = PgOptions(timeout=1.0)


def managed_tasks(pglab: Lab, tmp: Path, password: str, *, name: str = "egov_db") -> tuple[list, Path]:
    state = state_dir(pglab, tmp)
    db = database("external", password_file(tmp, password), host=pglab.managed.address, name=name)
    tasks = postgres_tasks(db, db_host=None, node_cidrs=None, state_dir=state,
                           password=password_source(db, state / "unused-secrets.yaml"), pg_options=OPTIONS, retry=FAST)
    return tasks, state


def test_a_managed_database_is_checked_and_published(pglab: Lab, tmp_path: Path) -> None:
    tasks, state = managed_tasks(pglab, tmp_path, pglab.managed_password)
    assert [t.id for t in tasks] == [TASK_ID]
    j, run = journal(state)
    assert pglab.in_jump_host(lambda: Scheduler(tasks, j, run, probe_interval=0.1).run()) == "done"
    out = j.task(run, TASK_ID).outputs
    assert out["host"] == pglab.managed.address and out["port"] == 5432
    assert (out["database"], out["username"], out["mode"]) == ("egov_db", "egov", "external")
    assert out["jdbc_url"] == f"jdbc:postgresql://{pglab.managed.address}:5432/egov_db"
    assert out["server_version"].startswith("15.")
    j.close()
    assert pglab.managed_password.encode() not in journal_bytes(state)


def test_a_wrong_password_fails_at_once_and_says_what_to_fix(pglab: Lab, tmp_path: Path) -> None:
    tasks, state = managed_tasks(pglab, tmp_path, "not-the-password-" + pglab.managed_password[:4])
    j, run = journal(state)
    assert pglab.in_jump_host(lambda: Scheduler(tasks, j, run, probe_interval=0.1).run()) == "failed"
    row = j.task(run, TASK_ID)
    assert row.state is TaskState.FAILED
    assert states(j, run, TASK_ID) == ["running", "failed"]             # permanent: never retried
    assert "login refused for role egov" in row.error and "password authentication failed" in row.error
    assert "database.password_file" in (row.remedy or "")


def test_a_missing_database_fails_at_once_with_the_statement_that_makes_it(pglab: Lab, tmp_path: Path) -> None:
    tasks, state = managed_tasks(pglab, tmp_path, pglab.managed_password, name="egov_missing")
    j, run = journal(state)
    assert pglab.in_jump_host(lambda: Scheduler(tasks, j, run, probe_interval=0.1).run()) == "failed"
    row = j.task(run, TASK_ID)
    assert states(j, run, TASK_ID) == ["running", "failed"]
    assert "database egov_missing does not exist" in row.error
    assert row.remedy == 'create it: CREATE DATABASE "egov_missing" OWNER "egov"'


def test_an_unreachable_database_is_transient_then_waits_for_the_network_and_goes_on(
        pglab: Lab, tmp_path: Path) -> None:
    tasks, state = managed_tasks(pglab, tmp_path, pglab.managed_password)
    j, run = journal(state)
    vm = pglab.managed

    async def scenario() -> str:
        sched = Scheduler(tasks, j, run, probe_interval=0.1)
        pglab.lab.drop(vm)
        try:
            runner = asyncio.create_task(sched.run())
            await wait_for(lambda: sched.state.get(TASK_ID) is TaskState.WAITING_NETWORK, 20, "the task to park")
        finally:
            pglab.lab.restore(vm)
        return await asyncio.wait_for(runner, 20)

    assert pglab.in_jump_host(scenario) == "done"
    seen = states(j, run, TASK_ID)
    assert seen[:4] == ["running", "retrying", "running", "waiting-for-network"], seen
    said = messages(j, run, TASK_ID)
    assert any(f"{vm.address}:5432: no answer within 1s (transient; attempt 1/2" in m for m in said), said
    assert any(m.startswith("waiting-for-network:") and m.endswith("waiting for postgres") for m in said), said
    assert any(m.startswith("network back after") for m in said)
    assert j.task(run, TASK_ID).outputs["database"] == "egov_db"


def test_the_verifiers_made_here_are_the_servers_own(pglab: Lab) -> None:
    """The VM mode sets the role's password as a verifier computed here, and reads the stored one to
    decide whether to set it: both only work if this code derives what PostgreSQL derives."""
    lab, vm = pglab.lab, pglab.managed
    passwords = {"ascii_role": "Plain-ASCII_pw.123", "umlaut_role": "pässwörd-ß", "wide_role": "ｐａｓｓ１２"}
    sql = "SET password_encryption = 'scram-sha-256';\n" + "".join(
        f"CREATE ROLE {role} PASSWORD '{pw}';\n" for role, pw in passwords.items()) + \
        "SELECT rolname || '|' || rolpassword FROM pg_authid WHERE rolname LIKE '%\\_role' ORDER BY 1;\n"
    r = lab.exec(vm, ["runuser", "-u", "postgres", "--", f"{PG_BIN}/psql", "-h", MANAGED_DIR, "-X", "-q", "-A", "-t",
                      "-v", "ON_ERROR_STOP=1", "-d", "postgres"], input=sql.encode("utf-8"), timeout=30)
    stored = dict(line.split("|", 1) for line in r.stdout.decode().split())
    assert set(stored) == set(passwords)
    for role, pw in passwords.items():
        server = scram.parse(stored[role])
        assert server is not None and scram.matches(pw, stored[role]), role
        assert not scram.matches(pw + "x", stored[role])
        assert str(scram.make(pw, salt=server.salt, iterations=server.iterations)) == stored[role]
    # NFKC: the full-width password is the same password as its ASCII form, as PostgreSQL sees it.
    assert scram.matches("pass12", stored["wide_role"])
