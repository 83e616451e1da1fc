"""database.standby end to end: a primary and a streaming standby on two namespace VMs of their
own (real sshd, the image's PostgreSQL 15), converged by the engine over SSH; what they say is
read back independently, as each VM's postgres user.

Each test gets a lab of its own: the standby's state (a copy of the primary) is what the next
test would start from otherwise. Both VMs start as ``apt-get install postgresql`` leaves them
(cluster 15/main running, on localhost only), the shape pglab's vm2 has.
"""

from __future__ import annotations

import asyncio
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from digit_tui.answers.model import Host
from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import RetryPolicy, Task
from digit_tui.infra import pgvm
from digit_tui.infra.postgres import PgOptions
from digit_tui.infra.ssh import SshOptions
from digit_tui.tasks.postgres import (REPLICATION_PASSWORD_FILE, TASK_ID, VM_TASK_ID, password_source,
                                      postgres_tasks)
from digit_tui.tasks.postgres_standby import STANDBY_TASK_ID
from tests.postgres.pglab import (FAST as FAST_CONF, Lab, database, db_host, journal, journal_bytes, messages,
                                  own_run_and_ram_disk, password_file, state_dir, wait_for)
from tests.vmlab import VmLab

FAST = RetryPolicy(attempts=2, base_delay=0.2, max_delay=0.5, jitter=0, network_wait=60)
SSH = SshOptions(timeout=5.0, keepalive_interval=2.0, keepalive_count=3)
TIMEOUTS = pgvm.Timeouts(stream=30.0)
PASSWORD = "Standby-Test-Pw-71c0d2"
DATA = "/var/lib/postgresql/15/main"


@pytest.fixture()
def lab(tmp_path: Path) -> Iterator[Lab]:
    with VmLab(tmp_path / "lab", count=2) as vms:
        for vm in vms.vms:
            own_run_and_ram_disk(vms, vm)
            vms.write_file(vm, "/etc/postgresql/15/main/conf.d/test-fast.conf", FAST_CONF)
            vms.exec(vm, "pg_ctlcluster 15 main start", timeout=60)
        primary, standby = vms.vms
        # No managed server in this lab: pglab's Lab is used for its psql and jump-host helpers.
        yield Lab(vms, primary, standby, standby, "")


def tasks_of(lab: Lab, tmp: Path) -> tuple[list[Task], Path]:
    state = state_dir(lab, tmp)
    db = database("vm", password_file(tmp, PASSWORD))
    standby = Host(name=lab.existing.name, address=lab.existing.address, user="root", ssh_key=lab.lab.client_key,
                   roles=["db"])
    tasks = postgres_tasks(db, db_host=db_host(lab, lab.fresh), node_cidrs=f"{lab.lab.subnet}.0/24", state_dir=state,
                           password=password_source(db, state / "unused-secrets.yaml"), ssh_options=SSH,
                           pg_options=PgOptions(timeout=3.0), timeouts=TIMEOUTS, retry=FAST, standby=standby)
    return tasks, state


def run(lab: Lab, tasks: list[Task], state: Path) -> tuple[str, Journal, str]:
    j, run_id = journal(state)
    result = lab.in_jump_host(lambda: Scheduler(tasks, j, run_id, probe_interval=0.2).run())
    return result, j, run_id


class PsWatch:
    """Every process's command line on the machine (the VMs share its PID namespace), read over
    and over while a run goes on: the replication password must never be in one."""

    def __init__(self, secret_file: Path) -> None:
        self.secret_file, self.hits, self.reads = secret_file, [], 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PsWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _watch(self) -> None:
        secret = ""
        while not self._stop.wait(0.05):
            if not secret and self.secret_file.exists():
                secret = self.secret_file.read_text().strip()
            if secret:
                out = subprocess.run(["ps", "-e", "-ww", "-o", "args="], capture_output=True, text=True,
                                     timeout=10).stdout
                self.reads += 1
                self.hits += [line for line in out.splitlines() if secret in line]


def streaming(lab: Lab) -> list[str]:
    """The primary's senders, read as its postgres user."""
    return lab.psql(lab.fresh, "SELECT host(client_addr) || ' ' || state FROM pg_stat_replication").splitlines()


def test_the_standby_streams_after_the_first_run_and_a_rerun_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    primary, standby = lab.fresh, lab.existing
    # What a copy cut short leaves: the next run starts the copy again from nothing.
    lab.lab.exec(standby, f"install -d -o postgres -m 700 {DATA}.digit-tui-new && touch {DATA}.digit-tui-new/half")
    tasks, state = tasks_of(lab, tmp_path)
    assert [t.id for t in tasks] == [VM_TASK_ID, STANDBY_TASK_ID, TASK_ID]
    with PsWatch(state / REPLICATION_PASSWORD_FILE) as ps:
        result, j, run_id = run(lab, tasks, state)
    assert ps.reads > 5 and ps.hits == []
    assert result == "done", messages(j, run_id, STANDBY_TASK_ID)
    said = " | ".join(messages(j, run_id, STANDBY_TASK_ID))
    assert "vm2: done: seed: copy the primary's data" in said and "holds no database but postgres" in said, said

    # Independently: the standby is in recovery, the primary streams to it, and a row written on the
    # primary shows up on the standby.
    assert lab.psql(standby, "SELECT pg_is_in_recovery()") == "t"
    assert f"{standby.address} streaming" in streaming(lab)
    hba = lab.lab.exec(primary, "cat /etc/postgresql/15/main/pg_hba.conf").stdout.decode()
    assert f'host    replication    "replicator"    {standby.address}/32    scram-sha-256    # digit-tui' in hba
    assert lab.psql(primary, "SELECT rolreplication AND rolcanlogin FROM pg_authid WHERE rolname = 'replicator'") == "t"
    lab.psql(primary, "CREATE TABLE IF NOT EXISTS standby_probe (v text); INSERT INTO standby_probe VALUES ('x1')")

    def on_standby() -> bool:
        r = lab.lab.exec(standby, ["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-d", "postgres", "-c",
                                   "SELECT count(*) FROM standby_probe WHERE v = 'x1'"], timeout=30, check=False)
        return r.stdout.decode().strip() == "1"     # an error until the table itself has arrived

    async def replicated() -> None:
        await wait_for(on_standby, 20, "the primary's row on the standby")
    asyncio.run(replicated())
    assert lab.lab.exec(standby, f"test ! -e {DATA}.digit-tui-new && test ! -e {DATA}/half", check=False).returncode == 0

    # A rerun: both VMs already converged, nothing applied, the standby not restarted.
    started = lab.psql(standby, "SELECT pg_postmaster_start_time()")
    verifier = lab.psql(primary, "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'")
    run2 = j.create_run("pgtest", "tests.postgres", {}, None)
    assert lab.in_jump_host(lambda: Scheduler(tasks, j, run2, probe_interval=0.2).run()) == "done"
    for tid in (VM_TASK_ID, STANDBY_TASK_ID, TASK_ID):
        assert "check: already converged" in messages(j, run2, tid), (tid, messages(j, run2, tid))
        assert "running: applying" not in messages(j, run2, tid)
    assert lab.psql(standby, "SELECT pg_postmaster_start_time()") == started
    assert lab.psql(primary, "SELECT rolpassword FROM pg_authid WHERE rolname = 'replicator'") == verifier
    assert f"{standby.address} streaming" in streaming(lab)

    # The replication password: only in its 0600 file in the state directory.
    j.close()
    secret_file = state / REPLICATION_PASSWORD_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip().encode()
    assert len(secret) >= 24
    assert secret not in journal_bytes(state) and verifier.encode() not in journal_bytes(state)
    others = [p for p in state.rglob("*") if p.is_file() and p != secret_file and secret in p.read_bytes()]
    assert others == []


def test_a_standby_vm_with_data_of_its_own_is_not_wiped_and_goes_on_once_it_is_dropped(
        lab: Lab, tmp_path: Path) -> None:
    standby = lab.existing
    lab.psql(standby, "CREATE DATABASE precious")
    tasks, state = tasks_of(lab, tmp_path)
    result, j, run_id = run(lab, tasks, state)
    assert result != "done"
    said = " | ".join(messages(j, run_id, STANDBY_TASK_ID))
    assert "is a primary with data of its own (database precious)" in said, said
    row = j.task(run_id, STANDBY_TASK_ID)
    assert row.state == "failed" and "pg_dropcluster --stop 15 main" in (row.remedy or ""), row
    assert "running: applying" not in said                                   # refused in its check, before any step
    assert j.task(run_id, TASK_ID).state == "done"
    # Untouched: still a primary, its database there.
    assert lab.psql(standby, "SELECT pg_is_in_recovery()") == "f"
    assert lab.psql(standby, "SELECT count(*) FROM pg_database WHERE datname = 'precious'") == "1"

    # The operator says the data may go (here: drops the database); the next install makes the standby.
    lab.psql(standby, "DROP DATABASE precious")
    run2 = j.create_run("pgtest", "tests.postgres", {}, None)
    assert lab.in_jump_host(lambda: Scheduler(tasks, j, run2, probe_interval=0.2).run()) == "done"
    assert lab.psql(standby, "SELECT pg_is_in_recovery()") == "t"
    assert f"{standby.address} streaming" in streaming(lab)
    j.close()
