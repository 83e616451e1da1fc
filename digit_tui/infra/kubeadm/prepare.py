"""Preparing a host for kubeadm, decided from its facts: what is missing, and the shell that adds it.

``prepare_actions`` is pure: facts in, a list of ``Action`` out (empty when the
host is ready, which is what a rerun sees). Each action says in words what it
does (for ``digit-tui plan`` and the journal) and carries its POSIX sh. The
actions are run together as one detached step (``hoststeps``), in the order
given: swap, kernel modules, sysctls, the apt repository, packages, holds,
containerd's configuration, services.

Upgrades are out of scope: a node that is already part of a cluster with
another Kubernetes version than asked is refused, not changed.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from dataclasses import dataclass

from digit_tui.errors import PermanentError
from digit_tui.infra.kubeadm.facts import CONTAINERD_CONFIG, MODULES, MODULES_FILE, SYSCTL_FILE, SYSCTLS, NodeFacts, Service
from digit_tui.infra.kubeadm.packages import KEY_FILE, KUBE_PACKAGES, LIST_FILE, Packages

_APT = ("DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 "
        "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold")
MODULES_TEXT = "".join(m + "\n" for m in MODULES)
SYSCTL_TEXT = "".join(f"{k} = {v}\n" for k, v in SYSCTLS.items())
_BANNER = "# written by digit-tui for Kubernetes (kubeadm)\n"


@dataclass(frozen=True)
class Action:
    description: str
    script: str


@dataclass(frozen=True)
class PrepareSpec:
    packages: Packages
    key: bytes | None = None        # the repository key read from packages.key_file on the jump host


def _write(path: str, content: str, mode: str = "644") -> str:
    """A file written whole through a temporary one (content in base64: any byte is safe in the script)."""
    data = base64.b64encode(content.encode()).decode()
    q = shlex.quote(path)
    return (f"mkdir -p \"$(dirname {q})\"; echo {data} | base64 -d > {q}.digit-tui.new; "
            f"chmod {mode} {q}.digit-tui.new; mv -f {q}.digit-tui.new {q}")


def _banner(text: str) -> str:
    return _BANNER + text


def wanted_modules_conf() -> str:
    return _banner(MODULES_TEXT)


def wanted_sysctl_conf() -> str:
    return _banner(SYSCTL_TEXT)


def prepare_actions(facts: NodeFacts, spec: PrepareSpec, *, label: str = "") -> list[Action]:
    """What the host still needs; PermanentError when it cannot be prepared (no apt, a version change
    on a node of a cluster)."""
    who = label or facts.hostname or "the host"
    pk = spec.packages
    if not facts.apt:
        raise PermanentError(f"{who}: no apt-get ({facts.os_id or 'unknown OS'} {facts.os_version}): only Debian and "
                             "Ubuntu hosts can be prepared", "use Debian 11/12 or Ubuntu 20.04-24.04 VMs")
    out: list[Action] = []
    if facts.swap_active:
        out.append(Action(f"turn swap off (active: {', '.join(facts.swap_active)})", "swapoff -a"))
    if facts.fstab_swap:
        script = ("cp -p /etc/fstab /etc/fstab.digit-tui.bak; "
                  "awk '!/^[[:space:]]*#/ && $3 == \"swap\" {print \"# \" $0 \"  # off for the kubelet (digit-tui)\"; next} "
                  "{print}' /etc/fstab > /etc/fstab.digit-tui.new && cat /etc/fstab.digit-tui.new > /etc/fstab; "
                  "rm -f /etc/fstab.digit-tui.new")
        out.append(Action(f"comment out swap in /etc/fstab so it stays off after a reboot "
                          f"({len(facts.fstab_swap)} line{'s' if len(facts.fstab_swap) != 1 else ''}; "
                          "backup /etc/fstab.digit-tui.bak)", script))
    if facts.modules_conf != wanted_modules_conf():
        out.append(Action(f"load {' and '.join(MODULES)} at boot ({MODULES_FILE})",
                          _write(MODULES_FILE, wanted_modules_conf())))
    if not facts.overlay:
        out.append(Action("load the overlay kernel module", "modprobe overlay"))
    bridge = next(iter(SYSCTLS))
    if facts.sysctl.get(bridge) is None:
        out.append(Action("load the br_netfilter kernel module", "modprobe br_netfilter"))
    if facts.sysctl_conf != wanted_sysctl_conf():
        out.append(Action(f"keep {', '.join(SYSCTLS)} at 1 across reboots ({SYSCTL_FILE})",
                          _write(SYSCTL_FILE, wanted_sysctl_conf())))
    wrong = [k for k, v in SYSCTLS.items() if facts.sysctl.get(k) != v]
    if wrong:
        out.append(Action(f"set {', '.join(wrong)} to 1 now", f"sysctl -q -p {SYSCTL_FILE}"))

    kube = _kube_packages(facts, pk, who)
    repo = _repository(facts, spec)
    install = ([pk.containerd_package] if facts.containerd is None else []) + kube
    if repo or install:
        out += repo
        out.append(Action("refresh the package lists (apt-get update)", f"{_APT} update"))
    if install:
        pins = [f"{p}={pk.apt_version()}" if p in KUBE_PACKAGES else p for p in install]
        words = ", ".join(f"{p} {pk.kubernetes_version}" if p in KUBE_PACKAGES else p for p in install)
        out.append(Action(f"install {words} from {pk.repository_url if kube else 'the OS repository'}",
                          f"{_APT} --allow-downgrades --allow-change-held-packages install "
                          + " ".join(shlex.quote(p) for p in pins)))
    unheld = [p for p in KUBE_PACKAGES if p not in facts.held or p in kube]
    if unheld:
        out.append(Action(f"hold {', '.join(unheld)} at their version (apt-mark hold: no upgrade behind kubeadm's "
                          "back)", "apt-mark hold " + " ".join(unheld)))

    config = _containerd_config(facts)
    if config is not None:
        out.append(config)
    cd = facts.services.get("containerd", _NO_SERVICE)
    if config is not None or facts.containerd is None:
        # a package just installed may already run with its own configuration: restart, not start
        out.append(Action("enable and (re)start containerd with this configuration",
                          "systemctl enable containerd; systemctl restart containerd"))
    elif not (cd.active and cd.enabled):
        out.append(Action("enable and start containerd", "systemctl enable --now containerd"))
    if not facts.services.get("kubelet", _NO_SERVICE).enabled or "kubelet" in kube:
        # kubeadm starts it; until then it restarts every few seconds, waiting for its configuration
        out.append(Action("enable the kubelet", "systemctl enable kubelet"))
    return out


_NO_SERVICE = Service(active=False, enabled=False)


def _kube_packages(facts: NodeFacts, pk: Packages, who: str) -> list[str]:
    installed = {"kubelet": facts.kubelet, "kubeadm": facts.kubeadm, "kubectl": facts.kubectl}
    off = {p: v for p, v in installed.items() if not pk.matches(v)}
    if not off:
        return []
    changed = {p: v for p, v in off.items() if v is not None}
    if changed and (facts.joined or facts.initialised):
        have = ", ".join(f"{p} {v}" for p, v in changed.items())
        raise PermanentError(f"{who} is already a Kubernetes node with {have}; the answers ask for "
                             f"{pk.kubernetes_version}: digit-tui does not upgrade clusters",
                             "set the Kubernetes version to the one the cluster runs, or upgrade it with "
                             "`kubeadm upgrade` first")
    return list(KUBE_PACKAGES)     # always together: kubeadm checks that the kubelet matches


def _repository(facts: NodeFacts, spec: PrepareSpec) -> list[Action]:
    pk = spec.packages
    out: list[Action] = []
    if not pk.trusted:
        if spec.key is not None:
            armored = spec.key if spec.key.lstrip().startswith(b"-----BEGIN") else None
            if facts.repo_key_sha256 != hashlib.sha256(spec.key).hexdigest():
                data = base64.b64encode(spec.key).decode()
                if armored is None:     # a binary key: apt wants it without the .asc name then
                    raise PermanentError(f"the repository key {pk.key_file} is not ASCII-armored",
                                         "export it with `gpg --export --armor KEYID > key.asc` and name that file")
                out.append(Action(f"install the repository's signing key from {pk.key_file} ({KEY_FILE})",
                                  f"mkdir -p /etc/apt/keyrings; echo {data} | base64 -d > {KEY_FILE}.new; "
                                  f"chmod 644 {KEY_FILE}.new; mv -f {KEY_FILE}.new {KEY_FILE}"))
        elif facts.repo_key_sha256 is None:
            url = pk.signing_key_url or ""
            fetch = (f"mkdir -p /etc/apt/keyrings; curl -fsSL --max-time 60 --retry 3 {shlex.quote(url)} "
                     f"-o {KEY_FILE}.new; chmod 644 {KEY_FILE}.new; mv -f {KEY_FILE}.new {KEY_FILE}")
            if not facts.curl:
                out.append(Action("install curl to fetch the repository key",
                                  f"{_APT} update; {_APT} install curl ca-certificates"))
            out.append(Action(f"fetch the repository's signing key from {url} ({KEY_FILE})", fetch))
    if facts.repo_list != pk.list_line():
        out.append(Action(f"use the Kubernetes package repository {pk.repository_url} ({LIST_FILE})",
                          _write(LIST_FILE, pk.list_line())))
    return out


def _containerd_config(facts: NodeFacts) -> Action | None:
    """containerd must use the systemd cgroup driver (kubeadm's kubelet does) and keep its CRI plugin."""
    if facts.containerd_cgroup == "systemd" and not facts.containerd_cri_disabled:
        return None
    q = CONTAINERD_CONFIG
    if facts.containerd_cgroup == "cgroupfs" and not facts.containerd_cri_disabled:
        return Action(f"set SystemdCgroup = true in {q} (backup {q}.digit-tui.bak)",
                      f"cp -p {q} {q}.digit-tui.bak; sed -i -E 's/SystemdCgroup *= *false/SystemdCgroup = true/' {q}")
    why = "it disables the CRI plugin" if facts.containerd_cri_disabled else "it has no SystemdCgroup setting"
    return Action(f"write containerd's default configuration with SystemdCgroup = true to {q} "
                  f"({why}; backup {q}.digit-tui.bak)",
                  f"mkdir -p /etc/containerd; [ -f {q} ] && cp -p {q} {q}.digit-tui.bak; "
                  f"containerd config default | sed -E 's/SystemdCgroup *= *false/SystemdCgroup = true/' > {q}.new; "
                  f"mv -f {q}.new {q}")


def step_script(actions: list[Action]) -> str:
    """The actions as one script: stops at the first failure, says which action it is on."""
    lines = ["set -e", "export DEBIAN_FRONTEND=noninteractive"]
    for a in actions:
        lines.append(f"echo {shlex.quote('>>> ' + a.description)}")
        lines.append(a.script)
    return "\n".join(lines) + "\n"
