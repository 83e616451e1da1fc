"""What to deploy, from the answers settings: the DIGIT source and release manifest,
the resolved modules, and the inputs of the environment file.

One place for this mapping, shared by the install tasks, ``digit-tui render``
and the sizing adapter, so the three never disagree about what "the release the
answers name" means. Works on the plain settings dict (``answers_to_settings``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digit_tui.errors import InputError

HELM_DIR = "helm"                     # <state_dir>/helm/environments/<env>.yaml and <env>-secrets.yaml
IN_CLUSTER_DB_HOST = "postgres.egov"  # the in-cluster database's Service


@dataclass
class Release:
    source: Any                 # digit_tui.digit.source.DigitSource
    manifest_path: Path
    manifest: Any               # digit_tui.digit.manifest.ReleaseManifest
    modules: list[str]          # resolved, in order


def find_manifest(source: Any, given: str | Path) -> Path:
    """``given`` as the operator wrote it: absolute, or relative to the tree's root, to
    ``deploy-as-code/helm`` or to a release folder (``config-as-code/product-release-charts`` too);
    a command-line path relative to the working directory is taken as it is."""
    path = Path(given)
    if not path.is_absolute() and path.is_file():
        return path.resolve()
    return Path(source.find_release(given))


class SourceNotFetched(Exception):
    """A git source asked for offline that has not been fetched into the state directory yet."""


def open_release(settings: Mapping[str, Any], *, state_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None, manifest: str | Path | None = None,
                 modules: list[str] | None = None, fetch: bool = True) -> Release:
    """The source, release manifest and resolved modules the answers name (InputError if bad).

    ``manifest`` and ``modules`` override the answers (command-line options). With
    ``fetch=False`` a git source is only looked up where an earlier fetch left it
    (SourceNotFetched when it is not there): building the install graph must not
    reach the network, whose failures belong to a task that can retry and journal them."""
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.source import open_source

    digit = settings.get("digit") or {}
    src = digit.get("source") or {}
    if src.get("kind") == "git" and not fetch:
        source = _fetched_source(str(src["git"]), src.get("ref"), state_dir)
    elif src.get("kind") == "git":
        source = open_source(str(src["git"]), src.get("ref"), state_dir=state_dir, progress=progress)
    else:
        if not src.get("path"):
            raise InputError("the answers settings name no DIGIT source", expected="digit.source")
        source = open_source(str(src["path"]))
    release = manifest or digit.get("release")
    if not release:
        found = source.release_manifests()
        if len(found) != 1:
            raise InputError(f"no release manifest chosen and the source has {len(found)}",
                             path=settings.get("answers_file"), expected="digit.release: a dependancy_chart-*.yaml")
        manifest_path = Path(found[0])
    else:
        manifest_path = find_manifest(source, release)
    loaded = load_manifest(manifest_path)
    chosen = list(digit.get("modules") or []) if modules is None else modules
    return Release(source, manifest_path, loaded, loaded.resolve(chosen))


def _fetched_source(url: str, ref: str | None, state_dir: Path | None) -> Any:
    from digit_tui.digit.source import checkout_dir_name, locate, redact_url

    if state_dir is None:
        raise SourceNotFetched(redact_url(url))
    checkout = Path(state_dir) / "sources" / checkout_dir_name(url, ref)
    if not (checkout / ".git").exists():
        raise SourceNotFetched(redact_url(url))
    return locate(checkout, origin=redact_url(url), ref=ref)


def env_inputs(settings: Mapping[str, Any], volumes: Mapping[str, Any] | None = None) -> Any:
    """``EnvInputs`` from the answers settings (and, for static storage, the volume task's outputs)."""
    from digit_tui.digit.envinputs import EnvInputs, is_ip

    digit = settings.get("digit") or {}
    db = settings.get("database") or {}
    storage = settings.get("storage") or {}
    host = str(db.get("host") or "")
    db_host, db_ips = host, ()
    if db.get("mode", "in-cluster") == "in-cluster" or not host:
        db_host = IN_CLUSTER_DB_HOST
    elif is_ip(host):
        # DIGIT reaches an external database by IP through the db-service Service + manual Endpoints.
        db_host, db_ips = "", (host,)
    mode = str(storage.get("mode") or "dynamic")
    provider = str(storage.get("provider") or "none")
    inputs = EnvInputs(
        environment=str(settings.get("environment", "")),
        domain=str(digit.get("domain", "")),
        state_tenant_id=str(digit.get("state_tenant") or "pb"),
        container_registry=str(digit.get("container_registry") or "egovio"),
        db_host=db_host, db_ips=db_ips, db_port=int(db.get("port") or 5432), db_name=str(db.get("name") or "egov_db"),
        storage_mode=mode,
        storage_provider=provider if provider != "none" else "iscsi",
        storage_class=str(storage.get("storage_class") or ""),
        volumes=dict(volumes or {}) if mode == "static" else {},
    )
    inputs.validate()
    return inputs


def preview_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings for rendering before an install: no volume outputs exist yet, so dynamic storage."""
    storage = dict(settings.get("storage") or {})
    storage["mode"] = "dynamic"
    return {**settings, "storage": storage}
