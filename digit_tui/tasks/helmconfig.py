"""Task ``helm-config``: generate DIGIT's environment and secrets files from the answers.

Writes ``<state_dir>/helm/environments/<env>.yaml`` and ``<env>-secrets.yaml``
in DIGIT-DevOps' classic shape (so DIGIT's own deployer and Jenkins jobs can use
them too). The ``persistence`` blocks come from what the volumes task published (static
disks, claim sizes and replicas from the sizing plan); a graph without that task gets dynamic
volumes from the answers' storage class, and refuses static storage.

Converged when both files exist and are exactly what would be generated now.
Secrets are never rotated: values already in the file, and the database
password the operator supplied (``database.password_file``), are kept.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from digit_tui.answers.config import InstallConfig
from digit_tui.digit.selection import HELM_DIR
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import InputError, PermanentError
from digit_tui.infra import reads

TASK_ID = "helm-config"
VOLUMES_TASK = "volumes"         # publishes storage_mode, storage_provider, storage_class, volumes, env_overrides
SOPS_CONFIG = ".sops.yaml"

# Secret values shorter than this are names rather than secrets (the db user "egov").
_MIN_SECRET_LEN = 8
_NOT_SECRET_KEYS = frozenset({"username", "flywayUsername"})


def helm_dir(config: InstallConfig) -> Path:
    return config.require_state_dir() / HELM_DIR


def supplied_secrets(config: InstallConfig) -> dict[str, dict[str, str]]:
    """What the operator gave: the database user, and its password from ``password_file``."""
    db = config.answers.database
    out: dict[str, str] = {"username": db.username}
    if db.password_file is not None:
        path = db.password_file
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the database password file: {exc.strerror}", path=path) from None
        if not password:
            raise InputError("the database password file is empty", path=path, expected="the password on one line")
        out["password"] = password
    return {"db": out}


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def _operator_error(exc: InputError) -> PermanentError:
    """An operator's file that cannot be used, as the task's permanent error: the key or the line
    it names, and what to do (never a value: the messages are built from names and positions)."""
    where = f"{exc.path}:{exc.line}: " if exc.path and exc.line else f"{exc.path}: " if exc.path else ""
    remedy = exc.expected or "fix the file named in digit.environment_file / digit.secrets_file"
    return PermanentError(f"{where}{exc.message}", remedy=remedy)


class HelmConfigTask(Task):
    """Generate ``environments/<env>.yaml`` and ``<env>-secrets.yaml`` under ``<state_dir>/helm/``."""

    witnessed = True    # the files it compares and the operator's files it layers (``_state``)

    def __init__(self, config: InstallConfig, deps: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(TASK_ID, "Generate the DIGIT environment and secrets files", "helmconfig", deps,
                         retry=RetryPolicy(attempts=2), timeout=120.0)
        self.config = config

    def _inputs(self, ctx: TaskContext) -> Any:
        # The persistence blocks are what the volumes task published (static disks, claim sizes from
        # the sizing plan, DIGIT-DevOps' persistence switches), never typed into the answers.
        storage = ctx.output(VOLUMES_TASK) if VOLUMES_TASK in self.deps else None
        if storage is None and self.config.answers.storage.mode == "static":
            # Without the phase nobody makes the PVs: an env file saying dynamic would ignore the answer.
            raise PermanentError("storage.mode: static needs the volumes phase, which this install graph does not have",
                                 remedy="run the whole install (`digit-tui install` without --graph), or use "
                                        "storage.mode: dynamic")
        try:
            return self.config.env_inputs(storage)
        except InputError as exc:
            raise PermanentError(f"the volumes task's outputs cannot go into the environment file: {exc.message}",
                                 remedy="check the disks the volumes task read (its journal lines), then run "
                                        "`digit-tui install` again") from None

    def _paths(self, ctx: TaskContext, environment: str) -> tuple[Path, Path]:
        from digit_tui.digit.envfile import env_file_path
        from digit_tui.digit.secretsfile import secrets_file_path

        out = helm_dir(self.config)
        return env_file_path(out, environment), secrets_file_path(out, environment)

    def _register(self, ctx: TaskContext, document: Mapping[str, Any] | None) -> None:
        from digit_tui.digit.operatorenv import secret_values

        for key, value in secret_values(document or {}):
            if key not in _NOT_SECRET_KEYS and len(value) >= _MIN_SECRET_LEN:
                ctx.secret(value)

    def _publish(self, ctx: TaskContext, env_file: Path, secrets_file: Path, inputs: Any) -> None:
        ctx.publish("env_file", str(env_file))
        ctx.publish("secrets_file", str(secrets_file))
        ctx.publish("environment", inputs.environment)
        ctx.publish("storage", inputs.storage_mode)
        own = self.config.operator_files()
        ctx.publish("operator_env_file", str(own.env_file) if own.env_file else None)
        ctx.publish("operator_secrets_file", str(own.secrets_file) if own.secrets_file else None)
        # The release record shows these as skipped on purpose (not as missing or removed).
        ctx.publish("skipped_services", list(self.config.skip_services))

    def _state(self, ctx: TaskContext) -> tuple[Any, Path, Path, bool]:
        from digit_tui.digit.operatorenv import read_previous

        inputs = self._inputs(ctx)
        env_file, secrets_file = self._paths(ctx, inputs.environment)
        own = self.config.operator_files()
        for path in (env_file, secrets_file, own.env_file, own.secrets_file, self.config.answers.database.password_file):
            if path is not None:
                reads.file(path)
        if not env_file.is_file() or not secrets_file.is_file():
            return inputs, env_file, secrets_file, False
        if not (_private(env_file) and _private(secrets_file)):
            return inputs, env_file, secrets_file, False  # an older digit-tui wrote them 0644: rewrite 0600
        try:
            env = self.config.operator_env(inputs)
            if env_file.read_text(encoding="utf-8") != env.env_text():
                return inputs, env_file, secrets_file, False
            previous = read_previous(secrets_file, layered=env.files.secrets_file is not None)
            self._register(ctx, previous)
            # Converged when nothing would be added or changed (supplied values win, missing keys are generated).
            want = env.secrets_document(previous, supplied_secrets(self.config))
        except InputError as exc:
            raise _operator_error(exc) from None
        return inputs, env_file, secrets_file, want == previous

    async def check(self, ctx: TaskContext) -> bool:
        inputs, env_file, secrets_file, ok = await ctx.run_sync(self._state, ctx)
        if ok:
            self._publish(ctx, env_file, secrets_file, inputs)
        return ok

    def _write(self, ctx: TaskContext) -> tuple[Any, Path, Path]:
        from digit_tui.digit.operatorenv import read_previous
        from digit_tui.digit.secretsfile import find_sops

        inputs = self._inputs(ctx)
        out = helm_dir(self.config)
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        # sops is opt-in: an operator who put a .sops.yaml (creation rules) beside the files gets them encrypted.
        encrypt = (out / SOPS_CONFIG).is_file() and find_sops() is not None
        try:
            env = self.config.operator_env(inputs)
            env_file, secrets_file = env.write(out, supplied_secrets(self.config), encrypt=encrypt)
            self._register(ctx, read_previous(secrets_file, layered=env.files.secrets_file is not None))
        except InputError as exc:
            raise _operator_error(exc) from None
        return inputs, env_file, secrets_file

    async def ensure(self, ctx: TaskContext) -> None:
        inputs, env_file, secrets_file = await ctx.run_sync(self._write, ctx)
        own = self.config.operator_files()
        base = [str(p) for p in (own.env_file, own.secrets_file) if p is not None]
        over = f" over the operator's {' and '.join(base)}" if base else ""
        ctx.log(f"wrote {env_file} and {secrets_file.name} (0600){over}")
        self._publish(ctx, env_file, secrets_file, inputs)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        out = Path(str(self.config.state_dir or "<state dir>")) / HELM_DIR / "environments"
        env = self.config.environment
        own = self.config.operator_files()
        lines = [f"would write {out}/{env}.yaml and {env}-secrets.yaml (secrets kept if present)"]
        if own.env_file:
            lines.append(f"  the environment file is {own.env_file} with the answers layered over it")
        if own.secrets_file:
            lines.append(f"  the secrets file is {own.secrets_file}; only the secrets it lacks are generated")
        try:
            # Reading them now shows a missing sops key or a broken file in the plan, before any install.
            await ctx.run_sync(_read_operator_files, own)
        except InputError as exc:
            lines.append(f"  cannot use it: {exc}")
        return lines


def _read_operator_files(own: Any) -> None:
    from digit_tui.digit.operatorenv import load_operator_env, load_operator_secrets

    if own.env_file:
        load_operator_env(own.env_file)
    if own.secrets_file:
        load_operator_secrets(own.secrets_file)
