"""The kubeadm phase's decisions, without hosts: facts parsed from what the facts script prints,
what a host still needs, kubeadm's configuration files, join credentials and scrubbing, the host
lock's record, the detached steps' states, the graph the phase builds, and its dry run against
hosts that refuse connections. Every shell script the phase sends is checked by the real ``sh -n``."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path

import pytest
import yaml

from digit_tui.answers.model import Cluster, Host
from digit_tui.engine.plan import dry_run_all
from digit_tui.errors import InputError, PermanentError
from digit_tui.infra import hoststeps, lbhost
from digit_tui.infra.hostlock import LockOwner, lock_path
from digit_tui.infra.hoststeps import StepState, StepStatus, looks_transient, parse_state
from digit_tui.infra.kubeadm import cluster as kc
from digit_tui.infra.kubeadm.configs import (ClusterSpec, JoinCredentials, NodeSpec, api_version, init_config,
                                             join_config, parse_certificate_key, parse_join_command, scrub)
from digit_tui.infra.kubeadm.facts import SYSCTLS, NodeFacts, Service, facts_script, parse_facts
from digit_tui.infra.kubeadm.packages import KEY_FILE, LIST_FILE, Packages
from digit_tui.infra.kubeadm.prepare import (PrepareSpec, prepare_actions, step_script, wanted_modules_conf,
                                             wanted_sysctl_conf)
from digit_tui.infra.ssh import SshOptions
from digit_tui.tasks.kubeadm import CNI, INIT, KUBECONFIG, LbSettings, kubeadm_tasks

TOKEN = "abcdef.0123456789abcdef"
KEY = "f" * 64
HASH = "sha256:" + "1" * 64
PACKAGES = Packages()
ARMORED = b"-----BEGIN PGP PUBLIC KEY BLOCK-----\nxx\n-----END PGP PUBLIC KEY BLOCK-----\n"


def sh_syntax(script: str) -> None:
    r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr


def ready(**changes: object) -> NodeFacts:
    """A host with everything kubeadm needs, as the facts of a converged rerun say."""
    import hashlib

    base = NodeFacts(
        hostname="vm1", os_id="debian", os_like=(), os_version="12", apt=True, curl=True, swap_active=(),
        fstab_swap=(), overlay=True, modules_conf=wanted_modules_conf(), sysctl=dict(SYSCTLS),
        sysctl_conf=wanted_sysctl_conf(), containerd="v1.6.20", kubeadm="v1.30.2", kubelet="v1.30.2",
        kubectl="v1.30.2", held=frozenset({"kubelet", "kubeadm", "kubectl"}),
        services={"containerd": Service(True, True), "kubelet": Service(False, True)}, containerd_cgroup="systemd",
        containerd_cri_disabled=False, repo_list=PACKAGES.list_line(),
        repo_key_sha256=hashlib.sha256(ARMORED).hexdigest())
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


SPEC = PrepareSpec(PACKAGES, ARMORED)


def words(facts: NodeFacts, spec: PrepareSpec = SPEC) -> list[str]:
    return [a.description for a in prepare_actions(facts, spec, label="vm1")]


# ---- facts ------------------------------------------------------------------------------------


def test_the_facts_script_is_sh_and_its_output_parses_into_the_facts() -> None:
    sh_syntax(facts_script())
    m = "@@dt-kubeadm:"
    text = "\n".join([
        f"{m}os", "ubuntu|debian|22.04", f"{m}hostname", "master-1", f"{m}tools", "apt-get",
        f"{m}swaps", "/swap.img file 4194300 0 -2", f"{m}fstab", "/swap.img none swap sw 0 0",
        f"{m}overlay", "yes", f"{m}modules-conf", f"{m}sysctl", "net.bridge.bridge-nf-call-iptables",
        "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward=0", f"{m}sysctl-conf", f"{m}versions",
        "containerd=containerd containerd.io 1.7.19 2bf793ef6dc9a18e00cb12efb64355c2c9d5eb41",
        "kubeadm=v1.30.2", "kubelet=Kubernetes v1.30.2", "kubectl=Client Version: v1.30.3", f"{m}holds", "kubeadm",
        f"{m}services", "containerd active enabled", "kubelet activating disabled", f"{m}containerd-config",
        "SystemdCgroup = false", "cri-disabled", f"{m}repo-list", f"{m}repo-key", f"{m}kubernetes", "pki/ca.crt",
        f"{m}lock", "install=x", "run=r", f"{m}step", "running join", f"{m}end"])
    f = parse_facts(text)
    assert (f.os_id, f.os_like, f.os_version, f.hostname) == ("ubuntu", ("debian",), "22.04", "master-1")
    assert f.apt and not f.curl
    assert f.swap_active == ("/swap.img",) and f.fstab_swap == ("/swap.img none swap sw 0 0",)
    assert f.sysctl == {"net.bridge.bridge-nf-call-iptables": None, "net.bridge.bridge-nf-call-ip6tables": None,
                        "net.ipv4.ip_forward": "0"}
    assert (f.containerd, f.kubeadm, f.kubelet, f.kubectl) == ("v1.7.19", "v1.30.2", "v1.30.2", "v1.30.3")
    assert f.held == {"kubeadm"}
    assert f.services["containerd"] == Service(True, True) and f.services["kubelet"] == Service(False, False)
    assert (f.containerd_cgroup, f.containerd_cri_disabled) == ("cgroupfs", True)
    assert f.partial and not f.joined and not f.initialised       # pki left by a failed join
    assert f.lock == "install=x\nrun=r\n"
    assert f.step == StepState("join", StepStatus.RUNNING)


# ---- what a host still needs ------------------------------------------------------------------


def test_a_ready_host_needs_nothing() -> None:
    assert words(ready()) == []


def test_a_fresh_host_gets_everything_in_order() -> None:
    fresh = ready(swap_active=("/swapfile",), fstab_swap=("/swapfile none swap sw 0 0",), modules_conf="",
                  sysctl={k: None if "bridge" in k else "0" for k in SYSCTLS}, sysctl_conf="", containerd=None,
                  kubeadm=None, kubelet=None, kubectl=None, held=frozenset(), services={},
                  containerd_cgroup="absent", repo_list="", repo_key_sha256=None)
    todo = prepare_actions(fresh, SPEC, label="vm1")
    said = [a.description for a in todo]
    order = ["turn swap off", "comment out swap in /etc/fstab", "load overlay and br_netfilter at boot",
             "load the br_netfilter kernel module", "keep net.bridge", "set net.bridge", "install the repository's "
             "signing key", "use the Kubernetes package repository", "refresh the package lists",
             "install containerd, kubelet 1.30, kubeadm 1.30, kubectl 1.30", "hold kubelet, kubeadm, kubectl",
             "write containerd's default configuration", "enable and (re)start containerd", "enable the kubelet"]
    assert [next(i for i, s in enumerate(said) if s.startswith(o)) for o in order] == list(range(len(order))), said
    script = step_script(todo)
    sh_syntax(script)
    assert "apt-get -q -y -o DPkg::Lock::Timeout=300" in script and "kubeadm='kubeadm=1.30.*'" not in script
    assert "containerd 'kubelet=1.30.*' 'kubeadm=1.30.*' 'kubectl=1.30.*'" in script
    assert f"> {LIST_FILE}.digit-tui.new" in script and "sysctl -q -p /etc/sysctl.d/99-digit-tui-kubernetes.conf" in script


def test_each_missing_fact_gives_its_own_action() -> None:
    assert words(ready(fstab_swap=("/dev/sda2 none swap sw 0 0",)))[0].startswith("comment out swap in /etc/fstab")
    assert words(ready(sysctl={**SYSCTLS, "net.ipv4.ip_forward": "0"})) == ["set net.ipv4.ip_forward to 1 now"]
    assert words(ready(held=frozenset({"kubelet"}))) == ["hold kubeadm, kubectl at their version (apt-mark hold: no "
                                                         "upgrade behind kubeadm's back)"]
    assert words(ready(services={"containerd": Service(False, True), "kubelet": Service(False, True)})) == [
        "enable and start containerd"]
    assert words(ready(services={"containerd": Service(True, True), "kubelet": Service(False, False)})) == [
        "enable the kubelet"]
    cgroupfs = prepare_actions(ready(containerd_cgroup="cgroupfs"), SPEC)
    assert cgroupfs[0].description.startswith("set SystemdCgroup = true in /etc/containerd/config.toml")
    assert [a.description for a in cgroupfs[1:]] == ["enable and (re)start containerd with this configuration"]
    assert "sed -i -E 's/SystemdCgroup *= *false/SystemdCgroup = true/'" in cgroupfs[0].script
    cri_off = words(ready(containerd_cri_disabled=True))[0]
    assert cri_off.startswith("write containerd's default configuration") and "disables the CRI plugin" in cri_off
    # the repository changed (a mirror): the list is rewritten and apt refreshed, nothing reinstalled
    mirror = Packages(repository="https://mirror.sdc.example/k8s/", key_file=Path("/k.asc"))
    assert words(ready(), PrepareSpec(mirror, ARMORED)) == [
        f"use the Kubernetes package repository https://mirror.sdc.example/k8s/ ({LIST_FILE})",
        "refresh the package lists (apt-get update)"]


def test_versions_other_than_asked_are_reinstalled_on_a_new_host_and_refused_on_a_node() -> None:
    old = ready(kubeadm="v1.29.6", kubelet="v1.29.6", kubectl="v1.29.6")
    assert any(w.startswith("install kubelet 1.30, kubeadm 1.30, kubectl 1.30") for w in words(old))
    with pytest.raises(PermanentError) as e:
        words(dataclasses.replace(old, kubernetes_files=frozenset({"kubelet.conf"})))
    assert "vm1 is already a Kubernetes node with kubelet v1.29.6, kubeadm v1.29.6, kubectl v1.29.6" in str(e.value)
    assert "kubeadm upgrade" in (e.value.remedy or "")
    exact = PrepareSpec(Packages(kubernetes_version="1.30.5"), ARMORED)
    assert any("'kubeadm=1.30.5-*'" in a.script for a in prepare_actions(ready(), exact))


def test_hosts_that_cannot_be_prepared_say_why() -> None:
    with pytest.raises(PermanentError, match="no apt-get .*only Debian and Ubuntu"):
        words(ready(apt=False, os_id="rocky", os_version="9"))
    with pytest.raises(PermanentError, match="not ASCII-armored"):
        words(ready(repo_key_sha256=None), PrepareSpec(Packages(key_file=Path("/k.gpg")), b"\x99\x01binary"))


def test_the_repository_key_is_fetched_by_the_host_when_no_file_is_given() -> None:
    todo = prepare_actions(ready(repo_key_sha256=None, curl=False), PrepareSpec(PACKAGES))
    assert [a.description.split(" (")[0] for a in todo] == [
        "install curl to fetch the repository key",
        "fetch the repository's signing key from https://pkgs.k8s.io/core:/stable:/v1.30/deb/Release.key",
        "refresh the package lists"]
    assert f"-o {KEY_FILE}.new" in todo[1].script
    assert words(ready(repo_key_sha256="0" * 64), PrepareSpec(PACKAGES)) == []   # a key is there: kept


def test_package_settings() -> None:
    assert PACKAGES.list_line() == (f"deb [signed-by={KEY_FILE}] https://pkgs.k8s.io/core:/stable:/v1.30/deb/ /\n")
    trusted = Packages(kubernetes_version="1.29", repository="http://apt.sdc.local/k8s", suite="stable",
                       components=("main",), trusted=True)
    assert trusted.list_line() == "deb [trusted=yes] http://apt.sdc.local/k8s stable main\n"
    assert trusted.signing_key_url is None
    assert words(ready(repo_list=trusted.list_line(), repo_key_sha256=None, kubeadm="v1.29.1", kubelet="v1.29.1",
                       kubectl="v1.29.1"), PrepareSpec(trusted)) == []
    assert Packages().matches("v1.30.9") and not Packages().matches("v1.31.0") and not Packages().matches(None)
    assert Packages(kubernetes_version="1.30.2").matches("v1.30.2")
    with pytest.raises(ValueError, match="1.30 or 1.30.2"):
        Packages(kubernetes_version="v1.30")
    with pytest.raises(ValueError, match="signing key"):
        Packages(repository="https://mirror/")


# ---- kubeadm's files, credentials, scrubbing ----------------------------------------------------


def test_init_and_join_configurations() -> None:
    spec = ClusterSpec("lb.sdc.example:6443", "10.244.0.0/16", "10.96.0.0/12", "v1.30.2", "registry.sdc.example/k8s")
    docs = {d["kind"]: d for d in yaml.safe_load_all(init_config(NodeSpec("master-1", "10.0.0.11"), spec))}
    assert docs["InitConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert docs["InitConfiguration"]["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.11", "bindPort": 6443}
    assert docs["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": "10.0.0.11"}
    assert "taints" not in docs["InitConfiguration"]["nodeRegistration"]
    c = docs["ClusterConfiguration"]
    assert (c["controlPlaneEndpoint"], c["kubernetesVersion"], c["imageRepository"]) == (
        "lb.sdc.example:6443", "v1.30.2", "registry.sdc.example/k8s")
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    schedulable = yaml.safe_load(init_config(NodeSpec("m", "10.0.0.1"), spec, taints=()).split("---")[0])
    assert schedulable["nodeRegistration"]["taints"] == []

    creds = JoinCredentials("lb.sdc.example:6443", TOKEN, (HASH,))
    worker = yaml.safe_load(join_config(NodeSpec("worker-1", "10.0.0.21"), creds, "v1.31.1"))
    assert worker["apiVersion"] == "kubeadm.k8s.io/v1beta4" == api_version("1.31.0")
    assert worker["discovery"]["bootstrapToken"] == {"apiServerEndpoint": "lb.sdc.example:6443", "token": TOKEN,
                                                     "caCertHashes": [HASH]}
    assert worker["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "10.0.0.21"}]
    assert "controlPlane" not in worker
    cp = yaml.safe_load(join_config(NodeSpec("master-2", "10.0.0.12"), creds, "v1.30.2", certificate_key=KEY))
    assert cp["controlPlane"] == {"certificateKey": KEY, "localAPIEndpoint": {"advertiseAddress": "10.0.0.12",
                                                                             "bindPort": 6443}}
    assert TOKEN not in repr(creds) and creds.token_id == "abcdef"


def test_join_credentials_are_parsed_and_errors_never_quote_them() -> None:
    out = f"kubeadm join lb.sdc.example:6443 --token {TOKEN} --discovery-token-ca-cert-hash {HASH} \n"
    assert parse_join_command(out) == JoinCredentials("lb.sdc.example:6443", TOKEN, (HASH,))
    with pytest.raises(PermanentError) as e:
        parse_join_command(f"kubeadm join lb:6443 --token {TOKEN} --discovery-token-ca-cert-hash nothash", "vm1")
    assert TOKEN not in str(e.value) and TOKEN not in (e.value.remedy or "")
    assert parse_certificate_key(f"[upload-certs] Using certificate key:\n{KEY}\n") == KEY
    with pytest.raises(PermanentError, match="no certificate key"):
        parse_certificate_key("[upload-certs] Skipping phase\n")


def test_scrub_masks_tokens_and_certificate_keys_but_not_ca_hashes() -> None:
    text = f"join --token {TOKEN} --certificate-key {KEY} --discovery-token-ca-cert-hash {HASH}"
    assert scrub(text) == f"join --token <token> --certificate-key <certificate key> --discovery-token-ca-cert-hash {HASH}"


def test_cluster_commands_never_carry_a_secret_in_their_command_line() -> None:
    assert kc.join_script() == ("rc=0\nkubeadm join --config /var/lib/digit-tui/kubeadm/join.yaml || rc=$?\n"
                                "rm -f /var/lib/digit-tui/kubeadm/join.yaml\nexit $rc\n")
    assert kc.init_script().startswith("kubeadm init --config /var/lib/digit-tui/kubeadm/init.yaml --skip-token-print")
    sh_syntax(kc.join_script())


# ---- host lock and steps --------------------------------------------------------------------------


def test_lock_records_round_trip_and_name_their_holder() -> None:
    owner = LockOwner("5e1f", "sdc-prod", "jump-1:/var/lib/state", "run-7", "kubeadm-join-w1", "2026-12-01T10:00:00Z")
    back = LockOwner.parse(owner.text())
    assert back == owner
    assert back.describe() == ("install 5e1f (environment sdc-prod from jump-1:/var/lib/state, run run-7, task "
                               "kubeadm-join-w1, since 2026-12-01T10:00:00Z)")
    assert LockOwner.parse("some other file\n") is None
    assert lock_path("kubeadm") == "/var/lib/digit-tui/kubeadm.lock"


def test_step_states_and_scripts() -> None:
    assert parse_state("none") == StepState("", StepStatus.NONE)
    assert parse_state("running join") == StepState("join", StepStatus.RUNNING)
    assert parse_state("done init 0").rc == 0 and not parse_state("done init 0").failed
    assert parse_state("done init 1").failed and parse_state("lost prepare").failed
    assert parse_state("done init").status is StepStatus.LOST        # no exit code: not a success
    assert parse_state("garbage") == StepState("", StepStatus.NONE)
    sh_syntax(hoststeps.state_script("kubeadm"))
    sh_syntax(hoststeps._start_script("kubeadm", "join"))
    sh_syntax(hoststeps._poll_script("kubeadm", 120))
    assert looks_transient("dial tcp 10.0.0.9:6443: connect: connection refused")
    assert looks_transient("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234")
    assert not looks_transient("[ERROR Swap]: running with swap on is not supported")


def _state_in(d: Path, bin_dir: Path | None = None) -> str:
    """The real state script in sh, on a slot directory ``d`` of this machine."""
    script = hoststeps.state_script("kubeadm").replace(hoststeps.slot_dir("kubeadm"), str(d))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin" if bin_dir else "/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10, env=env).stdout.strip()


def test_a_step_writing_its_pid_while_the_state_is_read_is_running_not_lost(tmp_path: Path) -> None:
    """The race seen under load: the state read the pid file before the step wrote it (empty) and
    looked at it again after (full), and called a step that had just started lost: the prepare
    failed "without a result", or a second join was started beside the first. Here ``cat`` of the
    pid file writes it as it returns nothing, as a starting step does between the two looks."""
    d = tmp_path / "slot"
    d.mkdir()
    (d / "step.name").write_text("join\n")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "cat").write_text('#!/bin/sh\ncase "$1" in */step.pid) [ -e "$1" ] || { /bin/cat "$1"; echo 99999999 > "$1"; exit 1; } ;; esac\n'
                              'exec /bin/cat "$@"\n')
    (shim / "cat").chmod(0o755)
    assert _state_in(d, shim) == "running join"       # in its start grace: its pid comes
    assert (d / "step.pid").read_text() == "99999999\n"
    # with the pid written and no such process: lost; with its exit code: done
    assert _state_in(d) == "lost join"
    (d / "step.rc").write_text("0\n")
    assert _state_in(d) == "done join 0"


def test_load_balancer_decisions() -> None:
    text = "global\n"
    none = lbhost.LbFacts(apt=True, haproxy=None, config_sha256=None, active=False, enabled=False,
                          step=StepState("", StepStatus.NONE))
    assert lbhost.actions(none, text)[0] == "install haproxy (apt-get)"
    script = lbhost.step_script(none, text)
    sh_syntax(script)
    assert "haproxy -c -f /etc/haproxy/haproxy.cfg.digit-tui.new || { rm -f" in script
    assert script.index("haproxy -c") < script.index("mv -f /etc/haproxy/haproxy.cfg.digit-tui.new")
    live = dataclasses.replace(none, haproxy="HAProxy version 2.6.12", config_sha256=lbhost.sha256(text), active=True,
                               enabled=True)
    assert lbhost.actions(live, text) == []
    changed = lbhost.step_script(live, text + "x")
    assert "systemctl reload haproxy" in changed and "restart" not in changed


# ---- the graph and its dry run --------------------------------------------------------------------


def host(name: str, roles: list[str], address: str = "127.0.0.1", port: int = 22) -> Host:
    return Host.model_validate({"name": name, "address": address, "port": port, "user": "root", "ssh_key": "/k",
                                "roles": roles}, context={"check_files": False})


def test_the_graph_joins_control_planes_one_at_a_time_and_workers_in_parallel(tmp_path: Path) -> None:
    hosts = [host("m1", ["master"], "10.0.0.1"), host("m2", ["master"], "10.0.0.2"), host("m3", ["master"], "10.0.0.3"),
             host("w1", ["worker"], "10.0.0.4"), host("w2", ["worker"], "10.0.0.5"), host("lb", ["lb"], "10.0.0.9")]
    tasks = {t.id: t for t in kubeadm_tasks(hosts, Cluster(), tmp_path, after=["prerequisites"])}
    assert list(tasks) == ["kubeadm-prepare-m1", "kubeadm-prepare-m2", "kubeadm-prepare-m3", "kubeadm-prepare-w1",
                           "kubeadm-prepare-w2", "lb-haproxy", INIT, CNI, "kubeadm-join-m2", "kubeadm-join-m3",
                           "kubeadm-join-w1", "kubeadm-join-w2", KUBECONFIG]
    assert tasks["kubeadm-prepare-m1"].deps == ("prerequisites",) == tasks["lb-haproxy"].deps
    assert tasks[INIT].deps == ("kubeadm-prepare-m1", "lb-haproxy")
    assert tasks["kubeadm-join-m3"].deps == ("kubeadm-join-m2", "kubeadm-prepare-m3")
    assert tasks["kubeadm-join-w2"].deps == (INIT, "kubeadm-prepare-w2")
    assert set(tasks[KUBECONFIG].deps) == {INIT, CNI, "kubeadm-join-m2", "kubeadm-join-m3", "kubeadm-join-w1",
                                           "kubeadm-join-w2"}
    assert [str(e) for e in tasks["kubeadm-join-w1"].endpoints] == ["ssh w1", "ssh m1"]
    assert all(t.phase == "cluster" for t in tasks.values())
    # the control-plane endpoint: the answers', else the lb host's
    assert tasks[INIT].fleet.api_endpoint == "10.0.0.9:6443"       # type: ignore[attr-defined]
    named = kubeadm_tasks(hosts, Cluster(api_endpoint="api.sdc.example:6443"), tmp_path)
    assert next(t for t in named if t.id == INIT).fleet.api_endpoint == "api.sdc.example:6443"   # type: ignore[attr-defined]
    # the LB installed elsewhere: init does not wait for it
    off = {t.id: t for t in kubeadm_tasks(hosts, Cluster(), tmp_path, lb=LbSettings(install=False))}
    assert off[INIT].deps == ("kubeadm-prepare-m1",)


def test_graphs_that_cannot_make_a_cluster_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="2 masters need a load balancer"):
        kubeadm_tasks([host("m1", ["master"], "10.0.0.1"), host("m2", ["master"], "10.0.0.2")], Cluster(), tmp_path)
    with pytest.raises(InputError, match="at least one host with role master"):
        kubeadm_tasks([host("w1", ["worker"])], Cluster(), tmp_path)
    with pytest.raises(InputError, match="roles lb and master: HAProxy and the API server would both listen on 6443"):
        kubeadm_tasks([host("m1", ["master", "lb"]), host("w1", ["worker"])], Cluster(), tmp_path)
    single = {t.id: t for t in kubeadm_tasks([host("one", ["master", "worker"], "10.0.0.7")], Cluster(), tmp_path)}
    assert single[INIT].fleet.api_endpoint == "10.0.0.7:6443"          # type: ignore[attr-defined]
    assert "kubeadm-join-one" not in single and single[KUBECONFIG].deps == (INIT, CNI)


def test_plan_says_what_each_task_would_do_when_hosts_cannot_be_read(tmp_path: Path) -> None:
    """Hosts whose SSH port refuses: each is tried once, each task still says what it would do."""
    hosts = [host("m1", ["master"], port=1), host("w1", ["worker"], port=1)]
    tasks = kubeadm_tasks(hosts, Cluster(), tmp_path, ssh_options=SshOptions(timeout=2))
    plan = asyncio.run(dry_run_all(tasks, timeout=20))
    assert plan["kubeadm-prepare-m1"][0].startswith("could not read m1's facts (m1 (127.0.0.1:1): connection refused: nothing "
                                                 "listens on port 1); would check and, where missing: turn swap off")
    assert "install containerd and kubeadm, kubelet, kubectl 1.30 (held)" in plan["kubeadm-prepare-m1"][0]
    assert plan[INIT] == ["would run kubeadm init on m1 (127.0.0.1): control-plane endpoint 127.0.0.1:6443, pod CIDR "
                          "10.244.0.0/16, service CIDR 10.96.0.0/12, Kubernetes 1.30 (m1's facts not read: m1 (127.0.0.1:1): "
                          "connection refused: nothing listens on port 1)"]
    assert plan["kubeadm-join-w1"][0].startswith("would create a join token on m1 (valid 30m) and join w1 as a worker")
    assert plan[KUBECONFIG] == [f"would copy /etc/kubernetes/admin.conf from m1 to {tmp_path}/kubeconfig (mode 0600); "
                                "every later task uses it"]
    assert plan["lb-haproxy"][0].startswith(f"would write {tmp_path}/haproxy.cfg: :6443 -> 1 masters' API servers")
    assert not (tmp_path / "install-id").exists() and not list(tmp_path.iterdir())   # a plan writes nothing
