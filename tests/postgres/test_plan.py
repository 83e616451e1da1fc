"""The Postgres phase's decisions without a VM: which steps the facts call for, the pg_hba file it
writes, where the password comes from, the tasks each mode gives and what a dry run says. The VM
and managed tests run the same code against real servers; these pin the cases a lab does not
reach cheaply (a foreign rule ahead of ours, stale lines of ours, md5 passwords, an owner that
changed, a cluster on another port)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from digit_tui.answers.model import Database, Host
from digit_tui.engine.errors import PermanentError
from digit_tui.infra import pgvm, scram
from digit_tui.infra.pgvm import Cluster, ClusterFacts, Facts, ServerSpec
from digit_tui.tasks.postgres import (TASK_ID, VM_TASK_ID, PasswordSource, PostgresVmTask, jdbc_url, networks,
                                      password_source, postgres_tasks)

SPEC = ServerSpec(5432, "egov_db", "egov", ("10.0.1.0/24", "10.0.0.5/32"))
DEBIAN_HBA = """# PostgreSQL Client Authentication Configuration File
# ...
# DO NOT DISABLE!
local   all             postgres                                peer

# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             0.0.0.0/0               reject
"""
PASSWORD = "pw-for-the-plan-tests"


def rules(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_our_lines_go_ahead_of_every_other_rule_and_stay_once() -> None:
    out = pgvm.with_hba(DEBIAN_HBA, SPEC)
    assert rules(out) == ['host "egov_db" "egov" 10.0.1.0/24 scram-sha-256 # digit-tui',
                          'host "egov_db" "egov" 10.0.0.5/32 scram-sha-256 # digit-tui',
                          *rules(DEBIAN_HBA)]
    assert out.startswith("# PostgreSQL Client Authentication")        # the operator's comments stay
    assert pgvm.with_hba(out, SPEC) == out and pgvm.hba_converged(out, SPEC)
    assert not pgvm.hba_converged(DEBIAN_HBA, SPEC)


def test_a_rule_put_ahead_of_ours_or_a_network_that_changed_is_converged_again() -> None:
    ours = pgvm.with_hba(DEBIAN_HBA, SPEC)
    lines = ours.splitlines()
    first = next(i for i, line in enumerate(lines) if "digit-tui" in line)
    shadowed = "\n".join(lines[:first] + ["host all all 10.0.0.0/8 reject"] + lines[first:]) + "\n"
    assert not pgvm.hba_converged(shadowed, SPEC)
    assert rules(pgvm.with_hba(shadowed, SPEC))[:3] == rules(ours)[:2] + ["host all all 10.0.0.0/8 reject"]
    moved = replace(SPEC, client_cidrs=("10.0.2.0/24",))
    assert not pgvm.hba_converged(ours, moved)
    again = pgvm.with_hba(ours, moved)
    assert [r for r in rules(again) if "digit-tui" in r] == ['host "egov_db" "egov" 10.0.2.0/24 scram-sha-256 # digit-tui']


def server(**kw: object) -> ClusterFacts:
    base = dict(listen_addresses="*", hba_file="/etc/postgresql/15/main/pg_hba.conf",
                hba_text=pgvm.with_hba(DEBIAN_HBA, SPEC), hba_mtime=100.0, conf_loaded=200.0, now=400.0, started=50.0,
                hba_errors=(), in_recovery=False, role_exists=True, role_login=True,
                role_password=str(scram.make(PASSWORD)), db_owner="egov", db_encoding="UTF8")
    base.update(kw)
    return ClusterFacts(**base)  # type: ignore[arg-type]


def facts(cluster: Cluster | None = Cluster("15", "main", 5432, True, "/var/lib/postgresql/15/main"),
          srv: ClusterFacts | None = None, **kw: object) -> Facts:
    base = dict(servers=("15",), cluster_tools=True, apt=True, clusters=(cluster,) if cluster else (), cluster=cluster,
                server=srv if srv is not None else (server() if cluster and cluster.online else None))
    base.update(kw)
    return Facts(**base)  # type: ignore[arg-type]


def names(f: Facts, password: str = PASSWORD) -> list[str]:
    return [s.name for s in pgvm.plan(f, SPEC, password)]


def test_the_steps_follow_the_facts() -> None:
    assert names(facts()) == []
    bare = facts(None, servers=(), cluster_tools=False)
    assert names(bare) == ["install", "cluster", "start", "hba", "role", "database"]   # created listening
    stopped = Cluster("15", "main", 5432, False, "/var/lib/postgresql/15/main")
    assert names(facts(stopped)) == ["start", "listen", "hba", "role", "database"]
    assert names(facts(srv=server(listen_addresses="localhost"))) == ["listen"]
    assert names(facts(srv=server(hba_mtime=300.0))) == ["hba"]                        # edited, not reloaded
    assert names(facts(srv=server(hba_mtime=500.0))) == []          # dated in the future: a reload cannot help
    assert names(facts(srv=server(role_exists=False, role_password="", db_owner=None))) == ["role", "database"]
    assert names(facts(srv=server(role_login=False))) == ["role"]
    assert names(facts(), "another password") == ["role"]
    assert names(facts(srv=server(role_password="md5" + "0" * 32))) == ["role"]        # made SCRAM
    assert names(facts(srv=server(db_owner="postgres"))) == ["database"]
    assert [s.says for s in pgvm.plan(facts(srv=server(db_owner="postgres")), SPEC, PASSWORD)] == \
        ["make egov the owner of database egov_db (now postgres)"]


def test_a_cluster_on_another_port_is_left_alone_and_ours_gets_its_own_name() -> None:
    other = Cluster("15", "main", 5433, True, "/var/lib/postgresql/15/main")
    f = facts(None, clusters=(other,))
    assert names(f) == ["cluster", "start", "hba", "role", "database"]
    assert pgvm.plan(f, SPEC, PASSWORD)[0].says.startswith("create cluster 15/digit on port 5432")


def test_names_that_are_not_plain_identifiers_are_refused_before_any_sql() -> None:
    with pytest.raises(ValueError):
        ServerSpec(5432, "egov-db", "egov", ("10.0.0.0/8",))
    with pytest.raises(ValueError):
        ServerSpec(5432, "egov_db", "egov'; DROP ROLE postgres; --", ("10.0.0.0/8",))


def private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_the_password_comes_from_the_password_file_as_helm_config_reads_it(tmp_path: Path) -> None:
    pw = private(tmp_path / "pw", "  s3cret value \n")
    db = Database(mode="external", host="db.example.test", password_file=pw)
    source = password_source(db, tmp_path / "secrets.yaml")
    assert source == PasswordSource(pw, "password-file") and source.read() == "s3cret value"
    private(pw, "\n")
    with pytest.raises(PermanentError, match="is empty"):
        source.read()


def test_without_a_password_file_it_is_the_generated_secrets_files(tmp_path: Path) -> None:
    secrets = tmp_path / "dev-secrets.yaml"
    source = password_source(Database(mode="external", host="db.example.test"), secrets)
    assert source.kind == "secrets-file"
    with pytest.raises(PermanentError, match="does not exist yet") as e:
        source.read()
    assert "helm-config" in (e.value.remedy or "")
    private(secrets, yaml.safe_dump({"cluster-configs": {"secrets": {"db": {"username": "egov",
                                                                             "password": "Generated0123"}}}}))
    assert source.read() == "Generated0123"
    private(secrets, yaml.safe_dump({"cluster-configs": {"secrets": {"db": {"username": "egov"}}}}))
    with pytest.raises(PermanentError, match="no cluster-configs.secrets.db.password"):
        source.read()


def host(tmp_path: Path) -> Host:
    key = private(tmp_path / "id", "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n")
    return Host(name="db-1", address="10.0.1.20", user="ubuntu", ssh_key=key, roles=["db"])


def test_each_mode_gives_its_tasks_waiting_on_what_they_talk_to(tmp_path: Path) -> None:
    source = PasswordSource(tmp_path / "s.yaml", "secrets-file")
    assert postgres_tasks(Database(), db_host=None, node_cidrs=None, state_dir=tmp_path, password=source) == []
    [check] = postgres_tasks(Database(mode="external", host="pg.example.test", port=6432), db_host=None,
                             node_cidrs=None, state_dir=tmp_path, password=source, deps=["helm-config"])
    assert (check.id, check.deps) == (TASK_ID, ("helm-config",))
    assert [(e.host, e.port) for e in check.endpoints] == [("pg.example.test", 6432)]
    vm, check = postgres_tasks(Database(mode="vm"), db_host=host(tmp_path), node_cidrs="10.0.1.7/24",
                               state_dir=tmp_path, password=source, deps=["prerequisites"])
    assert isinstance(vm, PostgresVmTask) and (vm.id, vm.deps, check.deps) == (VM_TASK_ID, ("prerequisites",),
                                                                                 (VM_TASK_ID,))
    assert vm.node_cidrs == ("10.0.1.0/24",)
    # The converging task waits on SSH only: the database port is closed until it has opened it.
    assert [(e.host, e.port, e.label) for e in vm.endpoints] == [("10.0.1.20", 22, "ssh db-1")]
    assert [(e.host, e.port) for e in check.endpoints] == [("10.0.1.20", 5432)]
    with pytest.raises(ValueError, match="node network"):
        postgres_tasks(Database(mode="vm"), db_host=host(tmp_path), node_cidrs=None, state_dir=tmp_path,
                       password=source)


def test_the_dry_runs_say_what_would_happen_without_connecting_or_reading_the_password(tmp_path: Path) -> None:
    source = PasswordSource(tmp_path / "missing-secrets.yaml", "secrets-file")     # not there: never read
    vm, check = postgres_tasks(Database(mode="vm"), db_host=host(tmp_path), node_cidrs="10.0.1.0/24",
                               state_dir=tmp_path, password=source)
    said = asyncio.run(vm.dry_run(None)) + asyncio.run(check.dry_run(None))  # type: ignore[arg-type]
    text = "\n".join(said)
    assert "would SSH to db-1 (10.0.1.20) as ubuntu" in text
    assert "allow 10.0.1.0/24 and this jump host to log in as egov to egov_db with scram-sha-256" in text
    assert f"db.password of {source.path}" in text
    assert "would connect to 10.0.1.20:5432" in text


def test_client_networks_are_normalised_and_may_be_the_nodes_own_addresses(tmp_path: Path) -> None:
    assert networks("10.0.1.7/24") == ("10.0.1.0/24",)
    assert networks(["10.0.1.11", "10.0.1.12", "10.0.1.11/32", "fd00::7"]) == \
        ("10.0.1.11/32", "10.0.1.12/32", "fd00::7/128")
    with pytest.raises(ValueError):
        networks([])
    source = PasswordSource(tmp_path / "s.yaml", "secrets-file")
    vm, _ = postgres_tasks(Database(mode="vm"), db_host=host(tmp_path), node_cidrs=["10.0.1.11", "10.0.1.12"],
                           state_dir=tmp_path, password=source)
    assert isinstance(vm, PostgresVmTask)
    # The jump host gets no line of its own when a node network already holds it.
    assert vm._spec("10.0.1.12").client_cidrs == ("10.0.1.11/32", "10.0.1.12/32")
    assert vm._spec("10.0.0.5").client_cidrs == ("10.0.1.11/32", "10.0.1.12/32", "10.0.0.5/32")


def test_jdbc_urls() -> None:
    assert jdbc_url("10.0.1.20", 5432, "egov_db") == "jdbc:postgresql://10.0.1.20:5432/egov_db"
    assert jdbc_url("fd00::5", 5432, "egov_db") == "jdbc:postgresql://[fd00::5]:5432/egov_db"
