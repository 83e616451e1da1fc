"""Plain "VMs" for tests: network namespaces with real sshd, their own hostname and /etc.

    with VmLab(tmp_path, count=3) as lab:
        with lab.client_netns():                       # this thread's new sockets live in ctl
            conn = ssh.connect(SshTarget(lab.vms[0].address, user=lab.user), ...)

Topology (all of it inside namespaces this lab created, torn down by ``close``):

    <tag>-sw   bridge br0, one veth port per host
    <tag>-ctl  <subnet>.1     the "jump host"; the test process joins it per thread (``client_netns``)
    <tag>-vmN  <subnet>.1N    hostname vmN; sshd on :22; users root and ``user`` (no password, key only)

<tag> is dtlab<pid>x<n> (the pid makes labs of pytest-xdist workers distinct; a stale one's dead
pid is how the next lab knows to sweep it). <subnet> is 10.<201 + worker>.0 (10.201.0 in a plain
run and on gw0, 10.202.0 on gw1, ...; see ``lab_subnet``): labs of different workers never share
addresses, so logs, known_hosts and error messages name one worker's lab, and a route or rule a
test adds can never reach another worker's lab. Labs of one process may share the subnet: each
has namespaces of its own. Tests name addresses through ``lab.subnet`` / ``vm.address``, never as
literals.
The 10.x addresses exist only inside these namespaces and nothing routes them from the root
namespace, so test traffic goes only to hosts this lab made. Each VM runs in its own UTS and mount
namespace: copy-on-write overlays of /etc, /var, /home, /root, /usr/local, /srv and /opt (a VM's
useradd, /etc/hostname or /usr/local/bin/kubeadm never touches the machine), the machine's kernel,
CPUs and memory (namespaces share them).

Clients outside the test process: ``forward(vm)`` gives a 127.0.0.1 port in the root namespace that
relays to the VM's sshd (a forwarder accepts first, so an unreachable VM shows as a connection
closed during the SSH handshake, not as a connect timeout); ``ctl_argv(argv)`` runs a command
inside ctl (10.x reachable directly, as on a jump host), and ``publish_into_ctl(port)`` lets such a
command reach a root-namespace 127.0.0.1 server (the sandbox API) at ctl's 127.0.0.1.

Faults: ``link_down``/``link_up`` (the VM's eth0), ``drop``/``restore``/``drop_for`` (an iptables DROP
inside the VM's namespace, everything but its loopback), ``restart_sshd(new_host_key=True)``.
``sudo`` is not on the image: ``install_sudo(vm, mode)`` puts a test double in the VM's
/usr/local/bin ("passwordless" runs the command as the same user, "password" refuses like sudo -n).
"""

from __future__ import annotations

import ctypes
import fcntl
import itertools
import os
import re
import select
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support import wait_until, worker_index

PREFIX = "dtlab"
NETNS_DIR = Path("/run/netns")
SSHD = "/usr/sbin/sshd"
# Inside each VM's /etc: sshd reads it as the user logging in, who cannot traverse pytest's 0700 tmp.
VM_AUTHORIZED_KEYS = "/etc/vmlab/authorized_keys"
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_seq = itertools.count(1)
# Held (flock) around the first `ip netns add` of the machine: iproute2 turns /run/netns into a
# shared mount point then, and two processes doing it at once stack two mounts, the namespace file
# of one hidden under the other's. Only a fresh machine (CI) gets there, with several workers.
_NETNS_INIT_LOCK = Path("/run/dtlab-netns.lock")
_OVERLAID = ("etc", "var", "home", "root", "usr/local", "srv", "opt")


@contextmanager
def netns(path: str | Path) -> Iterator[None]:
    """Run the calling thread in the network namespace at ``path``; sockets created meanwhile stay in
    it for their whole life (that is how an in-process client reaches 10.x hosts), other threads of
    the process are unaffected."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(str(path), os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
        try:
            yield
        finally:
            if _libc.setns(own, _CLONE_NEWNET) != 0:   # cannot happen for our own namespace
                raise OSError(ctypes.get_errno(), "setns back to the test's namespace")
    finally:
        os.close(target)
        os.close(own)


@dataclass
class Vm:
    name: str               # also its hostname
    netns: str
    address: str
    mac: str
    dir: Path
    holder: subprocess.Popen[bytes] | None = field(default=None, repr=False)   # holds UTS + mount ns
    sshd: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"


def _run(argv: Sequence[str], timeout: float = 10, check: bool = True, input: bytes | None = None
         ) -> subprocess.CompletedProcess[bytes]:
    r = subprocess.run(list(argv), capture_output=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.decode(errors='replace').strip()}")
    return r


def fingerprint_of(pub: Path) -> str:
    """What ``ssh-keygen -lf`` prints: OpenSSH's own view of a key, independent of the code under test."""
    out = _run(["ssh-keygen", "-lf", str(pub)]).stdout.decode()
    return out.split()[1]


def keygen(path: Path, passphrase: str = "", comment: str = "vmlab") -> Path:
    """An ed25519 key pair in OpenSSH's format; one with a passphrase is written here rather than by
    ssh-keygen, whose -N would put the passphrase in an argv."""
    pub = path.with_name(path.name + ".pub")
    for p in (path, pub):
        p.unlink(missing_ok=True)
    if not passphrase:
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
        return path
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.BestAvailableEncryption(passphrase.encode())))
    path.chmod(0o600)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                  serialization.PublicFormat.OpenSSH) + f" {comment}\n".encode())
    return path


class VmLab:
    def __init__(self, root: Path, count: int = 3, subnet: str | None = None, user: str = "dtuser") -> None:
        missing = [t for t in ("ip", "nsenter", "unshare", "iptables", "ssh-keygen", "useradd")
                   if shutil.which(t) is None] + ([SSHD] if not os.access(SSHD, os.X_OK) else [])
        if os.geteuid() != 0 or missing:
            raise RuntimeError(f"vmlab needs root and {', '.join(missing) or 'nothing else'} "
                               "(scripts/bootstrap.sh --tests installs them)")
        self.root = root
        self.user = user
        self.tag = f"{PREFIX}{os.getpid()}x{next(_seq)}"
        self.subnet = subnet or lab_subnet()
        subnet = self.subnet
        self.sw = f"{self.tag}-sw"
        self.ctl = f"{self.tag}-ctl"
        self.ctl_address = f"{subnet}.1"
        self.vms = [Vm(f"vm{i}", f"{self.tag}-vm{i}", f"{subnet}.{10 + i}", f"02:d7:00:00:00:{10 + i:02x}",
                       root / f"vm{i}") for i in range(1, count + 1)]
        self.client_key = root / "id_ed25519"          # authorized for root and ``user`` on every VM
        self.authorized_keys = root / "authorized_keys"
        self._namespaces: list[str] = []
        self._forwarders: list[_Forwarder] = []
        self._timers: list[threading.Timer] = []
        self._dropped: set[str] = set()

    # ---- life cycle -------------------------------------------------------------------------
    def __enter__(self) -> VmLab:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        _sweep_stale()
        self.root.mkdir(parents=True, exist_ok=True)
        keygen(self.client_key, comment="vmlab-client")
        self.authorized_keys.write_text(self.client_key.with_suffix(".pub").read_text())
        self._add_ns(self.sw)
        _run(["ip", "-n", self.sw, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", self.sw, "link", "set", "br0", "up"])
        self._add_host(self.ctl, self.ctl_address, None)
        for vm in self.vms:
            self._add_host(vm.netns, vm.address, vm.mac)
            vm.dir.mkdir(parents=True, exist_ok=True)
            keygen(vm.host_key, comment=vm.name)
        for vm in self.vms:     # the holders set up in parallel
            vm.holder = self._start_holder(vm)
        for vm in self.vms:
            self._await_holder(vm)
            self.start_sshd(vm, wait=False)
        for vm in self.vms:
            self.wait_ssh(vm)

    def close(self) -> None:
        """Tear everything down, whatever state it is in; never raises."""
        for t in self._timers:
            t.cancel()
        for f in self._forwarders:
            f.close()
        procs = [p for vm in self.vms for p in (vm.sshd, vm.holder) if p is not None]
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for ns in self._namespaces:
            _kill_netns_pids(ns)
            _run(["ip", "netns", "del", ns], check=False)
        self._namespaces.clear()
        for vm in self.vms:
            shutil.rmtree(vm.dir / "ovl", ignore_errors=True)

    def _add_ns(self, ns: str) -> None:
        if os.path.ismount(NETNS_DIR):
            _run(["ip", "netns", "add", ns])
        else:
            with open(_NETNS_INIT_LOCK, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                _run(["ip", "netns", "add", ns])
        self._namespaces.append(ns)
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _add_host(self, ns: str, address: str, mac: str | None) -> None:
        self._add_ns(ns)
        port = "p" + ns.rsplit("-", 1)[1]
        _run(["ip", "link", "add", "eth0", "netns", ns, *(["address", mac] if mac else []),
              "type", "veth", "peer", "name", port, "netns", self.sw])
        _run(["ip", "-n", self.sw, "link", "set", port, "master", "br0"])
        _run(["ip", "-n", self.sw, "link", "set", port, "up"])
        _run(["ip", "-n", ns, "addr", "add", f"{address}/24", "dev", "eth0"])
        _run(["ip", "-n", ns, "link", "set", "eth0", "up"])

    def _start_holder(self, vm: Vm) -> subprocess.Popen[bytes]:
        ovl = vm.dir / "ovl"
        hosts = "".join(f"{v.address} {v.name}\\n" for v in self.vms)
        script = f"""set -e
hostname {vm.name}
for d in {' '.join(_OVERLAID)}; do
  [ -d /$d ] || continue
  k=$(echo $d | tr / _); mkdir -p {ovl}/$k.u {ovl}/$k.w
  mount -t overlay overlay -o lowerdir=/$d,upperdir={ovl}/$k.u,workdir={ovl}/$k.w /$d
done
echo {vm.name} > /etc/hostname
printf '{hosts}' >> /etc/hosts
id -u {self.user} >/dev/null 2>&1 || useradd -m -s /bin/sh {self.user}
usermod -p '*' {self.user}
mkdir -p /run/sshd /etc/vmlab
install -m 644 {self.authorized_keys} {VM_AUTHORIZED_KEYS}
echo ready
exec sleep infinity
"""
        log = open(vm.dir / "holder.log", "wb")
        try:
            return subprocess.Popen(["ip", "netns", "exec", vm.netns, "unshare", "--mount", "--uts",
                                     "--propagation", "private", "sh", "-c", script],
                                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()

    def _await_holder(self, vm: Vm) -> None:
        assert vm.holder is not None and vm.holder.stdout is not None
        ready, _, _ = select.select([vm.holder.stdout], [], [], 15)
        line = vm.holder.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            raise RuntimeError(f"{vm.name} did not come up: {(vm.dir / 'holder.log').read_text()[-2000:]}")

    # ---- sshd -------------------------------------------------------------------------------
    def _sshd_config(self, vm: Vm) -> Path:
        cfg = vm.dir / "sshd_config"
        cfg.write_text(f"""Port 22
ListenAddress {vm.address}
HostKey {vm.host_key}
PidFile none
AuthorizedKeysFile {VM_AUTHORIZED_KEYS}
StrictModes no
UsePAM no
UseDNS no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
MaxStartups 100
LoginGraceTime 20
LogLevel VERBOSE
""")
        return cfg

    def start_sshd(self, vm: Vm, wait: bool = True) -> None:
        assert vm.holder is not None
        log = open(vm.dir / "sshd.log", "ab")
        try:
            vm.sshd = subprocess.Popen(self.vm_argv(vm, [SSHD, "-D", "-e", "-f", str(self._sshd_config(vm))]),
                                       stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        if wait:
            self.wait_ssh(vm)

    def stop_sshd(self, vm: Vm) -> None:
        """The listener only; sessions already open go on, as when sshd restarts on a real host."""
        if vm.sshd is not None and vm.sshd.poll() is None:
            vm.sshd.terminate()
            vm.sshd.wait(timeout=5)
        vm.sshd = None
        wait_until(lambda: not self.tcp_open(vm.address, 22), timeout=5, what=f"{vm.name}'s sshd to stop")

    def restart_sshd(self, vm: Vm, new_host_key: bool = False) -> str:
        """Restart the VM's sshd (with a freshly generated host key if asked); its fingerprint."""
        self.stop_sshd(vm)
        if new_host_key:
            keygen(vm.host_key, comment=vm.name)
        self.start_sshd(vm)
        return self.host_fingerprint(vm)

    def host_fingerprint(self, vm: Vm) -> str:
        return fingerprint_of(vm.host_key.with_name(vm.host_key.name + ".pub"))

    def authorize(self, pub: Path) -> None:
        """Accept this public key for root and ``user`` on every VM."""
        with self.authorized_keys.open("a") as f:
            f.write(pub.read_text())
        for vm in self.vms:
            self.write_file(vm, VM_AUTHORIZED_KEYS, self.authorized_keys.read_bytes())

    def wait_ssh(self, vm: Vm, timeout: float = 10) -> None:
        wait_until(lambda: self.tcp_open(vm.address, 22), timeout=timeout, what=f"{vm.name}'s sshd")

    def tcp_open(self, address: str, port: int) -> bool:
        with self.client_netns():
            try:
                socket.create_connection((address, port), timeout=0.5).close()
                return True
            except OSError:
                return False

    # ---- running things ---------------------------------------------------------------------
    @contextmanager
    def client_netns(self) -> Iterator[None]:
        with netns(NETNS_DIR / self.ctl):
            yield

    def vm_argv(self, vm: Vm, argv: Sequence[str]) -> list[str]:
        assert vm.holder is not None
        return ["nsenter", "-t", str(vm.holder.pid), "-n", "-m", "-u", "--", *argv]

    def exec(self, vm: Vm, cmd: str | Sequence[str], timeout: float = 10, check: bool = True,
             input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run a command as root inside the VM (not over SSH): test setup and independent checks."""
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return _run(self.vm_argv(vm, argv), timeout=timeout, check=check, input=input)

    def write_file(self, vm: Vm, path: str, content: str | bytes, mode: int = 0o644) -> None:
        data = content.encode() if isinstance(content, str) else content
        self.exec(vm, f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}' && chmod {mode:o} '{path}'", input=data)

    def install_sudo(self, vm: Vm, mode: str = "passwordless") -> None:
        """A TEST DOUBLE for sudo (the image has none): "passwordless" runs the command as the same
        user (no real elevation), "password" refuses as ``sudo -n`` does without NOPASSWD."""
        if mode == "passwordless":
            body = ('while [ $# -gt 0 ]; do case "$1" in --) shift; break;; -*) shift;; *) break;; esac; done\n'
                    'exec "$@"\n')
        elif mode == "password":
            body = 'echo "sudo: a password is required" >&2\nexit 1\n'
        else:
            raise ValueError(mode)
        self.write_file(vm, "/usr/local/bin/sudo", "#!/bin/sh\n# vmlab test double, not sudo\n" + body, 0o755)

    def remove_sudo(self, vm: Vm) -> None:
        self.exec(vm, "rm -f /usr/local/bin/sudo")

    def ctl_argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ctl, *argv]

    # ---- faults -----------------------------------------------------------------------------
    def link_down(self, vm: Vm) -> None:
        _run(["ip", "-n", vm.netns, "link", "set", "eth0", "down"])

    def link_up(self, vm: Vm) -> None:
        _run(["ip", "-n", vm.netns, "link", "set", "eth0", "up"])

    _DROP = (["INPUT", "!", "-i", "lo", "-j", "DROP"], ["OUTPUT", "!", "-o", "lo", "-j", "DROP"])

    def drop(self, vm: Vm) -> None:
        """Silently drop every packet in and out of the VM (its loopback excepted), like a VPN that
        went away: established connections are not told anything."""
        if vm.netns in self._dropped:
            return
        for rule in self._DROP:
            _run(["ip", "netns", "exec", vm.netns, "iptables", "-w", "5", "-I", *rule])
        self._dropped.add(vm.netns)

    def restore(self, vm: Vm) -> None:
        if vm.netns not in self._dropped or vm.netns not in self._namespaces:
            return
        for rule in self._DROP:
            _run(["ip", "netns", "exec", vm.netns, "iptables", "-w", "5", "-D", *rule])
        self._dropped.discard(vm.netns)

    def drop_for(self, vm: Vm, seconds: float) -> threading.Timer:
        """DROP now, restore by itself after ``seconds`` (``close`` cancels it with the namespace)."""
        self.drop(vm)
        timer = threading.Timer(seconds, self.restore, args=(vm,))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return timer

    # ---- reaching the lab from elsewhere ----------------------------------------------------
    def forward(self, vm: Vm, port: int = 22) -> int:
        """A port on 127.0.0.1 (root namespace) relaying to ``vm:port`` through ctl."""
        listener = socket.create_server(("127.0.0.1", 0))
        return self._forward(listener, lambda: self._connect_in_ctl(vm.address, port))

    def publish_into_ctl(self, port: int, host: str = "127.0.0.1") -> int:
        """A port on ctl's 127.0.0.1 relaying to ``host:port`` of the root namespace, for a command run
        with ``ctl_argv`` that must reach a server of the test (the sandbox API)."""
        with self.client_netns():
            listener = socket.create_server(("127.0.0.1", 0))
        return self._forward(listener, lambda: socket.create_connection((host, port), timeout=5))

    def kubeconfig_into_ctl(self, kubeconfig: Path, dest: Path) -> Path:
        """A copy of ``kubeconfig`` (0600) whose API servers on this machine's 127.0.0.1 are reached
        from ctl through ``publish_into_ctl``: the cluster a command run with ``ctl_argv`` installs into."""
        import yaml
        from urllib.parse import urlsplit

        config = yaml.safe_load(kubeconfig.read_text())
        for cluster in config["clusters"]:
            url = urlsplit(cluster["cluster"]["server"])
            assert url.hostname == "127.0.0.1" and url.port, url
            cluster["cluster"]["server"] = f"{url.scheme}://127.0.0.1:{self.publish_into_ctl(url.port)}"
        dest.write_text(yaml.safe_dump(config))
        dest.chmod(0o600)
        return dest

    def _connect_in_ctl(self, address: str, port: int) -> socket.socket:
        with self.client_netns():
            return socket.create_connection((address, port), timeout=5)

    def _forward(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> int:
        fwd = _Forwarder(listener, connect)
        self._forwarders.append(fwd)
        fwd.start()
        return listener.getsockname()[1]


class _Forwarder(threading.Thread):
    """Relays each accepted connection to a fresh ``connect()``; an outbound connect that fails
    closes the accepted one."""

    def __init__(self, listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
        super().__init__(daemon=True, name="vmlab-forward")
        self.listener = listener
        self.connect = connect
        self.socks: set[socket.socket] = set()
        self.closed = False

    def run(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        self.socks.add(client)
        try:
            upstream = self.connect()
        except OSError:
            client.close()
            self.socks.discard(client)
            return
        self.socks.add(upstream)
        peer = {client: upstream, upstream: client}
        try:
            while not self.closed:
                ready, _, _ = select.select(list(peer), [], [], 0.5)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peer[s].sendall(data)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                s.close()
                self.socks.discard(s)

    def close(self) -> None:
        self.closed = True
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for s in list(self.socks):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def lab_subnet() -> str:
    """The /24 (as "10.a.b") of this process's labs: the second octet is the xdist worker's (201 for
    gw0 or a plain run)."""
    return f"10.{201 + worker_index() % 50}.0"


def _kill_netns_pids(ns: str) -> None:
    r = _run(["ip", "netns", "pids", ns], check=False)
    for pid in r.stdout.split():
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass


def _sweep_stale() -> None:
    """Namespaces of labs whose test process died without ``close`` (SIGKILL): theirs to remove,
    never those of a lab still running in another process."""
    if not NETNS_DIR.is_dir():
        return
    for entry in NETNS_DIR.iterdir():
        m = re.match(rf"{PREFIX}(\d+)x\d+-", entry.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
            continue            # its owner is alive
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _kill_netns_pids(entry.name)
        _run(["ip", "netns", "del", entry.name], check=False)
