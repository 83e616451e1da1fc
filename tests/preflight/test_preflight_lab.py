"""`digit-tui preflight` and the prerequisites phase of `digit-tui install` against three "VMs":
network namespaces with a real sshd each (tests/vmlab.py), reached from the lab's control namespace
as from a jump host on the VPN. The cluster API of the answers is a real sandbox API server, published
into that namespace. Nothing here is a test double.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.infra import ssh
from digit_tui.infra.ssh import SshOptions
from digit_tui.sandbox.runtime import start_sandbox
from tests.support import REPO
from tests.vmlab import Vm, VmLab, keygen

CLI = [sys.executable, "-m", "digit_tui.cli"]
PREFLIGHT_GRAPH = "digit_tui.tasks.preflight:preflight_graph"
ROLES = {"vm1": ["master"], "vm2": ["worker"], "vm3": ["db"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmLab]:
    with VmLab(tmp_path_factory.mktemp("vmlab"), count=3) as lab:
        yield lab


@pytest.fixture(scope="module")
def kubeconfig(lab: VmLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cluster API the answers name: a sandbox, at the control namespace's 127.0.0.1."""
    root = tmp_path_factory.mktemp("api")
    with start_sandbox(root / "sandbox", nodes=1, speed=50.0) as sandbox:
        yield lab.kubeconfig_into_ctl(sandbox.kubeconfig_path, root / "kubeconfig")


class Site:
    """One answers file and state directory; runs digit-tui inside the lab's control namespace."""

    def __init__(self, lab: VmLab, kubeconfig: Path, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp
        self.kubeconfig = kubeconfig
        self.answers = tmp / "answers.yaml"
        self.state = tmp / "state"
        self.known_hosts = self.state / "known_hosts"
        self.env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}   # no agent of this machine
        self.env.update(PYTHONPATH=str(REPO), XDG_STATE_HOME=str(tmp / "xdg"))
        self.write()

    def write(self, *, gateway: str | None = None, keys: dict[str, Path] | None = None,
              users: dict[str, str] | None = None) -> None:
        hosts = [{"name": vm.name, "address": vm.address, "user": (users or {}).get(vm.name, "root"),
                  "ssh_key": str((keys or {}).get(vm.name, self.lab.client_key)), "roles": ROLES[vm.name]}
                 for vm in self.lab.vms]
        answers: dict[str, Any] = {"version": 1, "environment": "sdc-lab",
                                   "target": {"provider": "sdc", "kubeconfig": str(self.kubeconfig)},
                                   "hosts": hosts, "digit": {"domain": "egov.example.test"}}
        if gateway:
            answers["network"] = {"vpn_gateway": gateway}
        self.answers.write_text(yaml.safe_dump(answers, sort_keys=False))

    def run(self, argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 60,
            in_lab: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*CLI, *argv]
        return subprocess.run(self.lab.ctl_argv(cmd) if in_lab else cmd, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO, env={**self.env, **(env or {})})

    def preflight(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        r = self.run(["preflight", "--answers", str(self.answers), "--state-dir", str(self.state), "--timeout", "3",
                      "--json", *args], env)
        assert r.returncode in (0, 1), r.stderr
        return r.returncode, json.loads(r.stdout)

    def trust_all(self) -> None:
        with self.lab.client_netns():
            for vm in self.lab.vms:
                ssh.trust_host_key(self.known_hosts, vm.address, 22, self.lab.host_fingerprint(vm), SshOptions(timeout=3))


@pytest.fixture
def site(lab: VmLab, kubeconfig: Path, tmp_path: Path) -> Site:
    return Site(lab, kubeconfig, tmp_path)


def results(report: dict[str, Any], subject: str | None = None, check: str | None = None,
            status: str | None = None) -> list[dict[str, Any]]:
    return [r for r in report["results"] if (subject is None or r["subject"] == subject)
            and (check is None or r["check"] == check) and (status is None or r["status"] == status)]


def trust_args(lab: VmLab, vms: Sequence[Vm] | None = None) -> list[str]:
    return [f"--trust-host-key={vm.name}={lab.host_fingerprint(vm)}" for vm in vms or lab.vms]


@contextmanager
def listening(lab: VmLab, vm: Vm, port: int) -> Iterator[None]:
    """Something of the VM's own on ``port`` (a kubelet left over, say)."""
    proc = subprocess.Popen(lab.vm_argv(vm, [sys.executable, "-c", "import socket, sys; s = socket.create_server("
                                             f"('0.0.0.0', {port})); print('up', flush=True); sys.stdin.read()"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"up"
        yield
    finally:
        proc.kill()
        proc.wait(timeout=5)


def local_meminfo(key: str) -> int:
    line = next(x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith(key + ":"))
    return int(line.split()[1]) * 1024


# ---- host keys and facts ------------------------------------------------------------------------


def test_unknown_host_keys_need_trust_then_the_facts_are_reported(site: Site, lab: VmLab) -> None:
    code, report = site.preflight()
    assert code == 1
    for vm in lab.vms:
        fp = lab.host_fingerprint(vm)       # what `ssh-keygen -lf` says of the VM's key
        [r] = results(report, vm.name, "host-key")
        assert r["status"] == "fail" and not r["transient"] and fp in r["message"]
        assert r["message"].startswith(f"{vm.name} ({vm.address}): host key not trusted yet")
        assert f"--trust-host-key {vm.name}={fp}" in r["remedy"]
        assert not results(report, vm.name, "facts")
    assert not site.state.exists()          # refusing trusts nothing, and writes nothing

    with listening(lab, lab.vms[1], 10250):
        code, report = site.preflight(*trust_args(lab))
    assert oct(site.known_hosts.stat().st_mode & 0o777) == "0o600"
    osr = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    swap_on = len(Path("/proc/swaps").read_text().splitlines()) > 1
    for vm in lab.vms:
        assert [r["status"] for r in results(report, vm.name, "host-key")] == ["info"]     # trusted as asked
        assert results(report, vm.name, "login")[0]["status"] == "pass"
        assert results(report, vm.name, "sudo")[0]["message"] == f"{vm.name}: logged in as root"
        f = report["facts"][vm.name]
        assert f["hostname"] == vm.name
        assert (f["os_id"], f["os_version"]) == (osr["ID"], osr.get("VERSION_ID", "").strip('"'))
        assert f["cpus"] == len(os.sched_getaffinity(0))
        assert f["memory_bytes"] == local_meminfo("MemTotal")
        assert f["swap_on"] == swap_on
        assert [i["mac"] for i in f["interfaces"]] == [vm.mac]
        assert f["disk_free"]["/"] > 0 and f["disk_free"]["/var"] > 0
        [summary] = results(report, vm.name, "facts")
        assert f"hostname {vm.name}, MAC {vm.mac}" in summary["message"]
    assert report["facts"]["vm1"]["ports_checked"] == [2379, 2380, 6443, 10250, 10257, 10259]
    assert report["facts"]["vm2"]["ports_in_use"] == [10250]      # its own listener, in its namespace only
    [busy] = results(report, "vm2", "ports")
    assert (busy["status"], busy["message"]) == ("warn", "vm2: port 10250 already in use")   # existing cluster: a warning
    cpus = report["facts"]["vm2"]["cpus"]
    assert bool(results(report, "vm2", "cpu", "warn")) == (cpus < 8)   # SDC dev workers are 8C/16G
    assert [r["status"] for r in results(report, check="unique")] == ["pass"]
    assert [r["message"] for r in results(report, check="vpn")] == ["VPN / vLAN up: all 3 10.x endpoints answer"]
    [api] = results(report, "cluster API")
    assert api["status"] == "pass" and api["latency_ms"] is not None
    assert not results(report, status="fail")
    assert code == 1 and not report["ok"]                           # warnings are not acknowledged

    r = site.run(["preflight", "--answers", str(site.answers), "--state-dir", str(site.state), "--skip-checks"])
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "Preflight of sdc-lab (tier dev): checks only, nothing is changed"
    assert "host vm2" in lines and any(x.startswith("  ✓ cluster API 127.0.0.1:") and x.endswith(" ms)") for x in lines)
    assert any(x.startswith("  ✓ vm3: ") and x.endswith(f"hostname vm3, MAC {lab.vms[2].mac}") for x in lines)
    for i, x in enumerate(lines):     # every warning says what to do about it
        if x.startswith("  ! "):
            assert lines[i + 1].startswith("      remedy: ")
    assert lines[-1].endswith("-> ready")


def test_wrong_key_fails_permanently_and_a_passphrase_comes_from_the_environment(site: Site, lab: VmLab,
                                                                                tmp_path: Path) -> None:
    site.trust_all()
    stranger = keygen(tmp_path / "stranger")
    secret = "correct horse battery"
    locked = keygen(tmp_path / "locked", passphrase=secret)
    lab.authorize(locked.with_suffix(".pub"))
    site.write(keys={"vm1": stranger, "vm2": locked}, users={"vm3": lab.user})
    r = site.run(["preflight", "--answers", str(site.answers), "--state-dir", str(site.state), "--json"],
                 env={"DIGIT_TUI_SSH_PASSPHRASE": secret})
    assert r.returncode == 1 and secret not in r.stdout + r.stderr
    report = json.loads(r.stdout)
    [wrong] = results(report, "vm1", "login")
    assert wrong["status"] == "fail" and not wrong["transient"]
    assert "login refused for user root" in wrong["message"] and "authorized_keys" in wrong["remedy"]
    assert results(report, "vm2", "login")[0]["status"] == "pass"                 # the key with a passphrase
    [sudo] = results(report, "vm3", "sudo")
    assert (sudo["status"], sudo["message"]) == ("fail", f"vm3: sudo is not installed and {lab.user} is not root")
    assert sudo["remedy"]

    code, report = site.preflight()       # no passphrase: the key is unusable, said as such
    [locked_out] = results(report, "vm2", "login")
    assert locked_out["status"] == "fail" and "passphrase" in locked_out["message"] and locked_out["remedy"]


def test_a_changed_host_key_fails_naming_both_fingerprints(site: Site, lab: VmLab) -> None:
    vm = lab.vms[2]
    site.trust_all()
    old = lab.host_fingerprint(vm)
    new = lab.restart_sshd(vm, new_host_key=True)
    code, report = site.preflight()
    assert code == 1
    [changed] = results(report, "vm3", "host-key")
    assert changed["status"] == "fail" and not changed["transient"]
    assert "host key changed" in changed["message"] and old in changed["message"] and new in changed["message"]
    assert f"--trust-host-key vm3={new}" in changed["remedy"]
    assert results(report, "vm1", "login")[0]["status"] == "pass"

    before = site.known_hosts.read_text()
    other = lab.host_fingerprint(lab.vms[1])
    code, report = site.preflight(f"--trust-host-key=vm3={new}", f"--trust-host-key=vm1={other}")
    [mismatch] = results(report, "vm1", "host-key")
    assert mismatch["status"] == "fail" and "nothing was trusted" in mismatch["message"]
    assert results(report, "vm3", "login")[0]["status"] == "pass"     # the operator checked the new key
    assert site.known_hosts.read_text().count(vm.address) == 1 and site.known_hosts.read_text() != before


# ---- the network ----------------------------------------------------------------------------------


def test_a_vm_whose_link_is_down_is_reported_unreachable(site: Site, lab: VmLab) -> None:
    site.trust_all()
    lab.link_down(lab.vms[1])
    try:
        code, report = site.preflight()
    finally:
        lab.link_up(lab.vms[1])
    assert code == 1
    [port] = results(report, "ssh vm2")
    assert port["status"] == "fail" and port["transient"] and f"{lab.vms[1].address}:22 does not answer" in port["message"]
    [login] = results(report, "vm2", "login")
    assert login["status"] == "fail" and login["transient"] and "unreachable" in login["message"]
    assert "vm2" not in report["facts"] and set(report["facts"]) == {"vm1", "vm3"}
    assert [(r["status"], r["message"]) for r in results(report, check="vpn")] == [
        ("info", "VPN up: 2 of 3 10.x endpoints answer")]
    lab.wait_ssh(lab.vms[1])


def test_a_vpn_gateway_that_does_not_answer_and_a_vpn_that_is_down(site: Site, lab: VmLab) -> None:
    site.trust_all()
    gateway = f"{lab.subnet}.99:1194"
    site.write(gateway=gateway)      # nothing has that address on the vLAN
    code, report = site.preflight()
    [verdict] = results(report, check="vpn")
    assert verdict["status"] == "warn" and code == 1
    assert verdict["message"].startswith(f"the VPN gateway {gateway} does not answer")
    assert verdict["message"].endswith("but 3 of 4 10.x endpoints do: the VPN itself is up")

    # the jump host loses the vLAN: every 10.x endpoint is silent, the API at 127.0.0.1 still answers
    subprocess.run(["ip", "-n", lab.ctl, "link", "set", "eth0", "down"], check=True, timeout=10)
    try:
        code, report = site.preflight()
    finally:
        subprocess.run(["ip", "-n", lab.ctl, "link", "set", "eth0", "up"], check=True, timeout=10)
    [verdict] = results(report, check="vpn")
    assert verdict["status"] == "fail" and verdict["transient"] and code == 1
    assert verdict["message"].startswith("VPN appears down: none of the 10.x endpoints answer (")
    assert f"VPN gateway {gateway}" in verdict["message"]
    assert f"ssh vm3 {lab.vms[2].address}:22" in verdict["message"]
    assert results(report, "cluster API")[0]["status"] == "pass"
    assert all(r["status"] == "fail" for vm in lab.vms for r in results(report, vm.name, "login"))
    for vm in lab.vms:
        lab.wait_ssh(vm)


# ---- the phase in the install graph -------------------------------------------------------------


def test_plan_lists_per_host_what_the_phase_would_do(site: Site) -> None:
    r = site.run(["plan", "--answers", str(site.answers), "--state-dir", str(site.state), "--graph", PREFLIGHT_GRAPH,
                  "--json"], in_lab=False)
    assert r.returncode == 0, r.stderr
    plan = {t["id"]: t for t in json.loads(r.stdout)["tasks"]}
    assert list(plan)[-1] == "prerequisites" and set(plan["prerequisites"]["deps"]) == set(plan) - {"prerequisites"}
    vm1 = plan["prerequisites-host-vm1"]["would"]
    assert vm1[0].startswith(f"would SSH to vm1 ({site.lab.vms[0].address}) as root with key ")
    assert "at least 2 CPUs, 2 GiB memory" in vm1[3] and vm1[4].startswith("would check that ports 2379, 2380, 6443")
    assert not any("ports" in x for x in plan["prerequisites-host-vm3"]["would"])   # the db VM is no node
    assert "would stop the install on any warning" in plan["prerequisites"]["would"][-1]
    assert not site.state.exists()


def test_install_stops_in_the_prerequisites_until_keys_are_trusted_and_warnings_acknowledged(site: Site,
                                                                                             lab: VmLab) -> None:
    install = ["install", "--answers", str(site.answers), "--state-dir", str(site.state), "--graph", PREFLIGHT_GRAPH,
               "--headless"]
    r = site.run([*install, "--foreground"])
    assert r.returncode == 1
    fp = lab.host_fingerprint(lab.vms[0])
    assert f"FAILED prerequisites-host-vm1: vm1 ({lab.vms[0].address}): host key not trusted yet: ssh-ed25519 {fp}" in r.stderr
    assert f"`digit-tui install --answers FILE --trust-host-key vm1={fp}`" in r.stderr

    with listening(lab, lab.vms[1], 10250):
        r = site.run([*install, *trust_args(lab)])          # a background engine, as an operator starts it
        assert r.returncode == 1, r.stdout + r.stderr
        [failed] = [x for x in r.stderr.splitlines() if x.startswith("FAILED ")]
        assert failed.startswith("FAILED prerequisites: ") and "not acknowledged: " in failed
        assert "vm2: port 10250 already in use" in failed
        assert "`digit-tui install --answers FILE --skip-checks`" in r.stderr
        r = site.run([*install, "--skip-checks"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "install complete" in r.stderr
    status = json.loads(site.run(["status", "--state-dir", str(site.state), "--json", "--events", "200"],
                                 in_lab=False).stdout)
    events = [e["message"] for e in status["events"]]
    assert any(m.startswith("warning: vm2: port 10250 already in use") for m in events)    # logged either way
    assert any("acknowledged (--skip-checks)" in m for m in events)
    assert {t["state"] for t in status["tasks"]} == {"done"}


def test_bad_options_are_one_line_and_exit_2(site: Site) -> None:
    for command, bad, said in ((["preflight"], "vm9=SHA256:" + "A" * 43, "no host named 'vm9'"),
                               (["preflight"], "vm1", "is not NAME=SHA256:"),
                               (["install", "--headless"], "vm9=SHA256:" + "A" * 43, "no host named 'vm9'")):
        r = site.run([*command, "--answers", str(site.answers), "--state-dir", str(site.state),
                      f"--trust-host-key={bad}"], in_lab=False)
        assert r.returncode == 2 and said in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "expected: NAME=SHA256:... with NAME one of vm1, vm2, vm3" in r.stderr
    assert not site.state.exists()
