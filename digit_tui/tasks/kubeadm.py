"""The cluster phase on plain VMs: kubeadm over SSH, k0sctl style (read facts, decide, act).

    after ─┬─> kubeadm-prepare-<host>   (every master and worker, in parallel)
           └─> lb-haproxy               (the SDC load balancer's configuration; installed on the lb host)
    kubeadm-prepare-<first master> (+ lb-haproxy when installed) ─> kubeadm-init
    kubeadm-init ─> kubeadm-cni
    kubeadm-init + prepare ─> kubeadm-join-<master-2> ─> kubeadm-join-<master-3> ...   (one at a time: etcd)
    kubeadm-init + prepare ─> kubeadm-join-<worker>                                   (in parallel)
    init, cni, every join ─> kubeadm-kubeconfig   (the phase's output: the admin kubeconfig, 0600)

Every task's ``check`` reads the hosts' facts (``infra.kubeadm.facts``) and is
converged when they already match, so a rerun issues no changing command.
``ensure`` takes the host's lock, waits for a step an earlier attempt left
running, reads the facts again, and runs only what they say is missing, as a
detached step that survives a dropped connection. Join tokens and certificate
keys are made for one join, travel over the SSH channel into a 0600 file the
step deletes, and are registered with ``ctx.secret``: never in the journal, a
log, an error or a command line. Each task waits on its hosts' SSH ports when
the network drops; a host key or login refused is permanent at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import yaml

from digit_tui.answers.model import Cluster, Host
from digit_tui.atomic import atomic_write
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.errors import InputError, PermanentError, TransientError
from digit_tui.infra import hoststeps
from digit_tui.infra.haproxy import HaproxyConfig, Server
from digit_tui.infra.kubeadm import cluster as kc
from digit_tui.infra.kubeadm.configs import ClusterSpec, init_config, join_config
from digit_tui.infra.kubeadm.facts import SLOT, NodeFacts, read_facts
from digit_tui.infra.kubeadm.packages import Packages
from digit_tui.infra.kubeadm.prepare import PrepareSpec, prepare_actions, step_script
from digit_tui.infra.ssh import SshOptions
from digit_tui.tasks.haproxy import HaproxyTask
from digit_tui.tasks.kubeadm_fleet import (CALICO_MANIFEST, JOIN_PREFIX, KUBECONFIG_FILE, PHASE, PREPARE_PREFIX,
                                           CniSettings, Fleet, FleetTask, LbSettings, Timeouts, join_id, prepare_id,
                                           reset_remedy, step_failure)
from digit_tui.tasks.remote import Remote, Session, blocking, label

__all__ = ["CALICO_MANIFEST", "CNI", "INIT", "JOIN_PREFIX", "KUBECONFIG", "KUBECONFIG_FILE", "PHASE",
           "PREPARE_PREFIX", "CniSettings", "LbSettings", "Packages", "Timeouts", "kubeadm_tasks"]

INIT = "kubeadm-init"
CNI = "kubeadm-cni"
KUBECONFIG = "kubeadm-kubeconfig"
API_PORT = 6443


# --------------------------------------------------------------------------- prepare


class PrepareTask(FleetTask):
    """Swap off, kernel modules, sysctls, containerd, kubeadm/kubelet/kubectl: what the facts say is missing."""

    def __init__(self, fleet: Fleet, host: Host, deps: Iterable[str]) -> None:
        super().__init__(fleet, prepare_id(host), f"prepare {host.name} for Kubernetes", deps, [host],
                         fleet.timeouts.prepare + 300)
        self.host = host

    def spec(self) -> PrepareSpec:
        key_file = self.fleet.packages.key_file
        if key_file is None:
            return PrepareSpec(self.fleet.packages)
        try:
            return PrepareSpec(self.fleet.packages, Path(key_file).expanduser().read_bytes())
        except OSError as e:
            raise PermanentError(f"the package repository key {key_file} cannot be read ({e.strerror})",
                                 "check the key file's path on this machine") from None

    def _publish(self, ctx: TaskContext, facts: NodeFacts) -> None:
        ctx.publish("versions", {"kubeadm": facts.kubeadm, "kubelet": facts.kubelet, "kubectl": facts.kubectl,
                                 "containerd": facts.containerd})

    async def check(self, ctx: TaskContext) -> bool:
        spec = self.spec()

        def look(session: Session) -> bool:
            facts = read_facts(self.connect(self.host, session, ctx))
            if facts.step.running and facts.step.name == "prepare":    # an attempt's step, still going
                return False
            todo = prepare_actions(facts, spec, label=self.host.name)
            if todo:
                ctx.log(f"{self.host.name}: to do: " + "; ".join(a.description for a in todo))
                return False
            self._publish(ctx, facts)
            return True
        return await blocking(ctx, look)

    async def ensure(self, ctx: TaskContext) -> None:
        spec = self.spec()
        host = self.host

        def act(session: Session) -> None:
            conn = self.connect(host, session, ctx)
            with self.locked(ctx, conn):
                todo = prepare_actions(self.settle(ctx, conn, host, read_facts), spec, label=host.name)
                if todo:
                    result = self.run_step(ctx, conn, host, "prepare", step_script(todo), self.fleet.timeouts.prepare)
                    if not result.ok:
                        raise step_failure(host, "preparing the host", result,
                                           "fix what the step reports (the package mirror, apt's sources)")
                facts = read_facts(conn)
                left = prepare_actions(facts, spec, label=host.name)
                if left:
                    raise PermanentError(f"{label(host)}: still not ready after preparing it: "
                                         + "; ".join(a.description for a in left),
                                         f"look at {hoststeps.slot_dir(SLOT)}/step.log on {host.name}")
                self._publish(ctx, facts)
        await blocking(ctx, act)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        spec = self.spec()
        facts, why = await ctx.run_sync(self.fleet.remote.probe, self.host, read_facts)
        if facts is None:
            return [f"could not read {self.host.name}'s facts ({why}); would check and, where missing: turn swap "
                    "off (and in /etc/fstab), load overlay and br_netfilter, set the bridge and forwarding sysctls, "
                    f"add the package repository {self.fleet.packages.repository_url}, install containerd and "
                    f"kubeadm, kubelet, kubectl {self.fleet.packages.kubernetes_version} (held), set containerd's "
                    "systemd cgroup driver, enable containerd and the kubelet"]
        try:
            todo = prepare_actions(facts, spec, label=self.host.name)
        except PermanentError as e:
            return [f"would stop: {e}"]
        if not todo:
            return [f"{self.host.name} is ready for kubeadm: nothing to do"]
        return [f"would {a.description} on {self.host.name}" for a in todo]


# --------------------------------------------------------------------------- init


class InitTask(FleetTask):
    """``kubeadm init`` of the first master, its control-plane endpoint the load balancer."""

    def __init__(self, fleet: Fleet, deps: Iterable[str]) -> None:
        super().__init__(fleet, INIT, f"kubeadm init on {fleet.first.name}", deps, [fleet.first],
                         fleet.timeouts.init + 300)

    def _publish(self, ctx: TaskContext, facts: NodeFacts) -> None:
        ctx.publish("api_endpoint", self.fleet.api_endpoint)
        ctx.publish("kubernetes_version", facts.kubeadm)
        ctx.publish("first_master", self.fleet.first.name)

    def _converged(self, facts: NodeFacts) -> bool:
        if facts.initialised:
            return True
        if facts.joined:
            raise PermanentError(f"{label(self.fleet.first)} is already a worker node of a cluster, not a control "
                                 "plane", "list the cluster's first control plane first among the masters, or "
                                 f"`kubeadm reset -f` {self.fleet.first.name}")
        return False

    async def check(self, ctx: TaskContext) -> bool:
        def look(session: Session) -> bool:
            facts = read_facts(self.connect(self.fleet.first, session, ctx))
            if (facts.step.running and facts.step.name == "init") or not self._converged(facts):
                return False
            self._publish(ctx, facts)
            return True
        return await blocking(ctx, look)

    def config(self, facts: NodeFacts) -> str:
        f = self.fleet
        if facts.kubeadm is None:
            raise PermanentError(f"{label(f.first)}: kubeadm is not installed", "let the prepare task run first")
        spec = ClusterSpec(f.api_endpoint, f.cluster.pod_cidr, f.cluster.service_cidr, facts.kubeadm,
                           f.image_repository)
        return init_config(f.node_spec(f.first), spec, API_PORT, taints=None if not f.schedulable(f.first) else ())

    async def ensure(self, ctx: TaskContext) -> None:
        host = self.fleet.first

        def act(session: Session) -> None:
            conn = self.connect(host, session, ctx)
            with self.locked(ctx, conn):
                facts = self.settle(ctx, conn, host, read_facts)
                if not self._converged(facts):
                    if facts.partial:
                        raise PermanentError(f"{label(host)}: an earlier kubeadm init did not finish "
                                             f"(/etc/kubernetes has {', '.join(sorted(facts.kubernetes_files))})",
                                             reset_remedy(host, True))
                    kc.write_private(conn, kc.INIT_CONFIG, self.config(facts))
                    ctx.log(f"{host.name}: kubeadm init, control-plane endpoint {self.fleet.api_endpoint}, "
                            f"pods {self.fleet.cluster.pod_cidr}, services {self.fleet.cluster.service_cidr}, "
                            f"Kubernetes {facts.kubeadm}")
                    result = self.run_step(ctx, conn, host, "init", kc.init_script(), self.fleet.timeouts.init)
                    if not result.ok:
                        raise step_failure(host, "kubeadm init", result, reset_remedy(host, True))
                    facts = read_facts(conn)
                    if not facts.initialised:
                        raise PermanentError(f"{label(host)}: kubeadm init ended but {kc.ADMIN_CONF} or the API "
                                             "server's manifest is missing", reset_remedy(host, True))
                self._publish(ctx, facts)
        await blocking(ctx, act)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        f = self.fleet
        facts, why = await ctx.run_sync(f.remote.probe, f.first, read_facts)
        if facts is not None and facts.initialised:
            return [f"{f.first.name} is already a control plane: nothing to do"]
        version = facts.kubeadm if facts is not None and facts.kubeadm else f.packages.kubernetes_version
        return [f"would run kubeadm init on {f.first.name} ({f.first.address}): control-plane endpoint "
                f"{f.api_endpoint}, pod CIDR {f.cluster.pod_cidr}, service CIDR {f.cluster.service_cidr}, "
                f"Kubernetes {version}" + (f"; images from {f.image_repository}" if f.image_repository else "")
                + (f" ({f.first.name}'s facts not read: {why})" if why else "")]


# --------------------------------------------------------------------------- join


class JoinTask(FleetTask):
    """``kubeadm join`` of one more master (as a control plane) or a worker, with a token made for it."""

    def __init__(self, fleet: Fleet, host: Host, control_plane: bool, deps: Iterable[str]) -> None:
        kind = "control plane" if control_plane else "worker"
        hosts = [host, fleet.first]
        super().__init__(fleet, join_id(host), f"join {host.name} as a {kind}", deps, hosts, fleet.timeouts.join + 300)
        self.host = host
        self.control_plane = control_plane

    def _publish(self, ctx: TaskContext) -> None:
        ctx.publish("node", self.host.name)
        ctx.publish("control_plane", self.control_plane)

    def _converged(self, facts: NodeFacts) -> bool:
        if not facts.joined:
            return False
        if self.control_plane and not facts.control_plane:
            raise PermanentError(f"{label(self.host)} is a worker node, but its roles say master",
                                 f"`kubeadm reset -f` {self.host.name} to join it again as a control plane, or give "
                                 "it the worker role")
        return True

    async def check(self, ctx: TaskContext) -> bool:
        def look(session: Session) -> bool:
            facts = read_facts(self.connect(self.host, session, ctx))
            if (facts.step.running and facts.step.name == "join") or not self._converged(facts):
                return False
            self._publish(ctx)
            return True
        return await blocking(ctx, look)

    async def ensure(self, ctx: TaskContext) -> None:
        host, first = self.host, self.fleet.first

        def act(session: Session) -> None:
            conn = self.connect(host, session, ctx)
            with self.locked(ctx, conn):
                facts = self.settle(ctx, conn, host, read_facts)
                if self._converged(facts):
                    self._publish(ctx)
                    return
                if facts.partial:
                    raise PermanentError(f"{label(host)}: an earlier kubeadm join did not finish "
                                         f"(/etc/kubernetes has {', '.join(sorted(facts.kubernetes_files))})",
                                         reset_remedy(host, self.control_plane))
                if facts.kubeadm is None:
                    raise PermanentError(f"{label(host)}: kubeadm is not installed", "let the prepare task run first")
                master = self.connect(first, session, ctx)
                creds = kc.create_join(master, host.name)
                ctx.secret(creds.token)
                key = ctx.secret(kc.upload_certs(master)) if self.control_plane else None
                taints = () if self.control_plane and self.fleet.schedulable(host) else None
                kc.write_private(conn, kc.JOIN_CONFIG, join_config(self.fleet.node_spec(host), creds, facts.kubeadm,
                                                                   certificate_key=key, api_port=API_PORT,
                                                                   taints=taints))
                ctx.log(f"{host.name}: kubeadm join {creds.endpoint} as a "
                        + ("control plane" if self.control_plane else "worker"))
                result = self.run_step(ctx, conn, host, "join", kc.join_script(), self.fleet.timeouts.join)
                try:
                    kc.delete_token(master, creds)
                except Exception:   # best effort: the token expires by itself
                    pass
                if not result.ok:
                    raise step_failure(host, "kubeadm join", result, reset_remedy(host, self.control_plane))
                if not self._converged(read_facts(conn)):
                    raise PermanentError(f"{label(host)}: kubeadm join ended but /etc/kubernetes/kubelet.conf is "
                                         "missing", reset_remedy(host, self.control_plane))
                self._publish(ctx)
        await blocking(ctx, act)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        facts, why = await ctx.run_sync(self.fleet.remote.probe, self.host, read_facts)
        if facts is not None and facts.joined:
            return [f"{self.host.name} is already a node: nothing to do"]
        kind = "a control plane (the certificates uploaded for it)" if self.control_plane else "a worker"
        return [f"would create a join token on {self.fleet.first.name} (valid {kc.TOKEN_TTL}) and join "
                f"{self.host.name} as {kind} through {self.fleet.api_endpoint}"
                + (f" ({self.host.name}'s facts not read: {why})" if why else "")]


# --------------------------------------------------------------------------- CNI


class CniTask(FleetTask):
    """The pod network (Calico by default), applied with kubectl on the first master."""

    def __init__(self, fleet: Fleet, deps: Iterable[str]) -> None:
        super().__init__(fleet, CNI, "install the pod network", deps, [fleet.first], fleet.cni.ready_timeout + 600)
        self.daemonset = kc.DaemonSet.parse(fleet.cni.daemonset)

    def manifest(self) -> str | bytes:
        source = self.fleet.cni.manifest
        if source.startswith(("https://", "http://")):
            return source
        try:
            return Path(source).expanduser().read_bytes()
        except OSError as e:
            raise PermanentError(f"the pod network manifest {source} cannot be read ({e.strerror})",
                                 "give a URL the first master can fetch, or a file on this machine") from None

    async def check(self, ctx: TaskContext) -> bool:
        def look(session: Session) -> bool:
            conn = self.connect(self.fleet.first, session, ctx)
            if not kc.daemonset_exists(conn, self.daemonset):
                return False
            try:
                kc.rollout(conn, self.daemonset, 5)
            except TransientError:
                return False
            ctx.publish("daemonset", str(self.daemonset))
            return True
        return await blocking(ctx, look)

    async def ensure(self, ctx: TaskContext) -> None:
        manifest = self.manifest()

        def act(session: Session) -> None:
            conn = self.connect(self.fleet.first, session, ctx)
            with self.locked(ctx, conn):
                if not kc.daemonset_exists(conn, self.daemonset):
                    ctx.log(f"{self.fleet.first.name}: kubectl apply of "
                            + (manifest if isinstance(manifest, str) else self.fleet.cni.manifest))
                    kc.apply_manifest(conn, manifest)
                ctx.log(f"waiting for {self.daemonset} to roll out")
                kc.rollout(conn, self.daemonset, self.fleet.cni.ready_timeout)
                ctx.publish("daemonset", str(self.daemonset))
        await blocking(ctx, act)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would apply {self.fleet.cni.manifest} with kubectl on {self.fleet.first.name} unless "
                f"{self.daemonset} exists, and wait for it to roll out"]


# --------------------------------------------------------------------------- kubeconfig


class KubeconfigTask(FleetTask):
    """The admin kubeconfig of the new cluster into the state directory (0600): the phase's output."""

    def __init__(self, fleet: Fleet, deps: Iterable[str]) -> None:
        super().__init__(fleet, KUBECONFIG, "fetch the cluster's admin kubeconfig", deps, [fleet.first], 120)

    def _local(self) -> bytes | None:
        path = self.fleet.kubeconfig
        try:
            if path.stat().st_mode & 0o077:
                return None         # readable by others: write it again, 0600
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _publish(self, ctx: TaskContext, data: bytes) -> None:
        try:
            doc = yaml.safe_load(data) or {}
        except yaml.YAMLError:
            raise PermanentError(f"{kc.ADMIN_CONF} on {self.fleet.first.name} is not YAML",
                                 "check the first master's /etc/kubernetes/admin.conf") from None
        for user in doc.get("users") or []:
            for key in ("client-key-data", "token"):
                value = ((user or {}).get("user") or {}).get(key)
                if isinstance(value, str):
                    ctx.secret(value)
        clusters = doc.get("clusters") or [{}]
        ctx.publish("kubeconfig", str(self.fleet.kubeconfig))
        ctx.publish("context", str(doc.get("current-context") or ""))
        ctx.publish("server", str(((clusters[0] or {}).get("cluster") or {}).get("server") or ""))
        ctx.publish("provider", "kubeadm")

    async def check(self, ctx: TaskContext) -> bool:
        local = self._local()
        if local is None:
            return False

        def look(session: Session) -> bool:
            remote = kc.admin_conf_sha256(self.connect(self.fleet.first, session, ctx))
            if remote != kc.sha256(local):
                return False
            self._publish(ctx, local)
            return True
        return await blocking(ctx, look)

    async def ensure(self, ctx: TaskContext) -> None:
        def act(session: Session) -> None:
            data = kc.read_admin_conf(self.connect(self.fleet.first, session, ctx))
            self._publish(ctx, data)        # registers its secrets before anything could print them
            atomic_write(self.fleet.kubeconfig, data, 0o600)
            ctx.log(f"admin kubeconfig written to {self.fleet.kubeconfig} (0600)")
        await blocking(ctx, act)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would copy {kc.ADMIN_CONF} from {self.fleet.first.name} to {self.fleet.kubeconfig} (mode 0600); "
                "every later task uses it"]


# --------------------------------------------------------------------------- the phase


def api_endpoint(cluster: Cluster, masters: Sequence[Host], lb: Host | None) -> str:
    """The control-plane endpoint: the answers', else the lb host, else the only master."""
    if cluster.api_endpoint:
        return cluster.api_endpoint
    if lb is not None:
        return _join(lb.address, API_PORT)
    if len(masters) == 1:
        return _join(masters[0].address, API_PORT)
    raise InputError(f"{len(masters)} masters need a load balancer in front of their API servers",
                     expected="cluster.api_endpoint: the load balancer's host:6443, or a host with role lb")


def _join(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def haproxy_config(fleet: Fleet, lb: LbSettings) -> HaproxyConfig | None:
    """The SDC load balancer in front of this fleet (None without a worker to send ingress traffic to)."""
    workers = [h for h in fleet.nodes if "worker" in h.roles]
    if not workers:
        return None
    return HaproxyConfig(masters=tuple(Server(h.name, h.address) for h in fleet.masters),
                         workers=tuple(Server(h.name, h.address) for h in workers), api_port=API_PORT,
                         http_node_port=lb.http_node_port, https_node_port=lb.https_node_port,
                         api_allow=lb.api_allow)


def kubeadm_tasks(hosts: Sequence[Host], cluster: Cluster, state_dir: Path, *,
                  known_hosts: Path | None = None, environment: str | None = None,
                  packages: Packages = Packages(), cni: CniSettings = CniSettings(),
                  lb: LbSettings = LbSettings(), image_repository: str | None = None,
                  after: Iterable[str] = (), ssh_options: SshOptions = SshOptions(),
                  retry: RetryPolicy | None = None, timeouts: Timeouts = Timeouts()) -> list[Task]:
    """The kubeadm cluster phase for ``hosts`` (roles master, worker, lb); later tasks depend on
    ``KUBECONFIG``, whose output ``kubeconfig`` is the admin kubeconfig's path.

    InputError when the hosts cannot make a cluster (no master; several masters and no load balancer)."""
    masters = tuple(h for h in hosts if "master" in h.roles)
    if not masters:
        raise InputError("kubeadm needs at least one host with role master", expected="a host with roles: [master]")
    workers = tuple(h for h in hosts if "worker" in h.roles and "master" not in h.roles)
    lb_host = next((h for h in hosts if "lb" in h.roles), None)
    if lb_host is not None and lb.install and "master" in lb_host.roles:
        raise InputError(f"host {lb_host.name} has roles lb and master: HAProxy and the API server would both "
                         f"listen on {API_PORT}", expected="the load balancer on a host of its own (or a worker)")
    fleet = Fleet(masters=masters, workers=workers, lb=lb_host, api_endpoint=api_endpoint(cluster, masters, lb_host),
                  cluster=cluster, state_dir=Path(state_dir), environment=environment or Path(state_dir).name,
                  packages=packages, cni=cni, remote=Remote(known_hosts or Path(state_dir) / "known_hosts", ssh_options),
                  image_repository=image_repository, timeouts=timeouts, retry=retry)
    first = list(after)
    tasks: list[Task] = [PrepareTask(fleet, h, first) for h in fleet.nodes]
    init_deps = [prepare_id(fleet.first)]
    lb_config = haproxy_config(fleet, lb)
    if lb_config is not None:
        install_on = lb_host if lb.install else None
        lb_task = HaproxyTask(fleet, lb_config, install_on, first)
        tasks.append(lb_task)
        if install_on is not None:
            init_deps.append(lb_task.id)    # kubeadm init talks to its API through the load balancer
    tasks.append(InitTask(fleet, init_deps))
    tasks.append(CniTask(fleet, [INIT]))
    previous = INIT
    for h in masters[1:]:                   # control planes one at a time: each adds an etcd member
        tasks.append(JoinTask(fleet, h, True, [previous, prepare_id(h)]))
        previous = join_id(h)
    tasks += [JoinTask(fleet, h, False, [INIT, prepare_id(h)]) for h in workers]
    tasks.append(KubeconfigTask(fleet, [INIT, CNI, *(join_id(h) for h in fleet.nodes[1:])]))
    return tasks
