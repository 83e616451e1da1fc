"""The standby's decisions without a VM: which facts call for a copy, which are left alone, which
stop with what to do (the lab test runs the first copy and the refusal against real servers; these
pin the cases it does not reach cheaply), the primary's replication steps, and what plan says."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from digit_tui.answers.model import Database
from digit_tui.infra import pgstandby, pgvm, scram
from digit_tui.infra.pgstandby import Standby
from digit_tui.infra.pgvm import Cluster, Replication, ServerSpec
from digit_tui.tasks.postgres import PasswordSource, PostgresCheckTask, PostgresVmTask, postgres_tasks
from tests.postgres.test_plan import facts, host, server

PRIMARY = "10.0.1.20"
STANDBY = "10.0.1.21"
REPL = Replication("replicator", (f"{STANDBY}/32",))
PRIMARY_SPEC = ServerSpec(5432, "egov_db", "egov", ("10.0.1.0/24",), replication=REPL)
SPEC = pgstandby.StandbySpec(ServerSpec(5432, "egov_db", "egov", ("127.0.0.1/32",)), PRIMARY_SPEC, PRIMARY, STANDBY)
CLUSTER = Cluster("15", "main", 5432, True, "/var/lib/postgresql/15/main")
SYSID = "7300000000000000001"
REPL_PW = "replication-pw-for-plan-tests"


def both(standby: Standby | None, *, streaming: bool = False, cluster: Cluster | None = CLUSTER,
         version: str = "15") -> pgstandby.Facts:
    senders = ((STANDBY, "streaming"),) if streaming else ()
    return pgstandby.Facts(facts(cluster), standby, server(system_id=SYSID, senders=senders), version)


def names(f: pgstandby.Facts) -> list[str]:
    return [s.name for s in pgstandby.plan(f, SPEC, "db-2")]


def test_a_standby_streaming_from_this_primary_is_left_alone() -> None:
    ours = Standby("present", False, True, SYSID, f"{PRIMARY}:5432")
    assert names(both(ours, streaming=True)) == []
    # Ours but not streaming (yet): wait for it, do not copy again.
    assert names(both(ours)) == ["stream"]


@pytest.mark.parametrize("standby, why", [
    (Standby("present", False, True, "7300000000000000999", "10.9.9.9:5432"), "a standby of 10.9.9.9:5432"),
    (Standby("present", True, False, SYSID), "holds no database but postgres"),      # a fresh cluster, a copy cut short
    (Standby("empty", False, None), "the data directory is empty"),
    (Standby("missing", True, None), "there is no data directory"),
])
def test_a_copy_replaces_only_what_loses_nothing(standby: Standby, why: str) -> None:
    steps = pgstandby.plan(both(standby), SPEC, "db-2")
    assert [s.name for s in steps] == ["seed", "stream"] and why in steps[0].says


def test_a_stopped_cluster_is_started_to_see_what_it_holds_and_a_new_vm_gets_postgres_first() -> None:
    assert names(both(Standby("present", False, None))) == ["start", "seed", "stream"]
    bare = pgstandby.Facts(facts(None, servers=(), cluster_tools=False), None, server(system_id=SYSID), "15")
    assert names(bare) == ["install", "cluster", "seed", "stream"]


def test_data_of_its_own_or_another_version_stops_with_what_to_do() -> None:
    with pytest.raises(pgvm.PgVmError) as info:
        pgstandby.plan(both(Standby("present", False, False, "1", own_data=("database precious", "table public.t"))),
                       SPEC, "db-2")
    assert "data of its own (database precious, table public.t)" in str(info.value) and not info.value.transient
    assert "pg_dropcluster --stop 15 main" in (info.value.remedy or "")
    with pytest.raises(pgvm.PgVmError) as info:
        pgstandby.plan(both(Standby("empty", False, None), version="16"), SPEC, "db-2")
    assert "PostgreSQL 15, the primary's is 16" in str(info.value)


def test_the_primary_gets_the_replication_role_line_and_wal_settings() -> None:
    hba = pgvm.with_hba(server().hba_text, PRIMARY_SPEC)
    assert f'host    replication    "replicator"    {STANDBY}/32    scram-sha-256    # digit-tui' in hba
    ok = server(hba_text=hba, repl_role_exists=True, repl_role_ok=True, repl_password=str(scram.make(REPL_PW)))
    assert [s.name for s in pgvm.plan(facts(srv=ok), PRIMARY_SPEC, "pw-for-the-plan-tests", REPL_PW)] == []
    changed = [s.name for s in pgvm.plan(facts(srv=ok), PRIMARY_SPEC, "pw-for-the-plan-tests", "another")]
    assert changed == ["replication"]
    minimal = replace(ok, wal_level="minimal", max_wal_senders=0)
    assert [s.name for s in pgvm.plan(facts(srv=minimal), PRIMARY_SPEC, "pw-for-the-plan-tests", REPL_PW)] == ["wal"]
    with pytest.raises(ValueError):
        pgvm.plan(facts(srv=ok), PRIMARY_SPEC, "pw-for-the-plan-tests")


def test_plan_says_what_the_standby_would_get_without_connecting_or_making_a_password(tmp_path: Path) -> None:
    db1 = host(tmp_path)
    db2 = db1.model_copy(update={"name": "db-2", "address": STANDBY})
    tasks = postgres_tasks(Database(mode="vm"), db_host=db1, node_cidrs="10.0.1.0/24", state_dir=tmp_path,
                           password=PasswordSource(tmp_path / "missing.yaml", "secrets-file"), standby=db2)
    assert [t.id for t in tasks] == ["postgres-vm", "postgres-standby", "postgres"]
    assert [t.deps for t in tasks[1:]] == [("postgres-vm",), ("postgres-vm",)]
    text = "\n".join(line for t in tasks for line in asyncio.run(t.dry_run(None)))  # type: ignore[arg-type]
    assert f"would allow db-2 ({STANDBY}/32) to stream as replicator" in text
    assert "would create role replicator (REPLICATION LOGIN)" in text
    assert f"unless db-2 already streams from {PRIMARY}:5432" in text and "pg_basebackup -R" in text
    assert not (tmp_path / "postgres-replication-password").exists()


def test_the_install_graph_makes_the_named_host_the_standby_and_the_release_waits_for_the_primary_only(
        tmp_path: Path) -> None:
    import yaml

    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig
    from digit_tui.tasks.graph import postgres_phase

    key = host(tmp_path).ssh_key
    hosts = [{"name": n, "address": a, "user": "ubuntu", "ssh_key": str(key), "roles": [r]}
             for n, a, r in (("db-2", STANDBY, "db"), ("db-1", PRIMARY, "db"), ("w-1", "10.0.1.30", "worker"))]
    pw = tmp_path / "pw"
    pw.write_text("standby-plan-pw\n")
    pw.chmod(0o600)
    doc = {"environment": "dev", "target": {"provider": "sandbox"}, "digit": {"domain": "digit.local"},
           "hosts": hosts, "database": {"mode": "vm", "standby": "db-2", "password_file": str(pw)}}
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(doc, sort_keys=False))
    config = InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp_path / "state")
    tasks = postgres_phase(config, after=["gate"])
    assert [t.id for t in tasks] == ["postgres-vm", "postgres-standby", "postgres"]   # the last one is waited for
    vm, standby, check = tasks
    assert isinstance(vm, PostgresVmTask) and vm.host.name == "db-1"            # listed second, still the primary
    assert vm.standby is not None and vm.standby.host.name == "db-2"
    assert [e.label for e in standby.endpoints] == ["ssh db-2", "ssh db-1"]
    assert isinstance(check, PostgresCheckTask) and check.address == PRIMARY
