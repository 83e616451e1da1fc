"""Running git for a DIGIT source: a deadline, scrubbed output, and typed failures.

Every failure becomes one of the ``Git*`` errors below, each a ``TransientError``
(the network: retried, then parked in waiting-for-network) or a
``PermanentError`` (the URL, the ref or the credentials are wrong: the task
stops and the journal says what to change). Nothing git prints reaches a
callback, a message or an exception before credentials are masked, because a
URL rewritten by the operator's git config (``url.*.insteadOf``) may carry a
token even when the URL we were given does not.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from digit_tui.errors import PermanentError, TransientError
from digit_tui.infra.giturl import scrub

Progress = Callable[[str], None]

RETRIED = "; the fetch is retried"     # the end of a transient failure's remedy (the engine retries)
CREDENTIALS_HINT = ("an SSH URL with the key loaded in the SSH agent (ssh-add), "
                    "or a git credential helper for https (git config credential.helper)")


class GitUnreachable(TransientError):
    """The git server could not be reached (DNS, refused, reset, timeout, 5xx)."""


class GitTimedOut(GitUnreachable):
    """A git call ran past its deadline."""


class GitRepoNotFound(PermanentError):
    """No repository at the URL (or a private one that hides itself)."""


class GitAuthFailed(PermanentError):
    """The server wants credentials git does not have, or refused the ones it has."""


class GitRefNotFound(PermanentError):
    """The repository has no such branch, tag or commit."""


class GitFailed(PermanentError):
    """Any other git failure."""


class GitCancelled(PermanentError):
    """The operator stopped the fetch (the TUI's cancel key)."""


# (kind, phrases of git's or curl's or ssh's stderr, lowercased). Order matters: the first
# match wins, and "could not read from remote repository" follows the real reason in ssh's output.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hostkey", ("host key verification failed", "remote host identification has changed")),
    ("tls", ("ssl certificate problem", "server certificate verification failed", "certificate verify failed",
             "unable to get local issuer certificate", "self-signed certificate", "self signed certificate")),
    ("auth", ("authentication failed", "could not read username", "could not read password",
              "permission denied (publickey", "permission denied, please try again", "access denied",
              "returned error: 401", "returned error: 403", "invalid username or password",
              "terminal prompts disabled")),
    ("repo", ("does not appear to be a git repository", "repository not found", "returned error: 404",
              "no such repository", "not a git repository")),
    ("ref", ("couldn't find remote ref", "not our ref", "unadvertised object", "did not match any file(s)",
             "invalid refspec", "unknown revision", "reference is not a tree", "bad revision")),
    ("dns", ("could not resolve host", "could not resolve hostname", "name or service not known",
             "temporary failure in name resolution", "no address associated with hostname",
             "nodename nor servname")),
    ("refused", ("connection refused", "couldn't connect to server")),
    ("timeout", ("timed out", "operation timed out")),
    ("network", ("connection reset", "network is unreachable", "no route to host", "early eof",
                 "the remote end hung up", "rpc failed", "gnutls", "ssl_read", "unexpected disconnect",
                 "broken pipe", "connection closed", "failed to connect", "temporary failure",
                 "could not read from remote repository")),
)
_HTTP_STATUS = re.compile(r"returned error: (\d{3})")
_REPO_NOT_FOUND = re.compile(r"repository '[^']*' not found")


def failure_kind(detail: str) -> str:
    """What went wrong, from git's stderr: one of the ``_RULES`` kinds or "other"."""
    low = detail.lower()
    for kind, phrases in _RULES:
        if any(phrase in low for phrase in phrases):
            return kind
    if _REPO_NOT_FOUND.search(low):
        return "repo"
    status = _HTTP_STATUS.search(low)
    if status and (status.group(1).startswith("5") or status.group(1) in ("408", "429")):
        return "network"
    return "other"


def git_error(detail: str, what: str, ref: str | None = None) -> Exception:
    """The typed error for a failed git call whose stderr (already scrubbed) is ``detail``.

    ``what`` names the repository (redacted), ``ref`` the branch, tag or commit asked for."""
    kind = failure_kind(detail)
    source = what
    what = f"{what}@{ref}" if ref else what
    retry = RETRIED
    if kind == "dns":
        return GitUnreachable(f"git cannot resolve the server of {what}: {detail}",
                              remedy="check the host name in digit.source.git and the DNS resolver" + retry)
    if kind == "refused":
        return GitUnreachable(f"git could not reach {what}: connection refused: {detail}",
                              remedy="nothing accepts connections at that host and port: check the URL and "
                                     "that the git server is up" + retry)
    if kind == "timeout":
        return GitTimedOut(f"git timed out reaching {what}: {detail}",
                           remedy="check the network (VPN, proxy, firewall) to the git server" + retry)
    if kind == "network":
        return GitUnreachable(f"git could not reach {what}: {detail}",
                              remedy="check the network (VPN, proxy) to the git server" + retry)
    if kind == "hostkey":
        return GitAuthFailed(f"git refused the SSH host key of {what}: {detail}",
                             remedy="verify the git server's host key, then add it to ~/.ssh/known_hosts "
                                    "(ssh-keyscan HOST >> ~/.ssh/known_hosts)")
    if kind == "tls":
        return GitAuthFailed(f"git does not trust the TLS certificate of {what}: {detail}",
                             remedy="install the CA that signed the git server's certificate "
                                    "(git config --global http.sslCAInfo CA_FILE)")
    if kind == "auth":
        return GitAuthFailed(f"git was refused access to {what}: {detail}",
                             remedy="give git credentials outside the answers file: " + CREDENTIALS_HINT)
    if kind == "repo":
        return GitRepoNotFound(f"git found no repository at {what}: {detail}",
                               remedy="check digit.source.git (a private repository also looks missing "
                                      "without credentials: " + CREDENTIALS_HINT + ")")
    if kind == "ref":
        name = f"branch, tag or commit {ref!r}" if ref else "such ref"
        return GitRefNotFound(f"git found no {name} in {source}: {detail}",
                              remedy="check digit.source.ref: a branch, tag or commit of the repository "
                                     "(git ls-remote URL lists branches and tags)")
    return GitFailed(f"git failed for {what}: {detail}",
                     remedy="check digit.source.git and digit.source.ref, and git's credentials: " + CREDENTIALS_HINT)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and its helpers (git-remote-https, ssh): they hold the pipes open otherwise."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Cancelled(Exception):
    pass


def _wait(proc: subprocess.Popen[bytes], deadline: float, cancel: threading.Event | None) -> int:
    """git's exit code; TimeoutExpired past ``deadline``, _Cancelled once ``cancel`` is set."""
    if cancel is None:
        return proc.wait(timeout=max(deadline - time.monotonic(), 0))
    while True:
        if cancel.is_set():
            raise _Cancelled
        left = deadline - time.monotonic()
        try:
            # A short poll: the cancel key must stop git within a fraction of a second.
            return proc.wait(timeout=max(min(left, 0.1), 0))
        except subprocess.TimeoutExpired:
            if left <= 0.1:
                raise


def run_git(args: Sequence[str], deadline: float, report: Progress, *, what: str = "the source",
            ref: str | None = None, secrets: Sequence[str] = (), cancel: threading.Event | None = None) -> str:
    """Run git; stream its stderr (split on CR and LF, scrubbed) to ``report``; return stdout.

    ``what`` names the source in messages (already redacted); ``secrets`` are strings masked
    wherever git's output would show them. Setting ``cancel`` kills git (GitCancelled)."""
    args = list(args)
    target = f"{what}@{ref}" if ref else what
    remaining = deadline - time.monotonic()
    verb = args[2] if args[:1] == ["-C"] and len(args) > 2 else (args[0] if args else "git")
    if remaining <= 0:
        raise GitTimedOut(f"git {verb} timed out for {target}",
                          remedy="check the network to the git server, or raise the source timeout")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    # A prompt for credentials would hang forever without a terminal.
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=20")
    try:
        # A session of its own, so a timeout kills git's transport helpers too.
        proc = subprocess.Popen(["git", *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise GitFailed(f"git cannot be started: {exc.strerror}", remedy="install git (apt-get install git)") from None
    stderr_lines: list[str] = []
    stdout_chunks: list[bytes] = []

    def emit(raw: bytes) -> None:
        line = scrub(raw.decode(errors="replace").strip(), secrets)
        if line:
            stderr_lines.append(line)
            report(line)

    def pump_stderr() -> None:
        # A BufferedReader (bufsize -1; typeshed says only IO[bytes]): read1 returns what is
        # there instead of waiting for 4 KiB.
        assert isinstance(proc.stderr, io.BufferedReader)
        buf = b""
        while chunk := proc.stderr.read1(4096):
            buf += chunk
            *parts, buf = re.split(rb"[\r\n]", buf)
            for part in parts:
                emit(part)
        emit(buf)

    def pump_stdout() -> None:
        assert proc.stdout is not None
        stdout_chunks.append(proc.stdout.read())

    readers = [threading.Thread(target=pump_stderr, daemon=True), threading.Thread(target=pump_stdout, daemon=True)]
    for t in readers:
        t.start()
    try:
        rc = _wait(proc, deadline, cancel)
    except _Cancelled:
        _kill(proc)
        raise GitCancelled(f"the fetch of {target} was cancelled", remedy="fetch again when ready") from None
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise GitTimedOut(f"git {verb} timed out for {target} after {max(remaining, 0):.0f} s",
                          remedy="check the network to the git server, or raise the source timeout") from None
    except BaseException:
        _kill(proc)
        raise
    finally:
        for t in readers:
            t.join(timeout=5)
    if rc == 0:
        return b"".join(stdout_chunks).decode(errors="replace")
    useful = [line for line in stderr_lines
              if not line.startswith(("remote: Counting", "remote: Compressing", "remote: Enumerating",
                                      "remote: Total", "Receiving", "Resolving", "Please make sure",
                                      "and the repository exists"))]
    detail = "; ".join(useful)[-500:] or f"git exited with {rc}"
    raise git_error(detail, what, ref)


__all__ = ["GitAuthFailed", "GitCancelled", "GitFailed", "GitRefNotFound", "GitRepoNotFound", "GitTimedOut", "GitUnreachable",
           "failure_kind", "git_error", "run_git"]
