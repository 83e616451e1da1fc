"""The task model: one unit of convergent work in the install graph.

Every task has the same shape (after k0sctl's phases): ``check`` reads live
facts and says whether the world already looks as it should; ``ensure`` makes it
so and must be idempotent; ``dry_run`` says what ``ensure`` would do. The engine
never calls ``ensure`` on a task whose ``check`` reported convergence, and
re-checks finished work on resume instead of replaying it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ParamSpec, Protocol, TypeVar


class TaskState(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"               # between attempts, backing off
    WAITING_NETWORK = "waiting-for-network"
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"                 # a dependency failed; not attempted
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskState.DONE, TaskState.FAILED, TaskState.BLOCKED, TaskState.CANCELLED)


class Load(str, Enum):
    """What a task spends its time on, which decides how many such tasks the engine runs at once
    (engine/limits.py): work for this machine's processors is limited to its cores, waiting is not."""

    CPU = "cpu"                         # computes here (rendering charts): one per core is the most that helps
    WAIT = "wait"                       # waits on something remote (an API server's rollout, SSH, a cloud API)


@dataclass(frozen=True)
class Endpoint:
    """A host:port the task needs; the network probe watches it while the task waits."""

    host: str
    port: int
    label: str = ""
    # "tcp": a connect is enough. "https": an HTTP answer to GET /readyz is required (any status:
    # 401 still proves the API server is there) because a partitioned or wedged API server can
    # accept TCP connections and never answer.
    scheme: str = "tcp"

    def __str__(self) -> str:
        return self.label or f"{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def describe(self) -> str:
        """Its label and its address, the address once: a probe of the answers is labelled by its
        address already ("probe 10.20.0.5:6443")."""
        at = self.address
        return self.label if self.label.endswith(at) else f"{self.label} {at}".strip()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4                   # tries before parking in waiting-for-network
    base_delay: float = 1.0             # seconds; doubles each attempt
    max_delay: float = 30.0
    jitter: float = 0.25                # +/- fraction of the delay
    network_wait: float | None = 3600.0 # how long to wait for the network before failing; None: forever

    def delay(self, attempt: int, rand: float) -> float:
        """Backoff before attempt ``attempt + 1`` (attempt counts from 1); ``rand`` in [0, 1)."""
        raw = min(self.max_delay, self.base_delay * (2.0 ** max(0, attempt - 1)))
        return max(0.0, raw * (1 + self.jitter * (2 * rand - 1)))


_P = ParamSpec("_P")
_R = TypeVar("_R")


class TaskContext(Protocol):
    """What a running task may use; implemented by the engine."""

    task_id: str
    run_id: str

    def output(self, task_id: str) -> Mapping[str, Any]:
        """Outputs a dependency published (empty mapping if none)."""

    def publish(self, key: str, value: Any) -> None:
        """Record a small JSON-serialisable output for dependants; kept when the task succeeds."""

    def log(self, message: str, level: str = "info") -> None:
        """Append a line to the journal's event log (secrets are redacted before writing)."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Report progress of long work."""

    def secret(self, value: str) -> str:
        """Register a secret value so that it is redacted everywhere; returns it unchanged."""

    async def run_sync(self, fn: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """Run blocking code (paramiko, kubernetes client) in a thread."""


class Task:
    """Base class; subclasses override ``check`` and ``ensure`` (and ``dry_run``)."""

    id: str
    title: str
    phase: str
    deps: tuple[str, ...] = ()
    retry: RetryPolicy = RetryPolicy()
    timeout: float = 600.0              # seconds per attempt of ensure (check gets the same)
    endpoints: tuple[Endpoint, ...] = ()
    # True when what this task produces decides the rest of the graph (a fetched source names the
    # services to deploy): once it is done the engine rebuilds the graph from the same factory.
    reshapes_graph: bool = False
    # True when ``check`` reads nothing but its inputs, its dependencies' outputs and what
    # ``infra.reads`` records (the API through ``Kube``, the files it names, the endpoints it
    # probes): a run of such checks that all passed can be confirmed later in one pass
    # (engine/unchanged.py). A check that reads anything else (SSH, a database login, a command's
    # output, the clock) leaves it False, and a graph holding it is always checked in full.
    witnessed: bool = False
    # Most tasks of an install wait (on a rollout, a VM, a cloud); a task that computes here says so.
    load: Load = Load.WAIT
    # A computing task that runs its work on several cores (a pool) says how many: the engine
    # then starts no other computing task beside it that would only slow it down (engine/limits.py).
    cores: int = 1

    def __init__(self, id: str, title: str | None = None, phase: str = "main",
                 deps: tuple[str, ...] | list[str] = (), *, retry: RetryPolicy | None = None,
                 timeout: float | None = None, endpoints: tuple[Endpoint, ...] | list[Endpoint] = (),
                 load: Load | None = None) -> None:
        self.id = id
        self.title = title or id
        self.phase = phase
        self.deps = tuple(deps)
        if load is not None:
            self.load = load
        if retry is not None:
            self.retry = retry
        if timeout is not None:
            self.timeout = timeout
        self.endpoints = tuple(endpoints) or type(self).endpoints

    async def check(self, ctx: TaskContext) -> bool:
        """True when the live facts already match the goal."""
        return False

    async def ensure(self, ctx: TaskContext) -> None:
        raise NotImplementedError

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would run: {self.title}"]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


@dataclass
class FunctionTask(Task):
    """A task built from plain coroutine functions (handy for graphs built in code)."""

    id: str
    check_fn: Callable[[TaskContext], Awaitable[bool]]
    ensure_fn: Callable[[TaskContext], Awaitable[None]]
    title: str = ""
    phase: str = "main"
    deps: tuple[str, ...] = ()
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 600.0
    endpoints: tuple[Endpoint, ...] = ()
    dry_run_fn: Callable[[TaskContext], Awaitable[list[str]]] | None = None
    load: Load = Load.WAIT
    cores: int = 1

    def __post_init__(self) -> None:
        self.title = self.title or self.id
        self.deps = tuple(self.deps)

    async def check(self, ctx: TaskContext) -> bool:
        return await self.check_fn(ctx)

    async def ensure(self, ctx: TaskContext) -> None:
        await self.ensure_fn(ctx)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        if self.dry_run_fn is not None:
            return await self.dry_run_fn(ctx)
        return await super().dry_run(ctx)


GraphFactory = Callable[[Any], list[Task]]
"""Builds the task list from a ``GraphInput`` (engine/rundoc.py); the engine records its import
path (``module:function``) in the journal so a restarted engine rebuilds the same graph."""


