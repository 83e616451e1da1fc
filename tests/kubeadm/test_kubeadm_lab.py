"""The kubeadm cluster phase against three "VMs" (network namespaces with a real sshd each,
tests/vmlab.py), run by the real engine (``digit-tui engine``) from the lab's control namespace as
from a jump host.

Test doubles, and why: no kubeadm, kubelet, containerd or systemd can run on this machine, so on
each VM ``kubeadm``, ``kubelet``, ``kubectl``, ``containerd``, ``systemctl``, ``apt-get``,
``apt-mark``, ``sysctl``, ``modprobe`` and ``swapoff`` are recording scripts in the VM's own
/usr/local/bin (tests/kubeadm/fakes.py): they log their argv and emulate the effect on the facts
the phase reads (``kubeadm init`` writes admin.conf, ``join`` writes kubelet.conf...). Those are
the only doubles: SSH, the shell, setsid, the host locks, the detached steps, haproxy's own
configuration check, the engine and its journal are real.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.answers.model import Cluster, Host
from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.engine.task import TaskState
from digit_tui.infra import ssh
from digit_tui.infra.kubeadm.cluster import JOIN_CONFIG
from digit_tui.infra.kubeadm.packages import Packages
from digit_tui.infra.ssh import SshOptions
from tests.kubeadm import fakes
from digit_tui.tasks.kubeadm import CniSettings, Timeouts, kubeadm_tasks
from tests.kubeadm.graphs import ENV, FAST_RETRY, FAST_SSH
from tests.support import MINIMAL_ANSWERS, REPO, wait_until
from tests.vmlab import Vm, VmLab

GRAPH = "tests.kubeadm.graphs:lab_graph"
KEY = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBGMHoXcBEADtest\n-----END PGP PUBLIC KEY BLOCK-----\n"
MANIFEST = b"apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: calico-node, namespace: kube-system}\n"
ROLES = {"vm1": ["master"], "vm2": ["master"], "vm3": ["worker", "lb"]}


HAPROXY = Path("/usr/sbin/haproxy")    # real: the lb host checks the generated configuration with it


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[VmLab]:
    with VmLab(tmp_path / "lab", count=3) as lab:
        yield lab


class Site:
    """One install: state directory (known_hosts trusted), answers, and the engine run in the lab."""

    def __init__(self, lab: VmLab, tmp: Path, roles: dict[str, list[str]] = ROLES, *,
                 api_endpoint: str | None = None) -> None:
        if not HAPROXY.exists():
            pytest.fail("haproxy is not installed: run scripts/bootstrap.sh --tests (it installs Debian's haproxy)")
        self.lab, self.tmp = lab, tmp
        self.vms = [vm for vm in lab.vms if vm.name in roles]
        self.state = tmp / "state"
        self.state.mkdir(mode=0o700)
        with lab.client_netns():
            for vm in self.vms:
                ssh.trust_host_key(self.state / "known_hosts", vm.address, 22, lab.host_fingerprint(vm),
                                   SshOptions(timeout=3))
        for vm in self.vms:
            fakes.install(lab, vm)
            # A fresh VM's root has stock dotfiles; this machine's (pyenv, cargo) cost 0.7 s per SSH command.
            for dotfile in ("/root/.bashrc", "/root/.profile"):
                lab.write_file(vm, dotfile, "# stock: nothing\n")
        (tmp / "k8s.asc").write_bytes(KEY)
        (tmp / "calico.yaml").write_bytes(MANIFEST)
        self.answers = tmp / "answers.yaml"
        self.answers.write_text(MINIMAL_ANSWERS)
        hosts = [{"name": vm.name, "address": vm.address, "user": "root", "ssh_key": str(lab.client_key),
                  "roles": roles[vm.name]} for vm in self.vms]
        spec = {"hosts": hosts, "key_file": str(tmp / "k8s.asc"), "manifest": str(tmp / "calico.yaml"),
                "api_endpoint": api_endpoint}
        self.env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}   # no agent of this machine
        self.env.update(PYTHONPATH=str(REPO), XDG_STATE_HOME=str(tmp / "xdg"), **{ENV: json.dumps(spec)})
        self.procs: list[subprocess.Popen[str]] = []

    def vm(self, name: str) -> Vm:
        return next(vm for vm in self.vms if vm.name == name)

    def engine(self) -> subprocess.Popen[str]:
        argv = [sys.executable, "-m", "digit_tui.cli", "engine", "--state-dir", str(self.state),
                "--answers", str(self.answers), "--graph", GRAPH]
        proc = subprocess.Popen(self.lab.ctl_argv(argv), env=self.env, cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, timeout: float = 90) -> int:
        proc = self.engine()
        out, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            print(out, err, self.report(), sep="\n")
        return proc.returncode

    def journal(self) -> Journal:
        return Journal.in_dir(self.state, readonly=True)

    def tasks(self) -> dict[str, Any]:
        j = self.journal()
        try:
            run = j.latest_run()
            return {t.id: t for t in j.tasks(run.id)} if run is not None else {}
        finally:
            j.close()

    def events(self, task: str | None = None) -> list[str]:
        j = self.journal()
        try:
            run = j.latest_run()
            assert run is not None
            return [e.message for e in j.events(run.id, task=task, limit=100000)]
        finally:
            j.close()

    def report(self) -> str:
        if not (self.state / Journal.FILENAME).exists():
            return "(no journal)"
        return "\n".join(f"{t.id}: {t.state.value} {t.error or ''} {t.remedy or ''}" for t in self.tasks().values())

    def private_bytes(self) -> bytes:
        """Everything the engine wrote on this machine: journal (and its WAL), logs, outputs."""
        out = b""
        for path in sorted(self.state.rglob("*")):
            if path.is_file():
                out += path.read_bytes()
        return out

    def wait(self, cond: Callable[[], Any], proc: subprocess.Popen[str], timeout: float, what: str) -> None:
        """``wait_until`` ``cond`` or the engine's exit; on a timeout the failure says what the engine was
        doing (each task's state, the journal's last events, the engine's stderr), not just that it waited."""
        try:
            wait_until(lambda: cond() or proc.poll() is not None, timeout=timeout, what=what)
        except AssertionError as e:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"{e}\n--- tasks\n{self.report()}\n--- last events\n{self.last_events()}"
                                 f"\n--- engine stderr\n{err[-4000:]}") from None

    def last_events(self, n: int = 40) -> str:
        j = self.journal()
        try:
            run = j.latest_run()
            if run is None:
                return "(no run)"
            return "\n".join(f"{e.task or '-'}: {e.message}" for e in j.events(run.id, limit=100000)[-n:])
        finally:
            j.close()

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)


@pytest.fixture
def sites() -> Iterator[list[Site]]:
    made: list[Site] = []
    yield made
    for s in made:
        s.kill()


def snapshot(vm: Vm) -> dict[str, tuple[int, int, int]]:
    """Every file the VM's overlays hold (what the VM itself changed), but the doubles' own log."""
    out = {}
    for path in sorted((vm.dir / "ovl").glob("*.u/**/*")):
        rel = str(path.relative_to(vm.dir / "ovl"))
        if rel.startswith("var.u/log/vmfake") or not path.is_file():
            continue
        st = path.stat()
        out[rel] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def inits(calls: list[fakes.Call]) -> list[fakes.Call]:
    return [c for c in calls if c.tool == "kubeadm" and c.sub == "init" and "phase" not in c.args]


def started_joining(lab: VmLab, vm: Vm) -> bool:
    return any(c.tool == "kubeadm" and c.sub == "join" for c in fakes.calls(lab, vm))


def test_first_run_inits_once_joins_each_node_once_and_a_rerun_changes_nothing(lab: VmLab, tmp_path: Path,
                                                                              sites: list[Site]) -> None:
    site = Site(lab, tmp_path)
    sites.append(site)
    vm1, vm2, vm3 = site.vms
    lab.write_file(vm2, "/etc/fstab", "UUID=abc / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n")
    assert site.run() == 0

    first = {vm.name: fakes.calls(lab, vm) for vm in site.vms}
    assert len(inits(first["vm1"])) == 1
    assert [fakes.count(first[n], "kubeadm", "join") for n in ("vm1", "vm2", "vm3")] == [0, 1, 1]
    assert fakes.count(first["vm1"], "kubeadm", "token") == 4        # a token per join, deleted after it
    assert sum(1 for c in first["vm1"] if c.args[:2] == ("init", "phase")) == 1   # certificates for vm2 only
    joined = {vm.name: fakes.read(lab, vm, f"{fakes.STATE}/joined") for vm in (vm2, vm3)}
    assert "control_plane=yes" in joined["vm2"] and "control_plane=no" in joined["vm3"]
    made = fakes.secrets(lab, vm1)       # the tokens and the certificate key kubeadm printed on vm1
    assert len(made) == 3
    delivered = {line.split()[0].split("=")[1] for line in joined.values()}
    assert delivered <= {hashlib.sha256(s.encode()).hexdigest() for s in made}   # vm1's tokens reached the nodes
    for vm in (vm2, vm3):
        assert not fakes.read(lab, vm, JOIN_CONFIG), "the join configuration (with its token) was left behind"
        assert "name: " + vm.name in fakes.read(lab, vm, f"{fakes.STATE}/join.yaml")

    init = yaml.safe_load_all(fakes.read(lab, vm1, f"{fakes.STATE}/init.yaml"))
    kinds = {d["kind"]: d for d in init}
    assert kinds["ClusterConfiguration"]["controlPlaneEndpoint"] == f"{vm3.address}:6443"   # the lb host
    assert kinds["ClusterConfiguration"]["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}
    assert kinds["ClusterConfiguration"]["kubernetesVersion"] == "v1.30.2"
    assert "taints" not in kinds["InitConfiguration"]["nodeRegistration"]      # a master only: tainted
    assert fakes.read(lab, vm1, f"{fakes.STATE}/cni.yaml").encode() == MANIFEST
    assert fakes.count(first["vm1"], "kubectl", "apply") == 1

    # prepared from the facts: swap out of fstab, sysctls set, packages held, containerd on systemd cgroups
    fstab = fakes.read(lab, vm2, "/etc/fstab")
    assert "# /swapfile none swap sw 0 0" in fstab and "UUID=abc / ext4" in fstab
    for vm in site.vms:
        assert fakes.read(lab, vm, f"{fakes.STATE}/sysctl/net.ipv4.ip_forward").strip() == "1"
        assert "SystemdCgroup = true" in fakes.read(lab, vm, "/etc/containerd/config.toml")
        calls = first[vm.name]
        assert any(c.line.startswith("apt-get") and "kubeadm=1.30.*" in c.args for c in calls)
        assert any(c.line == "apt-mark hold kubelet kubeadm kubectl" for c in calls)
    # the load balancer: what haproxy -c accepted is live, and the same text is in the state directory
    assert fakes.read(lab, vm3, "/etc/haproxy/haproxy.cfg") == (site.state / "haproxy.cfg").read_text()
    assert any(c.line == "systemctl restart haproxy" for c in first["vm3"])

    kubeconfig = site.state / "kubeconfig"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    assert kubeconfig.read_text() == fakes.read(lab, vm1, "/etc/kubernetes/admin.conf")
    tasks = site.tasks()
    assert all(t.state is TaskState.DONE for t in tasks.values()), site.report()
    assert tasks["kubeadm-kubeconfig"].outputs == {"kubeconfig": str(kubeconfig), "context": "kubernetes-admin@kubernetes",
                                                   "server": f"https://{vm3.address}:6443", "provider": "kubeadm"}

    # secrets: in no journal, log or output, and in no command line on any host
    written = site.private_bytes()
    keydata = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["client-key-data"]
    for secret in [*made, keydata]:
        assert secret.encode() not in written.replace(kubeconfig.read_bytes(), b"")
        for calls in first.values():
            assert not [c for c in calls if secret in c.line or secret in c.parent]

    # the rerun: every check converges, nothing on any host changes
    before = {vm.name: snapshot(vm) for vm in site.vms}
    mtime = kubeconfig.stat().st_mtime_ns
    for vm in site.vms:
        fakes.clear_log(lab, vm)
    assert site.run() == 0
    for vm in site.vms:
        assert fakes.changing(lab, vm) == [], vm.name
        assert fakes.calls(lab, vm), "the rerun did not even read the facts"
        assert snapshot(vm) == before[vm.name], vm.name
    assert kubeconfig.stat().st_mtime_ns == mtime
    assert all(m.endswith("already converged") for t in site.tasks() for m in site.events(t) if m.startswith("check:"))


def test_killing_the_engine_during_the_joins_then_rerunning_converges_without_a_second_init(
        lab: VmLab, tmp_path: Path, sites: list[Site]) -> None:
    site = Site(lab, tmp_path)
    sites.append(site)
    vm1, vm2, vm3 = site.vms
    for vm in (vm2, vm3):
        fakes.hold_joins(lab, vm)
    proc = site.engine()
    site.wait(lambda: started_joining(lab, vm2) and started_joining(lab, vm3), proc, 90, "the joins to start")
    assert proc.poll() is None, site.report()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    # killed mid-join: the nodes are not joined, their detached kubeadm goes on without the engine
    for vm in (vm2, vm3):
        assert not fakes.read(lab, vm, "/etc/kubernetes/kubelet.conf")

    proc = site.engine()        # resumes the run: the joins' checks see a step running, not a node
    waiting = "the join step of an earlier attempt is still running; waiting for it"
    site.wait(lambda: all(any(m.endswith(waiting) for m in site.events(f"kubeadm-join-{vm.name}")) for vm in (vm2, vm3)),
              proc, 60, "the rerun to wait")
    for vm in (vm2, vm3):
        fakes.release_joins(lab, vm)
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, f"{out}\n{err}\n{site.report()}"
    assert len(inits(fakes.calls(lab, vm1))) == 1
    for vm in (vm2, vm3):
        assert fakes.count(fakes.calls(lab, vm), "kubeadm", "join") == 1, vm.name
        events = site.events(f"kubeadm-join-{vm.name}")
        assert any("took over /var/lib/digit-tui/kubeadm.lock, left behind by an earlier attempt of this install" in m for m in events)
        assert fakes.read(lab, vm, "/var/lib/digit-tui/kubeadm.lock") == ""      # released by the rerun
    assert all(t.state is TaskState.DONE for t in site.tasks().values()), site.report()
    assert (site.state / "kubeconfig").read_text() == fakes.read(lab, vm1, "/etc/kubernetes/admin.conf")


def test_a_network_drop_during_a_join_waits_for_the_network_and_completes_by_itself(
        lab: VmLab, tmp_path: Path, sites: list[Site]) -> None:
    site = Site(lab, tmp_path)
    sites.append(site)
    vm3 = site.vm("vm3")
    fakes.hold_joins(lab, vm3)
    proc = site.engine()
    site.wait(lambda: started_joining(lab, vm3), proc, 90, "vm3's join to start")
    lab.drop_for(vm3, 20)
    dropped = time.monotonic()
    fakes.release_joins(lab, vm3)       # the join goes on on the VM, cut off from the jump host
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{out}\n{err}\n{site.report()}"
    assert time.monotonic() - dropped >= 19          # it waited for the network: nothing failed meanwhile
    events = site.events("kubeadm-join-vm3")
    assert any(m.startswith("waiting-for-network: ") and "ssh vm3" in m for m in events), events
    assert any(m.startswith("network back after") for m in events), events
    assert fakes.count(fakes.calls(lab, vm3), "kubeadm", "join") == 1
    assert all(t.state is TaskState.DONE for t in site.tasks().values()), site.report()


def run_in_process(site: Site) -> tuple[str, dict[str, Any]]:
    """The engine's scheduler and journal in this process, inside the lab's control namespace (its
    worker threads are started from there and stay in it): no process start-up for a short graph."""
    spec = json.loads(site.env[ENV])
    hosts = [Host(**h) for h in spec["hosts"]]
    tasks = kubeadm_tasks(hosts, Cluster(mode="kubeadm"), site.state, environment="kubeadm-lab",
                          packages=Packages(key_file=Path(spec["key_file"])),
                          cni=CniSettings(manifest=spec["manifest"]), ssh_options=FAST_SSH, retry=FAST_RETRY,
                          timeouts=Timeouts(poll=0.1))
    journal = Journal.in_dir(site.state)
    try:
        run = journal.create_run("kubeadm-lab", "in-process", {}, None)
        with site.lab.client_netns():
            final = asyncio.run(Scheduler(tasks, journal, run, probe_interval=0.2).run())
        return final, {t.id: t for t in journal.tasks(run)}
    finally:
        journal.close()


def test_another_installs_lock_is_a_permanent_error_naming_it(tmp_path: Path) -> None:
    with VmLab(tmp_path / "lab", count=1) as lab:
        site = Site(lab, tmp_path, {"vm1": ["master", "worker"]})
        vm1 = site.vm("vm1")
        lab.write_file(vm1, "/var/lib/digit-tui/kubeadm.lock",
                       "install=0f0f0f0f\nenvironment=sdc-other\nfrom=jump-9:/srv/state/sdc-other\nrun=r-42\n"
                       "task=kubeadm-join-vm1\nsince=2026-01-01T00:00:00Z\nnonce=abc\n")
        final, tasks = run_in_process(site)
        assert final == "failed"
        prepare = tasks["kubeadm-prepare-vm1"]
        assert prepare.state is TaskState.FAILED and prepare.attempts == 1      # permanent: not retried
        assert prepare.error.startswith(f"vm1 ({vm1.address}): /var/lib/digit-tui/kubeadm.lock is held by another "
                                        "install: install 0f0f0f0f (environment sdc-other from "
                                        "jump-9:/srv/state/sdc-other, run r-42, task kubeadm-join-vm1")
        assert "remove /var/lib/digit-tui/kubeadm.lock on vm1" in prepare.remedy
        assert tasks["kubeadm-init"].state is TaskState.BLOCKED
        assert tasks["lb-haproxy"].state is TaskState.DONE          # no lb host: the file only, independent
        assert fakes.changing(lab, vm1) == []

        lab.exec(vm1, "rm /var/lib/digit-tui/kubeadm.lock")
        final, tasks = run_in_process(site)
        assert final == "done", "\n".join(f"{t.id}: {t.state.value} {t.error}" for t in tasks.values())
        init = {d["kind"]: d for d in yaml.safe_load_all(fakes.read(lab, vm1, f"{fakes.STATE}/init.yaml"))}
        assert init["InitConfiguration"]["nodeRegistration"]["taints"] == []     # master and worker: schedulable
        assert init["ClusterConfiguration"]["controlPlaneEndpoint"] == f"{vm1.address}:6443"
        assert fakes.read(lab, vm1, "/var/lib/digit-tui/kubeadm.lock") == ""     # released
