"""What to deploy: the DIGIT source and release manifest, and the resolved modules.

``open_release`` is the one place that turns a source reference, a release
manifest and the chosen modules into a ``Release``; the install tasks (through
``InstallConfig.open_release``), ``digit-tui render`` and the sizing adapter use
it, so they never disagree about what "the release the answers name" means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from digit_tui.errors import InputError

HELM_DIR = "helm"                     # <state_dir>/helm/environments/<env>.yaml and <env>-secrets.yaml
IN_CLUSTER_DB_HOST = "postgres.egov"  # the in-cluster database's Service


@dataclass(frozen=True)
class SourceRef:
    """Where the DIGIT tree is: a local directory (the bundled sample is one) or a git URL + ref."""

    kind: Literal["bundled", "path", "git"]
    path: str | None = None
    git: str | None = None
    ref: str | None = None


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


def open_release(ref: SourceRef, release: str | Path | None, modules: Sequence[str], *,
                 state_dir: Path | None = None, progress: Callable[[str], None] | None = None,
                 fetch: bool = True, answers_file: str | None = None) -> Release:
    """The source, release manifest and resolved modules (InputError if bad).

    With ``fetch=False`` a git source is only looked up where an earlier fetch left it
    (SourceNotFetched when it is not there): building the install graph must not
    reach the network, whose failures belong to a task that can retry and journal them."""
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.source import open_source

    if ref.kind == "git" and not fetch:
        source = _fetched_source(str(ref.git), ref.ref, state_dir)
    elif ref.kind == "git":
        source = open_source(str(ref.git), ref.ref, state_dir=state_dir, progress=progress)
    else:
        if not ref.path:
            raise InputError("the answers name no DIGIT source", expected="digit.source")
        source = open_source(ref.path)
    if not release:
        found = source.release_manifests()
        if len(found) != 1:
            raise InputError(f"no release manifest chosen and the source has {len(found)}",
                             path=answers_file, expected="digit.release: a dependancy_chart-*.yaml")
        manifest_path = Path(found[0])
    else:
        manifest_path = find_manifest(source, release)
    loaded = load_manifest(manifest_path)
    return Release(source, manifest_path, loaded, loaded.resolve(list(modules)))


def _fetched_source(url: str, ref: str | None, state_dir: Path | None) -> Any:
    from digit_tui.digit.source import checkout_dir_name, locate, redact_url

    if state_dir is None:
        raise SourceNotFetched(redact_url(url))
    checkout = Path(state_dir) / "sources" / checkout_dir_name(url, ref)
    if not (checkout / ".git").exists():
        raise SourceNotFetched(redact_url(url))
    return locate(checkout, origin=redact_url(url), ref=ref)
