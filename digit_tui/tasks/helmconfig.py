"""Task ``helm-config``: generate DIGIT's environment and secrets files from the answers.

Writes ``<state_dir>/helm/environments/<env>.yaml`` and ``<env>-secrets.yaml``
in DIGIT-DevOps' classic shape (so DIGIT's own deployer and Jenkins jobs can use
them too). Volumes come from the volume task's outputs when storage is static;
otherwise the cluster's StorageClass provisions them (dynamic).

Converged when both files exist and are exactly what would be generated now.
Secrets are never rotated: values already in the file, and the database
password the operator supplied (``database.password_file``), are kept.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from digit_tui.digit.selection import HELM_DIR, env_inputs
from digit_tui.engine.errors import PermanentError
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import InputError

TASK_ID = "helm-config"
VOLUMES_TASK = "volumes"         # the volume task publishes {"volumes": {service: [VolumeRef mapping, ...]}}
SOPS_CONFIG = ".sops.yaml"

# Secret values shorter than this are names rather than secrets (the db user "egov").
_MIN_SECRET_LEN = 8
_NOT_SECRET_KEYS = frozenset({"username", "flywayUsername"})


def state_dir_of(settings: Mapping[str, Any]) -> Path:
    value = settings.get("state_dir")
    if not value:
        raise PermanentError("the engine gave no state directory to the release tasks",
                             remedy="run through `digit-tui install`, which sets it")
    return Path(str(value))


def helm_dir(settings: Mapping[str, Any]) -> Path:
    return state_dir_of(settings) / HELM_DIR


def supplied_secrets(settings: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """What the operator gave: the database user, and its password from ``password_file``."""
    db = settings.get("database") or {}
    out: dict[str, str] = {}
    if db.get("username"):
        out["username"] = str(db["username"])
    if db.get("password_file"):
        path = Path(str(db["password_file"]))
        try:
            password = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InputError(f"cannot read the database password file: {exc.strerror}", path=path) from None
        if not password:
            raise InputError("the database password file is empty", path=path, expected="the password on one line")
        out["password"] = password
    return {"db": out} if out else {}


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


class HelmConfigTask(Task):
    """Generate ``environments/<env>.yaml`` and ``<env>-secrets.yaml`` under ``<state_dir>/helm/``."""

    def __init__(self, deps: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(TASK_ID, "Generate the DIGIT environment and secrets files", "helmconfig", deps,
                         retry=RetryPolicy(attempts=2), timeout=120.0)

    def _inputs(self, ctx: TaskContext) -> Any:
        volumes = (ctx.output(VOLUMES_TASK) or {}).get("volumes") if VOLUMES_TASK in self.deps else None
        return env_inputs(ctx.settings, volumes)

    def _paths(self, ctx: TaskContext, environment: str) -> tuple[Path, Path]:
        from digit_tui.digit.envfile import env_file_path
        from digit_tui.digit.secretsfile import secrets_file_path

        out = helm_dir(ctx.settings)
        return env_file_path(out, environment), secrets_file_path(out, environment)

    def _register(self, ctx: TaskContext, values: Mapping[str, Mapping[str, str]]) -> None:
        for keys in values.values():
            for key, value in keys.items():
                if key not in _NOT_SECRET_KEYS and len(str(value)) >= _MIN_SECRET_LEN:
                    ctx.secret(str(value))

    def _publish(self, ctx: TaskContext, env_file: Path, secrets_file: Path, inputs: Any) -> None:
        ctx.publish("env_file", str(env_file))
        ctx.publish("secrets_file", str(secrets_file))
        ctx.publish("environment", inputs.environment)
        ctx.publish("storage", inputs.storage_mode)

    def _state(self, ctx: TaskContext) -> tuple[Any, Path, Path, bool]:
        from digit_tui.digit.envfile import render_env
        from digit_tui.digit.secretsfile import build_secrets, read_secrets_file

        inputs = self._inputs(ctx)
        env_file, secrets_file = self._paths(ctx, inputs.environment)
        supplied = supplied_secrets(ctx.settings)
        if not env_file.is_file() or not secrets_file.is_file():
            return inputs, env_file, secrets_file, False
        if not (_private(env_file) and _private(secrets_file)):
            return inputs, env_file, secrets_file, False  # an older digit-tui wrote them 0644: rewrite 0600
        if env_file.read_text(encoding="utf-8") != render_env(inputs):
            return inputs, env_file, secrets_file, False
        existing = read_secrets_file(secrets_file)
        self._register(ctx, existing)
        # Converged when nothing would be added or changed (supplied values win, missing keys are generated).
        return inputs, env_file, secrets_file, build_secrets(inputs, existing, supplied) == existing

    async def check(self, ctx: TaskContext) -> bool:
        inputs, env_file, secrets_file, ok = await ctx.run_sync(self._state, ctx)
        if ok:
            self._publish(ctx, env_file, secrets_file, inputs)
        return ok

    def _write(self, ctx: TaskContext) -> tuple[Any, Path, Path]:
        from digit_tui.digit.envfile import write_env_file
        from digit_tui.digit.secretsfile import find_sops, read_secrets_file, write_secrets_file

        inputs = self._inputs(ctx)
        out = helm_dir(ctx.settings)
        out.mkdir(parents=True, exist_ok=True, mode=0o700)
        env_file = write_env_file(inputs, out)
        # sops is opt-in: an operator who put a .sops.yaml (creation rules) beside the files gets them encrypted.
        encrypt = (out / SOPS_CONFIG).is_file() and find_sops() is not None
        secrets_file = write_secrets_file(inputs, out, supplied_secrets(ctx.settings), encrypt=encrypt)
        self._register(ctx, read_secrets_file(secrets_file))
        return inputs, env_file, secrets_file

    async def ensure(self, ctx: TaskContext) -> None:
        inputs, env_file, secrets_file = await ctx.run_sync(self._write, ctx)
        ctx.log(f"wrote {env_file} and {secrets_file.name} (0600)")
        self._publish(ctx, env_file, secrets_file, inputs)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        out = Path(str(ctx.settings.get("state_dir") or "<state dir>")) / HELM_DIR / "environments"
        env = ctx.settings.get("environment", "<env>")
        return [f"would write {out}/{env}.yaml and {env}-secrets.yaml (secrets kept if present)"]
