"""A streaming standby of a primary that ``infra.pgvm`` converged, on a second VM over SSH.

    facts = read_facts(standby, primary, spec)      # both VMs, nothing changed
    steps = plan(facts, spec)                       # what is missing, in order
    done = converge(standby, primary, spec, password)

The standby's PostgreSQL is installed and its cluster made as on the primary (``pgvm``'s
``install``, ``cluster`` and ``start``). Then, unless it already streams from this primary, its
data directory is replaced by ``pg_basebackup -R`` from the primary (``seed``): the copy goes into
``<data dir>.digit-tui-new`` first, so a copy cut short leaves the old directory as it was and the
next run starts the copy again from nothing; only a whole copy replaces it. ``stream`` waits until
the primary's ``pg_stat_replication`` shows the standby streaming.

The data directory is only replaced when that loses nothing: it is missing or empty, the cluster
is a standby already (its data is a copy), or it holds no database but postgres and the templates
and no table. Anything else stops with what to do: digit-tui never wipes data it did not copy.

The replication password reaches the VM on the SSH channel's stdin, into ``PGPASSWORD`` of
pg_basebackup's shell (never a command line); ``-R`` writes it into the standby's
``postgresql.auto.conf`` (the data directory, 0700 postgres), where the WAL receiver reads it.

Knows PostgreSQL and Debian's postgresql-common, nothing of DIGIT.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from digit_tui.infra import pgvm
from digit_tui.infra.pgvm import PgVmError, Step
from digit_tui.infra.ssh import SshConnection

STAGING_SUFFIX = ".digit-tui-new"
DEFAULT_DBS = ("postgres", "template0", "template1")


@dataclass(frozen=True)
class StandbySpec:
    server: pgvm.ServerSpec        # the standby's port and timeouts (install and cluster as on the primary)
    primary: pgvm.ServerSpec       # the primary's, with its replication role
    primary_host: str              # where the standby connects to
    address: str                   # the standby as the primary sees it (pg_stat_replication.client_addr)

    @property
    def role(self) -> str:
        if self.primary.replication is None:
            raise ValueError("the primary's spec has no replication role")
        return self.primary.replication.role

    @property
    def upstream(self) -> str:
        return f"{self.primary_host}:{self.primary.port}"


@dataclass(frozen=True)
class Standby:
    """What the standby's cluster says (read as the postgres user) and what its data directory holds."""

    data: Literal["missing", "empty", "present"]
    staging: bool                  # a copy cut short
    in_recovery: bool | None       # None: not running
    system_id: str = ""
    upstream: str = ""             # host:port of primary_conninfo (never its password)
    own_data: tuple[str, ...] = ()  # databases and tables of its own


@dataclass(frozen=True)
class Facts:
    base: pgvm.Facts               # the standby's installation and clusters
    standby: Standby | None        # None without a cluster on the port
    primary: pgvm.ClusterFacts
    primary_version: str

    def streams_from(self, address: str) -> bool:
        s = self.standby
        return (s is not None and bool(s.in_recovery) and s.system_id == self.primary.system_id
                and (address, "streaming") in self.primary.senders)


def _standby_sql() -> str:
    dbs = ", ".join(f"'{d}'" for d in DEFAULT_DBS)
    return f"""
SELECT 'recovery', pg_is_in_recovery();
SELECT 'system_id', system_identifier FROM pg_control_system();
SELECT 'upstream', coalesce(substring(current_setting('primary_conninfo') from '(?:^| )host=''?([^'' ]+)'), ''),
                   coalesce(substring(current_setting('primary_conninfo') from '(?:^| )port=''?([0-9]+)'), '5432');
SELECT 'own', 'database ' || datname FROM pg_database WHERE datname NOT IN ({dbs});
SELECT 'own', 'table ' || n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg_toast%' LIMIT 5;
"""


def _standby_script(cluster: pgvm.Cluster) -> str:
    d = shlex.quote(cluster.data_dir)
    new = shlex.quote(cluster.data_dir + STAGING_SUFFIX)
    script = f"""
if [ ! -e {d} ]; then echo 'data missing'; elif [ -z "$(ls -A {d})" ]; then echo 'data empty'; else echo 'data present'; fi
[ -e {new} ] && echo staging
"""
    if cluster.online:
        script += f"{pgvm.psql_command(cluster)} <<'DIGIT_TUI_SQL'\n{_standby_sql()}\nDIGIT_TUI_SQL\n"
    return script


def read_standby(conn: SshConnection, spec: StandbySpec, base: pgvm.Facts) -> Standby | None:
    cluster = base.cluster
    if cluster is None:
        return None
    r = conn.run(_standby_script(cluster), spec.server.timeouts.facts, sudo=True)
    data: Literal["missing", "empty", "present"] = "present"
    staging = False
    values: dict[str, list[str]] = {}
    own: list[str] = []
    for line in r.stdout.splitlines():
        if line.startswith("data "):
            word = line.split()[1]
            data = "missing" if word == "missing" else "empty" if word == "empty" else "present"
        elif line.strip() == "staging":
            staging = True
        elif line.startswith("own|"):
            own.append(line.split("|", 1)[1])
        elif "|" in line:
            key, _, tail = line.partition("|")
            values[key] = tail.split("|")
    if cluster.online and "recovery" not in values:
        raise PgVmError(f"{conn.target.label}: cannot read cluster {cluster.label} as the postgres user: "
                        f"{pgvm._last_line(r.stderr or r.stdout)}",
                        "the local 'postgres' login must work (pg_hba.conf: local all postgres peer)",
                        transient="starting up" in r.stderr)
    if not cluster.online:
        return Standby(data, staging, None)
    up = values.get("upstream") or ["", ""]
    return Standby(data, staging, values["recovery"][0] == "t", (values.get("system_id") or [""])[0],
                   f"{up[0]}:{up[1]}" if up[0] else "", tuple(own))


def read_facts(standby: SshConnection, primary: SshConnection, spec: StandbySpec) -> Facts:
    pfacts = pgvm.read_facts(primary, spec.primary)
    if pfacts.server is None or pfacts.cluster is None:
        raise PgVmError(f"{primary.target.label}: the primary's cluster on port {spec.primary.port} is not running",
                        "the postgres-vm task starts it: run the install again", transient=True)
    if pfacts.server.in_recovery:
        raise PgVmError(f"{primary.target.label}: the primary is in recovery (a standby itself)",
                        "point the answers' primary (the first host with role db) at the server that takes writes")
    base = pgvm.read_facts(standby, spec.server)
    return Facts(base, read_standby(standby, spec, base), pfacts.server, pfacts.cluster.version)


# ---- deciding ----------------------------------------------------------------------------------


def plan(facts: Facts, spec: StandbySpec, label: str) -> list[Step]:
    """The steps still to do on the standby, in order; empty when it streams from this primary.
    PgVmError (permanent) when the only way on would destroy data the standby holds."""
    base, s = facts.base, facts.standby
    steps: list[Step] = []
    if not base.installed:
        steps.append(Step("install", f"install PostgreSQL: apt-get install {spec.server.package}"))
    if base.cluster is None:
        steps.append(Step("cluster", f"create a cluster on port {spec.server.port} to hold the copy"))
    if steps or s is None or base.cluster is None:
        return steps + [_seed_step(spec, "a new cluster"), _stream_step(spec)]
    cluster = base.cluster
    if cluster.version != facts.primary_version:
        raise PgVmError(f"{label}: cluster {cluster.label} on port {spec.server.port} is PostgreSQL {cluster.version}, "
                        f"the primary's is {facts.primary_version}: a standby needs the same major version",
                        f"install PostgreSQL {facts.primary_version} on the standby and drop cluster {cluster.label} "
                        f"(pg_dropcluster --stop {cluster.version} {cluster.name}) if it holds nothing you need")
    if facts.streams_from(spec.address):
        return []
    if s.in_recovery and s.system_id == facts.primary.system_id and s.upstream == spec.upstream:
        return [_stream_step(spec)]      # a standby of this primary, not (yet) streaming
    if s.in_recovery is None and s.data == "present":
        # Stopped: only a running cluster says what it holds.
        return [Step("start", "start the cluster to see what it holds"), _seed_step(spec, "see above"),
                _stream_step(spec)]
    why = _safe_to_replace(s)
    if why is None:
        data_dir = cluster.data_dir
        held = ", ".join(s.own_data[:5]) + (", ..." if len(s.own_data) > 5 else "")
        raise PgVmError(f"{label}: cluster {cluster.label} on port {spec.server.port} is a primary with data of its own "
                        f"({held}), not a standby of {spec.upstream}: digit-tui will not replace {data_dir}",
                        f"if that data is not needed, drop the cluster on {label} (pg_dropcluster --stop "
                        f"{cluster.version} {cluster.name}) and run the install again; else back it up first, or "
                        "name another VM in database.standby")
    return [_seed_step(spec, why), _stream_step(spec)]


def _safe_to_replace(s: Standby) -> str | None:
    """Why replacing the data directory loses nothing, or None when it would."""
    if s.data == "missing":
        return "there is no data directory"
    if s.data == "empty":
        return "the data directory is empty"
    if s.in_recovery:
        return f"it is a standby of {s.upstream or 'another server'}: its data is a copy"
    if s.in_recovery is False and not s.own_data:
        return "it holds no database but postgres and the templates, and no table"
    return None


def _seed_step(spec: StandbySpec, why: str) -> Step:
    return Step("seed", f"copy the primary's data (pg_basebackup -R from {spec.upstream} as {spec.role}) into the "
                        f"data directory, replacing what is there ({why}), and start it as a standby")


def _stream_step(spec: StandbySpec) -> Step:
    return Step("stream", f"wait until {spec.upstream} shows {spec.address} streaming (pg_stat_replication)")


# ---- doing -------------------------------------------------------------------------------------


def converge(standby: SshConnection, primary: SshConnection, spec: StandbySpec, password: str,
             say: Callable[[str], object] = lambda _m: None) -> list[str]:
    """Do what ``plan`` says, reading both VMs again after each step. Returns the steps done."""
    done: list[str] = []
    seeded = waited = False
    for _ in range(8):
        facts = read_facts(standby, primary, spec)
        steps = plan(facts, spec, standby.target.label)
        if not steps:
            return done
        step = steps[0]
        if step.name == "stream":
            if waited and seeded:
                raise PgVmError(f"{standby.target.label}: the standby does not stream from {spec.upstream} after a "
                                "fresh copy", "see the PostgreSQL log on both VMs (/var/log/postgresql/): "
                                "pg_hba.conf's replication line, the replication role's password")
            if waited:
                # A standby of this primary that does not catch up (the WAL it needs is gone): a copy again.
                step = _seed_step(spec, "it is a standby that does not stream: its data is a copy")
            else:
                waited = True
                if _wait_streaming(primary, spec):
                    say(f"{step.name}: {step.says}")
                    done.append(step.name)
                continue
        if step.name == "seed":
            _seed(standby, spec, facts, password)
            seeded, waited = True, False
        elif step.name in pgvm.SYSTEM_STEPS:
            pgvm.system_step(step.name, standby, spec.server, facts.base)
        say(f"{step.name}: {step.says}")
        done.append(step.name)
    raise PgVmError(f"{standby.target.label}: the standby did not converge after {len(done)} steps",
                    "see the PostgreSQL log on both VMs (/var/log/postgresql/)")


def _seed(conn: SshConnection, spec: StandbySpec, facts: Facts, password: str) -> None:
    cluster = facts.base.cluster
    if cluster is None:
        raise PgVmError(f"{conn.target.label}: no cluster on the port yet")
    v, n = shlex.quote(cluster.version), shlex.quote(cluster.name)
    d, new = shlex.quote(cluster.data_dir), shlex.quote(cluster.data_dir + STAGING_SUFFIX)
    binary = shlex.quote(f"/usr/lib/postgresql/{cluster.version}/bin/pg_basebackup")
    host, port, role = shlex.quote(spec.primary_host), spec.primary.port, shlex.quote(spec.role)
    # The password is the first line of stdin, never an argument; the shell holds it only for
    # pg_basebackup (runuser keeps the environment).
    script = f"""set -e
IFS= read -r PGPASSWORD
export PGPASSWORD
rm -rf -- {new}
runuser -u postgres -- {binary} -h {host} -p {port} -U {role} -D {new} -R -X stream -c fast -w
unset PGPASSWORD
if pg_lsclusters --no-header {v} {n} 2>/dev/null | grep -q online; then pg_ctlcluster {v} {n} stop -m fast; fi
rm -rf -- {d}
mv -- {new} {d}
pg_ctlcluster {v} {n} start
"""
    pgvm.run(conn, script, spec.server.timeouts.basebackup, f"copying the primary's data into {cluster.data_dir}",
             input=(password + "\n").encode(), secret=password)


def _wait_streaming(primary: SshConnection, spec: StandbySpec) -> bool:
    """Until the primary shows the standby streaming, or ``timeouts.stream`` has passed."""
    deadline = time.monotonic() + spec.server.timeouts.stream
    while True:
        p = pgvm.read_facts(primary, spec.primary).server
        if p is not None and (spec.address, "streaming") in p.senders:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
