"""Generate ``environments/<env>-secrets.yaml`` in DIGIT-DevOps' classic shape.

Everything sits under ``cluster-configs.secrets.<secret>.<key>``; the
cluster-configs chart turns each ``<secret>`` into a Kubernetes Secret (``db``
in namespace egov with keys username, password, flyway-username,
flyway-password).

Values come from, highest first: what the operator supplied, what the existing
file already holds, then strong generated values. Re-running therefore never
rotates a secret. The file is 0600 from its first byte, replaced atomically,
and optionally encrypted in place with sops. No value ever reaches an
exception, a log line or a process argument.

Sizes chosen for the encryption service (egov-enc-service): it derives its AES
master key with PBKDF2 from ``master-password`` and ``master-salt`` and uses
``master-initialvector`` as the AES-GCM nonce, all three read as the bytes of
the string. We generate a 32-character password (~190 bits), an 8-character
salt (the length of DIGIT's sample salt) and a 12-character IV (12 bytes = the
96-bit nonce AES-GCM expects), all from letters and digits so that bytes equal
characters. oauth2-proxy's cookieSecret is 32 characters: it must be 16, 24
or 32 bytes to serve as an AES key.
"""

from __future__ import annotations

import copy
import os
import re
import secrets
import string
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from digit_tui import yamldump
from digit_tui.digit.atomic import atomic_write
from digit_tui.yamlload import TooDeep, safe_load
from digit_tui.digit.envfile import ENVIRONMENTS_DIR
from digit_tui.digit.envinputs import EnvInputs
# find_sops is re-exported: whoever writes a secrets file asks here whether it can be encrypted
from digit_tui.digit.sops import find_sops as find_sops, is_sops_document
from digit_tui.errors import InputError

ALPHANUMERIC = string.ascii_letters + string.digits
SOPS_CONFIG = ".sops.yaml"
DEFAULT_SOPS_TIMEOUT = 60.0

# GitHub's published SSH host keys (after its 2023 RSA rotation, which broke
# git-sync pods pinned to the old known_hosts). Operators syncing from another
# host supply git-sync.known-hosts themselves.
GITHUB_KNOWN_HOSTS = (
    "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n"
    "github.com ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg=\n"
)

_ALERTMANAGER_CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: "null"
  group_by: [alertname, namespace]
receivers:
- name: "null"
"""


class SecretsError(Exception):
    """A secrets file could not be read, written or encrypted. Never carries a value."""


def token(length: int) -> str:
    """``length`` random letters and digits from the OS CSPRNG."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def _ssh_private_key() -> str:
    # Imported here: key generation is the only user of cryptography in this module.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    return pem.decode("ascii")


def ssh_public_key(private_key: str) -> str:
    """The OpenSSH public key of git-sync's key, to register as a deploy key."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private_key.encode("ascii"), password=None)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")


def _db_role(inputs: EnvInputs) -> str:
    # Postgres role names: letters, digits and underscore only (digit-facts).
    return ("egov_" + re.sub(r"[^a-z0-9]", "_", inputs.environment.lower()))[:63]


@dataclass(frozen=True)
class SecretKey:
    secret: str
    key: str
    make: Callable[[EnvInputs], str]
    # Credentials of an outside provider (SMS gateway, mail, payment, cloud):
    # a random value lets pods start, the operator replaces it with the real one.
    external: bool = False


# db flyway credentials default to the same role as the application: DIGIT's
# migrations create the tables the services then use.
SECRET_KEYS: tuple[SecretKey, ...] = (
    SecretKey("db", "username", _db_role),
    SecretKey("db", "password", lambda _i: token(32)),
    SecretKey("egov-enc-service", "master-password", lambda _i: token(32)),
    SecretKey("egov-enc-service", "master-salt", lambda _i: token(8)),
    SecretKey("egov-enc-service", "master-initialvector", lambda _i: token(12)),
    SecretKey("egov-notification-sms", "username", lambda _i: token(16), external=True),
    SecretKey("egov-notification-sms", "password", lambda _i: token(32), external=True),
    SecretKey("egov-notification-mail", "mailsenderusername", lambda i: f"noreply@{i.domain}", external=True),
    SecretKey("egov-notification-mail", "mailsenderpassword", lambda _i: token(32), external=True),
    SecretKey("egov-filestore", "aws-key", lambda _i: token(20), external=True),
    SecretKey("egov-filestore", "aws-secret-key", lambda _i: token(40), external=True),
    SecretKey("git-sync", "ssh", lambda _i: _ssh_private_key()),
    SecretKey("git-sync", "known-hosts", lambda _i: GITHUB_KNOWN_HOSTS),
    SecretKey("egov-pg-service", "axis-merchant-id", lambda _i: token(16), external=True),
    SecretKey("egov-pg-service", "axis-merchant-secret-key", lambda _i: token(32), external=True),
    SecretKey("egov-pg-service", "axis-merchant-user", lambda _i: token(16), external=True),
    SecretKey("egov-pg-service", "axis-merchant-pwd", lambda _i: token(32), external=True),
    SecretKey("egov-pg-service", "axis-merchant-access-code", lambda _i: token(16), external=True),
    SecretKey("egov-pg-service", "payumoney-merchant-key", lambda _i: token(16), external=True),
    SecretKey("egov-pg-service", "payumoney-merchant-salt", lambda _i: token(32), external=True),
    SecretKey("pgadmin", "admin-email", lambda i: f"admin@{i.domain}"),
    SecretKey("pgadmin", "admin-password", lambda _i: token(32)),
    SecretKey("pgadmin", "read-email", lambda i: f"read@{i.domain}"),
    SecretKey("pgadmin", "read-password", lambda _i: token(32)),
    SecretKey("kibana", "username", lambda _i: "kibana"),
    SecretKey("kibana", "password", lambda _i: token(32)),
    SecretKey("oauth2-proxy", "clientID", lambda _i: token(20), external=True),
    SecretKey("oauth2-proxy", "clientSecret", lambda _i: token(40), external=True),
    SecretKey("oauth2-proxy", "cookieSecret", lambda _i: token(32)),
    SecretKey("alertmanager", "config", lambda _i: _ALERTMANAGER_CONFIG),
    # Read by the real DIGIT-DevOps charts (v2.2-v2.8: chatbots, egov-location, eDCR, finance):
    # without them their pods never start.
    SecretKey("chatbot", "valuefirst-username", lambda _i: token(16), external=True),
    SecretKey("chatbot", "valuefirst-password", lambda _i: token(32), external=True),
    SecretKey("chatbot", "valuefirst-basic-auth-header", lambda _i: token(32), external=True),
    SecretKey("egov-user-chatbot", "citizen-login-password-otp-fixed-value", lambda _i: token(16)),
    SecretKey("egov-location", "gmapskey", lambda _i: token(39), external=True),
    SecretKey("egov-edcr-notification", "edcr-mail-username", lambda i: f"noreply@{i.domain}", external=True),
    SecretKey("egov-edcr-notification", "edcr-mail-password", lambda _i: token(32), external=True),
    SecretKey("egov-edcr-notification", "edcr-sms-username", lambda _i: token(16), external=True),
    SecretKey("egov-edcr-notification", "edcr-sms-password", lambda _i: token(32), external=True),
    SecretKey("egov-edcr-bank-gateway", "edcr-pnb-mid", lambda _i: token(16), external=True),
    SecretKey("egov-edcr-bank-gateway", "edcr-pnb-encryption-key", lambda _i: token(32), external=True),
    SecretKey("egov-edcr-bank-gateway", "edcr-hdfc-key", lambda _i: token(16), external=True),
    SecretKey("egov-edcr-bank-gateway", "edcr-hdfc-salt", lambda _i: token(16), external=True),
    SecretKey("egov-si-microservice", "si-microservice-user", lambda _i: token(16)),
    SecretKey("egov-si-microservice", "si-microservice-password", lambda _i: token(32)),
    SecretKey("egov-si-microservice", "mail-sender-password", lambda _i: token(32), external=True),
)
# Derived after the others are settled (see _settle_db).
DB_FLYWAY_KEYS: tuple[tuple[str, str], ...] = (("flywayUsername", "username"), ("flywayPassword", "password"))


def secrets_file_path(out_dir: str | Path, environment: str) -> Path:
    return Path(out_dir) / ENVIRONMENTS_DIR / f"{environment}-secrets.yaml"


def build_secrets(
    inputs: EnvInputs,
    existing: Mapping[str, Mapping[str, Any]] | None = None,
    supplied: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, str]]:
    """``secret -> key -> value``: supplied, else existing, else generated."""
    given = _normalise(supplied or {}, "supplied secrets")
    kept = _normalise(existing or {}, "existing secrets file")
    result: dict[str, dict[str, str]] = {}
    # Keep every secret and key already there or supplied, even ones we do not know.
    for source in (kept, given):
        for secret, keys in source.items():
            result.setdefault(secret, {}).update(keys)
    for spec in SECRET_KEYS:
        if spec.key not in result.get(spec.secret, {}):
            result.setdefault(spec.secret, {})[spec.key] = spec.make(inputs)
    db = result["db"]
    for flyway_key, app_key in DB_FLYWAY_KEYS:
        db.setdefault(flyway_key, db[app_key])
    return {secret: dict(sorted(keys.items())) for secret, keys in sorted(result.items())}


def render_secrets(values: Mapping[str, Mapping[str, str]], environment: str) -> str:
    header = (
        f"# DIGIT secrets of environment {environment}, generated by digit-tui. Keep private (0600).\n"
        "# Re-running keeps every value here; edit a value to change it.\n"
    )
    body = yaml.dump({"cluster-configs": {"secrets": values}}, Dumper=_SecretsDumper, sort_keys=False, default_flow_style=False, width=4096)
    return header + body


def write_secrets_file(
    inputs: EnvInputs,
    out_dir: str | Path,
    supplied: Mapping[str, Any] | None = None,
    *,
    encrypt: bool = False,
    age_recipients: Sequence[str] = (),
    sops_timeout: float = DEFAULT_SOPS_TIMEOUT,
) -> Path:
    """Write ``<out_dir>/environments/<env>-secrets.yaml`` (0600, atomic); returns its path.

    ``supplied`` maps ``secret -> key -> value`` (a whole secrets document with
    ``cluster-configs.secrets`` is accepted too). With ``encrypt`` the file is
    then encrypted in place with sops, following ``<out_dir>/.sops.yaml``
    (written with a rule for this file when ``age_recipients`` are given).
    """
    inputs.validate()
    path = secrets_file_path(out_dir, inputs.environment)
    sops = None
    if encrypt:
        sops = find_sops()
        if sops is None:
            raise InputError("sops encryption was asked for but sops is not on PATH", expected="install sops, or do not ask for encryption")
        config = write_sops_config(out_dir, inputs.environment, age_recipients)
        if config is None:
            raise InputError(
                f"sops encryption needs recipients: no {SOPS_CONFIG} in {out_dir} and no age recipient given",
                expected="an age public key (age1...)",
            )
    existing = read_secrets_file(path, sops_timeout=sops_timeout) if path.exists() else {}
    values = build_secrets(inputs, existing, supplied)
    atomic_write(path, render_secrets(values, inputs.environment), mode=0o600)
    if sops is not None:
        _sops_encrypt(sops, Path(out_dir), path, values, sops_timeout)
    return path


def read_secrets_file(path: str | Path, *, sops_timeout: float = DEFAULT_SOPS_TIMEOUT) -> dict[str, dict[str, str]]:
    """``secret -> key -> value`` from a secrets file, decrypting it with sops when needed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    document = _safe_parse(text, path)
    if isinstance(document, Mapping) and "sops" in document:
        text = _decrypt(path, document, text, sops_timeout)
        document = _safe_parse(text, path)
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise InputError("the secrets file is not a mapping", path=path, expected="cluster-configs: {secrets: ...}")
    return _normalise(document, str(path), path=path)


def _decrypt(path: Path, document: Mapping[str, Any], text: str, timeout: float) -> str:
    from digit_tui.digit.sops import decrypt

    meta = document.get("sops")
    return decrypt(path, meta if isinstance(meta, Mapping) else {}, text=text, timeout=timeout)


def read_secrets_document(path: str | Path, *, role: str = "secrets file",
                          sops_timeout: float = DEFAULT_SOPS_TIMEOUT) -> dict[str, Any]:
    """A whole secrets document as Helm reads it (decrypted with sops when encrypted), every key
    kept: an operator's file may hold more than ``cluster-configs.secrets`` and values that are
    not strings (an Alertmanager config as a mapping)."""
    from digit_tui.digit.helmyaml import parse_mapping, read_text

    path = Path(path)
    text = read_text(path, role=role)
    document = parse_mapping(text, path=path, role=role)
    if is_sops_document(document):
        from digit_tui.digit.sops import decrypt

        document = parse_mapping(decrypt(path, document["sops"], text=text, role=role, timeout=sops_timeout),
                                 path=path, role=role)
    return document


def secrets_of(document: Mapping[str, Any] | None) -> dict[str, Any]:
    configs = (document or {}).get("cluster-configs")
    secrets_ = configs.get("secrets") if isinstance(configs, Mapping) else None
    return dict(secrets_) if isinstance(secrets_, Mapping) else {}


def layer_secrets(inputs: EnvInputs, base: Mapping[str, Any], previous: Mapping[str, Any] | None = None,
                  supplied: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The operator's secrets document (``base``, whole, without its sops block) with only what it
    lacks filled in: each secret digit-tui generates that the operator's file has no value for
    takes the value generated last time (``previous``, the file this wrote before), else a fresh
    one. The operator's values are never replaced, so never rotated; only ``supplied`` (what the
    answers give explicitly, such as ``database.password_file``) wins over them."""
    inputs.validate()
    doc: dict[str, Any] = copy.deepcopy({k: v for k, v in base.items() if k != "sops"})
    configs = doc.get("cluster-configs")
    if not isinstance(configs, dict):
        configs = doc["cluster-configs"] = {}
    secrets_ = configs.get("secrets")
    if not isinstance(secrets_, dict):
        secrets_ = configs["secrets"] = {}
    before = secrets_of(previous)
    for spec in SECRET_KEYS:
        block = secrets_.setdefault(spec.secret, {})
        if block is None:
            block = secrets_[spec.secret] = {}
        if not isinstance(block, dict) or block.get(spec.key) is not None:
            continue        # the operator's own value (or shape) stays
        old = before.get(spec.secret)
        kept = old.get(spec.key) if isinstance(old, Mapping) else None
        block[spec.key] = kept if isinstance(kept, str) and kept else spec.make(inputs)
    for secret, keys in _normalise(supplied or {}, "supplied secrets").items():
        block = secrets_.get(secret)
        if not isinstance(block, dict):
            block = secrets_[secret] = {}
        block.update(keys)
    db = secrets_.get("db")
    if isinstance(db, dict):
        for flyway_key, app_key in DB_FLYWAY_KEYS:
            if db.get(flyway_key) is None:
                db[flyway_key] = db[app_key]
    return doc


def render_layered_secrets(document: Mapping[str, Any], environment: str, base_path: str | Path | None = None) -> str:
    from digit_tui.digit.envfile import dump_for_helm

    where = f" {base_path}" if base_path else ""
    header = (
        f"# DIGIT secrets of environment {environment}, generated by digit-tui from the operator's secrets file{where}\n"
        "# (its values kept; only the secrets it lacks were generated). Keep private (0600).\n"
    )
    return header + dump_for_helm(document)


def write_layered_secrets_file(inputs: EnvInputs, out_dir: str | Path, base: Mapping[str, Any],
                               supplied: Mapping[str, Any] | None = None, *, base_path: str | Path | None = None,
                               encrypt: bool = False, sops_timeout: float = DEFAULT_SOPS_TIMEOUT) -> Path:
    """Write ``<out_dir>/environments/<env>-secrets.yaml`` (0600, atomic) from the operator's
    secrets document ``base`` (see :func:`layer_secrets`); with ``encrypt``, then encrypt it in
    place with sops following ``<out_dir>/.sops.yaml``."""
    path = secrets_file_path(out_dir, inputs.environment)
    previous = read_secrets_document(path, sops_timeout=sops_timeout) if path.exists() else None
    document = layer_secrets(inputs, base, previous, supplied)
    atomic_write(path, render_layered_secrets(document, inputs.environment, base_path), mode=0o600)
    if encrypt:
        sops = find_sops()
        if sops is None:
            raise InputError("sops encryption was asked for but sops is not on PATH", expected="install sops")
        known = tuple(str(v) for block in secrets_of(document).values() if isinstance(block, Mapping)
                      for v in block.values() if isinstance(v, str) and v)
        relative = os.path.relpath(path, out_dir)
        _run_sops(sops, ["--encrypt", "--in-place", relative], cwd=Path(out_dir), timeout=sops_timeout,
                  known=known, what="encrypt")
    return path


def write_sops_config(out_dir: str | Path, environment: str, age_recipients: Sequence[str]) -> Path | None:
    """Make ``<out_dir>/.sops.yaml`` carry a creation rule for this environment's secrets file.

    An existing rule that matches the file is left alone (the operator's own
    KMS/PGP setup wins); without one, a rule for the age recipients is put
    first. Returns the config path, or None when there is no usable rule.
    """
    config_path = Path(out_dir) / SOPS_CONFIG
    relative = f"{ENVIRONMENTS_DIR}/{environment}-secrets.yaml"
    config: dict[str, Any] = {}
    if config_path.exists():
        loaded = _safe_parse(config_path.read_text(encoding="utf-8"), config_path)
        config = dict(loaded) if isinstance(loaded, Mapping) else {}
    rules = list(config.get("creation_rules") or [])
    for rule in rules:
        regex = rule.get("path_regex") if isinstance(rule, Mapping) else None
        if regex is None or re.search(str(regex), relative):
            return config_path
    if not age_recipients:
        return None
    for recipient in age_recipients:
        if not re.fullmatch(r"age1[0-9a-z]{20,}", recipient):
            raise InputError(f"{recipient!r} is not an age public key", expected="age1...")
    rule = {"path_regex": rf"{ENVIRONMENTS_DIR}/{re.escape(environment)}-secrets\.yaml$", "age": ",".join(age_recipients)}
    config["creation_rules"] = [rule, *rules]
    atomic_write(config_path, yamldump.safe_dump(config, sort_keys=False), mode=0o600)
    return config_path


def is_encrypted(path: str | Path) -> bool:
    document = _safe_parse(Path(path).read_text(encoding="utf-8"), Path(path))
    return isinstance(document, Mapping) and "sops" in document


def _sops_encrypt(sops: str, out_dir: Path, path: Path, values: Mapping[str, Mapping[str, str]], timeout: float) -> None:
    # sops finds .sops.yaml from its working directory and matches path_regex
    # against the path as given, hence the relative path from out_dir.
    relative = os.path.relpath(path, out_dir)
    known = tuple(v for keys in values.values() for v in keys.values() if v)
    _run_sops(sops, ["--encrypt", "--in-place", relative], cwd=out_dir, timeout=timeout, known=known, what="encrypt")


def _run_sops(sops: str, args: list[str], *, cwd: Path, timeout: float, known: Sequence[str], what: str) -> str:
    try:
        done = subprocess.run(
            [sops, *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SecretsError(f"sops {what} did not finish within {timeout:g} s") from None
    except OSError as exc:
        raise SecretsError(f"sops could not run: {exc.strerror}") from None
    if done.returncode != 0:
        raise SecretsError(f"sops {what} failed (exit {done.returncode}): {_scrub(_last_line(done.stderr), known)}")
    return done.stdout


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no message"


def _scrub(text: str, known: Sequence[str]) -> str:
    for value in sorted(known, key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _safe_parse(text: str, path: Path) -> Any:
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        # PyYAML's message quotes the offending line, which may hold a secret: keep only the position.
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = f"the file is {exc.problem}" if isinstance(exc, TooDeep) else "the file is not valid YAML"
        raise InputError(problem, path=path, line=line) from None


def _normalise(data: Mapping[str, Any], what: str, path: Path | None = None) -> dict[str, dict[str, str]]:
    """Accept ``secret -> key -> value`` or a document with ``cluster-configs.secrets``."""
    if "cluster-configs" in data:
        configs = data.get("cluster-configs") or {}
        data = (configs.get("secrets") or {}) if isinstance(configs, Mapping) else configs
    if not isinstance(data, Mapping):
        raise InputError(f"{what}: secrets are not a mapping", path=path, expected="secret: {key: value}")
    result: dict[str, dict[str, str]] = {}
    for secret, keys in data.items():
        if keys is None:
            continue
        if not isinstance(keys, Mapping):
            raise InputError(f"{what}: {secret} is not a mapping of keys", path=path, expected=f"{secret}: {{key: value}}")
        for key, value in keys.items():
            if value is None:
                continue
            if isinstance(value, Mapping | list):
                raise InputError(f"{what}: {secret}.{key} is not a string", path=path)
            if isinstance(value, bool):
                text = "true" if value else "false"
            else:
                text = value if isinstance(value, str) else str(value)
            result.setdefault(str(secret), {})[str(key)] = text
    return copy.deepcopy(result)


class _SecretsDumper(yamldump.SafeDumper):
    """Multi-line values (SSH key, Alertmanager config) as literal blocks, like DIGIT's files."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_SecretsDumper.add_representer(str, _represent_str)
