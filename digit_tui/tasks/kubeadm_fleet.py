"""What the kubeadm phase's tasks share: the fleet (hosts by role, settings), and a task base that
reaches its hosts over SSH, holds their lock and runs detached steps there.

Kept apart from ``tasks.kubeadm`` so that the load balancer's task
(``tasks.haproxy``) builds on the same base without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from digit_tui.answers.model import Cluster, Host
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import PermanentError, TransientError
from digit_tui.infra import hoststeps
from digit_tui.infra.hoststeps import StepResult, StepState
from digit_tui.infra.kubeadm.configs import NodeSpec, scrub
from digit_tui.infra.kubeadm.facts import SLOT
from digit_tui.infra.kubeadm.packages import Packages
from digit_tui.infra.ssh import SshConnection
from digit_tui.tasks.remote import Remote, Session, label, lock_owner, locked, ssh_endpoint



class _HasStep(Protocol):
    @property
    def step(self) -> StepState: ...


F = TypeVar("F", bound=_HasStep)
PHASE = "cluster"
PREPARE_PREFIX = "kubeadm-prepare-"
JOIN_PREFIX = "kubeadm-join-"
KUBECONFIG_FILE = "kubeconfig"
CALICO_MANIFEST = "https://raw.githubusercontent.com/projectcalico/calico/v3.28.2/manifests/calico.yaml"


@dataclass(frozen=True)
class CniSettings:
    manifest: str = CALICO_MANIFEST     # a URL the first master fetches, or a file on the jump host (sent over SSH)
    daemonset: str = "kube-system/calico-node"   # NAMESPACE/NAME of the DaemonSet that shows it runs
    ready_timeout: float = 600.0        # seconds to wait for it to roll out


@dataclass(frozen=True)
class LbSettings:
    install: bool = True                # install HAProxy on the host with role lb (else: the file only)
    http_node_port: int = 32080
    https_node_port: int = 32443
    api_allow: tuple[str, ...] = ()     # source CIDRs allowed on 6443; empty: any


@dataclass(frozen=True)
class Timeouts:
    prepare: float = 1800.0             # apt-get from a slow mirror
    init: float = 1200.0                # image pulls, the control plane coming up
    join: float = 900.0
    poll: float = 1.0                   # seconds between two looks at a running step


@dataclass(frozen=True)
class Fleet:
    """Everything the phase's tasks share, typed, decided once when the graph is built."""

    masters: tuple[Host, ...]
    workers: tuple[Host, ...]           # role worker and not master
    lb: Host | None
    api_endpoint: str                   # host:port of the control-plane endpoint (the load balancer)
    cluster: Cluster
    state_dir: Path
    environment: str
    packages: Packages
    cni: CniSettings
    remote: Remote
    image_repository: str | None = None
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy | None = None

    @property
    def first(self) -> Host:
        return self.masters[0]

    @property
    def nodes(self) -> tuple[Host, ...]:
        return self.masters + self.workers

    @property
    def kubeconfig(self) -> Path:
        return self.state_dir / KUBECONFIG_FILE

    def node_spec(self, host: Host) -> NodeSpec:
        return NodeSpec(host.name, host.address)

    def schedulable(self, host: Host) -> bool:
        """A master that is also a worker runs workloads: no control-plane taint."""
        return "worker" in host.roles


def prepare_id(host: Host) -> str:
    return PREPARE_PREFIX + host.name


def join_id(host: Host) -> str:
    return JOIN_PREFIX + host.name


class FleetTask(Task):
    """A task on the fleet's hosts: SSH sessions, the host lock, steps and their output."""

    def __init__(self, fleet: Fleet, id: str, title: str, deps: Iterable[str], hosts: Sequence[Host],
                 timeout: float) -> None:
        super().__init__(id, title, PHASE, tuple(deps), retry=fleet.retry, timeout=timeout,
                         endpoints=list(dict.fromkeys(ssh_endpoint(h) for h in hosts)))
        self.fleet = fleet

    def connect(self, host: Host, session: Session, ctx: TaskContext) -> SshConnection:
        return self.fleet.remote.connect(host, session, ctx)

    def locked(self, ctx: TaskContext, conn: SshConnection, name: str = SLOT) -> Any:
        return locked(ctx, conn, name, lock_owner(ctx, self.fleet.state_dir, self.fleet.environment))

    def printer(self, ctx: TaskContext, host: Host) -> Callable[[str], None]:
        def line(text: str) -> None:
            ctx.log(f"{host.name}: {scrub(text)}")
        return line

    def settle(self, ctx: TaskContext, conn: SshConnection, host: Host, read: Callable[[SshConnection], F],
               slot: str = SLOT) -> F:
        """The host's facts, once no step an earlier attempt (or a killed engine) left running is
        still running: that one is waited for, never started a second time."""
        facts = read(conn)
        state = facts.step
        if not state.running:
            return facts
        ctx.log(f"{host.name}: the {state.name} step of an earlier attempt is still running; waiting for it")
        result = hoststeps.wait(conn, slot, timeout=self.timeout, poll=self.fleet.timeouts.poll,
                                on_line=self.printer(ctx, host))
        how = "successfully" if result.ok else f"with exit {result.rc}" if result.rc is not None else "without a result"
        ctx.log(f"{host.name}: that {state.name} step ended {how}")
        return read(conn)

    def run_step(self, ctx: TaskContext, conn: SshConnection, host: Host, name: str, script: str,
                 timeout: float, slot: str = SLOT) -> StepResult:
        hoststeps.start(conn, slot, name, script)
        return hoststeps.wait(conn, slot, timeout=timeout, poll=self.fleet.timeouts.poll,
                              on_line=self.printer(ctx, host))


def step_failure(host: Host, what: str, result: StepResult, remedy: str, slot: str = SLOT) -> Exception:
    """A step that did not succeed, as the engine's error: the network (retry) or the operator's to fix."""
    tail = scrub(result.tail)
    last = " | ".join(tail.splitlines()[-3:]) or "no output"
    where = f"{hoststeps.slot_dir(slot)}/step.log"
    if result.rc is None:
        message = f"{label(host)}: {what} stopped without a result (killed, or the host rebooted); see {where}"
    else:
        message = f"{label(host)}: {what} failed (exit {result.rc}): {last}"
    if hoststeps.looks_transient(tail):
        return TransientError(message)
    return PermanentError(message, f"{remedy} (the whole output: {where} on {host.name})")


def reset_remedy(host: Host, control_plane: bool) -> str:
    extra = (" and, from the first master, remove its etcd member if `etcdctl member list` still shows it"
             if control_plane else "")
    return (f"run `kubeadm reset -f` on {host.name} (it removes what the failed attempt left){extra}, "
            "then `digit-tui install` again")


