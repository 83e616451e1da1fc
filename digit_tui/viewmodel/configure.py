"""The configuration form of a new install, without Textual: what the target and sizing screens
do not ask — the database, the storage, the phases (Jenkins, monitoring), the state tenant and
the container registry — the candidate answers they make, what is wrong with them, and a preview
of the answers file and of the environment file the install generates.

Validation is `digit-tui validate`'s own, as on the target screen (viewmodel/newinstall.py): the
answers chosen so far are written as YAML, this form's choices appended one key per line (so an
error's line names its field), and ``parse_answers`` reads the text with file checks.

A database password typed here is a secret: it is never part of the answers text. The check
runs without it; leaving the screen writes it to ``<state_dir>/db-password`` (0600) and the
answers name that file as ``database.password_file``. Run the check off the event loop: it reads
files (a password file, the operator's environment file) and renders the environment file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui import yamldump
from digit_tui.errors import InputError
from digit_tui.viewmodel.newinstall import _abs, _unlocated

if TYPE_CHECKING:
    from digit_tui.answers.model import Answers

FIELDS = ("state_tenant", "container_registry", "db_mode", "db_host", "db_port", "db_name", "db_username",
          "db_password", "db_password_file", "storage_mode", "storage_class", "jenkins", "jenkins_repositories",
          "monitoring")
DB_MODES = ("in-cluster", "vm", "external")
STORAGE_MODES = ("dynamic", "static")
MONITORING = ("default", "on", "off")
PASSWORD_NAME = "db-password"
MASK = "••••"
_MIN_MASKED = 6          # shorter: a word of the files themselves would be masked too
# Keys of the answers this form owns: dropped from the answers so far, written from the form.
_OWNED_SECTIONS = ("database", "storage", "phases", "jenkins")
_OWNED_DIGIT = ("state_tenant", "container_registry")


@dataclass(frozen=True)
class ConfigChoices:
    state_tenant: str = "pb"
    container_registry: str = "egovio"
    db_mode: str = "in-cluster"
    db_host: str = ""
    db_port: str = "5432"
    db_name: str = "egov_db"
    db_username: str = "egov"
    # Typed in the form; never in a repr, the answers text, a log or the journal.
    db_password: str = field(default="", repr=False)
    db_password_file: str = ""
    storage_mode: str = "dynamic"
    storage_class: str = ""
    jenkins: bool = False
    jenkins_repositories: str = ""          # git URLs, separated by spaces or commas
    monitoring: str = "default"             # the tier's default, on, off

    @classmethod
    def of(cls, answers: Answers) -> ConfigChoices:
        """The form's starting values: what the answers so far say (the defaults, mostly)."""
        db, phases = answers.database, answers.phases
        repositories = " ".join(answers.jenkins.repositories) if answers.jenkins is not None else ""
        return cls(state_tenant=answers.digit.state_tenant, container_registry=answers.digit.container_registry,
                   db_mode=db.mode, db_host=db.host or "", db_port=str(db.port), db_name=db.name,
                   db_username=db.username, db_password_file=str(db.password_file or ""),
                   storage_mode=answers.storage.mode, storage_class=answers.storage.storage_class or "",
                   jenkins=phases.jenkins, jenkins_repositories=repositories,
                   monitoring="default" if phases.monitoring is None else ("on" if phases.monitoring else "off"))

    def repositories(self) -> list[str]:
        return [r for r in self.jenkins_repositories.replace(",", " ").split() if r]

    def candidate(self, base: Answers, password_file: Path | None = None) -> tuple[str, dict[int, str]]:
        """The answers text: ``base`` without the keys this form owns, then the form's keys, and
        which field each line of the form's part is about. ``password_file``: the file a typed
        password goes to (None: the form's own password_file field)."""
        import yaml

        from digit_tui.answers.settings import answers_to_yaml

        doc = yaml.safe_load(answers_to_yaml(base)) or {}
        for key in _OWNED_SECTIONS:
            doc.pop(key, None)
        digit = dict(doc.pop("digit", None) or {})
        for key in _OWNED_DIGIT:
            digit.pop(key, None)
        # digit last, so that the form's digit keys continue its mapping.
        head = yamldump.safe_dump(doc, sort_keys=False, allow_unicode=True) + yamldump.safe_dump(
            {"digit": digit}, sort_keys=False, allow_unicode=True)
        lines: list[tuple[str, str]] = [(f"  state_tenant: {_q(self.state_tenant.strip())}", "state_tenant"),
                                        (f"  container_registry: {_q(self.container_registry.strip())}",
                                         "container_registry"),
                                        ("database:", "db_mode"), (f"  mode: {_q(self.db_mode)}", "db_mode")]
        if self.db_mode != "in-cluster" and self.db_host.strip():
            lines.append((f"  host: {_q(self.db_host.strip())}", "db_host"))
        lines += [(f"  port: {_number(self.db_port)}", "db_port"), (f"  name: {_q(self.db_name.strip())}", "db_name"),
                  (f"  username: {_q(self.db_username.strip())}", "db_username")]
        if password_file is not None:
            lines.append((f"  password_file: {_q(str(password_file))}", "db_password"))
        elif self.db_password_file.strip():
            lines.append((f"  password_file: {_q(_abs(self.db_password_file))}", "db_password_file"))
        lines += [("storage:", "storage_mode"), (f"  mode: {_q(self.storage_mode)}", "storage_mode")]
        if self.storage_class.strip():
            lines.append((f"  storage_class: {_q(self.storage_class.strip())}", "storage_class"))
        lines += [("phases:", "jenkins"), (f"  jenkins: {'true' if self.jenkins else 'false'}", "jenkins")]
        if self.monitoring != "default":
            lines.append((f"  monitoring: {'true' if self.monitoring == 'on' else 'false'}", "monitoring"))
        if self.jenkins:
            repositories = self.repositories()
            lines.append(("jenkins:", "jenkins_repositories"))
            if repositories:
                lines.append(("  repositories:", "jenkins_repositories"))
                lines += [(f"    - {_q(r)}", "jenkins_repositories") for r in repositories]
            else:
                lines.append(("  repositories: []", "jenkins_repositories"))
        first = head.count("\n") + 1
        return head + "".join(t + "\n" for t, _ in lines), {first + i: f for i, (_, f) in enumerate(lines)}


def _q(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _number(text: str) -> str:
    """A port as typed: a number when it is one, else a string validate refuses in its own words."""
    text = text.strip()
    return text if text.isdigit() else _q(text)


# --------------------------------------------------------------------------- the check


@dataclass(frozen=True)
class Preview:
    """What the install would write, secrets masked."""

    answers_text: str = ""
    env_name: str = ""                      # environments/<env>.yaml
    env_text: str = ""
    env_lines: tuple[str, ...] = ()         # the env file's lines this form decides
    secrets_lines: tuple[str, ...] = ()     # the secrets file's db entries, masked
    error: str | None = None                # the env file could not be generated


@dataclass(frozen=True)
class ConfigCheck:
    choices: ConfigChoices
    answers: Answers | None                 # validated, without a typed password's file
    errors: dict[str, InputError]
    first: tuple[str, InputError] | None
    preview: Preview | None                 # of the valid answers

    @property
    def ok(self) -> bool:
        return self.answers is not None and not self.errors


def password_path(state_dir: Path) -> Path:
    return state_dir / PASSWORD_NAME


def check_config(choices: ConfigChoices, base: Answers, answers_path: Path, state_dir: Path) -> ConfigCheck:
    """What the form shows about ``choices``: validate's problems, else the preview."""
    from digit_tui.answers.loader import AnswersError, parse_answers

    errors: dict[str, InputError] = {}
    if choices.db_password and choices.db_password_file.strip():
        errors["db_password"] = InputError("database.password_file: a password is typed and a password file named",
                                           expected="one of them: clear the password or the file")
    text, fields = choices.candidate(base)
    answers: Answers | None = None
    try:
        answers = parse_answers(text, answers_path, check_files=True)
    except AnswersError as exc:
        for problem in exc.problems or [exc]:
            errors.setdefault(fields.get(problem.line or 0, "base"), _unlocated(problem))
    except InputError as exc:
        errors.setdefault(fields.get(exc.line or 0, "base"), _unlocated(exc))
    first = min(errors.items(), key=lambda item: FIELDS.index(item[0]) if item[0] in FIELDS else -1) \
        if errors else None
    if errors or answers is None:
        return ConfigCheck(choices, None, errors, first, None)
    typed = password_path(state_dir) if choices.db_password else None
    shown_text = choices.candidate(base, typed)[0] if typed is not None else text
    return ConfigCheck(choices, answers, errors, first, preview(answers, answers_path, state_dir, shown_text,
                                                                choices))


def final_answers(choices: ConfigChoices, base: Answers, answers_path: Path, state_dir: Path) -> Answers:
    """The answers the install takes: a typed password written to its 0600 file first (in the
    private state directory), which ``database.password_file`` then names; without one, a file
    an earlier visit wrote is removed."""
    from digit_tui import paths
    from digit_tui.answers.loader import parse_answers
    from digit_tui.atomic import atomic_write

    typed = None
    if choices.db_password:
        paths.ensure_private_dir(state_dir)
        typed = atomic_write(password_path(state_dir), choices.db_password + "\n", mode=0o600)
    elif Path(_abs(choices.db_password_file)) != password_path(state_dir):
        # Typed on an earlier visit, then cleared: no secret is left that the answers do not name.
        password_path(state_dir).unlink(missing_ok=True)
    return parse_answers(choices.candidate(base, typed)[0], answers_path, check_files=True)


def preview(answers: Answers, answers_path: Path, state_dir: Path, answers_text: str,
            choices: ConfigChoices) -> Preview:
    """The answers file and the environment file as `render --answers` previews it before an
    install (dynamic storage: the volumes task decides the rest), secrets masked."""
    import yaml

    from digit_tui.answers.config import InstallConfig
    from digit_tui.digit.envfile import ENVIRONMENTS_DIR
    from digit_tui.viewmodel.newinstall import answers_text as with_header

    full = with_header(_reparsed(answers_text, answers_path))
    env_name = f"{ENVIRONMENTS_DIR}/{answers.environment}.yaml"
    secrets = (f"db.username: {answers.database.username}",
               "db.password: " + (f"{MASK} (typed here; written 0600 to {password_path(state_dir)})"
                                  if choices.db_password else
                                  f"{MASK} (from {answers.database.password_file})" if answers.database.password_file
                                  else "(generated by the install, kept in the state directory)"))
    try:
        config = InstallConfig.from_answers(answers, answers_path, state_dir=state_dir)
        env_text = config.operator_env(config.env_inputs(preview=True)).env_text()
        # Text this process just generated: libyaml's C loader (most of a check's time in the pure-Python one).
        env = yaml.load(env_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except (InputError, OSError, ValueError, yaml.YAMLError) as exc:
        return Preview(_mask(full, choices), env_name, "", (), secrets, error=str(exc))
    return Preview(_mask(full, choices), env_name, _mask(env_text, choices),
                   tuple(_mask(line, choices) for line in _decided(env)), secrets)


def _reparsed(text: str, answers_path: Path) -> Answers:
    from digit_tui.answers.loader import parse_answers

    return parse_answers(text, answers_path, check_files=False)


def _decided(env: dict[str, object]) -> list[str]:
    """The env file's keys this form decides, as `path: value` lines."""
    out: list[str] = []
    glob = env.get("global")
    if isinstance(glob, dict):
        out.append(f"global.containerRegistry: {glob.get('containerRegistry')}")
    configs = env.get("cluster-configs")
    if isinstance(configs, dict):
        data = (((configs.get("configmaps") or {}).get("egov-config") or {}).get("data") or {})
        for key in ("db-host", "db-name", "db-url", "egov-state-level-tenant-id"):
            if key in data:
                out.append(f"egov-config.{key}: {data[key]}")
        db = configs.get("db")
        if isinstance(db, dict):
            out.append("cluster-configs.db:")
            out += ["  " + line for line in yamldump.safe_dump(db, sort_keys=False).splitlines()]
    classes = sorted({str(block["persistence"]["storageClassName"]) for block in env.values()
                      if isinstance(block, dict) and isinstance(block.get("persistence"), dict)
                      and block["persistence"].get("storageClassName")})
    if classes:
        out.append("persistence storage class: " + ", ".join(classes))
    return out


def _mask(text: str, choices: ConfigChoices) -> str:
    # Nothing here should hold the password; if something ever does, it is not shown.
    return text.replace(choices.db_password, MASK) if len(choices.db_password) >= _MIN_MASKED else text
