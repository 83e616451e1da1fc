"""PostgreSQL on a plain Debian/Ubuntu VM, converged over SSH from what the VM says.

    facts = read_facts(conn, spec)                  # one command, nothing changed
    steps = plan(facts, spec, password)             # what is missing, in order
    done, facts = converge(conn, spec, password)    # do it, reading the facts again after each step

The steps, each skipped when the facts say it is done:

1. ``install``: ``apt-get install postgresql`` unless a server (``/usr/lib/postgresql/<v>/bin/postgres``)
   and Debian's cluster tools (``pg_createcluster``) are there already.
2. ``cluster``: the cluster on ``spec.port`` (``pg_lsclusters``); when there is none,
   ``pg_createcluster`` (which runs initdb as the postgres user) with UTF-8.
3. ``start``: ``pg_ctlcluster <v> <name> start`` (systemd's unit where systemd runs).
4. ``listen``: ``listen_addresses`` through ``ALTER SYSTEM``, then a restart.
5. ``hba``: one ``host <db> <role> <cidr> scram-sha-256`` line per client network, marked
   ``# digit-tui``, ahead of every other host rule (first match wins), then a reload.
6. ``role``: the role with LOGIN and the password, set as its SCRAM verifier (``infra.scram``).
7. ``database``: the database, owned by the role.

With ``spec.replication`` (a streaming standby, ``infra.pgstandby``) the primary also gets a
``wal`` step (``wal_level`` replica and ``max_wal_senders`` when they cannot serve a standby, then a
restart), a ``host replication <role> <standby>/32`` pg_hba line, and a ``replication`` step (the
replication role with REPLICATION LOGIN and its own password, set as a verifier like the other).

The password never reaches the VM: only its verifier does, on the SSH channel's stdin to psql
(never in a command line). The verifier read back from ``pg_authid`` is checked here. Commands
run as root (``sudo -n`` for another user) and psql as the postgres user over the local socket.

Knows PostgreSQL and Debian's postgresql-common, nothing of DIGIT.
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from digit_tui.errors import AdapterError
from digit_tui.infra import scram
from digit_tui.infra.ssh import RunResult, SshConnection

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
MARK = "# digit-tui"
BACKUP_SUFFIX = ".before-digit-tui"
DEFAULT_CLUSTER = "main"
OWN_CLUSTER = "digit"        # when another cluster already holds the name main on another port


class PgVmError(AdapterError):
    """A step cannot go on; ``transient`` when waiting could help (never carries a password)."""


@dataclass(frozen=True)
class Timeouts:
    facts: float = 30.0
    install: float = 900.0      # apt-get update + install on a slow mirror
    cluster: float = 180.0      # initdb
    service: float = 120.0      # start / restart
    sql: float = 60.0
    basebackup: float = 3600.0  # the standby's copy of the primary's data
    stream: float = 60.0        # a started standby until the primary sees it streaming


@dataclass(frozen=True)
class Replication:
    """Who may stream from the primary: the replication role, from the standbys' addresses."""

    role: str
    cidrs: tuple[str, ...]

    def __post_init__(self) -> None:
        if not IDENT.fullmatch(self.role):
            raise ValueError(f"replication role name {self.role!r}: letters, digits and underscores only")


MIN_WAL_SENDERS = 2     # the standby's stream, and room for its reconnect or a pg_basebackup beside it


@dataclass(frozen=True)
class ServerSpec:
    port: int
    database: str
    role: str
    client_cidrs: tuple[str, ...]           # who may log in as the role, over TCP
    listen_addresses: str = "*"             # pg_hba decides who gets in; the VM's addresses may change
    package: str = "postgresql"             # the distribution's supported version
    timeouts: Timeouts = Timeouts()
    replication: Replication | None = None  # a primary with a streaming standby

    def __post_init__(self) -> None:
        for what, name in (("database", self.database), ("role", self.role)):
            if not IDENT.fullmatch(name):
                raise ValueError(f"{what} name {name!r}: letters, digits and underscores only")


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int
    online: bool
    data_dir: str

    @property
    def label(self) -> str:
        return f"{self.version}/{self.name}"


@dataclass(frozen=True)
class ClusterFacts:
    """What the running server says, read as the postgres user."""

    listen_addresses: str
    hba_file: str
    hba_text: str
    hba_mtime: float
    conf_loaded: float            # pg_conf_load_time()
    now: float                    # the server's clock, for a pg_hba.conf dated in the future
    started: float                # pg_postmaster_start_time()
    hba_errors: tuple[str, ...]   # lines of pg_hba_file_rules the server cannot parse
    in_recovery: bool
    role_exists: bool
    role_login: bool
    role_password: str = field(repr=False)    # the stored verifier (or md5 hash, or empty)
    db_owner: str | None = None
    db_encoding: str | None = None
    template_encoding: str = "UTF8"
    system_id: str = ""                        # pg_control_system(): a standby copied from here has the same
    wal_level: str = "replica"
    max_wal_senders: int = 10
    repl_role_exists: bool = False
    repl_role_ok: bool = False                 # LOGIN and REPLICATION
    repl_password: str = field(default="", repr=False)
    senders: tuple[tuple[str, str], ...] = ()  # pg_stat_replication: (client address, state)


@dataclass(frozen=True)
class Facts:
    servers: tuple[str, ...]          # versions with a server binary
    cluster_tools: bool               # pg_createcluster, pg_ctlcluster, pg_lsclusters
    apt: bool
    clusters: tuple[Cluster, ...]
    cluster: Cluster | None           # the one on spec.port
    server: ClusterFacts | None       # when it runs

    @property
    def installed(self) -> bool:
        return bool(self.servers) and self.cluster_tools


@dataclass(frozen=True)
class Step:
    name: str
    says: str                         # what it does, for the journal and dry runs


_PSQL = "runuser -u postgres -- psql --cluster {cluster} -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -d postgres"


def _psql(cluster: Cluster) -> str:
    return _PSQL.format(cluster=shlex.quote(cluster.label))


def _facts_sql(spec: ServerSpec) -> str:
    role, db = _literal(spec.role), _literal(spec.database)
    repl = _literal(spec.replication.role) if spec.replication is not None else "NULL"
    return f"""
SELECT 'listen', current_setting('listen_addresses');
SELECT 'hba_file', current_setting('hba_file');
SELECT 'hba_mtime', extract(epoch FROM (pg_stat_file(current_setting('hba_file'))).modification);
SELECT 'hba_text', translate(encode(convert_to(pg_read_file(current_setting('hba_file')), 'UTF8'), 'base64'),
                             E'\\n', '');
SELECT 'conf_loaded', extract(epoch FROM pg_conf_load_time());
SELECT 'now', extract(epoch FROM clock_timestamp());
SELECT 'started', extract(epoch FROM pg_postmaster_start_time());
SELECT 'in_recovery', pg_is_in_recovery();
SELECT 'hba_error', line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL;
SELECT 'role', rolcanlogin, coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {role};
SELECT 'db', pg_get_userbyid(datdba), pg_encoding_to_char(encoding) FROM pg_database WHERE datname = {db};
SELECT 'template', pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1';
SELECT 'system_id', system_identifier FROM pg_control_system();
SELECT 'wal', current_setting('wal_level'), current_setting('max_wal_senders');
SELECT 'repl_role', rolcanlogin AND rolreplication, coalesce(rolpassword, '') FROM pg_authid WHERE rolname = {repl};
SELECT 'sender', coalesce(host(client_addr), ''), state FROM pg_stat_replication;
"""


def _facts_script(spec: ServerSpec) -> str:
    """One round trip: the installation, the clusters, and (when the cluster on the port runs) what
    it says, as the postgres user. The SQL rides in a here-document, not in the command line."""
    return f"""
for b in /usr/lib/postgresql/*/bin/postgres; do
  [ -x "$b" ] && echo "server $(basename "$(dirname "$(dirname "$b")")")"
done
command -v pg_createcluster >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 &&
  command -v pg_lsclusters >/dev/null 2>&1 && echo tools
command -v apt-get >/dev/null 2>&1 && echo apt
command -v pg_lsclusters >/dev/null 2>&1 || exit 0
clusters=$(pg_lsclusters --no-header 2>/dev/null)
[ -n "$clusters" ] || exit 0
printf '%s\\n' "$clusters" | awk '{{print "cluster", $1, $2, $3, $4, $6}}'
on=$(printf '%s\\n' "$clusters" | awk '$3 == {spec.port} && $4 ~ /^online/ {{print $1 "/" $2; exit}}')
[ -n "$on" ] || exit 0
echo "queried $on"
runuser -u postgres -- psql --cluster "$on" -X -q -A -t -F '|' -v ON_ERROR_STOP=1 -d postgres <<'DIGIT_TUI_SQL'
{_facts_sql(spec)}
DIGIT_TUI_SQL
"""


def run(conn: SshConnection, cmd: str, timeout: float, what: str, *, input: bytes | None = None,
        secret: str | None = None) -> RunResult:
    """``cmd`` as root; PgVmError naming ``what`` with the command's last words when it fails."""
    r = conn.run(cmd, timeout, sudo=True, input=input)
    if r.ok:
        return r
    _check_sudo(conn, r)
    detail = _last_line(r.stderr or r.stdout)
    if secret and (secret in detail or scram.PREFIX + "$" in detail):
        # psql quotes the failing statement's line, which may hold (a cut of) the verifier.
        detail = "the statement that sets the role's password failed (the server's log says why)"
    raise PgVmError(f"{conn.target.label}: {what} failed (exit {r.exit_code}): {detail}",
                    "see the PostgreSQL log on the VM (/var/log/postgresql/) and fix what it says, then run the "
                    "install again")


def client_address(conn: SshConnection, timeout: float = 10.0) -> str | None:
    """This machine's address as the VM sees it (the SSH session's client), for its pg_hba line."""
    r = conn.run('printf "%s" "${SSH_CONNECTION%% *}"', timeout)
    text = r.stdout.strip()
    return text if r.ok and text else None


def read_facts(conn: SshConnection, spec: ServerSpec) -> Facts:
    r = conn.run(_facts_script(spec), spec.timeouts.facts, sudo=True)
    servers: list[str] = []
    clusters: list[Cluster] = []
    tools = apt = False
    queried: str | None = None
    values: dict[str, list[str]] = {}
    errors: list[str] = []
    senders: list[tuple[str, str]] = []
    for line in r.stdout.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "server":
            servers.append(rest.strip())
        elif word == "tools":
            tools = True
        elif word == "apt":
            apt = True
        elif word == "cluster":
            parts = rest.split()
            if len(parts) >= 5 and parts[2].isdigit():
                clusters.append(Cluster(parts[0], parts[1], int(parts[2]), parts[3].startswith("online"), parts[4]))
        elif word == "queried":
            queried = rest.strip()
        elif "|" in line:
            key, _, tail = line.partition("|")
            if key == "hba_error":
                errors.append(tail.replace("|", ": ", 1))
            elif key == "sender":
                address, _, state = tail.partition("|")
                senders.append((address, state))
            else:
                values[key] = tail.split("|")
    _check_sudo(conn, r)
    cluster = next((c for c in clusters if c.port == spec.port), None)
    server = None
    if queried is not None and cluster is not None:
        if not r.ok or "listen" not in values:
            detail = _last_line(r.stderr or r.stdout)
            transient = any(w in detail for w in ("starting up", "shutting down", "No such file or directory"))
            raise PgVmError(f"{conn.target.label}: cannot read cluster {cluster.label} as the postgres user: {detail}",
                            "the local 'postgres' login must work (pg_hba.conf: local all postgres peer)",
                            transient=transient)
        server = _server_facts(conn, cluster, values, errors, tuple(senders))
    elif not r.ok:
        raise PgVmError(f"{conn.target.label}: reading the PostgreSQL installation failed (exit {r.exit_code}): "
                        f"{_last_line(r.stderr or r.stdout)}")
    return Facts(tuple(sorted(set(servers), key=_version_key)), tools, apt, tuple(clusters), cluster, server)


def _server_facts(conn: SshConnection, cluster: Cluster, values: dict[str, list[str]],
                  errors: list[str], senders: tuple[tuple[str, str], ...]) -> ClusterFacts:
    try:
        role = values.get("role")
        db = values.get("db")
        repl = values.get("repl_role")
        wal = values.get("wal") or ["replica", "10"]
        return ClusterFacts(
            listen_addresses=values["listen"][0], hba_file=values["hba_file"][0],
            hba_text=base64.b64decode(values["hba_text"][0]).decode("utf-8", "replace"),
            hba_mtime=float(values["hba_mtime"][0]), conf_loaded=float(values["conf_loaded"][0]),
            now=float(values["now"][0]),
            started=float(values["started"][0]), hba_errors=tuple(errors), in_recovery=values["in_recovery"][0] == "t",
            role_exists=role is not None, role_login=role is not None and role[0] == "t",
            role_password=role[1] if role is not None and len(role) > 1 else "",
            db_owner=db[0] if db else None, db_encoding=db[1] if db and len(db) > 1 else None,
            template_encoding=(values.get("template") or ["UTF8"])[0],
            system_id=(values.get("system_id") or [""])[0], wal_level=wal[0], max_wal_senders=int(wal[1]),
            repl_role_exists=repl is not None, repl_role_ok=repl is not None and repl[0] == "t",
            repl_password=repl[1] if repl is not None and len(repl) > 1 else "", senders=senders)
    except (KeyError, IndexError, ValueError) as exc:
        raise PgVmError(f"{conn.target.label}: unexpected answer from cluster {cluster.label} ({type(exc).__name__})",
                        "check that psql works on the VM: runuser -u postgres -- psql --cluster "
                        f"{cluster.label} -c 'SELECT 1'") from None


def _check_sudo(conn: SshConnection, r: RunResult) -> None:
    detail = r.stderr
    if not r.ok and "sudo" in detail and ("password is required" in detail or "a terminal is required" in detail):
        raise PgVmError(f"{conn.target.label}: sudo asks for a password",
                        f"give {conn.target.user} passwordless sudo on the database VM, or log in as root")


# ---- deciding ----------------------------------------------------------------------------------


def hba_lines(spec: ServerSpec) -> list[str]:
    db, role = _hba_name(spec.database), _hba_name(spec.role)
    lines = [f"host    {db}    {role}    {cidr}    scram-sha-256    {MARK}" for cidr in spec.client_cidrs]
    if spec.replication is not None:
        # replication unquoted: the keyword for streaming connections (quoted, it names a database).
        repl = _hba_name(spec.replication.role)
        lines += [f"host    replication    {repl}    {cidr}    scram-sha-256    {MARK}" for cidr in spec.replication.cidrs]
    return lines


def hba_converged(text: str, spec: ServerSpec) -> bool:
    return _rules_of(text) == _rules_of(with_hba(text, spec))


def with_hba(text: str, spec: ServerSpec) -> str:
    """``text`` with exactly our lines (ours = marked), ahead of every other rule."""
    lines = [line for line in text.splitlines() if MARK not in line]
    first = next((i for i, line in enumerate(lines) if _rule(line)), len(lines))
    out = lines[:first] + hba_lines(spec) + lines[first:]
    return "\n".join(out) + "\n"


def _rules_of(text: str) -> list[list[str]]:
    """The rules of a pg_hba file, comments and spacing aside, each tagged with whether it is ours."""
    return [line.split("#", 1)[0].split() + (["ours"] if MARK in line else []) for line in text.splitlines()
            if _rule(line)]


def _rule(line: str) -> bool:
    return bool(line.split("#", 1)[0].strip())


def password_ok(facts: ClusterFacts, password: str) -> bool:
    return scram.matches(password, facts.role_password)


def wal_ok(facts: ClusterFacts) -> bool:
    return facts.wal_level in ("replica", "logical") and facts.max_wal_senders >= MIN_WAL_SENDERS


def plan(facts: Facts, spec: ServerSpec, password: str, replication_password: str | None = None) -> list[Step]:
    """The steps still to do, in order; empty when the VM is converged. ``replication_password``:
    the replication role's, with ``spec.replication``."""
    if spec.replication is not None and replication_password is None:
        raise ValueError("a spec with replication needs the replication role's password")
    steps: list[Step] = []
    if not facts.installed:
        steps.append(Step("install", f"install PostgreSQL: apt-get install {spec.package}"))
    if facts.cluster is None:
        version = facts.servers[-1] if facts.servers else "<the installed version>"
        steps.append(Step("cluster", f"create cluster {version}/{_cluster_name(facts)} on port {spec.port} "
                                     "(initdb as the postgres user, UTF-8)"))
    if facts.cluster is None or not facts.cluster.online:
        steps.append(Step("start", "start the cluster"))
    s = facts.server
    # A cluster made here gets listen_addresses when it is created.
    if (s is None and facts.cluster is not None) or (s is not None and s.listen_addresses != spec.listen_addresses):
        steps.append(Step("listen", f"set listen_addresses = '{spec.listen_addresses}' and restart"))
    if spec.replication is not None and s is not None and not wal_ok(s):
        steps.append(Step("wal", f"set wal_level = replica and max_wal_senders = {_wal_senders(s)} (now "
                                 f"{s.wal_level}, {s.max_wal_senders}) for the standby, and restart"))
    if s is None or not hba_converged(s.hba_text, spec) or s.conf_loaded < s.hba_mtime <= s.now:
        repl = (f", and {', '.join(spec.replication.cidrs)} to stream as {spec.replication.role}"
                if spec.replication is not None else "")
        steps.append(Step("hba", "allow " + ", ".join(spec.client_cidrs) +
                          f" to log in as {spec.role} to {spec.database}{repl} (pg_hba.conf, scram-sha-256) and reload"))
    if s is None or not s.role_exists:
        steps.append(Step("role", f"create role {spec.role} with LOGIN and the password"))
    elif not s.role_login or not password_ok(s, password):
        steps.append(Step("role", f"set LOGIN and the password of role {spec.role}"))
    if s is None or s.db_owner is None:
        steps.append(Step("database", f"create database {spec.database} owned by {spec.role} (UTF8)"))
    elif s.db_owner != spec.role:
        steps.append(Step("database", f"make {spec.role} the owner of database {spec.database} (now {s.db_owner})"))
    if spec.replication is not None and replication_password is not None:
        r = spec.replication.role
        if s is None or not s.repl_role_exists:
            steps.append(Step("replication", f"create role {r} with REPLICATION LOGIN and its password"))
        elif not s.repl_role_ok or not scram.matches(replication_password, s.repl_password):
            steps.append(Step("replication", f"set REPLICATION LOGIN and the password of role {r}"))
    return steps


def _wal_senders(s: ClusterFacts) -> int:
    return max(s.max_wal_senders, 10)


def _cluster_name(facts: Facts) -> str:
    version = facts.servers[-1] if facts.servers else ""
    taken = {c.name for c in facts.clusters if c.version == version}
    return DEFAULT_CLUSTER if DEFAULT_CLUSTER not in taken else OWN_CLUSTER


# ---- doing -------------------------------------------------------------------------------------


SYSTEM_STEPS = ("install", "cluster", "start", "listen", "wal")    # each changes what the next one reads
ACCESS_STEPS = ("hba", "role", "database", "replication")          # independent of each other: done together


def converge(conn: SshConnection, spec: ServerSpec, password: str, say: Callable[[str], object] = lambda _m: None,
             on_secret: Callable[[str], object] = lambda _s: None, facts: Facts | None = None,
             replication_password: str | None = None) -> tuple[list[str], Facts]:
    """Do what ``plan`` says from freshly read facts: a system step alone, then read again; the
    access steps (pg_hba, role, database) in one command. Returns the steps done (names) and the
    facts that show the VM converged. ``facts``: read a moment ago (by a check), used for the
    first round instead of reading again.

    ``on_secret`` is told the verifier before it is sent (to mask it in logs)."""
    done: list[str] = []
    last: tuple[str, ...] = ()
    given = facts
    for _ in range(8):
        facts, given = given or read_facts(conn, spec), None
        if facts.server is not None and facts.server.in_recovery:
            _need_server(conn, facts)       # a standby: says so, before any step
        steps = plan(facts, spec, password, replication_password)
        if not steps:
            return done, facts
        batch = steps[:1] if steps[0].name in SYSTEM_STEPS else [s for s in steps if s.name in ACCESS_STEPS]
        names = tuple(s.name for s in batch)
        if names == last:
            raise PgVmError(f"{conn.target.label}: {', '.join(names)} did not take effect "
                            f"({'; '.join(s.says for s in batch)})",
                            "see the PostgreSQL log on the VM (/var/log/postgresql/)")
        if batch[0].name in SYSTEM_STEPS:
            _SYSTEM_DO[batch[0].name](conn, spec, facts)
        else:
            _access(conn, spec, facts, names, password, on_secret, replication_password)
        for step in batch:
            say(f"{step.name}: {step.says}")
        done += names
        last = names
    raise PgVmError(f"{conn.target.label}: PostgreSQL did not converge after {len(done)} steps",
                    "see the PostgreSQL log on the VM (/var/log/postgresql/)")


def _install(conn: SshConnection, spec: ServerSpec, facts: Facts) -> None:
    if not facts.apt:
        raise PgVmError(f"{conn.target.label}: PostgreSQL is not installed and the VM has no apt-get",
                        "install PostgreSQL 12 or later with Debian's postgresql-common (pg_createcluster) "
                        "yourself, or use a Debian/Ubuntu VM")
    run(conn, "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && apt-get install -y -q "
        f"{shlex.quote(spec.package)}", spec.timeouts.install, f"apt-get install {spec.package}")


def _cluster(conn: SshConnection, spec: ServerSpec, facts: Facts) -> None:
    if not facts.servers:
        raise PgVmError(f"{conn.target.label}: no PostgreSQL server binary under /usr/lib/postgresql",
                        f"install {spec.package} on the VM")
    version, name = facts.servers[-1], _cluster_name(facts)
    # C.UTF-8 where the VM has it, else C: both collate bytewise and take UTF8. listen_addresses
    # is set now, so that a new cluster needs no restart for it.
    listen = shlex.quote(f"listen_addresses={spec.listen_addresses}")
    cmd = ("if locale -a 2>/dev/null | grep -qiE '^c\\.utf-?8$'; then l=C.UTF-8; else l=C; fi; "
           f"LC_ALL=$l pg_createcluster --locale $l --encoding UTF8 --port {spec.port} -o {listen} "
           f"{shlex.quote(version)} {shlex.quote(name)}")
    run(conn, cmd, spec.timeouts.cluster, f"creating cluster {version}/{name}")


def _start(conn: SshConnection, spec: ServerSpec, facts: Facts) -> None:
    cluster = _need_cluster(conn, facts)
    run(conn, f"pg_ctlcluster {shlex.quote(cluster.version)} {shlex.quote(cluster.name)} start",
        spec.timeouts.service, f"starting cluster {cluster.label}")


def _listen(conn: SshConnection, spec: ServerSpec, facts: Facts) -> None:
    cluster = _need_cluster(conn, facts)
    sql = f"ALTER SYSTEM SET listen_addresses = {_literal(spec.listen_addresses)};\n"
    run(conn, _psql(cluster), spec.timeouts.sql, "setting listen_addresses", input=sql.encode())
    run(conn, f"pg_ctlcluster {shlex.quote(cluster.version)} {shlex.quote(cluster.name)} restart",
        spec.timeouts.service, f"restarting cluster {cluster.label}")


def _wal(conn: SshConnection, spec: ServerSpec, facts: Facts) -> None:
    cluster, s = _need_cluster(conn, facts), _need_server(conn, facts)
    sql = f"ALTER SYSTEM SET wal_level = 'replica';\nALTER SYSTEM SET max_wal_senders = {_wal_senders(s)};\n"
    run(conn, _psql(cluster), spec.timeouts.sql, "setting wal_level and max_wal_senders", input=sql.encode())
    run(conn, f"pg_ctlcluster {shlex.quote(cluster.version)} {shlex.quote(cluster.name)} restart",
        spec.timeouts.service, f"restarting cluster {cluster.label}")


def _access(conn: SshConnection, spec: ServerSpec, facts: Facts, steps: tuple[str, ...], password: str,
            on_secret: Callable[[str], object], replication_password: str | None = None) -> None:
    """pg_hba (written and reloaded), the role and the database, in one command: the new pg_hba
    file, then the SQL, both on stdin (the SQL carries the role's verifier)."""
    cluster = _need_cluster(conn, facts)
    s = _need_server(conn, facts)
    script = ["set -e"]
    stdin = b""
    sql: list[str] = []
    verifier: str | None = None
    if "hba" in steps:
        if not hba_converged(s.hba_text, spec):
            content = with_hba(s.hba_text, spec).encode()
            path, new, backup = (shlex.quote(s.hba_file + suffix) for suffix in ("", ".digit-tui.new", BACKUP_SUFFIX))
            # Beside the file, with its owner and mode, then renamed over it: never half a file.
            script.append(f"[ -e {backup} ] || cp -p {path} {backup}; head -c {len(content)} > {new}; "
                          f"chown --reference={path} {new}; chmod --reference={path} {new}; mv -f {new} {path}")
            stdin += content
        sql.append("SELECT 'reloaded', pg_reload_conf();")
        sql.append("SELECT 'hba_error', line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL;")
    if "role" in steps:
        verifier = str(scram.make(password))
        on_secret(verifier)
        verb = "ALTER" if s.role_exists else "CREATE"
        sql.append(f"{verb} ROLE {_ident(spec.role)} LOGIN PASSWORD {_literal(verifier)};")
    if "replication" in steps and spec.replication is not None and replication_password is not None:
        repl_verifier = str(scram.make(replication_password))
        on_secret(repl_verifier)
        verifier = verifier or repl_verifier
        verb = "ALTER" if s.repl_role_exists else "CREATE"
        sql.append(f"{verb} ROLE {_ident(spec.replication.role)} REPLICATION LOGIN PASSWORD {_literal(repl_verifier)};")
    if "database" in steps:
        db, role = _ident(spec.database), _ident(spec.role)
        if s.db_owner is not None:
            sql.append(f"ALTER DATABASE {db} OWNER TO {role};")
        elif s.template_encoding == "UTF8":
            sql.append(f"CREATE DATABASE {db} OWNER {role};")
        else:   # a cluster made with another encoding: UTF8 from template0 with the C locale, which takes any
            sql.append(f"CREATE DATABASE {db} OWNER {role} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
                       "TEMPLATE template0;")
    script.append(_psql(cluster))
    stdin += ("\n".join(sql) + "\n").encode()
    r = run(conn, "\n".join(script), spec.timeouts.sql, " and ".join(_ACCESS_WHAT[n] for n in steps), input=stdin,
            secret=verifier)
    errors = [line.split("|", 1)[1] for line in r.stdout.splitlines() if line.startswith("hba_error|")]
    if errors:
        raise PgVmError(f"{conn.target.label}: {s.hba_file} has lines the server cannot read: "
                        + "; ".join(e.replace("|", ": ", 1) for e in errors[:3]),
                        f"fix those lines (the file before digit-tui changed it is {s.hba_file}{BACKUP_SUFFIX}); "
                        "the server keeps its previous rules until the file is valid")


_ACCESS_WHAT = {"hba": "updating pg_hba.conf", "role": "setting the role", "database": "creating the database",
                "replication": "setting the replication role"}
_SYSTEM_DO: dict[str, Callable[[SshConnection, ServerSpec, Facts], None]] = {
    "install": _install, "cluster": _cluster, "start": _start, "listen": _listen, "wal": _wal,
}


def system_step(name: str, conn: SshConnection, spec: ServerSpec, facts: Facts) -> None:
    """One of ``SYSTEM_STEPS`` alone (the standby's install, cluster and start)."""
    _SYSTEM_DO[name](conn, spec, facts)


def psql_command(cluster: Cluster) -> str:
    """psql as the postgres user on ``cluster``'s local socket, reading SQL from stdin."""
    return _psql(cluster)


def _need_cluster(conn: SshConnection, facts: Facts) -> Cluster:
    if facts.cluster is None:
        raise PgVmError(f"{conn.target.label}: no cluster on the port yet")
    return facts.cluster


def _need_server(conn: SshConnection, facts: Facts) -> ClusterFacts:
    if facts.server is None:
        raise PgVmError(f"{conn.target.label}: cluster {facts.cluster.label if facts.cluster else ''} is not running",
                        transient=True)
    if facts.server.in_recovery:
        raise PgVmError(f"{conn.target.label}: the cluster on the port is a standby (in recovery): roles and "
                        "databases are made on the primary", "point database.host at the primary")
    return facts.server


# ---- small helpers -----------------------------------------------------------------------------


def _ident(name: str) -> str:
    if not IDENT.fullmatch(name):
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'      # quoted: PostgreSQL would fold an unquoted Egov to egov


def _hba_name(name: str) -> str:
    return f'"{name}"'      # quoted: a database called all or replication means itself, not the keyword


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", v)) or (0,)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"
