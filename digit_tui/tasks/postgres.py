"""The Postgres phase: DIGIT's database on a VM over SSH, or a managed one, checked from here.

    database.mode vm:        postgres-vm ──> postgres
    database.mode external:                  postgres

``postgres-vm`` converges PostgreSQL on the database VM from what the VM says (``infra.pgvm``):
installed, a cluster on ``database.port``, running, ``listen_addresses``, a ``pg_hba.conf`` line for
the cluster's node network (and this jump host), the role and the database it owns, the role's
password. Each step is skipped when the facts say it is done, so a rerun changes nothing.

``postgres`` logs in from this machine as DIGIT's services will (TCP, the role's password,
``SELECT 1``) and publishes where the database is, for the environment file:

    host, port, database, username, jdbc_url, server_version, tls

The password comes from ``database.password_file``, else from the generated secrets file's
``db.password`` (``PasswordSource``); it is registered with the engine's redactor before use and
never published. ``database.mode: in-cluster`` has no tasks here: its database is deployed and
checked inside the cluster after cluster-configs (``tasks.postgres_cluster``).

Inputs are typed (the answers' ``Database`` and ``Host`` sections, the node network, the state
directory, the password source): nothing is read from ``ctx.settings``.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from digit_tui.answers.model import Database, Host
from digit_tui.engine.errors import PermanentError, TaskError, TransientError
from digit_tui.engine.task import Endpoint, RetryPolicy, Task, TaskContext
from digit_tui.errors import InputError
from digit_tui.infra import pgvm, ssh
from digit_tui.infra.postgres import PgError, PgOptions, PgTarget, check_login
from digit_tui.infra.ssh import SshAuth, SshError, SshErrorKind, SshOptions, SshTarget
from digit_tui.preflight.model import KNOWN_HOSTS, PASSPHRASE_ENV

PHASE = "postgres"
TASK_ID = "postgres"            # the one later tasks depend on; it publishes the endpoint
VM_TASK_ID = "postgres-vm"
JUMP_HOST_MARK = "this jump host"
FACTS_FRESH_FOR = 5.0           # seconds a check's facts stand for the ensure that follows it


@dataclass(frozen=True)
class PasswordSource:
    """Where the role's password is read, when a task needs it (the secrets file may not exist
    before ``helm-config`` has run)."""

    path: Path
    kind: Literal["password-file", "secrets-file"]

    def read(self) -> str:
        if self.kind == "password-file":
            # As helm-config reads it for the db Secret: the two must agree to the byte.
            return _read_secret(self.path, f"database.password_file {self.path}",
                                "check the path and that this user can read it (chmod 600)",
                                "write the password on its first line")
        from digit_tui.digit.secretsfile import SecretsError, read_secrets_file

        if not self.path.is_file():
            raise PermanentError(f"the secrets file {self.path} does not exist yet",
                                 "the helm-config task writes it: run `digit-tui install` (it runs first)")
        try:
            secrets = read_secrets_file(self.path)
        except InputError as exc:
            raise PermanentError(str(exc), exc.expected) from None
        except SecretsError as exc:
            raise PermanentError(f"cannot read {self.path}: {exc}",
                                 "check the sops key this machine decrypts the secrets file with") from None
        generated = (secrets.get("db") or {}).get("password")
        if not generated:
            raise PermanentError(f"{self.path} has no cluster-configs.secrets.db.password",
                                 "set database.password_file, or remove the file and let helm-config write it again")
        return generated

    def describe(self) -> str:
        return (f"database.password_file {self.path}" if self.kind == "password-file"
                else f"db.password of {self.path}")


REPLICATION_ROLE = "replicator"
REPLICATION_PASSWORD_FILE = "postgres-replication-password"


def _read_secret(path: Path, what: str, unreadable: str, empty: str) -> str:
    """The secret on a file's first line (trimmed); permanent errors naming ``what`` and the fix."""
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PermanentError(f"cannot read {what}: {exc.strerror}", unreadable) from None
    if not secret:
        raise PermanentError(f"{what} is empty", empty)
    return secret


@dataclass(frozen=True)
class ReplicationPassword:
    """The standby's password for the replication role: made once into the state directory (0600),
    read from there by the primary's task and the standby's."""

    path: Path

    @classmethod
    def in_state(cls, state_dir: Path) -> ReplicationPassword:
        return cls(Path(state_dir) / REPLICATION_PASSWORD_FILE)

    def read(self) -> str:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(secrets.token_urlsafe(24) + "\n")
        return _read_secret(self.path, f"the replication password file {self.path}",
                            "check that this user owns the state directory",
                            "remove it: the next install makes a new one and sets it on both VMs")


@dataclass(frozen=True)
class StandbyAccess:
    """What the primary lets the standby do: stream as ``role`` from ``address``."""

    host: Host
    password: ReplicationPassword
    role: str = REPLICATION_ROLE

    @property
    def cidr(self) -> str:
        return networks(self.host.address)[0]

    def spec(self) -> pgvm.Replication:
        return pgvm.Replication(self.role, (self.cidr,))


def password_source(database: Database, secrets_file: Path) -> PasswordSource:
    """The operator's ``password_file`` when given, else the generated secrets file's ``db.password``."""
    if database.password_file is not None:
        return PasswordSource(Path(database.password_file), "password-file")
    return PasswordSource(Path(secrets_file), "secrets-file")


def _map_ssh(e: SshError, host: Host) -> TaskError:
    if e.transient:
        return TransientError(str(e))
    remedy = e.remedy
    if e.kind in (SshErrorKind.UNKNOWN_HOST_KEY, SshErrorKind.HOST_KEY_CHANGED):
        remedy = f"{e.remedy}: `digit-tui install --answers FILE --trust-host-key {host.name}=SHA256:...`"
    return PermanentError(str(e), remedy)


def _map_pg(e: PgError) -> TaskError:
    return TransientError(str(e)) if e.transient else PermanentError(str(e), e.remedy)


def connect(ctx: TaskContext, host: Host, state_dir: Path, options: SshOptions) -> ssh.SshConnection:
    """SSH to ``host`` as its user, trusting the host keys preflight recorded in the state directory."""
    secret = os.environ.get(PASSPHRASE_ENV) or None
    if secret:
        ctx.secret(secret)
    target = SshTarget(host.address, host.port, host.user, name=host.name)
    auth = SshAuth(key_path=Path(host.ssh_key), passphrase=secret, use_agent=True)
    try:
        return ssh.connect(target, auth, state_dir / KNOWN_HOSTS, options)
    except SshError as e:
        raise _map_ssh(e, host) from None


class PostgresVmTask(Task):
    """PostgreSQL converged on the database VM over SSH (with ``standby``: what the standby needs of it)."""

    def __init__(self, database: Database, host: Host, node_cidrs: str | Sequence[str], state_dir: Path,
                 password: PasswordSource,
                 *, deps: Sequence[str] = (), allow_jump_host: bool = True, ssh_options: SshOptions = SshOptions(),
                 timeouts: pgvm.Timeouts = pgvm.Timeouts(), retry: RetryPolicy | None = None,
                 standby: StandbyAccess | None = None) -> None:
        # Only the SSH port: the database port is not open until this task has opened it, so a wait
        # on it during the first install would never end.
        super().__init__(VM_TASK_ID, f"PostgreSQL on {host.name}: install, cluster, access, role and database",
                         PHASE, tuple(deps), retry=retry or RetryPolicy(attempts=3, base_delay=2.0), timeout=1800.0,
                         endpoints=[Endpoint(host.address, host.port, f"ssh {host.name}")])
        self.database, self.host = database, host
        self.node_cidrs = networks(node_cidrs)
        self.state_dir, self.password = Path(state_dir), password
        self.allow_jump_host, self.ssh_options, self.timeouts = allow_jump_host, ssh_options, timeouts
        self.standby = standby
        self._checked: tuple[float, pgvm.ServerSpec, pgvm.Facts] | None = None

    def _spec(self, jump_host: str | None) -> pgvm.ServerSpec:
        cidrs = list(self.node_cidrs)
        if self.allow_jump_host and jump_host and not any(_inside(jump_host, c) for c in cidrs):
            cidrs.append(f"{jump_host}/128" if ":" in jump_host else f"{jump_host}/32")
        return pgvm.ServerSpec(self.database.port, self.database.name, self.database.username,
                               tuple(dict.fromkeys(cidrs)), timeouts=self.timeouts,
                               replication=self.standby.spec() if self.standby is not None else None)

    def _connect(self, ctx: TaskContext) -> ssh.SshConnection:
        return connect(ctx, self.host, self.state_dir, self.ssh_options)

    def _replication_password(self, ctx: TaskContext) -> str | None:
        return ctx.secret(self.standby.password.read()) if self.standby is not None else None

    def _facts(self, ctx: TaskContext) -> tuple[pgvm.ServerSpec, list[pgvm.Step]]:
        password = ctx.secret(self.password.read())
        replication = self._replication_password(ctx)
        with self._connect(ctx) as conn:
            try:
                spec = self._spec(pgvm.client_address(conn))
                facts = pgvm.read_facts(conn, spec)
            except SshError as e:
                raise _map_ssh(e, self.host) from None
            except pgvm.PgVmError as e:
                raise _vm_error(e) from None
        self._publish(ctx, facts)
        # The engine calls ensure right after a check that found work: its first round starts from
        # these facts rather than reading the same ones again.
        self._checked = (time.monotonic(), spec, facts)
        return spec, pgvm.plan(facts, spec, password, replication)

    def _recent(self, spec: pgvm.ServerSpec) -> pgvm.Facts | None:
        checked, self._checked = self._checked, None
        if checked is None or checked[1] != spec or time.monotonic() - checked[0] > FACTS_FRESH_FOR:
            return None
        return checked[2]

    def _publish(self, ctx: TaskContext, facts: pgvm.Facts) -> None:
        if facts.cluster is not None:
            ctx.publish("cluster", facts.cluster.label)
            ctx.publish("data_dir", facts.cluster.data_dir)

    async def check(self, ctx: TaskContext) -> bool:
        spec, steps = await ctx.run_sync(self._facts, ctx)
        for step in steps:
            ctx.log(f"to do on {self.host.name}: {step.says}")
        if not steps:
            ctx.log(f"PostgreSQL on {self.host.name} is as it should be: port {spec.port}, {spec.database} owned by "
                    f"{spec.role}, pg_hba for {', '.join(spec.client_cidrs)}")
        return not steps

    def _converge(self, ctx: TaskContext) -> list[str]:
        password = ctx.secret(self.password.read())
        replication = self._replication_password(ctx)
        with self._connect(ctx) as conn:
            try:
                spec = self._spec(pgvm.client_address(conn))
                done, facts = pgvm.converge(conn, spec, password, on_secret=ctx.secret, facts=self._recent(spec),
                                            say=lambda m: ctx.log(f"{self.host.name}: done: {m}"),
                                            replication_password=replication)
            except SshError as e:
                raise _map_ssh(e, self.host) from None
            except pgvm.PgVmError as e:
                raise _vm_error(e) from None
        self._publish(ctx, facts)
        return done

    async def ensure(self, ctx: TaskContext) -> None:
        done = await ctx.run_sync(self._converge, ctx)
        ctx.log(f"PostgreSQL on {self.host.name}: {len(done)} step{'s' if len(done) != 1 else ''} done"
                + (f" ({', '.join(done)})" if done else ""))

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        db = self.database
        clients = ", ".join(self.node_cidrs) + (f" and {JUMP_HOST_MARK}" if self.allow_jump_host else "")
        return [f"would SSH to {self.host.name} ({self.host.address}) as {self.host.user} and read what is there "
                "(server binaries, clusters, settings, pg_hba.conf, roles, databases); each step below runs only "
                "when missing:",
                "would install PostgreSQL (apt-get install postgresql) unless its server and pg_createcluster are there",
                f"would create a cluster on port {db.port} (initdb as the postgres user, UTF-8) unless one exists, "
                "and start it",
                "would set listen_addresses = '*' (ALTER SYSTEM) and restart",
                f"would allow {clients} to log in as {db.username} to {db.name} with scram-sha-256 (pg_hba.conf) "
                "and reload",
                f"would create role {db.username} (LOGIN) with the password from {self.password.describe()}, "
                "sent as its SCRAM verifier over SSH stdin",
                f"would create database {db.name} owned by {db.username}"] + self._standby_dry_run()

    def _standby_dry_run(self) -> list[str]:
        if self.standby is None:
            return []
        sb = self.standby
        return [f"would set wal_level = replica and max_wal_senders >= {pgvm.MIN_WAL_SENDERS} (and restart) unless "
                "they are already",
                f"would allow {sb.host.name} ({sb.cidr}) to stream as {sb.role} (pg_hba.conf replication line)",
                f"would create role {sb.role} (REPLICATION LOGIN) with the password in {sb.password.path} (0600, "
                "made there once), sent as its SCRAM verifier"]


def networks(cidrs: str | Sequence[str]) -> tuple[str, ...]:
    """The client networks for pg_hba, each as its network address (10.0.1.0/24, not 10.0.1.7/24;
    a bare address is a /32 or /128), in order, once each."""
    given = [cidrs] if isinstance(cidrs, str) else list(cidrs)
    out = tuple(dict.fromkeys(str(ipaddress.ip_network(c.strip(), strict=False)) for c in given if c.strip()))
    if not out:
        raise ValueError("no client network for pg_hba.conf")
    return out


def _inside(address: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


def _vm_error(e: pgvm.PgVmError) -> TaskError:
    return TransientError(str(e)) if e.transient else PermanentError(str(e), e.remedy)


class PostgresCheckTask(Task):
    """Log in from this machine as DIGIT's services will; publishes the endpoint."""

    def __init__(self, database: Database, address: str, password: PasswordSource, *, mode: str,
                 deps: Sequence[str] = (), options: PgOptions = PgOptions(), retry: RetryPolicy | None = None) -> None:
        super().__init__(TASK_ID, f"Check the database {database.name} at {address}:{database.port} from this machine",
                         PHASE, tuple(deps), retry=retry or RetryPolicy(attempts=3, base_delay=2.0),
                         timeout=max(60.0, options.timeout * 4),
                         endpoints=[Endpoint(address, database.port, "postgres")])
        self.database, self.address, self.password, self.mode, self.options = database, address, password, mode, options

    @property
    def target(self) -> PgTarget:
        return PgTarget(self.address, self.database.port, self.database.name, self.database.username)

    async def check(self, ctx: TaskContext) -> bool:
        password = ctx.secret(self.password.read())
        try:
            result = await ctx.run_sync(check_login, self.target, password, self.options)
        except PgError as e:
            raise _map_pg(e) from None
        t = self.target
        ctx.log(f"logged in to {t.database} at {t.label} as {t.user} ({'TLS' if result.tls else 'no TLS'}, "
                f"{result.millis:.0f} ms): PostgreSQL {result.server_version}")
        ctx.publish("mode", self.mode)
        ctx.publish("host", t.host)
        ctx.publish("port", t.port)
        ctx.publish("database", t.database)
        ctx.publish("username", t.user)
        ctx.publish("jdbc_url", jdbc_url(t.host, t.port, t.database))
        ctx.publish("server_version", result.server_version)
        ctx.publish("tls", result.tls)
        return True

    async def ensure(self, ctx: TaskContext) -> None:
        await self.check(ctx)   # not reached: check passes or raises; there is nothing to change from here

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        t = self.target
        return [f"would connect to {t.label} (timeout {self.options.timeout:g}s, TLS {self.options.tls}), log in to "
                f"{t.database} as {t.user} with the password from {self.password.describe()} and run SELECT 1",
                "would publish host, port, database, username and the JDBC URL for the environment file"]


def jdbc_url(host: str, port: int, database: str) -> str:
    where = f"[{host}]" if ":" in host else host
    return f"jdbc:postgresql://{where}:{port}/{database}"


def postgres_tasks(database: Database, *, db_host: Host | None, node_cidrs: str | Sequence[str] | None,
                   state_dir: Path,
                   password: PasswordSource, deps: Sequence[str] = (), ssh_options: SshOptions = SshOptions(),
                   pg_options: PgOptions = PgOptions(), timeouts: pgvm.Timeouts = pgvm.Timeouts(),
                   retry: RetryPolicy | None = None, standby: Host | None = None) -> list[Task]:
    """The Postgres phase for ``database.mode``; dependants wait for ``TASK_ID``.

    ``db_host``: the hosts entry with role db (mode vm). ``node_cidrs``: where the cluster's nodes
    connect from (mode vm: one pg_hba line each): the node network's CIDR, or the nodes' own
    addresses (pods reach an outside database with their node's address). ``deps``: what the first task waits for (the
    prerequisites gate, and helm-config when the password comes from the secrets file).
    ``in-cluster`` gives no task here (``tasks.postgres_cluster`` deploys it after cluster-configs).
    ``standby`` (mode vm): the hosts entry made a streaming standby (``tasks.postgres_standby``),
    listed before the check, which stays last (what the release waits for)."""
    if database.mode == "in-cluster":
        return []
    if database.mode == "external":
        if database.host is None:
            raise ValueError("database.mode external needs database.host")
        return [PostgresCheckTask(database, database.host, password, mode="external", deps=deps, options=pg_options,
                                  retry=retry)]
    if db_host is None:
        raise ValueError("database.mode vm needs the hosts entry with role db")
    if not node_cidrs:
        raise ValueError("database.mode vm needs the cluster's node network (CIDR) for pg_hba.conf")
    address = database.host or db_host.address
    access = StandbyAccess(standby, ReplicationPassword.in_state(state_dir)) if standby is not None else None
    vm = PostgresVmTask(database, db_host, node_cidrs, state_dir, password, deps=deps, ssh_options=ssh_options,
                        timeouts=timeouts, retry=retry, standby=access)
    replica: list[Task] = []
    if access is not None:
        from digit_tui.tasks.postgres_standby import PostgresStandbyTask

        replica.append(PostgresStandbyTask(database, db_host, access, state_dir, deps=(vm.id,), ssh_options=ssh_options,
                                           timeouts=timeouts, retry=retry))
    return [vm, *replica, PostgresCheckTask(database, address, password, mode="vm", deps=(vm.id,), options=pg_options,
                                            retry=retry)]
