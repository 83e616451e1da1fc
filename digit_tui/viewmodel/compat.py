"""The compatibility report of one release of a DIGIT tree, as `digit-tui check-source` makes it,
for the guided flow's target screen: whether it deploys, and each problem with its line.

Rendering every service of a real release takes seconds of CPU, most of it Python (Helm's native
render releases the GIL, the YAML parsing and conversions around it do not). ``CompatChecks`` runs
``check_release`` in a process of its own, so the screen's event loop never waits for the GIL
behind it; ``check_release`` itself is the same report in the calling process (the tests, the
child).

The child is a ``ProcessPoolExecutor`` worker started by the 'forkserver' method (a fork of the
app, whose threads hold locks, could deadlock in the child): one per screen, reused for the
releases chosen after the first (its imports are paid once), killed when the screen goes
(``close``) or a check runs over its timeout, never waited for. Progress lines come back through a
multiprocessing queue the worker inherits at its start; the result (``Compat``) is pickled.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from digit_tui.digit.checksource import Problem, ReleaseReport

RENDER_TIMEOUT = 60.0      # seconds for one chart, as check-source's default
VERSION_TIMEOUT = 5.0      # seconds for an existing cluster to say its version
CHECK_TIMEOUT = 300.0      # seconds for one release's whole check (DIGIT v2.8's 84 services: 4-8 s here)
POLL = 0.2                 # seconds between looks at a cancel while a check runs
ORDER = {"error": 0, "warning": 1, "note": 2}


@dataclass(frozen=True)
class KubeVersion:
    """The Kubernetes version the report checks against, and whose it is (said on the report)."""

    version: str            # X.Y
    whose: str              # "the sandbox's", "the cluster's", or why it is the default


def target_version(kubeconfig: str | None, context: str | None = None) -> KubeVersion:
    """The version of the cluster the install will go to: an existing cluster's from its API
    server (the APIs a release may use depend on it: a chart that renders for 1.30 may use a kind
    1.22 does not serve), the sandbox's otherwise. A cluster that does not answer leaves the
    default, said so on the report. Blocking (one request, ``VERSION_TIMEOUT``)."""
    from digit_tui.digit.checksource import DEFAULT_KUBE_VERSION
    from digit_tui.infra.kubeconvert import parse_minor

    if not kubeconfig:
        return KubeVersion(DEFAULT_KUBE_VERSION, "the sandbox's")
    try:
        answer = _read_version(kubeconfig, context)
        minor = parse_minor(f"{answer.get('major', '')}.{str(answer.get('minor', '')).rstrip('+')}")
    except Exception as exc:        # any failure to learn the version leaves the default: the report says why
        reason = " ".join(str(exc).split())[:80] or type(exc).__name__
        return KubeVersion(DEFAULT_KUBE_VERSION, f"the default: the cluster's version is not known ({reason})")
    return KubeVersion(f"1.{minor}", "the cluster's")


def _read_version(kubeconfig: str, context: str | None) -> dict[str, object]:
    """``GET /version``: without the kubernetes library where ``infra.kubelite`` reads the kubeconfig."""
    from dataclasses import replace

    from digit_tui.infra.kube import DEFAULT_POLICY, Kube
    from digit_tui.infra.kubelite import lite_kube

    policy = replace(DEFAULT_POLICY, connect=VERSION_TIMEOUT, read=VERSION_TIMEOUT)
    lite = lite_kube(kubeconfig, context, policy=policy)
    if lite is not None:
        with lite:
            return dict(lite.request("GET", "/version") or {})
    with Kube(kubeconfig, context, policy=policy) as kube:
        return kube.version()


@dataclass(frozen=True)
class Compat:
    """The report of one release manifest, and what it means for going on."""

    root: Path
    manifest: Path
    report: ReleaseReport
    kube: KubeVersion
    pid: int = 0            # the process that made the report (CompatChecks: not the app's)

    @property
    def kube_version(self) -> str:
        return self.kube.version

    @property
    def deployable(self) -> bool:
        return self.report.deployable

    def problems(self) -> list[Problem]:
        return sorted(self.report.problems, key=lambda p: ORDER.get(p.severity, 3))

    def errors(self) -> list[Problem]:
        return self.report.errors()

    def warnings(self) -> list[Problem]:
        return [p for p in self.report.problems if p.severity == "warning"]

    @property
    def name(self) -> str:
        """The manifest short enough for 80 columns: its path under product-release-charts/."""
        return self.report.shown.split("product-release-charts/", 1)[-1]

    def where(self, problem: Problem) -> str:
        """``file:line`` of a problem (the file as the release list names it)."""
        return f"{self.name}:{problem.line}" if problem.line else self.name


def check_release(root: Path, manifest: Path, progress: Callable[[str], None], *,
                  kube: KubeVersion | None = None) -> Compat:
    """check-source's report of ``manifest`` in the tree at ``root`` (offline, read-only), for the
    Kubernetes version ``kube`` (else the sandbox's)."""
    from digit_tui.digit.checksource import check_source, preview_environment
    from digit_tui.digit.pipeline import base_values
    from digit_tui.digit.render import make_renderer
    from digit_tui.digit.source import locate

    kube = kube or target_version(None)
    source = locate(root)
    work = Path(tempfile.mkdtemp(prefix="digit-tui-compat-"))
    try:
        base = base_values(*preview_environment(work))
        with make_renderer("sdk", timeout=RENDER_TIMEOUT) as renderer:
            report = check_source(source, [manifest], base, renderer, kube_version=kube.version,
                                  environment="a preview environment", progress=progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Compat(root, manifest, report.releases[0], kube, os.getpid())


class CheckCancelled(Exception):
    """The compatibility check was stopped: its screen went, or the app is leaving."""


class CompatChecks:
    """One check at a time in a process of its own (see the module's docstring). ``run`` blocks: call it
    from a worker thread; ``close`` from anywhere, at once."""

    def __init__(self, *, timeout: float = CHECK_TIMEOUT) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._pool: ProcessPoolExecutor | None = None
        self._queue: Any = None          # the multiprocessing queue the worker reports on
        self._seq = 0                    # which run a progress line is of (a late line of the last one is dropped)

    def run(self, root: Path, manifest: Path, cluster: tuple[str, str | None] | None,
            progress: Callable[[str], None], cancelled: threading.Event | None = None) -> Compat:
        """The report of ``manifest`` for the cluster ``cluster`` (kubeconfig and context; None: the
        sandbox), made in the worker. Raises what the check raised there, ``TimeoutError`` after
        ``timeout`` (the worker killed; the next run starts another), ``CheckCancelled`` once
        ``cancelled`` is set or ``close`` was called."""
        import queue as queues

        with self._lock:
            if self._closed.is_set():
                raise CheckCancelled("the compatibility check was stopped")
            if self._pool is None:
                self._pool, self._queue = _pool()
            pool, report = self._pool, self._queue
            self._seq += 1
            seq = self._seq
        try:
            # Not under the lock: the first submit starts the forkserver and waits for its worker
            # (a second or so), and ``close`` must never wait for that.
            future = pool.submit(_child_check, seq, root, manifest, cluster)
        except RuntimeError:
            if self._closed.is_set():         # shut down meanwhile
                raise CheckCancelled("the compatibility check was stopped") from None
            raise
        deadline = time.monotonic() + self.timeout
        while not future.done():
            if self._closed.is_set() or (cancelled is not None and cancelled.is_set()):
                self.close()
                raise CheckCancelled("the compatibility check was stopped")
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill(pool)
                raise TimeoutError(f"the compatibility check took over {self.timeout:.0f} s and was stopped")
            try:
                of, line = report.get(timeout=min(POLL, left))
            except queues.Empty:
                continue
            if of == seq:
                progress(line)
        if self._closed.is_set():
            raise CheckCancelled("the compatibility check was stopped")
        return future.result(timeout=0)

    def close(self) -> None:
        """Stop for good: the worker is killed, not waited for; a ``run`` under way raises ``CheckCancelled``."""
        self._closed.set()
        with self._lock:
            pool = self._pool
        if pool is not None:
            self._kill(pool)

    def workers(self) -> list[int]:
        """The pids of the worker processes there are now."""
        with self._lock:
            pool = self._pool
        return _workers(pool) if pool is not None else []

    def _kill(self, pool: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = self._queue = None
        for pid in _workers(pool):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Not waiting: the pool's own thread sees its worker gone and ends by itself.
        pool.shutdown(wait=False, cancel_futures=True)


def _workers(pool: ProcessPoolExecutor) -> list[int]:
    # The pool's own table of its processes (Python 3.14's terminate_workers reads the same): a
    # worker left running would be joined at the app's exit, however long its check still takes.
    return list(getattr(pool, "_processes", None) or {})


def _pool() -> tuple[ProcessPoolExecutor, Any]:
    """A pool of one worker, started by the forkserver, and the queue it reports progress on."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _start_tracker()
    context = multiprocessing.get_context("forkserver")
    report = context.Queue()
    return ProcessPoolExecutor(1, mp_context=context, initializer=_child_start, initargs=(report,)), report


def _start_tracker() -> None:
    """multiprocessing's resource tracker (which the pool's queues need), started with a stderr it
    can keep: the tracker's start hands on ``sys.stderr.fileno()``, which under Textual is the app's
    capture of prints, whose fileno is -1 ('bad value(s) in fds_to_keep')."""
    import sys
    from multiprocessing import resource_tracker

    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable:
        resource_tracker.ensure_running()
        return
    before = sys.stderr
    with open(os.devnull, "w") as devnull:
        sys.stderr = devnull             # for a moment: a print meanwhile is lost, not on the TUI's terminal
        try:
            resource_tracker.ensure_running()
        finally:
            sys.stderr = before


# -- the worker's side (a process of its own) ---------------------------------------------------------
class _Child:
    """What the worker process keeps between its checks: the queue it reports on (set once, by
    ``_child_start``; the app's process never has one)."""

    queue: Any = None


def _child_start(report: Any) -> None:
    """The worker's start: quiet (the app's terminal is the TUI's), and gone with the app."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # ctrl+c is the app's key, not the check's
    _die_with_parent()
    _Child.queue = report


def _die_with_parent() -> None:
    """Linux's parent-death signal: the worker's parent is the forkserver, which ends with the app."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass      # not Linux: the worker ends at its next check, when its pipe from the app is closed


def _child_check(seq: int, root: Path, manifest: Path, cluster: tuple[str, str | None] | None) -> Compat:
    import pickle

    def progress(line: str) -> None:
        _Child.queue.put((seq, line))

    try:
        return check_release(root, manifest, progress, kube=target_version(*cluster) if cluster else None)
    except Exception as exc:
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:
            raise RuntimeError(f"{type(exc).__name__}: {exc}") from None    # what the app can be sent
        raise
