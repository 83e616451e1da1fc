"""The cluster side of the database, as pure objects: where the environment file says it is, and
the in-cluster verification Job (the password only through the db Secret). db-service itself is
cluster-configs' (tests/digit/test_bundle.py, test_real_tree.py, test_in_cluster_sandbox.py)."""

from __future__ import annotations

import json

import pytest

from digit_tui.digit.dbservice import DbCheck, NoDatabaseInEnv, db_check_of, job_result, verification_job


def test_the_database_is_read_from_the_environment_file_as_the_services_read_it() -> None:
    def env(**data: str) -> dict[str, object]:
        return {"cluster-configs": {"configmaps": {"egov-config": {"data": data}}}}

    check = db_check_of(env(**{"db-host": "db-service.egov", "db-url": "jdbc:postgresql://db-service.egov:5433/mz_db"}))
    assert (check.host, check.port, check.database) == ("db-service.egov", 5433, "mz_db")
    check = db_check_of(env(**{"db-host": "postgres.egov", "db-name": "egov_db",
                               "db-url": "jdbc:postgresql://postgres.egov/egov_db?sslmode=require"}))
    assert (check.host, check.port, check.database) == ("postgres.egov", 5432, "egov_db")
    with pytest.raises(NoDatabaseInEnv):
        db_check_of(env(**{"db-name": "egov_db"}))
    with pytest.raises(NoDatabaseInEnv):
        db_check_of({"cluster-configs": {}})


def test_the_verification_job_logs_in_with_the_db_secret_and_holds_no_value() -> None:
    job = verification_job(DbCheck("db-service.egov", 5432, "egov_db"))
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "egov"
    [container] = job["spec"]["template"]["spec"]["containers"]
    script = container["command"][-1]
    assert script.startswith("pg_isready -h db-service.egov -p 5432 -d egov_db -t 5 && psql ")
    assert "SELECT 1" in script and "PGPASSWORD" not in script
    env = {e["name"]: e for e in container["env"]}
    assert env["PGPASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "password"}}
    assert env["PGUSER"]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "username"}}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["activeDeadlineSeconds"] == 120
    assert "value" not in env["PGPASSWORD"]
    json.dumps(job)                                     # plain data, ready for server-side apply


def test_the_job_name_follows_what_it_checks() -> None:
    a = verification_job(DbCheck("db-service.egov", 5432, "egov_db"))["metadata"]["name"]
    assert a == verification_job(DbCheck("db-service.egov", 5432, "egov_db"))["metadata"]["name"]
    assert a != verification_job(DbCheck("10.0.1.20", 5432, "egov_db"))["metadata"]["name"]
    assert a.startswith("digit-tui-db-check-") and len(a) <= 63
    attempt = verification_job(DbCheck("db-service.egov", 5432, "egov_db"), run="a1b2c3")["metadata"]["name"]
    assert attempt == f"{a}-a1b2c3" and len(attempt) <= 63
    with pytest.raises(ValueError):
        verification_job(DbCheck("db-service.egov", 5432, "egov_db"), run="Not-OK")


def test_nothing_that_could_break_out_of_the_script_is_accepted() -> None:
    for bad in ({"host": "db; rm -rf /", "port": 5432, "database": "egov_db"},
                {"host": "db-service.egov", "port": 5432, "database": "egov'db"}):
        with pytest.raises(ValueError):
            DbCheck(**bad)  # type: ignore[arg-type]


def test_job_results() -> None:
    assert job_result({"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}) == "succeeded"
    assert job_result({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}) == \
        "failed"
    assert job_result({"active": 1}) == "running" and job_result(None) == "running"
