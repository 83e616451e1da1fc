"""``postgres-standby``: the second database VM made a streaming standby of the primary
(``database.standby``, mode vm), after ``postgres-vm`` has given the primary its replication role
and pg_hba line (``infra.pgstandby`` says how, and what it refuses to wipe).

    postgres-vm ──> postgres-standby
               └──> postgres ──> cluster-configs

Nothing waits for it: DIGIT's services use the primary only. Its check reads both VMs; a standby
that already streams from this primary passes it, so a rerun changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from digit_tui.answers.model import Database, Host
from digit_tui.engine.task import Endpoint, RetryPolicy, Task, TaskContext
from digit_tui.infra import pgstandby, pgvm
from digit_tui.infra.ssh import SshError, SshOptions
from digit_tui.tasks.postgres import PHASE, VM_TASK_ID, StandbyAccess, _map_ssh, _vm_error, connect

STANDBY_TASK_ID = "postgres-standby"


class PostgresStandbyTask(Task):
    def __init__(self, database: Database, primary: Host, access: StandbyAccess, state_dir: Path, *,
                 deps: Sequence[str] = (VM_TASK_ID,), ssh_options: SshOptions = SshOptions(),
                 timeouts: pgvm.Timeouts = pgvm.Timeouts(), retry: RetryPolicy | None = None) -> None:
        standby = access.host
        super().__init__(STANDBY_TASK_ID, f"PostgreSQL on {standby.name}: a streaming standby of {primary.name}",
                         PHASE, tuple(deps), retry=retry or RetryPolicy(attempts=3, base_delay=2.0),
                         timeout=timeouts.basebackup + 600.0,
                         endpoints=[Endpoint(standby.address, standby.port, f"ssh {standby.name}"),
                                    Endpoint(primary.address, primary.port, f"ssh {primary.name}")])
        self.database, self.primary, self.access = database, primary, access
        self.state_dir, self.ssh_options, self.timeouts = Path(state_dir), ssh_options, timeouts

    @property
    def spec(self) -> pgstandby.StandbySpec:
        db = self.database
        # The primary's role and database do not matter here: only its port and replication role are read.
        primary = pgvm.ServerSpec(db.port, db.name, db.username, ("127.0.0.1/32",), timeouts=self.timeouts,
                                  replication=self.access.spec())
        server = pgvm.ServerSpec(db.port, db.name, db.username, ("127.0.0.1/32",), timeouts=self.timeouts)
        return pgstandby.StandbySpec(server, primary, self.primary.address, self.access.host.address)

    def _both(self, ctx: TaskContext, work: str) -> list[str]:
        standby = self.access.host
        with connect(ctx, standby, self.state_dir, self.ssh_options) as sconn, \
                connect(ctx, self.primary, self.state_dir, self.ssh_options) as pconn:
            try:
                if work == "check":
                    facts = pgstandby.read_facts(sconn, pconn, self.spec)
                    return [s.says for s in pgstandby.plan(facts, self.spec, sconn.target.label)]
                password = ctx.secret(self.access.password.read())
                return pgstandby.converge(sconn, pconn, self.spec, password,
                                          say=lambda m: ctx.log(f"{standby.name}: done: {m}"))
            except SshError as e:
                raise _map_ssh(e, standby) from None
            except pgvm.PgVmError as e:
                raise _vm_error(e) from None

    async def check(self, ctx: TaskContext) -> bool:
        steps = await ctx.run_sync(self._both, ctx, "check")
        for says in steps:
            ctx.log(f"to do on {self.access.host.name}: {says}")
        if not steps:
            ctx.log(f"{self.access.host.name} streams from {self.primary.name} "
                    f"({self.primary.address}:{self.database.port})")
        return not steps

    async def ensure(self, ctx: TaskContext) -> None:
        done = await ctx.run_sync(self._both, ctx, "ensure")
        ctx.log(f"standby {self.access.host.name}: {len(done)} step{'s' if len(done) != 1 else ''} done"
                + (f" ({', '.join(done)})" if done else ""))

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        sb, p, port = self.access.host, self.primary, self.database.port
        return [f"would SSH to {sb.name} ({sb.address}) as {sb.user} and to {p.name} and read both; each step below "
                "runs only when missing:",
                "would install PostgreSQL (apt-get install postgresql) and make a cluster on port "
                f"{port} as on the primary",
                f"unless {sb.name} already streams from {p.address}:{port} (pg_stat_replication on {p.name}): would "
                f"copy {p.name}'s data with pg_basebackup -R as {self.access.role} (the password from "
                f"{self.access.password.path} on stdin, never an argument) and start it as a standby; the data "
                "directory is replaced only when it is missing, empty, a standby's copy, or holds no database or "
                "table of its own (else it stops and says what to do)",
                f"would wait until {p.name} shows {sb.name} streaming"]
