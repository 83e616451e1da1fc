"""The preflight checks as an operator reads them: facts varied to reach each verdict (the facts
themselves come from real hosts in test_preflight_lab.py)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import pytest

from digit_tui.engine.errors import ErrorKind, PermanentError, TransientError, classify
from digit_tui.engine.netprobe import ProbeResult
from digit_tui.engine.task import Endpoint
from digit_tui.errors import InputError
from digit_tui.infra.hostfacts import HostFacts, Interface
from digit_tui.preflight import checks
from digit_tui.preflight.checks import ToolVersion
from digit_tui.preflight.model import (CheckResult, HostSpec, PreflightPlan, Status, facts_from_json, facts_to_json,
                                       passed)
from digit_tui.preflight.thresholds import tier_of
from digit_tui.preflight.trust import parse_trust_options
from digit_tui.tasks.preflight import plan_tasks, raise_for

GiB = 2**30
FP = "SHA256:" + "A" * 43


_seq = itertools.count(10)


def host(name: str, *roles: str, address: str = "", port: int = 22, key: Path = Path("/nonexistent")) -> HostSpec:
    return HostSpec(name, address or f"10.0.0.{next(_seq)}", port, "ubuntu", key, roles or ("worker",))


def plan(*hosts: HostSpec, tier: str = "dev", mode: str = "existing", provider: str = "sdc", **kw: object) -> PreflightPlan:
    return PreflightPlan(environment="t", tier=tier, provider=provider, cluster_mode=mode,  # type: ignore[arg-type]
                         hosts=tuple(hosts), endpoints=(), **kw)  # type: ignore[arg-type]


def facts(**kw: object) -> HostFacts:
    base = HostFacts(hostname="worker-1", os_id="ubuntu", os_version="22.04", os_name="Ubuntu 22.04.4 LTS",
                     kernel="5.15.0", cpus=8, memory_bytes=int(15.6 * GiB), swap_on=False, swap_bytes=0,
                     disk_free={"/": 80 * GiB, "/var": 80 * GiB}, interfaces=(Interface("ens3", "52:54:00:aa:bb:01"),),
                     product_uuid="uuid-1", clock_offset=0.0, clock_uncertainty=0.01, ports_in_use=(),
                     ports_checked=())
    return replace(base, **kw)  # type: ignore[arg-type]


def by(results: list[CheckResult], check: str) -> list[tuple[Status, str]]:
    return [(r.status, r.message) for r in results if r.check == check]


# ---- configuration ----------------------------------------------------------------------------


def test_config_alone(tmp_path: Path) -> None:
    loose = tmp_path / "id"
    loose.write_text("key")
    loose.chmod(0o644)
    out = checks.config_checks(plan(host("a", address="10.0.0.5"), host("b", address="10.0.0.5", port=2222),
                                    host("c", address="127.0.0.1", port=2201), host("d", address="127.0.0.1", port=2202),
                                    host("e", key=loose)))
    assert by(out, "addresses") == [(Status.WARN, "a, b share the address 10.0.0.5 (ports 22, 2222): one machine "
                                                  "listed twice?")]   # forwarded loopback ports are separate VMs
    assert by(out, "ssh-key") == [(Status.WARN, f"e: the SSH key {loose} is readable by others (mode 0644)")]
    assert out[0].check == "plan" and out[0].status is Status.INFO     # a summary, not a pass, beside warnings

    kubeadm = checks.config_checks(plan(host("m1", "master"), host("m2", "master"), host("db", "db"),
                                        host("w", "worker", address="10.96.0.7"), mode="kubeadm"))
    assert (Status.FAIL, "2 masters and no control-plane endpoint") in by(kubeadm, "roles")
    assert any(s is Status.WARN and "etcd needs a majority" in m for s, m in by(kubeadm, "roles"))
    assert by(kubeadm, "addresses") == [(Status.FAIL, "w (10.96.0.7) lies inside service_cidr 10.96.0.0/12")]
    only_masters = checks.config_checks(plan(host("m1", "master"), mode="kubeadm", tier="prod"))
    assert [s for s, _ in by(only_masters, "roles")] == [Status.FAIL, Status.WARN]   # no worker; one master in prod
    clean = checks.config_checks(plan(host("m1", "master", "worker"), mode="kubeadm"))
    assert [(r.status, r.message) for r in clean] == [
        (Status.PASS, "1 host (master ×1, worker ×1), provider sdc, cluster kubeadm, tier dev")]


# ---- network ----------------------------------------------------------------------------------


def probe(label: str, host_: str, port: int, ok: bool, detail: str = "") -> ProbeResult:
    return ProbeResult(Endpoint(host_, port, label), ok, detail or ("3 ms" if ok else "connect timed out after 2s"),
                       millis=3.0 if ok else None, connected=ok)


def test_vpn_verdicts() -> None:
    p = plan(vpn_gateway="10.1.0.1:1194")
    down = checks.network_checks(p, [probe("VPN gateway", "10.1.0.1", 1194, False),
                                     probe("ssh m1", "10.0.0.11", 22, False, "no route to host"),
                                     probe("cluster API", "api.example.gov.in", 6443, True)])
    vpn = [r for r in down if r.check == "vpn"]
    assert len(vpn) == 1 and vpn[0].status is Status.FAIL and vpn[0].transient
    assert vpn[0].message.startswith("VPN appears down: none of the 10.x endpoints answer (VPN gateway 10.1.0.1:1194: "
                                     "connect timed out after 2s; ssh m1 10.0.0.11:22: no route to host)")
    assert [r.message for r in down if r.check == "reachable"] == ["cluster API api.example.gov.in:6443 answers"]

    gateway_only = checks.network_checks(p, [probe("VPN gateway", "10.1.0.1", 1194, False),
                                             probe("ssh m1", "10.0.0.11", 22, True)])
    assert [(r.status, r.message) for r in gateway_only if r.check == "vpn"] == [
        (Status.WARN, "the VPN gateway 10.1.0.1:1194 does not answer (connect timed out after 2s), but 1 of 2 10.x "
                      "endpoints do: the VPN itself is up")]
    partial = checks.network_checks(plan(), [probe("ssh a", "192.168.1.5", 22, True), probe("ssh b", "10.0.0.5", 22, False)])
    assert [(r.status, r.message) for r in partial if r.check == "vpn"] == [
        (Status.INFO, "VPN up: 1 of 2 10.x and 192.168.x endpoints answer")]
    assert [(r.status, r.check) for r in partial if r.subject == "ssh b"] == [(Status.FAIL, "ssh-port")]
    public = checks.network_checks(plan(vpn_gateway="vpn.example.gov.in"), [probe("postgres", "203.0.113.9", 5432, True)])
    assert [(r.status, r.check) for r in public] == [(Status.PASS, "reachable"), (Status.INFO, "vpn")]  # not probed
    assert public[0].latency_ms == 3.0



def test_a_probe_of_the_answers_is_named_by_its_address_once() -> None:
    """network.probes are labelled by their address ("probe 10.20.0.5:6443"): the checks and the
    network lines name them so, not "probe 10.20.0.5:6443 10.20.0.5:6443"."""
    results = checks.network_checks(plan(), [probe("probe 10.20.0.5:6443", "10.20.0.5", 6443, True),
                                             probe("probe [fd00::5]:443", "fd00::5", 443, False, "refused")])
    assert [r.message for r in results if r.check == "reachable"] == [
        "probe 10.20.0.5:6443 answers", "probe [fd00::5]:443 does not answer: refused"]
    assert Endpoint("10.0.0.11", 22, "ssh m1").describe() == "ssh m1 10.0.0.11:22"
    assert Endpoint("10.0.0.11", 22).describe() == "10.0.0.11:22"

# ---- one host ---------------------------------------------------------------------------------


def test_resources_per_role_and_tier() -> None:
    small = facts(cpus=2, memory_bytes=int(7.8 * GiB))
    dev = checks.host_checks(plan(tier="dev"), host("worker-3"), small)
    assert by(dev, "cpu") == [(Status.WARN, "worker-3 has 2 CPUs; tier dev recommends 8 (SDC dev workers are 8C/16G)")]
    assert by(dev, "memory") == [(Status.WARN, "worker-3 has 8 GiB of memory; tier dev recommends 16 GiB "
                                               "(SDC dev workers are 8C/16G)")]
    prod = checks.host_checks(plan(tier="prod"), host("worker-3"), small)
    assert by(prod, "cpu") == [(Status.FAIL, "worker-3 has 2 CPUs, the plan needs 8")]
    assert by(prod, "memory") == [(Status.FAIL, "worker-3 has 8 GiB of memory, the plan needs 16 GiB")]
    assert by(checks.host_checks(plan(), host("m", "master"), facts(cpus=1)), "cpu") == [
        (Status.FAIL, "m has 1 CPU, the plan needs 2")]    # kubeadm's own minimum, whatever the tier
    # a master that is also a worker is held to the larger of both
    both = checks.host_checks(plan(tier="prod"), host("mw", "master", "worker"), facts(cpus=4))
    assert by(both, "cpu") == [(Status.FAIL, "mw has 4 CPUs, the plan needs 8")]
    tight = checks.host_checks(plan(), host("w"), facts(disk_free={"/": 80 * GiB, "/var": 30 * GiB}))
    assert by(tight, "disk") == [(Status.WARN, "w has 30 GiB free on /var; tier dev recommends 50 GiB")]
    assert checks.host_checks(plan(), host("w"), facts())[0].message == (
        "w: Ubuntu 22.04.4 LTS, kernel 5.15.0, 8 CPUs, 16 GiB memory, 80 GiB free on /, 80 GiB free on /var, swap off; "
        "hostname worker-1, MAC 52:54:00:aa:bb:01")


def test_swap_ports_and_os() -> None:
    swap = facts(swap_on=True, swap_bytes=2 * GiB)
    # kubeadm's host preparation turns swap off itself: noted, not a failure to fix by hand first
    assert by(checks.host_checks(plan(mode="kubeadm"), host("w"), swap), "swap") == [
        (Status.INFO, "w has swap on (2 GiB); the kubelet needs it off: the kubeadm phase turns it off "
                      "(swapoff -a, and its /etc/fstab line commented out)")]
    assert [s for s, _ in by(checks.host_checks(plan(tier="prod"), host("w"), swap), "swap")] == [Status.WARN]
    assert [s for s, _ in by(checks.host_checks(plan(), host("w"), swap), "swap")] == [Status.INFO]
    assert by(checks.host_checks(plan(mode="kubeadm"), host("db", "db"), swap), "swap") == []   # not a node

    busy = facts(ports_in_use=(6443, 2379))
    assert by(checks.host_checks(plan(mode="kubeadm"), host("m1", "master"), busy), "ports") == [
        (Status.FAIL, "m1: ports 2379, 6443 already in use")]
    assert [s for s, _ in by(checks.host_checks(plan(), host("m1", "master"), busy), "ports")] == [Status.WARN]
    rerun = checks.host_checks(plan(mode="kubeadm"), host("m1", "master"), busy, already_node=True)
    assert [s for s, _ in by(rerun, "ports")] == [Status.INFO]     # a rerun: the node's own apiserver and etcd
    assert by(checks.host_checks(plan(), host("w"), facts(os_id="centos", os_version="7", os_name="CentOS 7")), "os")[0][0] \
        is Status.WARN


def test_fleet() -> None:
    mac = (Interface("ens3", "52:54:00:aa:bb:01"),)
    hosts = (host("m1", "master"), host("w1"), host("db1", "db"), host("db2", "db"))
    fleet = {"m1": facts(hostname="m1", product_uuid="u1"), "w1": facts(hostname="w1", product_uuid="u1"),
             "db1": facts(hostname="db1", interfaces=mac, product_uuid="u3"),
             "db2": facts(hostname="db2", interfaces=mac, product_uuid="u3")}
    kubeadm = checks.fleet_checks(plan(*hosts, mode="kubeadm"), fleet)
    assert {(r.check, r.status) for r in kubeadm} == {("mac", Status.FAIL), ("product_uuid", Status.FAIL)}
    assert all(r.subject == "m1, w1" for r in kubeadm)      # the two db VMs are no nodes: theirs do not matter
    assert {r.status for r in checks.fleet_checks(plan(*hosts), fleet)} == {Status.WARN}

    two = (host("a"), host("b"))
    skew = {"a": facts(hostname="a", interfaces=(), clock_offset=5.0),
            "b": facts(hostname="b", interfaces=(), product_uuid="u2")}
    assert [(r.check, r.status) for r in checks.fleet_checks(plan(*two), skew)] == [("clock", Status.WARN)]
    assert [(r.check, r.status) for r in checks.fleet_checks(plan(*two, tier="prod"), skew)] == [("clock", Status.FAIL)]
    far = {**skew, "a": replace(skew["a"], clock_offset=120.0)}
    assert [(r.check, r.status) for r in checks.fleet_checks(plan(*two), far)] == [("clock", Status.FAIL)]
    ok = checks.fleet_checks(plan(*two), {"a": skew["b"], "b": replace(skew["b"], hostname="b2", product_uuid="u9")})
    assert [r.status for r in ok] == [Status.PASS]


def test_facts_survive_json() -> None:
    f = facts(ports_in_use=(10250,), ports_checked=(6443, 10250))
    assert facts_from_json(facts_to_json(f)) == f


# ---- tools ------------------------------------------------------------------------------------


def test_tools_per_provider() -> None:
    missing = checks.tool_checks(plan(provider="aws"), {}, sops_needed=True)
    assert [(r.check, r.status) for r in missing] == [("terraform", Status.FAIL), ("kubectl", Status.WARN),
                                                      ("sops", Status.FAIL)]
    assert "provider aws builds the cluster with terraform" in missing[0].message and missing[0].remedy
    sandbox = checks.tool_checks(plan(provider="sandbox"), {}, sops_needed=False)
    assert [(r.check, r.status) for r in sandbox] == [("kubectl", Status.INFO)]   # optional: nothing to acknowledge
    found = {"kubectl": ToolVersion("kubectl", "/usr/bin/kubectl", "v1.21.3"),
             "terraform": ToolVersion("terraform", "/usr/local/bin/terraform", "1.11.4")}
    out = checks.tool_checks(plan(provider="gcp"), found, sops_needed=False)
    assert [(r.status, r.message) for r in out] == [
        (Status.PASS, "terraform 1.11.4 (/usr/local/bin/terraform)"),
        (Status.WARN, "kubectl v1.21.3 at /usr/bin/kubectl is older than 1.25")]


# ---- verdicts, errors, options ----------------------------------------------------------------


def test_what_fails_what_waits_and_what_needs_acknowledging() -> None:
    warn = CheckResult("host", "cpu", Status.WARN, "w has 2 CPUs")
    assert passed([warn], acknowledged=True) and not passed([warn], acknowledged=False)
    net = CheckResult("host", "login", Status.FAIL, "w: unreachable", transient=True)
    key = CheckResult("host", "login", Status.FAIL, "w: login refused", remedy="check authorized_keys")
    with pytest.raises(TransientError) as t:
        raise_for([warn, net])
    assert classify(t.value) is ErrorKind.TRANSIENT
    with pytest.raises(PermanentError) as p:
        raise_for([net, key])
    assert str(p.value) == "w: unreachable; w: login refused" and p.value.remedy == "check authorized_keys"
    raise_for([warn])   # warnings are the gate's


def test_trust_option_parsing() -> None:
    names = ["vm1", "vm2"]
    assert parse_trust_options([f"vm1={FP}=", f" vm2 =  {FP} "], names) == {"vm1": FP, "vm2": FP}
    for bad, said in ((f"vm9={FP}", "no host named 'vm9'"), ("vm1", "is not NAME=SHA256:"),
                      ("vm1=MD5:aa:bb", "is not a SHA256 fingerprint"),
                      (f"vm1={FP[:-1]}B", None)):
        with pytest.raises(InputError) as e:
            parse_trust_options([f"vm1={FP}", bad] if said is None else [bad], names)
        assert (said or "two different keys for vm1") in str(e.value) and e.value.expected


def test_graph_of_the_phase(tmp_path: Path) -> None:
    plan = PreflightPlan(environment="t", tier=tier_of("dev"), provider="sdc", cluster_mode="existing",
                         hosts=(HostSpec("m1", "10.0.0.11", 22, "u", Path("/k"), ("master",)),),
                         endpoints=(Endpoint("10.0.0.11", 22, "ssh m1"), Endpoint("10.0.0.1", 1194, "VPN gateway"),
                                    Endpoint("10.0.0.2", 6443, "cluster API", "https")),
                         state_dir=tmp_path)
    tasks = {t.id: t for t in plan_tasks(plan)}
    gate = tasks["prerequisites"]
    assert set(gate.deps) == set(tasks) - {"prerequisites"}
    assert tasks["prerequisites-host-m1"].endpoints == (Endpoint("10.0.0.11", 22, "ssh m1"),)
    # the network task waits only for what it fails on: not a host's SSH port, not the gateway
    assert [e.label for e in tasks["prerequisites-network"].endpoints] == ["cluster API"]
