"""A lab for the Postgres phase: three namespace VMs with real sshd (tests/vmlab.py) and the
image's real PostgreSQL 15 (Debian's postgresql-common: pg_createcluster, pg_ctlcluster).

    vm1  database VM for mode vm, starting with no cluster at all (initdb happens)
    vm2  database VM for mode vm, as apt-get install postgresql leaves it: cluster 15/main running,
         listening on localhost only
    vm3  a "managed" database: PostgreSQL started by hand (initdb as postgres, pg_ctl)

Tasks run in-process through the engine's Scheduler, on a thread that has joined the lab's
control namespace (the jump host), so the code under test, the engine's network probe and the
sockets are exactly what an install on a jump host would use.

Two things make the VMs look like separate machines where the lab shares the host's: /run is
not overlaid by vmlab, so each VM gets its own tmpfs on /run/postgresql (the socket and pid
directory, a tmpfs on any real machine). And the data directories live in memory with fsync
off, like a throwaway VM's fast disk: these tests are about convergence, not durability, and a
machine shared by several test runs has little disk bandwidth to spare.
"""

from __future__ import annotations

import asyncio
import secrets
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from digit_tui.answers.model import Database, Host
from digit_tui.engine.journal import Journal
from digit_tui.infra import ssh
from digit_tui.infra.ssh import SshOptions
from tests.vmlab import Vm, VmLab

PG_BIN = "/usr/lib/postgresql/15/bin"
FAST = "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
MANAGED_DIR = "/srv/pg"
T = TypeVar("T")


@dataclass
class Lab:
    lab: VmLab
    fresh: Vm           # vm1
    existing: Vm        # vm2
    managed: Vm         # vm3
    managed_password: str

    def psql(self, vm: Vm, sql: str, cluster: str = "15/main") -> str:
        """Read the VM's cluster as its postgres user, independently of the code under test."""
        r = self.lab.exec(vm, ["runuser", "-u", "postgres", "--", "psql", "--cluster", cluster, "-X", "-A", "-t",
                               "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres"], input=sql.encode(), timeout=30)
        return r.stdout.decode().strip()

    def in_jump_host(self, coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``coro`` on an event loop of this thread, inside the control namespace."""
        with self.lab.client_netns():
            return asyncio.run(coro())


def own_run_and_ram_disk(lab: VmLab, vm: Vm) -> None:
    """The VM's own /run/postgresql, and /var/lib/postgresql in memory (its contents copied): a
    throwaway VM's fast disk, freed with the VM instead of deleted file by file."""
    ram = "/srv/.pgdata"
    lab.exec(vm, "mkdir -p /run/postgresql && mount -t tmpfs -o mode=2775 tmpfs /run/postgresql && "
                 f"chown postgres:postgres /run/postgresql && mkdir -p {ram} && mount -t tmpfs tmpfs {ram} && "
                 f"cp -a /var/lib/postgresql/. {ram}/ && chown postgres:postgres {ram} && "
                 f"mount --bind {ram} /var/lib/postgresql")


def _start_managed(lab: VmLab, vm: Vm, password: str) -> None:
    d = MANAGED_DIR
    lab.exec(vm, f"mkdir -p {d} && mount -t tmpfs tmpfs {d} && chown postgres: {d}")
    lab.exec(vm, ["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", f"{d}/data", "-U", "postgres",
                  "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"],
             timeout=60)
    lab.exec(vm, f"echo 'host all all {lab.subnet}.0/24 scram-sha-256' >> {d}/data/pg_hba.conf")
    lab.exec(vm, ["runuser", "-u", "postgres", "--", f"{PG_BIN}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/server.log",
                  "-w", "-t", "30", "-o", f"-c listen_addresses={vm.address} -k {d} -c fsync=off", "start"], timeout=60)
    # The password on stdin, as an operator would type it into psql.
    sql = f"CREATE ROLE egov LOGIN PASSWORD '{password}';\nCREATE DATABASE egov_db OWNER egov;\n"
    lab.exec(vm, ["runuser", "-u", "postgres", "--", f"{PG_BIN}/psql", "-h", d, "-X", "-q", "-v", "ON_ERROR_STOP=1",
                  "-d", "postgres"], input=sql.encode(), timeout=30)


@pytest.fixture(scope="package")
def pglab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with VmLab(tmp_path_factory.mktemp("pglab"), count=3) as lab:
        fresh, existing, managed = lab.vms
        for vm in lab.vms:
            own_run_and_ram_disk(lab, vm)
        # A VM with the server installed and no cluster: what pg_dropcluster leaves (faster by hand).
        lab.exec(fresh, "rm -rf /etc/postgresql/15/main /var/lib/postgresql/15/main && printf \"initdb_options = "
                        "'--no-sync'\\n%s\" >> /etc/postgresql-common/createcluster.conf" % FAST)
        lab.write_file(existing, "/etc/postgresql/15/main/conf.d/test-fast.conf", FAST)
        password = secrets.token_urlsafe(18)
        with ThreadPoolExecutor(2) as pool:
            # vm2 as apt-get install postgresql leaves a VM: cluster 15/main running, on localhost only.
            started = pool.submit(lab.exec, existing, "pg_ctlcluster 15 main start", timeout=60)
            _start_managed(lab, managed, password)
            started.result()
        yield Lab(lab, fresh, existing, managed, password)


def state_dir(pglab: Lab, tmp: Path) -> Path:
    """A state directory whose known_hosts trusts every VM (as preflight leaves it)."""
    state = tmp / "state"
    state.mkdir(mode=0o700)
    with pglab.lab.client_netns():
        for vm in pglab.lab.vms:
            ssh.trust_host_key(state / "known_hosts", vm.address, 22, pglab.lab.host_fingerprint(vm),
                               SshOptions(timeout=5))
    return state


def password_file(tmp: Path, password: str, name: str = "db-password") -> Path:
    path = tmp / name
    path.write_text(password + "\n")
    path.chmod(0o600)
    return path


def database(mode: str, password: Path | None, *, host: str | None = None, name: str = "egov_db",
             username: str = "egov") -> Database:
    return Database(mode=mode, host=host, name=name, username=username, password_file=password)  # type: ignore[arg-type]


def db_host(pglab: Lab, vm: Vm) -> Host:
    return Host(name=vm.name, address=vm.address, user="root", ssh_key=pglab.lab.client_key, roles=["db"])


def journal(state: Path) -> tuple[Journal, str]:
    j = Journal.in_dir(state)
    return j, j.create_run("pgtest", "tests.postgres", {}, None)


def journal_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state.glob("journal.db*")))


def states(j: Journal, run: str, task: str) -> list[str]:
    """The task's states in order, from the journal's events."""
    return [e.message.split(":", 1)[0] for e in j.events(run, after=0, task=task) if e.kind == "state"]


def messages(j: Journal, run: str, task: str) -> list[str]:
    return [e.message for e in j.events(run, after=0, task=task)]


async def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = cond()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)
