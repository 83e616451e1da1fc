"""The cluster side of an external database, as pure objects: DIGIT's db-service (Service + manual
Endpoints, or ExternalName for a DNS name), the cluster-configs values in the real chart's shape,
and the in-cluster verification Job (the password only through the db Secret)."""

from __future__ import annotations

import json

import pytest

from digit_tui.digit.dbservice import DbCheck, db_service_objects, db_values, job_result, verification_job


def test_an_ip_gets_a_selectorless_service_and_its_manual_endpoints() -> None:
    service, endpoints = db_service_objects("10.0.1.20", 5432)
    assert (service["kind"], service["metadata"]["name"], service["metadata"]["namespace"]) == \
        ("Service", "db-service", "egov")
    assert "selector" not in service["spec"] and service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"][0]["port"] == 5432
    assert endpoints["kind"] == "Endpoints" and endpoints["metadata"]["name"] == "db-service"
    # Endpoints belong to the Service of the same name and namespace; port names must match too.
    assert endpoints["subsets"] == [{"addresses": [{"ip": "10.0.1.20"}],
                                     "ports": [{"name": "postgres", "port": 5432, "protocol": "TCP"}]}]
    assert service["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "digit-tui"


def test_a_dns_name_gets_an_externalname_service_and_no_endpoints() -> None:
    [service] = db_service_objects("egov-db.abc123.ap-south-1.rds.amazonaws.com.", 6432)
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "egov-db.abc123.ap-south-1.rds.amazonaws.com"
    assert db_values("egov-db.example.test") == {}


def test_the_values_block_has_the_real_cluster_configs_charts_shape() -> None:
    # DIGIT's templates/services/db-endpoints.yaml puts toYaml(db-ips) under subsets[].addresses:
    # each entry must be an EndpointAddress mapping.
    assert db_values("10.0.1.20", 5432) == {"name": "db-service", "namespace": "egov", "port": 5432,
                                            "targetPort": 5432, "db-ips": [{"ip": "10.0.1.20"}]}


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
