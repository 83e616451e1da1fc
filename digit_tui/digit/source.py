"""A DIGIT-DevOps tree: a local directory, or a git URL and ref cloned into the state directory.

The classic layout keeps everything under ``deploy-as-code/helm/``
(``charts/``, ``environments/``, ``product-release-charts/``). A tree whose
root directly holds ``charts/`` is accepted too, so an operator can point at
``deploy-as-code/helm`` itself or at a trimmed copy. Newer branches and state
forks keep the release manifests in ``config-as-code/product-release-charts/``
beside ``deploy-as-code/``: both folders are searched, and a release path may be
given relative to the tree's root, to ``deploy-as-code/helm`` or to either folder.

Git sources are fetched shallowly (``git fetch --depth 1 <ref>``) into
``<state_dir>/sources/<safe-name>@<ref>`` and reused when the checkout already
sits at the commit the ref names, so a resumed install does not download the
tree again. Every git call has a deadline; progress lines go to a callback.
Running git and typing its failures is ``gitcmd.py``'s job; a URL carrying a
credential is refused before git sees it (it would show in ``ps``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from digit_tui.digit.gitcmd import GitFailed, GitRefNotFound, Progress, run_git
from digit_tui.errors import InputError, PermanentError, TransientError
# redact_url is re-exported: the callers of this module show URLs they got from it
from digit_tui.infra.giturl import CREDENTIAL_REMEDY, credential_part, redact_url as redact_url, secrets_in

# Where the three parts of a classic tree live, relative to the candidate base.
_BASES: tuple[str, ...] = ("deploy-as-code/helm", "helm", ".")
CHARTS = "charts"
ENVIRONMENTS = "environments"
RELEASES = "product-release-charts"
CONFIG_AS_CODE = "config-as-code"
MANIFEST_PATTERNS: tuple[str, ...] = ("dependancy_chart-*.yaml", "dependency_chart-*.yaml",
                                      "dependancy_chart-*.yml", "dependency_chart-*.yml")

_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
# scheme://..., or scp-like user@host:path (the user part may hold a ':' password: still a URL)
_GIT_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[^/\s]+@[\w.-]+:)", re.IGNORECASE)


@dataclass(frozen=True)
class DigitSource:
    """Where the parts of one DIGIT-DevOps tree are on disk."""

    root: Path                          # what the operator pointed at (or the checkout)
    charts_dir: Path                    # .../charts
    environments_dir: Path | None       # .../environments, when the tree has one
    releases_dir: Path | None           # .../product-release-charts, when the tree has one
    origin: str                         # the directory or the git URL (credentials removed)
    ref: str | None = None              # the git ref asked for
    commit: str | None = None           # the commit checked out (git sources)
    release_dirs: tuple[Path, ...] = () # every release folder found (releases_dir is the first)

    def release_manifests(self) -> list[Path]:
        """Every ``dependancy_chart-*.yaml`` / ``dependency_chart-*.yaml`` under the release folders."""
        bases = self.release_dirs or ((self.releases_dir,) if self.releases_dir else (self.root,))
        found = [p for base in bases for pattern in MANIFEST_PATTERNS for p in base.rglob(pattern)]
        return sorted(set(found))

    def find_release(self, given: str | os.PathLike[str]) -> Path:
        """A release manifest path as an operator writes it: absolute, or relative to the tree's
        root, to ``deploy-as-code/helm`` (the charts' parent) or to a release folder."""
        path = Path(given).expanduser()
        if path.is_absolute():
            if path.is_file():
                return path
            raise InputError("release manifest not found", path=path,
                             expected="a dependancy_chart-<product>-vX.Y.yaml file")
        bases = [self.root, self.charts_dir.parent, *self.release_dirs]
        bases += [d.parent for d in self.release_dirs]           # "product-release-charts/DIGIT/..."
        for base in dict.fromkeys(bases):
            if (base / path).is_file():
                return base / path
        raise InputError(f"release manifest {given} not found in {self.root}", path=Path(given),
                         expected="a path relative to the tree's root, deploy-as-code/helm or "
                                  f"{RELEASES}/ (looked in {', '.join(str(b) for b in dict.fromkeys(bases))})")

    def environment_file(self, env: str) -> Path:
        """``environments/<env>.yaml`` (it need not exist yet: it may be about to be generated)."""
        if self.environments_dir is None:
            raise InputError("the DIGIT tree has no environments folder", path=self.root,
                             expected=f"{ENVIRONMENTS}/ beside {CHARTS}/")
        return self.environments_dir / f"{env}.yaml"

    def secrets_file(self, env: str) -> Path:
        return self.environment_file(env).with_name(f"{env}-secrets.yaml")


def is_git_url(location: str) -> bool:
    """A URL (``https://``, ``ssh://``, ``file://``, ``git@host:path``) rather than a local directory."""
    return bool(_GIT_URL_RE.match(location))


def locate(root: str | os.PathLike[str], *, origin: str | None = None, ref: str | None = None,
           commit: str | None = None) -> DigitSource:
    """Find the charts, environments and release folders of a local tree."""
    base_root = Path(root).expanduser()
    if not base_root.is_dir():
        raise InputError("DIGIT-DevOps source directory not found", path=base_root,
                         expected="a directory containing deploy-as-code/helm/charts or charts/")
    base_root = base_root.resolve()
    tried: list[str] = []
    for rel in _BASES:
        base = (base_root / rel).resolve()
        charts = base / CHARTS
        tried.append(str(charts))
        if charts.is_dir():
            envs = base / ENVIRONMENTS
            rels = _release_dirs(base_root, base)
            return DigitSource(
                root=base_root, charts_dir=charts,
                environments_dir=envs if envs.is_dir() else None,
                releases_dir=rels[0] if rels else None,
                origin=origin or str(base_root), ref=ref, commit=commit, release_dirs=rels,
            )
    raise InputError(f"no charts folder in the DIGIT-DevOps tree (looked for {', '.join(tried)})",
                     path=base_root, expected="deploy-as-code/helm/charts or charts/ under the source root")


def _release_dirs(root: Path, base: Path) -> tuple[Path, ...]:
    """``<base>/product-release-charts`` and ``config-as-code/product-release-charts`` beside
    ``deploy-as-code`` (whether the operator pointed at the repository or at its helm folder)."""
    candidates = [base / RELEASES, root / CONFIG_AS_CODE / RELEASES]
    if base.name == "helm" and base.parent.name == "deploy-as-code":
        candidates.append(base.parent.parent / CONFIG_AS_CODE / RELEASES)
    return tuple(d for d in dict.fromkeys(c.resolve() for c in candidates) if d.is_dir())


def open_source(location: str | os.PathLike[str], ref: str | None = None, *,
                state_dir: str | os.PathLike[str] | None = None,
                progress: Progress | None = None, timeout: float = 600.0) -> DigitSource:
    """Open a local tree, or fetch a git source (``ref`` defaults to the remote's HEAD)."""
    text = os.fspath(location)
    if not is_git_url(text):
        if ref:
            raise InputError("a git ref was given for a local directory source", path=text,
                             expected="a git URL when a ref is set, or no ref")
        return locate(text)
    part = credential_part(text)
    if part is not None:
        # git would get the token on its command line, where every user of the machine sees it.
        raise InputError(f"the git URL {redact_url(text)} carries a password or token in its {part}",
                         expected=CREDENTIAL_REMEDY)
    if state_dir is None:
        raise InputError("a git source needs a state directory to clone into", path=text)
    checkout, commit = fetch_git(text, ref, Path(state_dir) / "sources", progress=progress, timeout=timeout)
    return locate(checkout, origin=text, ref=ref, commit=commit)


def checkout_dir_name(url: str, ref: str | None) -> str:
    """``<repo>-<hash of URL>@<ref>``: readable, and two forks of one repo do not collide."""
    clean = redact_url(url).rstrip("/")
    tail = re.split(r"[/:]", re.split(r"[?#]", clean)[0].rstrip("/"))[-1] or "source"
    if tail.endswith(".git"):
        tail = tail[:-4]
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", tail) or "source"
    digest = hashlib.sha256(clean.encode()).hexdigest()[:8]
    safe_ref = re.sub(r"[^A-Za-z0-9._-]", "_", ref or "HEAD")
    return f"{tail}-{digest}@{safe_ref}"


class _Remote:
    """One git URL: its redacted name for messages and the secrets to mask in git's output."""

    def __init__(self, url: str, cancel: threading.Event | None = None) -> None:
        self.url = url
        self.cancel = cancel
        self.shown = redact_url(url)
        self.secrets = secrets_in(url)

    def git(self, args: list[str], deadline: float, report: Progress, *, ref: str | None = None) -> str:
        return run_git(args, deadline, report, what=self.shown, ref=ref, secrets=self.secrets, cancel=self.cancel)


def fetch_git(url: str, ref: str | None, sources_dir: Path, *, progress: Progress | None = None,
              timeout: float = 600.0, cancel: threading.Event | None = None) -> tuple[Path, str]:
    """Make ``sources_dir/<name>@<ref>`` a checkout of ``ref``; returns (directory, commit).

    Raises ``TransientError`` (``GitUnreachable``) when the server cannot be reached and a
    ``PermanentError`` (``GitRepoNotFound``, ``GitAuthFailed``, ``GitRefNotFound``, ``GitFailed``)
    when the URL, ref or credentials are wrong; messages hold no credentials. Setting ``cancel``
    stops git at once (``GitCancelled``), leaving no partial checkout."""
    remote = _Remote(url, cancel)
    report = progress or (lambda _line: None)
    deadline = time.monotonic() + timeout
    dest = sources_dir / checkout_dir_name(url, ref)
    want = ref or "HEAD"
    shown = remote.shown

    current = _head_commit(dest, deadline) if (dest / ".git").exists() else None
    if current is not None:
        if _SHA_RE.match(want.lower()) and current.startswith(want.lower()):
            report(f"using {shown}@{want} already checked out at {current[:12]}")
            return dest, current
        try:
            upstream = _remote_commit(remote, want, deadline)
        except TransientError as exc:
            # Offline on resume: the checkout we have is the one this install started with.
            report(f"cannot reach {shown} ({exc}); using the checkout at {current[:12]}")
            return dest, current
        if upstream is not None and upstream == current:
            report(f"using {shown}@{want} already checked out at {current[:12]}")
            return dest, current

    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    report(f"fetching {shown}@{want}")
    try:
        commit = _fetch_into(tmp, remote, want, deadline, report)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    report(f"checked out {shown}@{want} at {commit[:12]}")
    return dest, commit


def _fetch_into(tmp: Path, remote: _Remote, want: str, deadline: float, report: Progress) -> str:
    local = str(tmp)
    remote.git(["init", "--quiet", local], deadline, report)
    remote.git(["-C", local, "remote", "add", "origin", remote.url], deadline, report)
    try:
        remote.git(["-C", local, "fetch", "--depth", "1", "--progress", "origin", want], deadline, report, ref=want)
    except (GitRefNotFound, GitFailed):
        if not _SHA_RE.match(want.lower()):
            raise
        # Some servers refuse a shallow fetch of a bare commit id; fetch everything then pick it.
        report(f"server refused a shallow fetch of {want}; fetching the whole history")
        remote.git(["-C", local, "fetch", "--progress", "origin"], deadline, report, ref=want)
        remote.git(["-C", local, "fetch", "--progress", "origin", "--tags"], deadline, report, ref=want)
        remote.git(["-C", local, "checkout", "--quiet", "--detach", want], deadline, report, ref=want)
    else:
        remote.git(["-C", local, "checkout", "--quiet", "--detach", "FETCH_HEAD"], deadline, report, ref=want)
    commit = _head_commit(tmp, deadline)
    if commit is None:
        raise GitFailed(f"git fetched {remote.shown}@{want} but left no commit checked out",
                        remedy="remove the .partial checkout under the state directory's sources/ and install again")
    return commit


def _head_commit(repo: Path, deadline: float) -> str | None:
    try:
        out = run_git(["-C", str(repo), "rev-parse", "HEAD"], deadline, lambda _l: None, what=str(repo))
    except PermanentError:
        return None
    return out.strip() or None


def _remote_commit(remote: _Remote, ref: str, deadline: float) -> str | None:
    """The commit ``ref`` names on the remote, or None when it is not a branch or tag name."""
    out = remote.git(["ls-remote", remote.url, ref], deadline, lambda _l: None, ref=ref)
    refs = {name: sha for sha, name in (line.split("\t", 1) for line in out.splitlines() if "\t" in line)}
    # ls-remote matches on the tail ("master" also finds "refs/heads/x/master"): take exact names,
    # and for an annotated tag the commit it points at ("<tag>^{}"), not the tag object.
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs:
            return refs[name]
    return None
