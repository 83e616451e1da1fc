"""The generated environment and secrets files, from the answers and, when the operator
names them (``digit.environment_file``, ``digit.secrets_file``), over the operator's own files.

One place for "what the helm-config task writes", shared by that task and by the
preview ``digit-tui render`` makes before an install, so both layer the same way:

* without an operator's file, the classic file is generated from the answers
  (:mod:`digit_tui.digit.envfile`, :mod:`digit_tui.digit.secretsfile`);
* with one, it is the base (decrypted with sops when encrypted) and only what the
  answers control is laid over it. An answer left at its default (tenant ``pb``,
  registry ``egovio``, the in-cluster database, port 5432, name ``egov_db``, user
  ``egov``) only fills in what the operator's file lacks, so a default never
  replaces the state team's value (``InstallConfig.answered`` decides which answers
  replace). Secrets the operator's file holds are never replaced (never
  rotated); only ``database.password_file`` wins over the file's password.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digit_tui.digit.envfile import Answered, env_file_path, render_env, render_layered_env
from digit_tui.digit.envinputs import EnvInputs

# DIGIT's own default database user: the operator's file naming its user keeps it.
DEFAULT_DB_USER = "egov"


@dataclass(frozen=True)
class OperatorFiles:
    """The operator's own files named in the answers (absolute paths), either may be absent."""

    env_file: Path | None = None
    secrets_file: Path | None = None


def load_operator_env(path: Path) -> dict[str, Any]:
    """The operator's environment file as Helm reads it (sops-decrypted when encrypted)."""
    from digit_tui.digit.pipeline import load_values_file

    return load_values_file(path, role="environment file")


def load_operator_secrets(path: Path) -> dict[str, Any]:
    """The operator's whole secrets document as Helm reads it (sops-decrypted when encrypted)."""
    from digit_tui.digit.secretsfile import read_secrets_document

    return read_secrets_document(path)


def _without_default_user(supplied: Mapping[str, Mapping[str, str]], base: Mapping[str, Any]) -> dict[str, Any]:
    """``supplied`` minus a default database user the operator's file already names."""
    from digit_tui.digit.secretsfile import secrets_of

    out = {secret: dict(keys) for secret, keys in supplied.items()}
    db = out.get("db") or {}
    have = secrets_of(base).get("db")
    if db.get("username") == DEFAULT_DB_USER and isinstance(have, Mapping) and have.get("username") is not None:
        del db["username"]
    return {secret: keys for secret, keys in out.items() if keys}


@dataclass
class Generated:
    """What the helm-config task writes: the text of the env file, and the secrets as data."""

    env_text: str
    secrets: dict[str, Any]         # the whole secrets document
    layered: bool                   # over an operator's secrets file


class OperatorEnv:
    """The generated files for one set of answers (and the volume task's outputs)."""

    def __init__(self, files: OperatorFiles, answered: Answered, inputs: EnvInputs) -> None:
        self.inputs = inputs
        self.files = files
        self.answered = answered

    def env_text(self) -> str:
        if self.files.env_file is None:
            return render_env(self.inputs)
        base = load_operator_env(self.files.env_file)
        return render_layered_env(self.inputs, base, self.answered, self.files.env_file)

    def secrets_document(self, previous: Mapping[str, Any] | None,
                         supplied: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
        """The secrets document to write, given the one written before (``previous``)."""
        from digit_tui.digit.secretsfile import build_secrets, layer_secrets

        if self.files.secrets_file is None:
            values = build_secrets(self.inputs, _plain(previous), supplied)
            return {"cluster-configs": {"secrets": values}}
        base = load_operator_secrets(self.files.secrets_file)
        return layer_secrets(self.inputs, base, previous, _without_default_user(supplied, base))

    def write(self, out_dir: Path, supplied: Mapping[str, Mapping[str, str]], *, encrypt: bool) -> tuple[Path, Path]:
        """Write both files into ``out_dir/environments/`` (0600, atomic); returns their paths."""
        from digit_tui.digit.atomic import atomic_write
        from digit_tui.digit.secretsfile import write_layered_secrets_file, write_secrets_file

        env_file = atomic_write(env_file_path(out_dir, self.inputs.environment), self.env_text(), mode=0o600)
        if self.files.secrets_file is None:
            secrets_file = write_secrets_file(self.inputs, out_dir, supplied, encrypt=encrypt)
        else:
            base = load_operator_secrets(self.files.secrets_file)
            secrets_file = write_layered_secrets_file(self.inputs, out_dir, base, _without_default_user(supplied, base),
                                                      base_path=self.files.secrets_file, encrypt=encrypt)
        return env_file, secrets_file


def read_previous(path: Path, layered: bool) -> dict[str, Any] | None:
    """The secrets document written before, as the next write reads it (None when there is none)."""
    from digit_tui.digit.secretsfile import read_secrets_document, read_secrets_file

    if not path.is_file():
        return None
    if layered:
        return read_secrets_document(path)
    return {"cluster-configs": {"secrets": read_secrets_file(path)}}


def _plain(previous: Mapping[str, Any] | None) -> dict[str, dict[str, str]]:
    from digit_tui.digit.secretsfile import secrets_of

    return secrets_of(previous) if previous else {}


def secret_values(document: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """``(key, value)`` for every string under ``cluster-configs.secrets``, however deep, so each
    can be registered with the journal's scrubber."""
    from digit_tui.digit.secretsfile import secrets_of

    todo: list[tuple[str, Any]] = list(secrets_of(document).items())
    while todo:
        key, value = todo.pop()
        if isinstance(value, Mapping):
            todo.extend((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            todo.extend((key, v) for v in value)
        elif isinstance(value, str):
            yield key, value
