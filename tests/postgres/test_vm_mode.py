"""database.mode vm end to end: PostgreSQL converged on a namespace VM over real SSH by the engine,
checked by logging in from the jump host; facts read back from the VM independently (as its
postgres user, and with libpq's psql as clients on the network)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import RetryPolicy, TaskState
from digit_tui.infra.postgres import PgOptions
from digit_tui.infra.ssh import SshOptions
from digit_tui.tasks.postgres import TASK_ID, VM_TASK_ID, password_source, postgres_tasks
from tests.postgres.pglab import (Lab, database, db_host, journal, journal_bytes, messages, password_file, state_dir,
                                  states, wait_for)
from tests.vmlab import Vm

# Short timeouts and backoff so that a drop is noticed in seconds; the code paths are the real ones.
FAST = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5, jitter=0, network_wait=60)
SSH = SshOptions(timeout=2.0, keepalive_interval=1.0, keepalive_count=2)
PG = PgOptions(timeout=2.0)
PASSWORD = "Vm-Mode-Pw-3e1f9a7c"


def vm_tasks(pglab: Lab, vm: Vm, tmp: Path, node_cidr: str) -> tuple[list, Path]:
    state = state_dir(pglab, tmp)
    db = database("vm", password_file(tmp, PASSWORD))
    tasks = postgres_tasks(db, db_host=db_host(pglab, vm), node_cidrs=node_cidr, state_dir=state,
                           password=password_source(db, state / "unused-secrets.yaml"), ssh_options=SSH,
                           pg_options=PG, retry=FAST)
    return tasks, state


def facts(pglab: Lab, vm: Vm) -> dict[str, str]:
    """What a rerun must leave alone: pg_hba's bytes and time, the role's stored verifier (a new
    ALTER ROLE ... PASSWORD would salt it anew), the database's owner, the server's start and
    configuration-load times (no restart, no reload)."""
    out = pglab.psql(vm, """
SELECT 'hba|' || md5(pg_read_file(current_setting('hba_file')));
SELECT 'hba_mtime|' || (pg_stat_file(current_setting('hba_file'))).modification;
SELECT 'role|' || rolcanlogin || ' ' || rolpassword FROM pg_authid WHERE rolname = 'egov';
SELECT 'owner|' || pg_get_userbyid(datdba) || ' ' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'egov_db';
SELECT 'started|' || pg_postmaster_start_time();
SELECT 'loaded|' || pg_conf_load_time();
SELECT 'listen|' || current_setting('listen_addresses');
""")
    return dict(line.split("|", 1) for line in out.splitlines())


def login(pglab: Lab, argv_prefix: list[str], address: str, passfile_dir: str) -> subprocess.CompletedProcess[str]:
    """libpq's psql logging in as egov from wherever ``argv_prefix`` runs it (the password in a
    0600 passfile, as libpq reads it)."""
    return subprocess.run([*argv_prefix, "env", f"PGPASSFILE={passfile_dir}/pgpass", "psql", "-X", "-A", "-t",
                           "-w", f"host={address} port=5432 dbname=egov_db user=egov connect_timeout=3",
                           "-c", "SELECT current_user || '@' || current_database()"],
                          capture_output=True, text=True, timeout=30)


def test_vm_mode_creates_cluster_access_role_and_database_and_a_rerun_changes_nothing(
        pglab: Lab, tmp_path: Path) -> None:
    lab, vm, other = pglab.lab, pglab.fresh, pglab.existing
    # vm1 (<subnet>.11) is in the node network, vm2 (<subnet>.12) is not; the jump host (<subnet>.1)
    # gets its own line. Each test worker's lab has a subnet of its own.
    net = lab.subnet
    tasks, state = vm_tasks(pglab, vm, tmp_path, f"{net}.8/30")
    assert [t.id for t in tasks] == [VM_TASK_ID, TASK_ID]
    assert lab.exec(vm, "pg_lsclusters --no-header").stdout.strip() == b""     # nothing to start from
    j, run = journal(state)
    assert pglab.in_jump_host(lambda: Scheduler(tasks, j, run, probe_interval=0.2).run()) == "done"
    said = " | ".join(messages(j, run, VM_TASK_ID))
    for step in ("cluster: create cluster 15/main on port 5432", "start: start the cluster", "hba: allow",
                 "role: create role egov", "database: create database egov_db"):
        assert f"vm1: done: {step}" in said, said

    after = facts(pglab, vm)
    assert after["owner"] == "egov UTF8" and after["listen"] == "*"
    assert after["role"].startswith("true SCRAM-SHA-256$4096:")
    hba = lab.exec(vm, "cat /etc/postgresql/15/main/pg_hba.conf").stdout.decode()
    rules = [line.split() for line in hba.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert rules[:2] == [["host", '"egov_db"', '"egov"', f"{net}.8/30", "scram-sha-256", "#", "digit-tui"],
                         ["host", '"egov_db"', '"egov"', f"{lab.ctl_address}/32", "scram-sha-256", "#", "digit-tui"]]
    assert lab.exec(vm, "test -f /etc/postgresql/15/main/pg_hba.conf.before-digit-tui", check=False).returncode == 0
    out = j.task(run, TASK_ID).outputs
    assert (out["mode"], out["host"], out["port"], out["database"], out["username"]) == \
        ("vm", vm.address, 5432, "egov_db", "egov")

    # Clients: the jump host and the node network get in with the password; a host outside does not.
    pgpass = f"*:*:*:egov:{PASSWORD}\n"
    (tmp_path / "pgpass").write_text(pgpass)
    (tmp_path / "pgpass").chmod(0o600)
    r = login(pglab, lab.ctl_argv([]), vm.address, str(tmp_path))
    assert r.stdout.strip() == "egov@egov_db", r.stderr
    for who in (vm, other):
        lab.write_file(who, "/root/pgpass", pgpass, 0o600)
    r = login(pglab, lab.vm_argv(vm, []), vm.address, "/root")
    assert r.stdout.strip() == "egov@egov_db", r.stderr
    r = login(pglab, lab.vm_argv(other, []), vm.address, "/root")
    assert r.returncode != 0 and f'no pg_hba.conf entry for host "{other.address}"' in r.stderr

    # A rerun (a new install over the same VM): every task already converged, nothing touched.
    run2 = j.create_run("pgtest", "tests.postgres", {}, None)
    assert pglab.in_jump_host(lambda: Scheduler(tasks, j, run2, probe_interval=0.2).run()) == "done"
    for tid in (VM_TASK_ID, TASK_ID):
        assert "check: already converged" in messages(j, run2, tid)
        assert "running: applying" not in messages(j, run2, tid)
    assert facts(pglab, vm) == after
    assert lab.exec(vm, "cat /etc/postgresql/15/main/pg_hba.conf").stdout.decode() == hba
    j.close()
    assert PASSWORD.encode() not in journal_bytes(state)
    assert after["role"].split(" ", 1)[1].encode() not in journal_bytes(state)


def test_a_20s_drop_of_the_database_vm_during_the_phase_waits_and_then_completes(
        pglab: Lab, tmp_path: Path) -> None:
    lab, vm = pglab.lab, pglab.existing     # the distribution's cluster 15/main, running on localhost only
    assert pglab.psql(vm, "SHOW listen_addresses") == "localhost"
    tasks, state = vm_tasks(pglab, vm, tmp_path, f"{lab.subnet}.8/29")
    j, run = journal(state)
    dropped: list[float] = []

    def listening() -> bool:
        return any("vm2: done: listen" in m for m in messages(j, run, VM_TASK_ID))

    async def scenario() -> str:
        sched = Scheduler(tasks, j, run, probe_interval=0.25)
        runner = asyncio.create_task(sched.run())
        await wait_for(listening, 30, "listen_addresses to be set (a restart)")
        lab.drop_for(vm, 20)
        dropped.append(time.monotonic())
        await wait_for(lambda: sched.state.get(VM_TASK_ID) is TaskState.WAITING_NETWORK, 15, "the task to park")
        return await asyncio.wait_for(runner, 45)

    assert pglab.in_jump_host(scenario) == "done"
    took = time.monotonic() - dropped[0]
    assert took >= 20, took                  # it waited out the drop, it did not get through it
    seen = states(j, run, VM_TASK_ID)
    assert "waiting-for-network" in seen and seen[-1] == "done", seen
    said = messages(j, run, VM_TASK_ID)
    assert any(m.startswith("waiting-for-network:") and m.endswith("waiting for ssh vm2") for m in said), said
    assert any(m.startswith("network back after") for m in said)
    done = " | ".join(said)
    for step in ("listen: set listen_addresses = '*' and restart", "hba: allow", "role: create role egov",
                 "database: create database"):
        assert f"vm2: done: {step}" in done, done
    after = facts(pglab, vm)
    assert after["owner"] == "egov UTF8" and after["listen"] == "*" and after["role"].startswith("true SCRAM")
    assert j.task(run, TASK_ID).outputs["host"] == vm.address
    j.close()
    assert PASSWORD.encode() not in journal_bytes(state)
