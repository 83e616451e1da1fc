"""What a host looks like to kubeadm, read over SSH in one round trip (as root, through sudo).

Every decision of the kubeadm phases is taken from these facts, never from
what an earlier run said it did: swap, the kernel features containerd and the
pod network need, the sysctls, containerd and its cgroup driver, the
Kubernetes packages and their versions, the apt repository digit-tui writes,
what ``/etc/kubernetes`` holds (admin.conf: a control plane was initialised
here; kubelet.conf: the node joined a cluster), the host's lock and the state
of a detached step (``hoststeps``) that may still be running from an earlier
attempt. The script is POSIX sh and only reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from digit_tui.infra import hoststeps, markedoutput
from digit_tui.infra.hoststeps import StepState
from digit_tui.infra.kubeadm.packages import KEY_FILE, LIST_FILE
from digit_tui.infra.ssh import SshConnection

SLOT = "kubeadm"                        # the hoststeps slot and the lock's name
MODULES_FILE = "/etc/modules-load.d/digit-tui-kubernetes.conf"
SYSCTL_FILE = "/etc/sysctl.d/99-digit-tui-kubernetes.conf"
CONTAINERD_CONFIG = "/etc/containerd/config.toml"
SYSCTLS: Mapping[str, str] = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}
MODULES = ("overlay", "br_netfilter")
KUBERNETES_FILES = ("admin.conf", "kubelet.conf", "manifests/kube-apiserver.yaml", "pki/ca.crt")
SERVICES = ("containerd", "kubelet")
_MARK = "@@dt-kubeadm:"
_SEMVER = re.compile(r"v?(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class Service:
    active: bool
    enabled: bool


@dataclass(frozen=True)
class NodeFacts:
    hostname: str
    os_id: str
    os_like: tuple[str, ...]
    os_version: str
    apt: bool                               # apt-get is there (Debian, Ubuntu and their kin)
    curl: bool
    swap_active: tuple[str, ...]            # devices and files in /proc/swaps
    fstab_swap: tuple[str, ...]             # swap lines of /etc/fstab not commented out
    overlay: bool                           # the kernel knows the overlay file system
    modules_conf: str                       # MODULES_FILE's content ("" when absent)
    sysctl: Mapping[str, str | None]        # live values; None: the key does not exist (br_netfilter not loaded)
    sysctl_conf: str
    containerd: str | None                  # versions; None: not installed
    kubeadm: str | None
    kubelet: str | None
    kubectl: str | None
    held: frozenset[str]                    # packages apt-mark holds
    services: Mapping[str, Service]
    containerd_cgroup: str                  # "systemd", "cgroupfs" or "absent" (no SystemdCgroup line / no file)
    containerd_cri_disabled: bool           # a config that disables the CRI plugin (Docker's containerd.io ships one)
    repo_list: str                          # LIST_FILE's content
    repo_key_sha256: str | None             # of KEY_FILE; None when absent or empty
    kubernetes_files: frozenset[str] = field(default_factory=frozenset)   # of KUBERNETES_FILES, those present
    lock: str = ""                          # the lock file's content
    step: StepState = StepState("", hoststeps.StepStatus.NONE)

    @property
    def initialised(self) -> bool:
        """A control plane runs here (kubeadm init or a control-plane join completed)."""
        return {"admin.conf", "manifests/kube-apiserver.yaml"} <= self.kubernetes_files

    @property
    def joined(self) -> bool:
        """The kubelet has its credentials: this host is a node of a cluster."""
        return "kubelet.conf" in self.kubernetes_files

    @property
    def control_plane(self) -> bool:
        return "manifests/kube-apiserver.yaml" in self.kubernetes_files

    @property
    def partial(self) -> bool:
        """Something of kubeadm is here but the node never finished joining (a failed init or join)."""
        return not self.joined and bool(self.kubernetes_files - {"kubelet.conf"})


def facts_script() -> str:
    m = _MARK
    files = " ".join(KUBERNETES_FILES)
    keys = " ".join(SYSCTLS)
    services = " ".join(SERVICES)
    return f"""LC_ALL=C; export LC_ALL
echo {m}os; ( . /etc/os-release 2>/dev/null; echo "${{ID:-}}|${{ID_LIKE:-}}|${{VERSION_ID:-}}" )
echo {m}hostname; hostname 2>/dev/null || cat /proc/sys/kernel/hostname
echo {m}tools; for t in apt-get curl; do command -v $t >/dev/null 2>&1 && echo $t; done
echo {m}swaps; tail -n +2 /proc/swaps 2>/dev/null
echo {m}fstab; awk '!/^[[:space:]]*#/ && $3 == "swap"' /etc/fstab 2>/dev/null
echo {m}overlay; grep -qw overlay /proc/filesystems 2>/dev/null && echo yes
echo {m}modules-conf; cat {MODULES_FILE} 2>/dev/null
echo {m}sysctl; for k in {keys}; do v=$(sysctl -n $k 2>/dev/null) && echo "$k=$v" || echo "$k"; done
echo {m}sysctl-conf; cat {SYSCTL_FILE} 2>/dev/null
echo {m}versions
echo "containerd=$(containerd --version 2>/dev/null | head -n 1)"
echo "kubeadm=$(kubeadm version -o short 2>/dev/null | head -n 1)"
echo "kubelet=$(kubelet --version 2>/dev/null | head -n 1)"
echo "kubectl=$(kubectl version --client 2>/dev/null | head -n 1)"
echo {m}holds; apt-mark showhold 2>/dev/null
echo {m}services; for u in {services}; do echo "$u $(systemctl is-active $u 2>/dev/null | head -n 1) $(systemctl is-enabled $u 2>/dev/null | head -n 1)"; done
echo {m}containerd-config
if [ ! -f {CONTAINERD_CONFIG} ]; then echo absent
else grep -Eo 'SystemdCgroup *= *(true|false)' {CONTAINERD_CONFIG} | head -n 1
  grep -Eq '^[[:space:]]*disabled_plugins *=.*"cri"' {CONTAINERD_CONFIG} && echo cri-disabled; fi
echo {m}repo-list; cat {LIST_FILE} 2>/dev/null
echo {m}repo-key; [ -s {KEY_FILE} ] && sha256sum < {KEY_FILE} | cut -d' ' -f1
echo {m}kubernetes; for f in {files}; do [ -e /etc/kubernetes/$f ] && echo $f; done
echo {m}lock; cat {hoststeps.BASE_DIR}/{SLOT}.lock 2>/dev/null
echo {m}step; {hoststeps.state_script(SLOT)}
echo {m}end
"""


def read_facts(conn: SshConnection, timeout: float = 60.0) -> NodeFacts:
    return parse_facts(markedoutput.run_as_root(conn, facts_script(), _MARK, "the host's facts", timeout))


def _text(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def version_of(text: str) -> str | None:
    """``v1.30.2`` out of whatever a tool prints for its version (None when it printed none)."""
    m = _SEMVER.search(text)
    return f"v{m.group(1)}" if m else None


def parse_facts(text: str) -> NodeFacts:
    s = markedoutput.sections(text, _MARK)
    os_id, os_like, os_version = ((s.get("os") or ["||"])[0].split("|") + ["", "", ""])[:3]
    tools = {t.strip() for t in s.get("tools", [])}
    sysctl: dict[str, str | None] = {}
    for line in s.get("sysctl", []):
        key, sep, value = line.partition("=")
        if key.strip():
            sysctl[key.strip()] = value.strip() if sep else None
    versions = dict(line.split("=", 1) for line in s.get("versions", []) if "=" in line)
    services = {}
    for line in s.get("services", []):
        words = line.split()
        if words:
            services[words[0]] = Service(active=words[1:2] == ["active"], enabled=words[2:3] == ["enabled"])
    cfg = [line.strip() for line in s.get("containerd-config", []) if line.strip()]
    cgroup = "absent"
    for line in cfg:
        if line.startswith("SystemdCgroup"):
            cgroup = "systemd" if line.endswith("true") else "cgroupfs"
    key_sha = " ".join(s.get("repo-key", [])).strip() or None
    step_lines = [ln for ln in s.get("step", []) if ln.strip()]
    return NodeFacts(
        hostname=" ".join(s.get("hostname", [])).strip(),
        os_id=os_id.strip(), os_like=tuple(os_like.split()), os_version=os_version.strip(),
        apt="apt-get" in tools, curl="curl" in tools,
        swap_active=tuple(line.split()[0] for line in s.get("swaps", []) if line.strip()),
        fstab_swap=tuple(line.strip() for line in s.get("fstab", []) if line.strip()),
        overlay=any(line.strip() == "yes" for line in s.get("overlay", [])),
        modules_conf=_text(s.get("modules-conf", [])),
        sysctl=sysctl, sysctl_conf=_text(s.get("sysctl-conf", [])),
        containerd=version_of(versions.get("containerd", "")),
        kubeadm=version_of(versions.get("kubeadm", "")),
        kubelet=version_of(versions.get("kubelet", "")),
        kubectl=version_of(versions.get("kubectl", "")),
        held=frozenset(line.strip() for line in s.get("holds", []) if line.strip()),
        services=services, containerd_cgroup=cgroup, containerd_cri_disabled="cri-disabled" in cfg,
        repo_list=_text(s.get("repo-list", [])), repo_key_sha256=key_sha,
        kubernetes_files=frozenset(line.strip() for line in s.get("kubernetes", []) if line.strip()),
        lock=_text(s.get("lock", [])),
        step=hoststeps.parse_state(step_lines[-1] if step_lines else ""),
    )
