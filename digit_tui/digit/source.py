"""A DIGIT-DevOps tree: a local directory, or a git URL and ref cloned into the state directory.

The classic layout keeps everything under ``deploy-as-code/helm/``
(``charts/``, ``environments/``, ``product-release-charts/``). A tree whose
root directly holds ``charts/`` is accepted too, so an operator can point at
``deploy-as-code/helm`` itself or at a trimmed copy.

Git sources are fetched shallowly (``git fetch --depth 1 <ref>``) into
``<state_dir>/sources/<safe-name>@<ref>`` and reused when the checkout already
sits at the commit the ref names, so a resumed install does not download the
tree again. Every git call has a deadline; progress lines go to a callback.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from digit_tui.engine.errors import PermanentError, TransientError
from digit_tui.errors import InputError

Progress = Callable[[str], None]

# Where the three parts of a classic tree live, relative to the candidate base.
_BASES: tuple[str, ...] = ("deploy-as-code/helm", "helm", ".")
CHARTS = "charts"
ENVIRONMENTS = "environments"
RELEASES = "product-release-charts"

_SHA_RE = re.compile(r"^[0-9a-f]{7,40}$")
_GIT_URL_RE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|[\w.-]+@[\w.-]+:)", re.IGNORECASE)
# git's messages that mean "try again later" rather than "you asked for something wrong"
_TRANSIENT_GIT = (
    "could not resolve host", "connection timed out", "connection refused", "connection reset",
    "network is unreachable", "operation timed out", "early eof", "the remote end hung up",
    "temporary failure", "failed to connect", "gnutls", "ssl_read", "rpc failed",
    "could not read from remote repository",
)
_NOT_FOUND_GIT = (
    "couldn't find remote ref", "repository not found", "does not appear to be a git repository",
    "not found", "no such file or directory", "invalid refspec",
)


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

    def release_manifests(self) -> list[Path]:
        """Every ``dependancy_chart-*.yaml`` / ``dependency_chart-*.yaml`` under the releases folder."""
        base = self.releases_dir or self.root
        found = [p for pattern in ("dependancy_chart-*.yaml", "dependency_chart-*.yaml",
                                   "dependancy_chart-*.yml", "dependency_chart-*.yml")
                 for p in base.rglob(pattern)]
        return sorted(set(found))

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


def redact_url(url: str) -> str:
    """Drop a password or token embedded in a URL before it reaches a message or a log."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None and not (parts.username and "@" in parts.netloc):
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username and parts.password is None else "***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


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
            rels = base / RELEASES
            return DigitSource(
                root=base_root, charts_dir=charts,
                environments_dir=envs if envs.is_dir() else None,
                releases_dir=rels if rels.is_dir() else None,
                origin=origin or str(base_root), ref=ref, commit=commit,
            )
    raise InputError(f"no charts folder in the DIGIT-DevOps tree (looked for {', '.join(tried)})",
                     path=base_root, expected="deploy-as-code/helm/charts or charts/ under the source root")


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
    if state_dir is None:
        raise InputError("a git source needs a state directory to clone into", path=redact_url(text))
    checkout, commit = fetch_git(text, ref, Path(state_dir) / "sources", progress=progress, timeout=timeout)
    return locate(checkout, origin=redact_url(text), ref=ref, commit=commit)


def checkout_dir_name(url: str, ref: str | None) -> str:
    """``<repo>-<hash of URL>@<ref>``: readable, and two forks of one repo do not collide."""
    clean = redact_url(url).rstrip("/")
    tail = re.split(r"[/:]", clean)[-1] or "source"
    if tail.endswith(".git"):
        tail = tail[:-4]
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", tail) or "source"
    digest = hashlib.sha256(clean.encode()).hexdigest()[:8]
    safe_ref = re.sub(r"[^A-Za-z0-9._-]", "_", ref or "HEAD")
    return f"{tail}-{digest}@{safe_ref}"


def fetch_git(url: str, ref: str | None, sources_dir: Path, *, progress: Progress | None = None,
              timeout: float = 600.0) -> tuple[Path, str]:
    """Make ``sources_dir/<name>@<ref>`` a checkout of ``ref``; returns (directory, commit)."""
    report = progress or (lambda _line: None)
    deadline = time.monotonic() + timeout
    dest = sources_dir / checkout_dir_name(url, ref)
    want = ref or "HEAD"
    shown = redact_url(url)

    current = _head_commit(dest, deadline) if (dest / ".git").exists() else None
    if current is not None:
        if _SHA_RE.match(want.lower()) and current.startswith(want.lower()):
            report(f"using {shown}@{want} already checked out at {current[:12]}")
            return dest, current
        try:
            remote = _remote_commit(url, want, deadline)
        except TransientError as exc:
            # Offline on resume: the checkout we have is the one this install started with.
            report(f"cannot reach {shown} ({exc}); using the checkout at {current[:12]}")
            return dest, current
        if remote is not None and remote == current:
            report(f"using {shown}@{want} already checked out at {current[:12]}")
            return dest, current

    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    report(f"fetching {shown}@{want}")
    try:
        commit = _fetch_into(tmp, url, want, shown, deadline, report)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    report(f"checked out {shown}@{want} at {commit[:12]}")
    return dest, commit


def _fetch_into(tmp: Path, url: str, want: str, shown: str, deadline: float, report: Progress) -> str:
    _git(["init", "--quiet", str(tmp)], None, deadline, report)
    _git(["-C", str(tmp), "remote", "add", "origin", url], None, deadline, report)
    try:
        _git(["-C", str(tmp), "fetch", "--depth", "1", "--progress", "origin", want], None, deadline, report,
             what=f"{shown}@{want}")
    except InputError:
        if not _SHA_RE.match(want.lower()):
            raise
        # Some servers refuse a shallow fetch of a bare commit id; fetch everything then pick it.
        report(f"server refused a shallow fetch of {want}; fetching the whole history")
        _git(["-C", str(tmp), "fetch", "--progress", "origin"], None, deadline, report, what=f"{shown}@{want}")
        _git(["-C", str(tmp), "fetch", "--progress", "origin", "--tags"], None, deadline, report)
        _git(["-C", str(tmp), "checkout", "--quiet", "--detach", want], None, deadline, report, what=f"{shown}@{want}")
    else:
        _git(["-C", str(tmp), "checkout", "--quiet", "--detach", "FETCH_HEAD"], None, deadline, report)
    commit = _head_commit(tmp, deadline)
    if commit is None:
        raise PermanentError(f"git fetched {shown}@{want} but left no commit checked out")
    return commit


def _head_commit(repo: Path, deadline: float) -> str | None:
    try:
        out = _git(["-C", str(repo), "rev-parse", "HEAD"], None, deadline, lambda _l: None)
    except (InputError, PermanentError):
        return None
    return out.strip() or None


def _remote_commit(url: str, ref: str, deadline: float) -> str | None:
    """The commit ``ref`` names on the remote, or None when it is not a branch or tag name."""
    out = _git(["ls-remote", url, ref], None, deadline, lambda _l: None, what=redact_url(url))
    refs = {name: sha for sha, name in (line.split("\t", 1) for line in out.splitlines() if "\t" in line)}
    # ls-remote matches on the tail ("master" also finds "refs/heads/x/master"): take exact names,
    # and for an annotated tag the commit it points at ("<tag>^{}"), not the tag object.
    for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
        if name in refs:
            return refs[name]
    return None


def _git(args: list[str], cwd: Path | None, deadline: float, report: Progress, *, what: str = "") -> str:
    """Run git; stream its progress (stderr, split on CR and LF) to ``report``; return stdout."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TransientError(f"git timed out fetching {what or 'the source'}",
                             remedy="check the network to the git server, or raise the source timeout")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    # A prompt for credentials would hang forever without a terminal.
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=20")
    proc = subprocess.Popen(["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr_lines: list[str] = []
    stdout_chunks: list[bytes] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        buf = b""
        while True:
            chunk = proc.stderr.read1(4096) if hasattr(proc.stderr, "read1") else proc.stderr.read(4096)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for part in parts:
                line = part.decode(errors="replace").strip()
                if line:
                    stderr_lines.append(line)
                    report(line)
        tail = buf.decode(errors="replace").strip()
        if tail:
            stderr_lines.append(tail)
            report(tail)

    def pump_stdout() -> None:
        assert proc.stdout is not None
        stdout_chunks.append(proc.stdout.read())

    readers = [threading.Thread(target=pump_stderr, daemon=True), threading.Thread(target=pump_stdout, daemon=True)]
    for t in readers:
        t.start()
    try:
        rc = proc.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise TransientError(f"git {args[0] if args[0] != '-C' else args[2]} timed out for {what or 'the source'}",
                             remedy="check the network to the git server, or raise the source timeout") from None
    finally:
        for t in readers:
            t.join(timeout=5)
    if rc == 0:
        return b"".join(stdout_chunks).decode(errors="replace")
    detail = "; ".join(line for line in stderr_lines if not line.startswith(("remote: Counting", "Receiving", "Resolving")))
    detail = _scrub(detail)[-500:] or f"git exited with {rc}"
    low = detail.lower()
    if any(k in low for k in _TRANSIENT_GIT) and not any(k in low for k in ("couldn't find remote ref", "repository not found")):
        raise TransientError(f"git could not reach {what or 'the server'}: {detail}",
                             remedy="check the network (VPN) to the git server; the fetch is retried")
    if any(k in low for k in _NOT_FOUND_GIT):
        raise InputError(f"git cannot fetch {what or 'the source'}: {detail}",
                         expected="an existing repository URL and branch, tag or commit")
    raise PermanentError(f"git failed for {what or 'the source'}: {detail}",
                         remedy="check the repository URL, ref and git credentials (SSH agent or credential helper)")


def _scrub(text: str) -> str:
    return re.sub(r"(://)[^/@\s]*@", r"\1***@", text)
