"""The SSH adapter and host facts against three real OpenSSH servers, each in its own network
namespace with its own hostname (tests/vmlab.py). The only test double is the ``sudo`` shim of
the sudo test: the image has no sudo."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from digit_tui.infra import hostfacts, ssh
from digit_tui.infra.ssh import SshAuth, SshError, SshErrorKind, SshOptions, SshTarget, SudoStatus
from tests.support import wait_until
from tests.vmlab import Vm, VmLab, fingerprint_of, keygen

FAST = SshOptions(timeout=3, keepalive_interval=1, keepalive_count=3)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    with VmLab(tmp_path_factory.mktemp("vmlab"), count=3) as lab:
        yield lab


@pytest.fixture
def known(tmp_path: Path) -> Path:
    return tmp_path / "state" / "known_hosts"


def target(lab: VmLab, vm: Vm, user: str = "root") -> SshTarget:
    return SshTarget(vm.address, 22, user, name=vm.name)


def connect(lab: VmLab, vm: Vm, known: Path, user: str = "root", auth: SshAuth | None = None,
            options: SshOptions = FAST) -> ssh.SshConnection:
    with lab.client_netns():
        return ssh.connect(target(lab, vm, user), auth or SshAuth(lab.client_key), known, options)


def trust(lab: VmLab, vm: Vm, known: Path, fp: str | None = None) -> None:
    with lab.client_netns():
        ssh.trust_host_key(known, vm.address, 22, fp or lab.host_fingerprint(vm), FAST)


def local_meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def local_os_release() -> dict[str, str]:
    out = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        k, _, v = line.partition("=")
        out[k] = v.strip('"')
    return out


def free_bytes_in(lab: VmLab, vm: Vm, path: str) -> int:
    """Measured inside the VM without SSH: an independent view of the same filesystem."""
    out = lab.exec(vm, ["python3", "-c", f"import os; s = os.statvfs({path!r}); print(s.f_bavail * s.f_frsize)"])
    return int(out.stdout)


def test_facts_of_three_vms(lab: VmLab, known: Path) -> None:
    listen = ("import socket, sys; s = socket.create_server(('0.0.0.0', 10250)); print('up', flush=True); "
              "sys.stdin.read()")
    listener = subprocess.Popen(lab.vm_argv(lab.vms[1], ["python3", "-c", listen]),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == b"up"
        facts = {}
        for vm in lab.vms:
            trust(lab, vm, known)
            with connect(lab, vm, known) as conn:
                facts[vm.name] = hostfacts.gather(conn, ports=(22, 6443, 10250))
    finally:
        listener.kill()
        listener.wait(timeout=5)

    osr = local_os_release()
    uuid_file = Path("/sys/class/dmi/id/product_uuid")
    for vm in lab.vms:
        f = facts[vm.name]
        assert f.hostname == vm.name                        # each VM its own UTS namespace
        assert (f.os_id, f.os_version) == (osr["ID"], osr.get("VERSION_ID", ""))
        assert f.cpus == len(os.sched_getaffinity(0))       # namespaces share the kernel and CPUs
        assert f.memory_bytes == local_meminfo("MemTotal")
        assert f.swap_on == (len(Path("/proc/swaps").read_text().splitlines()) > 1)
        assert f.macs == (vm.mac,)                          # eth0 only: lo is left out
        assert f.product_uuid == (uuid_file.read_text().strip().lower() if uuid_file.exists() else None)
        assert abs(f.clock_offset) < 1.0 and f.clock_uncertainty < 1.0
        for path in ("/", "/var"):      # /var is the VM's copy-on-write overlay
            assert abs(f.disk_free[path] - free_bytes_in(lab, vm, path)) < 2**30, path
    assert facts["vm1"].ports_in_use == (22,)
    assert facts["vm2"].ports_in_use == (22, 10250)        # its listener, in its namespace only
    assert facts["vm1"].ports_checked == (22, 6443, 10250)

    assert hostfacts.check_fleet(facts) == []
    f1 = facts["vm1"]
    need = hostfacts.Requirements(cpus=f1.cpus + 1, memory_bytes=f1.memory_bytes * 2, free_ports=(6443, 10250))
    msgs = [x.message for x in hostfacts.check_host("worker-3", facts["vm2"], need)]
    assert msgs == [f"worker-3 has {f1.cpus} CPU{'s' if f1.cpus != 1 else ''}, the plan needs {f1.cpus + 1}",
                    f"worker-3 has {hostfacts.gib(f1.memory_bytes)} of memory, the plan needs "
                    f"{hostfacts.gib(f1.memory_bytes * 2)}",
                    "worker-3: port 10250 already in use"]
    assert hostfacts.check_host("vm1", f1, hostfacts.Requirements(cpus=f1.cpus, memory_bytes=f1.memory_bytes)) == []


def test_unknown_host_key_is_refused_with_its_fingerprint_until_trusted(lab: VmLab, known: Path) -> None:
    vm = lab.vms[0]
    expected = lab.host_fingerprint(vm)           # what `ssh-keygen -lf` says of the VM's key
    with pytest.raises(ssh.UnknownHostKey) as e:
        connect(lab, vm, known)
    assert e.value.kind is SshErrorKind.UNKNOWN_HOST_KEY and not e.value.transient
    assert e.value.fingerprint == expected and expected in str(e.value)
    assert str(e.value).startswith(f"vm1 ({vm.address})")
    assert not known.exists()                     # refusing trusts nothing

    other = lab.host_fingerprint(lab.vms[1])
    with pytest.raises(SshError) as e2:
        trust(lab, vm, known, other)              # a fingerprint the host does not present
    assert e2.value.kind is SshErrorKind.FINGERPRINT_MISMATCH and expected in str(e2.value)
    assert not known.exists()

    trust(lab, vm, known, expected + "=")         # pasted with base64 padding: the same key
    assert known.stat().st_mode & 0o777 == 0o600
    with connect(lab, vm, known) as conn:
        assert conn.run("hostname", 10).stdout.strip() == "vm1"
        assert conn.host_key.fingerprint == expected

    # the file is OpenSSH's own format: ssh accepts it with strict checking
    r = subprocess.run(lab.ctl_argv(["ssh", "-i", str(lab.client_key), "-o", "BatchMode=yes", "-o",
                                     "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                                     f"root@{vm.address}", "true"]), capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr


def test_hashed_known_hosts_written_by_openssh(lab: VmLab, known: Path) -> None:
    vm = lab.vms[0]
    known.parent.mkdir(parents=True)
    pub = vm.host_key.with_name(vm.host_key.name + ".pub").read_text().split()
    known.write_text(f"# kept\n{lab.subnet}.99 {pub[0]} {pub[1]}\n{vm.address} {pub[0]} {pub[1]}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], check=True, capture_output=True, timeout=10)
    assert vm.address not in known.read_text()
    with connect(lab, vm, known) as conn:
        assert conn.run("true", 10).ok


def test_wrong_key_fails_permanently_with_a_remedy(lab: VmLab, known: Path, tmp_path: Path) -> None:
    vm = lab.vms[0]
    trust(lab, vm, known)
    stranger = keygen(tmp_path / "stranger")
    with pytest.raises(SshError) as e:
        connect(lab, vm, known, user=lab.user, auth=SshAuth(stranger))
    assert e.value.kind is SshErrorKind.AUTH_FAILED and not e.value.transient
    assert f"login refused for user {lab.user}" in str(e.value)
    assert e.value.remedy and "authorized_keys" in e.value.remedy


def test_key_with_passphrase(lab: VmLab, known: Path, tmp_path: Path) -> None:
    vm = lab.vms[1]
    trust(lab, vm, known)
    secret = "correct horse battery"
    key = keygen(tmp_path / "locked", passphrase=secret)
    lab.authorize(key.with_suffix(".pub"))
    auth = SshAuth(key, passphrase=secret)
    assert secret not in repr(auth)
    with connect(lab, vm, known, user=lab.user, auth=auth) as conn:
        assert conn.run("id -un", 10).stdout.strip() == lab.user
    for wrong in (None, "incorrect horse"):
        with pytest.raises(SshError) as e:
            connect(lab, vm, known, user=lab.user, auth=SshAuth(key, passphrase=wrong))
        assert e.value.kind is SshErrorKind.KEY_UNUSABLE and not e.value.transient
        assert "passphrase" in str(e.value) and e.value.remedy
        text = f"{e.value!s} {e.value!r} {e.value.remedy} {e.value.__cause__!r} {e.value.__context__!r}"
        assert secret not in text and (wrong is None or wrong not in text)


def test_agent(lab: VmLab, known: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vm = lab.vms[2]
    trust(lab, vm, known)
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_until(sock.exists, timeout=10, what="ssh-agent's socket")
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", str(lab.client_key)], env=env, check=True, capture_output=True, timeout=10)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        with connect(lab, vm, known, auth=SshAuth(use_agent=True)) as conn:
            assert conn.run("hostname", 10).stdout.strip() == "vm3"
        monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "no-agent"))
        with pytest.raises(SshError) as e:
            connect(lab, vm, known, auth=SshAuth(use_agent=True))
        assert e.value.kind is SshErrorKind.KEY_UNUSABLE and "agent" in str(e.value)
    finally:
        agent.kill()
        agent.wait(timeout=5)


def test_changed_host_key_names_both_fingerprints(lab: VmLab, known: Path) -> None:
    vm = lab.vms[2]
    old = lab.host_fingerprint(vm)
    trust(lab, vm, known)
    with connect(lab, vm, known) as conn:
        assert conn.run("true", 10).ok
    new = lab.restart_sshd(vm, new_host_key=True)
    assert new != old
    with pytest.raises(ssh.HostKeyChanged) as e:
        connect(lab, vm, known)
    err = e.value
    assert err.kind is SshErrorKind.HOST_KEY_CHANGED and not err.transient
    assert "host key changed" in str(err) and old in str(err) and new in str(err)
    assert err.remedy and "trust" in err.remedy
    with pytest.raises(SshError):                 # trusting the old one again is refused
        trust(lab, vm, known, old)
    trust(lab, vm, known, new)                    # the operator checked the new key: it replaces the old
    with connect(lab, vm, known) as conn:
        assert conn.host_key.fingerprint == new
    assert fingerprint_of(vm.host_key.with_name(vm.host_key.name + ".pub")) == new


def test_link_down_is_unreachable_within_the_timeout(lab: VmLab, known: Path) -> None:
    vm = lab.vms[1]
    trust(lab, vm, known)
    lab.link_down(vm)
    try:
        t0 = time.monotonic()
        with pytest.raises(SshError) as e:
            connect(lab, vm, known, options=SshOptions(timeout=2))
        elapsed = time.monotonic() - t0
    finally:
        lab.link_up(vm)
    assert e.value.kind is SshErrorKind.UNREACHABLE and e.value.transient, str(e.value)
    assert "unreachable" in str(e.value)
    assert elapsed < 2 + 1.5
    lab.wait_ssh(vm)
    with connect(lab, vm, known) as conn:         # and it comes back by itself
        assert conn.run("true", 10).ok


def test_refused_port_is_transient(lab: VmLab, known: Path) -> None:
    with lab.client_netns(), pytest.raises(SshError) as e:
        ssh.connect(SshTarget(lab.vms[0].address, 2222), SshAuth(lab.client_key), known, FAST)
    assert e.value.kind is SshErrorKind.REFUSED and e.value.transient


def test_drop_during_a_command_is_noticed_within_the_keepalive_window(lab: VmLab, known: Path) -> None:
    vm = lab.vms[0]
    trust(lab, vm, known)
    conn = connect(lab, vm, known)
    outcome: dict[str, object] = {}

    def long_command() -> None:
        try:
            outcome["result"] = conn.run("sleep 37.913", 60)
        except SshError as e:
            outcome["error"] = e
            outcome["at"] = time.monotonic()

    worker = threading.Thread(target=long_command, daemon=True)
    worker.start()
    try:
        wait_until(lambda: lab.exec(vm, ["pgrep", "-f", r"^sleep 37\.913$"], check=False).returncode == 0, timeout=10,
                   what="the remote command to run")
        lab.drop(vm)
        dropped = time.monotonic()
        worker.join(FAST.keepalive_window + 5)
    finally:
        lab.restore(vm)
        conn.close()
    err = outcome.get("error")
    assert isinstance(err, SshError), f"the command did not notice the DROP: {outcome}"
    assert err.kind is SshErrorKind.CONNECTION_LOST and err.transient
    assert "connection was lost" in str(err)
    assert float(outcome["at"]) - dropped < FAST.keepalive_window + 2   # type: ignore[arg-type]


def test_drop_on_an_idle_connection_is_noticed_and_a_new_one_works_once_it_ends(lab: VmLab, known: Path) -> None:
    vm = lab.vms[2]
    trust(lab, vm, known)
    conn = connect(lab, vm, known)
    try:
        assert conn.run("true", 10).ok
        lab.drop_for(vm, FAST.keepalive_window + 3)     # restored by itself, well after it is noticed
        t0 = time.monotonic()
        wait_until(lambda: not conn.alive, timeout=FAST.keepalive_window + 2, what="the connection to be lost")
        assert time.monotonic() - t0 < FAST.keepalive_window + 2
        with pytest.raises(SshError) as e:
            conn.run("true", 10)
        assert e.value.kind is SshErrorKind.CONNECTION_LOST and e.value.transient
    finally:
        conn.close()

    def reconnects() -> bool:
        try:
            connect(lab, vm, known, options=SshOptions(timeout=1)).close()
            return True
        except SshError as e:
            assert e.transient, str(e)
            return False

    wait_until(reconnects, timeout=15, what="a connection once the DROP ended")


def test_run_output_input_and_timeout(lab: VmLab, known: Path) -> None:
    vm = lab.vms[1]
    trust(lab, vm, known)
    with connect(lab, vm, known) as conn:
        r = conn.run("echo out; echo err >&2; exit 3", 10)
        assert (r.exit_code, r.stdout, r.stderr, r.ok) == (3, "out\n", "err\n", False)
        assert conn.run("cat", 10, input=b"fed through stdin").stdout == "fed through stdin"
        big = conn.run("head -c 300000 /dev/zero | tr '\\0' a; echo; echo last-line", 10, max_output=1000)
        assert big.truncated and len(big.stdout) < 1100
        assert big.stdout.startswith("a" * 100) and big.stdout.endswith("last-line\n")
        t0 = time.monotonic()
        with pytest.raises(SshError) as e:
            conn.run("sleep 20", 0.5)
        assert e.value.kind is SshErrorKind.COMMAND_TIMEOUT and e.value.transient
        assert "sleep" not in str(e.value)        # commands may carry tokens: never quoted
        assert time.monotonic() - t0 < 2.5
        assert conn.run("echo still usable", 10).stdout == "still usable\n"


def test_passwordless_sudo_check(lab: VmLab, known: Path) -> None:
    vm = lab.vms[1]
    trust(lab, vm, known)
    with connect(lab, vm, known) as conn:
        assert conn.sudo_check().status is SudoStatus.ROOT
    try:
        with connect(lab, vm, known, user=lab.user) as conn:
            assert conn.sudo_check().status is SudoStatus.MISSING       # the image has no sudo
            lab.install_sudo(vm, "password")
            check = conn.sudo_check()
            assert check.status is SudoStatus.PASSWORD_REQUIRED and not check.ok
            assert "password is required" in check.detail
            assert conn.run("true", 10, sudo=True).exit_code == 1
            lab.install_sudo(vm, "passwordless")
            assert conn.sudo_check().ok
            r = conn.run("echo \"it's $((6 * 7))\"", 10, sudo=True)   # quoting survives sudo -n -- sh -c
            assert r.stdout == "it's 42\n"
    finally:
        lab.remove_sudo(vm)


def test_loopback_forwarder_for_clients_outside_the_lab(lab: VmLab, known: Path) -> None:
    vm = lab.vms[2]
    port = lab.forward(vm)
    # no client_netns: this is the root namespace, as for an engine started as a subprocess
    ssh.trust_host_key(known, "127.0.0.1", port, lab.host_fingerprint(vm), FAST)
    assert f"[127.0.0.1]:{port} " in known.read_text()
    with ssh.connect(SshTarget("127.0.0.1", port, name="vm3"), SshAuth(lab.client_key), known, FAST) as conn:
        assert conn.run("hostname", 10).stdout.strip() == "vm3"
    # through a forwarder a VM that is down looks like a handshake cut short: still transient
    lab.link_down(vm)
    try:
        with pytest.raises(SshError) as e:
            ssh.connect(SshTarget("127.0.0.1", port, name="vm3"), SshAuth(lab.client_key), known, FAST)
    finally:
        lab.link_up(vm)
    assert e.value.kind is SshErrorKind.UNREACHABLE and e.value.transient, str(e.value)
