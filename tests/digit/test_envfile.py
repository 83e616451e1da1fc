"""environments/<env>.yaml: classic DIGIT shape, filled from the answers and the volume task's outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from digit_tui.digit.atomic import atomic_write
from digit_tui.digit.envfile import env_file_path, write_env_file
from digit_tui.digit.envinputs import EnvInputs
from digit_tui.errors import InputError

# Keys digit-facts.md lists for the classic environment file.
EXPECTED_TOP = {"global", "cluster-configs"}
EXPECTED_GLOBAL = {"domain", "setup", "tracing-enabled"}
EXPECTED_CLUSTER_CONFIGS = {"namespaces", "root-ingress", "configmaps"}
EXPECTED_NAMESPACES = [
    "backbone", "cert-manager", "egov", "es-cluster", "kafka-cluster",
    "logging", "monitoring", "playground", "zookeeper-cluster",
]
EXPECTED_EGOV_CONFIG = {
    "db-host", "db-name", "db-url", "domain", "egov-services-fqdn-name",
    "egov-state-level-tenant-id", "es-host", "es-indexer-host", "flyway-locations",
    "kafka-brokers", "server-tomcat-max-threads", "spring-datasource-tomcat-max-active", "timezone",
}
EXPECTED_SERVICE_BLOCKS = {
    "zookeeper-v2", "kafka-v2", "elasticsearch-data-v1", "elasticsearch-master-v1", "redis", "nginx-ingress",
    "zuul", "egov-mdms-service", "egov-enc-service", "egov-user", "egov-persister", "egov-indexer",
    "egov-workflow-v2", "egov-localization", "egov-idgen", "egov-hrms", "billing-service", "digit-ui",
    "pgr-services", "property-services",
}
STATEFUL = ("zookeeper-v2", "kafka-v2", "elasticsearch-data-v1", "elasticsearch-master-v1")


def aws_volumes() -> dict[str, list[dict[str, str]]]:
    return {
        svc: [{"volume_id": f"vol-{svc}-{i}", "zone": f"ap-south-1{'abc'[i]}", "size": "50Gi"} for i in range(3)]
        for svc in STATEFUL
    }


def inputs(**changes: object) -> EnvInputs:
    base: dict[str, object] = {
        "environment": "uat",
        "domain": "uat.digit.example.gov.in",
        "state_tenant_id": "pb",
        "db_host": "10.1.2.3",
        "db_port": 5433,
        "db_name": "egov_uat",
        "storage_mode": "static",
        "storage_provider": "aws",
        "volumes": aws_volumes(),
    }
    base.update(changes)
    return EnvInputs.from_mapping(base)


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_env_file_has_digits_classic_keys(tmp_path: Path) -> None:
    path = write_env_file(inputs(), tmp_path)
    assert path == tmp_path / "environments" / "uat.yaml"
    env = load(path)
    assert EXPECTED_TOP <= set(env)
    assert EXPECTED_GLOBAL <= set(env["global"])
    cc = env["cluster-configs"]
    assert EXPECTED_CLUSTER_CONFIGS <= set(cc)
    assert cc["namespaces"]["create"] is True
    assert cc["namespaces"]["values"] == EXPECTED_NAMESPACES
    data = cc["configmaps"]["egov-config"]["data"]
    assert EXPECTED_EGOV_CONFIG <= set(data)
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap data must be strings"
    hosts = cc["configmaps"]["egov-service-host"]["data"]
    assert len(hosts) >= 40
    assert hosts["egov-user"] == "http://egov-user.egov:8080/"
    assert all(url == f"http://{svc}.egov:8080/" for svc, url in hosts.items())
    assert EXPECTED_SERVICE_BLOCKS <= set(env) - EXPECTED_TOP


def test_egov_config_values_follow_the_answers(tmp_path: Path) -> None:
    data = load(write_env_file(inputs(), tmp_path))["cluster-configs"]["configmaps"]["egov-config"]["data"]
    assert data["db-url"] == "jdbc:postgresql://10.1.2.3:5433/egov_uat"
    assert data["db-host"] == "10.1.2.3"
    assert data["db-name"] == "egov_uat"
    assert data["domain"] == "uat.digit.example.gov.in"
    assert data["egov-services-fqdn-name"] == "https://uat.digit.example.gov.in/"
    assert data["egov-state-level-tenant-id"] == "pb"
    assert data["timezone"] == "Asia/Kolkata"
    assert data["kafka-brokers"] == "kafka-v2.kafka-cluster:9092"
    assert data["es-indexer-host"].startswith("http://elasticsearch-data-v1.es-cluster:9200")


def test_static_persistence_comes_from_the_volume_outputs(tmp_path: Path) -> None:
    env = load(write_env_file(inputs(), tmp_path))
    for svc in STATEFUL:
        entries = env[svc]["persistence"]["aws"]
        assert [e["volumeId"] for e in entries] == [f"vol-{svc}-{i}" for i in range(3)]
        assert [e["zone"] for e in entries] == ["ap-south-1a", "ap-south-1b", "ap-south-1c"]
        assert env[svc]["replicas"] == 3


def test_iscsi_persistence_carries_portal_iqn_and_lun(tmp_path: Path) -> None:
    vols = {
        svc: [{"target_portal": "10.0.0.9:3260", "iqn": f"iqn.2024-01.in.gov.sdc:{svc}-{i}", "lun": i} for i in range(3)]
        for svc in STATEFUL
    }
    env = load(write_env_file(inputs(storage_provider="iscsi", volumes=vols), tmp_path))
    assert env["kafka-v2"]["persistence"]["iscsi"][2] == {
        "targetPortal": "10.0.0.9:3260", "iqn": "iqn.2024-01.in.gov.sdc:kafka-v2-2", "lun": 2,
    }


def test_dynamic_storage_names_the_class_and_no_volumes(tmp_path: Path) -> None:
    env = load(write_env_file(inputs(storage_mode="dynamic", storage_class="gp3", volumes={}), tmp_path))
    for svc in STATEFUL:
        assert env[svc]["persistence"] == {"storageClassName": "gp3"}
    assert "persistence" not in env["egov-user"]


def test_overrides_are_merged_into_the_service_block(tmp_path: Path) -> None:
    env = load(write_env_file(inputs(service_overrides={"egov-user": {"replicas": 2}, "kafka-v2": {"persistence": {"size": "100Gi"}}}), tmp_path))
    assert env["egov-user"]["replicas"] == 2
    assert env["egov-user"]["heap"] == "-Xmx256m -Xms256m"
    assert env["egov-user"]["memory_limits"] == "512Mi"
    assert env["kafka-v2"]["persistence"]["size"] == "100Gi"
    assert len(env["kafka-v2"]["persistence"]["aws"]) == 3


def test_external_database_ips_become_db_service(tmp_path: Path) -> None:
    env = load(write_env_file(inputs(db_host="", db_ips=["10.9.8.7"]), tmp_path))
    cc = env["cluster-configs"]
    assert cc["db"]["db-ips"] == [{"ip": "10.9.8.7"}] and cc["db"]["targetPort"] == cc["db"]["port"]
    assert cc["configmaps"]["egov-config"]["data"]["db-url"] == "jdbc:postgresql://db-service.egov:5433/egov_uat"


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = write_env_file(inputs(), tmp_path / "a").read_bytes()
    second = write_env_file(inputs(), tmp_path / "b").read_bytes()
    again = write_env_file(inputs(), tmp_path / "a").read_bytes()
    assert first == second == again


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"environment": "UAT_1"}, "environment"),
        ({"domain": "not a domain"}, "domain"),
        ({"db_name": "egov-uat"}, "db name"),
        ({"db_host": ""}, "database host"),
        ({"db_port": 70000}, "db port"),
        ({"storage_mode": "magic"}, "storage mode"),
        ({"storage_provider": "nfs"}, "storage provider"),
        ({"volumes": {"kafka-v2": [{"volume_id": "vol-1"}]}}, "volumes.kafka-v2 has 1 volume(s) for 3 replicas"),
        ({"storage_mode": "dynamic"}, "storage mode is dynamic"),
        ({"storage_provider": "iscsi"}, "lacks target_portal, iqn"),
        ({"namespaces": ["backbone"]}, "egov"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"volumes": {"kafka-v2": [{"volume_id": "v", "colour": "red"}] * 3}}, "unknown field(s) colour"),
    ],
)
def test_bad_inputs_name_the_field_and_write_nothing(tmp_path: Path, changes: dict, named: str) -> None:
    with pytest.raises(InputError) as err:
        write_env_file(inputs(**changes), tmp_path)
    assert named in str(err.value)
    assert not env_file_path(tmp_path, "uat").exists()


def test_bad_inputs_leave_the_previous_file_intact(tmp_path: Path) -> None:
    good = write_env_file(inputs(), tmp_path).read_bytes()
    with pytest.raises(InputError):
        write_env_file(inputs(db_name="bad-name"), tmp_path)
    assert env_file_path(tmp_path, "uat").read_bytes() == good


def test_atomic_write_failure_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "environments" / "x.yaml"
    atomic_write(target, "old: content\n")

    def failing_serializer():
        yield b"new: "
        yield b"half"
        raise RuntimeError("serializer broke")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing_serializer())
    assert target.read_text() == "old: content\n"
    assert os.listdir(target.parent) == ["x.yaml"], "temporary file left behind"


def test_atomic_write_sets_mode_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "s.yaml"
    target.write_text("old")
    target.chmod(0o644)
    atomic_write(target, "new", mode=0o600)
    assert target.read_text() == "new"
    assert (target.stat().st_mode & 0o777) == 0o600
