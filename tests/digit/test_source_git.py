"""Git sources that fail, with the real git binary: every failure typed, explained and scrubbed.

Unreachable servers are transient (the engine retries, then waits for the network);
a missing repository, refused credentials or an unknown ref are permanent task
errors (not InputError: the render task journals them as its own error). No
credential git prints ever reaches a message, a remedy, a repr or a progress line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from digit_tui.digit.gitcmd import (GitAuthFailed, GitRefNotFound, GitRepoNotFound, GitTimedOut,
                                    GitUnreachable)
from digit_tui.digit.source import open_source
from digit_tui.engine.errors import ErrorKind, PermanentError, TransientError, classify, remedy_for
from digit_tui.errors import InputError

from .conftest import make_tree

TOKEN = "ghp_Sup3rSecretTok3n9876"


@pytest.fixture(autouse=True)
def isolated_git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The developer's own git config (credential helpers, rewrites) must not change the outcome."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return config


@pytest.fixture
def bare_repo(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    make_tree(work)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}
    for args in (["init", "-q", "-b", "master", str(work)], ["-C", str(work), "add", "-A"],
                 ["-C", str(work), "commit", "-qm", "first"],
                 ["clone", "-q", "--bare", str(work), str(tmp_path / "digit.git")]):
        subprocess.run(["git", *args], check=True, capture_output=True, env=env, timeout=30)
    return tmp_path / "digit.git"


class _Status(BaseHTTPRequestHandler):
    """Answers every request with the status in the path's first segment: /401/x.git -> 401."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status = int(self.path.strip("/").split("/")[0])
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def http_status_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts connections (the kernel's backlog) and never answers a byte."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def processes_naming(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(text.encode() in arg for arg in args):
            found.append(b" ".join(args).decode(errors="replace"))
    return found


def fetch(url: str, tmp_path: Path, ref: str = "master", *, timeout: float = 60.0,
          lines: list[str] | None = None) -> Exception:
    state = tmp_path / "state"
    with pytest.raises(Exception) as info:
        open_source(url, ref, state_dir=state, progress=(lines if lines is not None else []).append,
                    timeout=timeout)
    # a failed fetch leaves no half checkout behind
    assert not (state / "sources").exists() or not any((state / "sources").iterdir())
    return info.value


def assert_task_error(exc: Exception, kind: type, *remedy_words: str) -> None:
    assert isinstance(exc, kind), repr(exc)
    assert not isinstance(exc, InputError)
    expected_kind = ErrorKind.TRANSIENT if isinstance(exc, TransientError) else ErrorKind.PERMANENT
    assert classify(exc) is expected_kind
    remedy = remedy_for(exc) or ""
    for word in remedy_words:
        assert word in remedy, remedy
    assert "\n" not in str(exc)


# -- file:// -------------------------------------------------------------------

def test_bare_repo_over_file_url_is_fetched(bare_repo: Path, tmp_path: Path) -> None:
    source = open_source(f"file://{bare_repo}", "master", state_dir=tmp_path / "state")
    assert (source.charts_dir / "core" / "egov-user").is_dir()
    assert source.origin == f"file://{bare_repo}"


def test_missing_repository_is_permanent_not_transient(tmp_path: Path) -> None:
    exc = fetch(f"file://{tmp_path}/no-such.git", tmp_path)
    assert_task_error(exc, GitRepoNotFound, "digit.source.git")
    assert isinstance(exc, PermanentError)
    assert "no repository" in str(exc) and "no-such.git" in str(exc)


def test_unknown_branch_and_unknown_commit_are_permanent(bare_repo: Path, tmp_path: Path) -> None:
    exc = fetch(f"file://{bare_repo}", tmp_path, "release-9.9")
    assert_task_error(exc, GitRefNotFound, "digit.source.ref")
    assert "'release-9.9'" in str(exc)
    exc = fetch(f"file://{bare_repo}", tmp_path, "0123456789abcdef0123456789abcdef01234567")
    assert_task_error(exc, GitRefNotFound, "digit.source.ref")


# -- network -----------------------------------------------------------------------

def test_closed_port_is_transient_connection_refused(closed_port: int, tmp_path: Path) -> None:
    exc = fetch(f"http://127.0.0.1:{closed_port}/x.git", tmp_path)
    assert_task_error(exc, GitUnreachable, "retried")
    assert "connection refused" in str(exc)


def test_server_that_never_answers_times_out_as_transient(silent_server: int, tmp_path: Path) -> None:
    started = time.monotonic()
    exc = fetch(f"http://127.0.0.1:{silent_server}/x.git", tmp_path, timeout=2.0)
    elapsed = time.monotonic() - started
    assert_task_error(exc, GitTimedOut, "network")
    assert "timed out" in str(exc)
    # git's transport helper (git-remote-http) dies with git instead of hanging on the server
    assert not processes_naming(f"127.0.0.1:{silent_server}")
    assert elapsed < 20, elapsed


def test_unknown_host_is_transient_name_resolution(tmp_path: Path) -> None:
    exc = fetch("https://git.no-such-host.invalid/egov/DIGIT-DevOps.git", tmp_path, timeout=30.0)
    assert_task_error(exc, GitUnreachable, "DNS")
    assert "resolve" in str(exc)


def test_server_errors_are_transient(http_status_server: int, tmp_path: Path) -> None:
    exc = fetch(f"http://127.0.0.1:{http_status_server}/503/x.git", tmp_path)
    assert_task_error(exc, GitUnreachable, "retried")
    assert "503" in str(exc)


def test_http_404_is_repository_not_found(http_status_server: int, tmp_path: Path) -> None:
    exc = fetch(f"http://127.0.0.1:{http_status_server}/404/x.git", tmp_path)
    assert_task_error(exc, GitRepoNotFound, "digit.source.git")


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_permanent_with_the_remedy(status: int, http_status_server: int,
                                                           tmp_path: Path) -> None:
    exc = fetch(f"http://127.0.0.1:{http_status_server}/{status}/x.git", tmp_path)
    assert_task_error(exc, GitAuthFailed, "SSH agent", "credential helper")


# -- scrubbing ------------------------------------------------------------------------

def test_a_token_git_config_adds_never_reaches_messages_or_progress(
        http_status_server: int, tmp_path: Path, isolated_git_config: Path) -> None:
    # The operator's git config rewrites the clean URL into one with a token; git then
    # names it in "could not read Password for 'http://TOKEN@host'".
    base = f"http://127.0.0.1:{http_status_server}/"
    isolated_git_config.write_text(f'[url "http://{TOKEN}@127.0.0.1:{http_status_server}/"]\n'
                                   f"\tinsteadOf = {base}\n")
    lines: list[str] = []
    exc = fetch(f"{base}401/x.git", tmp_path, lines=lines)
    assert_task_error(exc, GitAuthFailed, "credential helper")
    shown = " ".join([str(exc), repr(exc), exc.remedy or "", *lines, *map(str, exc.args)])
    assert lines, "git's output reaches the progress callback"
    assert TOKEN not in shown
    assert "***" in shown


@pytest.mark.parametrize("url", [
    f"https://{TOKEN}@github.com/egovernments/DIGIT-DevOps.git",
    f"https://oauth2:{TOKEN}@gitlab.com/egov/DIGIT-DevOps.git",
    f"https://github.com/egovernments/DIGIT-DevOps.git?access_token={TOKEN}",
    f"deploy:{TOKEN}@github.com:egovernments/DIGIT-DevOps.git",
])
def test_a_url_with_a_token_is_refused_before_git_runs(url: str, tmp_path: Path) -> None:
    # git would see the token on its command line, readable by every user through ps.
    with pytest.raises(InputError) as info:
        open_source(url, "master", state_dir=tmp_path / "state")
    assert TOKEN not in str(info.value) + repr(info.value)
    assert "SSH agent" in (info.value.expected or "")
    assert not (tmp_path / "state").exists()
