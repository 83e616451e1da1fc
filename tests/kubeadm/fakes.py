"""Recording scripts for a VM's /usr/local/bin: the kubeadm tests' only test doubles.

No kubeadm, kubelet, containerd or systemd can run on the test machine (no
systemd, no kernel modules, no container runtime), and a real ``swapoff``,
``modprobe`` or ``sysctl`` in a namespace "VM" would change the machine's own
kernel. So on each VM (vmlab overlays /usr/local, /etc and /var per VM: nothing
here touches the machine) these commands are small POSIX sh scripts that

- append their argv and their parent's command line to /var/log/vmfake/commands.log;
- emulate the effect on the facts the phase reads: ``apt-get install`` marks a
  package installed (only after ``apt-get update`` saw the current repository
  list, as apt needs), ``systemctl`` keeps unit states, ``kubeadm init`` writes
  /etc/kubernetes/admin.conf, ``kubeadm join`` writes kubelet.conf, ``kubectl
  apply`` makes the CNI DaemonSet exist, ``sysctl -p`` sets values;
- print what the real tools print where the phase parses it (versions, a join
  command, a certificate key).

Everything else is real: sshd, the SSH client, sh, setsid, awk, sed, base64,
sha256sum, haproxy (its ``-c`` check of the generated configuration), the engine.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass

from tests.vmlab import Vm, VmLab

LOG = "/var/log/vmfake/commands.log"
STATE = "/var/lib/vmfake"
KUBE_VERSION = "1.30.2"

_PRELUDE = r"""#!/bin/sh
# vmlab TEST DOUBLE (tests/kubeadm/fakes.py): records its argv, emulates its effect on the facts.
F=/var/lib/vmfake; [ -d $F/modules ] || mkdir -p $F/pkg $F/svc $F/sysctl $F/hold $F/modules /var/log/vmfake
# the parent's command line, with builtins only (dash's read drops the NULs between arguments)
parent=; l=; while IFS= read -r l; do parent="$parent $l"; done < /proc/$PPID/cmdline 2>/dev/null; parent="$parent $l"
printf '%s\t%s\t%s\n' "@NAME@" "$*" "$parent" >> /var/log/vmfake/commands.log
installed() { [ -f $F/pkg/$1 ]; }
rand() { tr -dc 'a-z0-9' < /dev/urandom 2>/dev/null | head -c "$1"; }
hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
"""

_APT_GET = r"""
sub=; pkgs=
while [ $# -gt 0 ]; do
  case "$1" in
    -o) shift ;;
    -*) ;;
    *) if [ -z "$sub" ]; then sub=$1; else pkgs="$pkgs $1"; fi ;;
  esac
  shift
done
lists() { cat /etc/apt/sources.list.d/*.list 2>/dev/null | sha256sum; }
case "$sub" in
  update) lists > $F/apt-lists; echo "Reading package lists... Done" ;;
  install)
    for p in $pkgs; do
      name=${p%%=*}; want=; case "$p" in *=*) want=${p#*=} ;; esac
      case "$name" in
        kubeadm|kubelet|kubectl)
          [ -f /etc/apt/sources.list.d/digit-tui-kubernetes.list ] && [ "$(lists)" = "$(cat $F/apt-lists 2>/dev/null)" ] \
            || { echo "E: Unable to locate package $name" >&2; exit 100; }
          v=$(cat /etc/vmfake/kube_version 2>/dev/null || echo @KUBE@)
          want=${want%-\*}; want=${want%.\*}
          case "$want" in ?*.?*.?*) v=$want ;; esac ;;
        containerd) v=1.6.20 ;;
        *) v=1.0 ;;
      esac
      echo "$v" > $F/pkg/$name; echo "Setting up $name ($v) ..."
    done ;;
esac
"""

_APT_MARK = r"""
case "$1" in
  hold) shift; for p; do touch $F/hold/$p; echo "$p set on hold."; done ;;
  showhold) ls $F/hold 2>/dev/null ;;
esac
"""

_SYSTEMCTL = r"""
now=; cmd=; units=
for a; do case "$a" in --now) now=1 ;; -*) ;; *) if [ -z "$cmd" ]; then cmd=$a; else units="$units ${a%.service}"; fi ;; esac; done
known() { installed "$1" || { [ "$1" = haproxy ] && [ -x /usr/sbin/haproxy ]; }; }
for u in $units; do
  case "$cmd" in
    is-active) if [ -f $F/svc/$u.active ]; then echo active; else echo inactive; exit 3; fi ;;
    is-enabled) if [ -f $F/svc/$u.enabled ]; then echo enabled; else echo disabled; exit 1; fi ;;
    enable) known $u || { echo "Failed to enable unit: Unit file $u.service does not exist." >&2; exit 1; }
            touch $F/svc/$u.enabled; [ -n "$now" ] && touch $F/svc/$u.active ;;
    start|restart) known $u || { echo "Failed to $cmd $u.service: Unit $u.service not found." >&2; exit 5; }
                   touch $F/svc/$u.active ;;
    reload) [ -f $F/svc/$u.active ] || { echo "$u.service is not active, cannot reload." >&2; exit 1; } ;;
    stop) rm -f $F/svc/$u.active ;;
  esac
done
exit 0
"""

_CONTAINERD = r"""
installed containerd || exit 127
case "$1" in
  --version) echo "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1" ;;
  config) printf '%s\n' 'version = 2' '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]' \
            '  SystemdCgroup = false' ;;
esac
"""

_KUBELET = r"""
installed kubelet || exit 127
[ "$1" = --version ] && echo "Kubernetes v$(cat $F/pkg/kubelet)"
"""

_KUBEADM = r"""
installed kubeadm || exit 127
cfg=; prev=; for a; do [ "$prev" = --config ] && cfg=$a; prev=$a; done
kubeconfig() {  # FILE SERVER USER
  mkdir -p /etc/kubernetes; umask 077
  printf '%s\n' 'apiVersion: v1' 'kind: Config' 'clusters:' '- cluster:' '    certificate-authority-data: RkFLRS1DQQ==' \
    "    server: https://$2" '  name: kubernetes' 'contexts:' '- context:' '    cluster: kubernetes' "    user: $3" \
    "  name: $3@kubernetes" "current-context: $3@kubernetes" 'users:' "- name: $3" '  user:' \
    '    client-certificate-data: RkFLRS1DRVJU' "    client-key-data: $(hex 24)" > "$1"
}
value() { sed -n "s/^ *$1: *//p" "$cfg" | head -n 1 | tr -d "'\""; }
case "$1" in
  version) echo "v$(cat $F/pkg/kubeadm)" ;;
  init)
    if [ "$2" = phase ]; then
      [ -f /etc/kubernetes/admin.conf ] || { echo "no cluster here" >&2; exit 1; }
      key=$(hex 32); echo "$key" >> $F/secrets
      echo '[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace'
      echo '[upload-certs] Using certificate key:'; echo "$key"; exit 0
    fi
    [ -f "$cfg" ] || { echo "no --config" >&2; exit 1; }
    [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && {
      echo "[ERROR FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml]: already exists" >&2; exit 1; }
    echo "[init] Using Kubernetes version: $(value kubernetesVersion)"; echo "[preflight] Running pre-flight checks"
    sleep "$(cat /etc/vmfake/init_seconds 2>/dev/null || echo 0)"
    mkdir -p /etc/kubernetes/manifests /etc/kubernetes/pki; echo fake-ca > /etc/kubernetes/pki/ca.crt
    kubeconfig /etc/kubernetes/admin.conf "$(value controlPlaneEndpoint)" kubernetes-admin
    kubeconfig /etc/kubernetes/kubelet.conf "$(value controlPlaneEndpoint)" "system:node:$(value name)"
    echo "kind: Pod" > /etc/kubernetes/manifests/kube-apiserver.yaml
    touch $F/svc/kubelet.active; cp "$cfg" $F/init.yaml
    echo "Your Kubernetes control-plane has initialized successfully!" ;;
  join)
    [ -f "$cfg" ] || { echo "no --config" >&2; exit 1; }
    tok=$(value token); [ -n "$tok" ] || { echo "no token" >&2; exit 1; }
    echo "[preflight] Running pre-flight checks"
    while [ -f /etc/vmfake/join_hold ]; do sleep 0.1; done     # a test holds the join here
    sleep "$(cat /etc/vmfake/join_seconds 2>/dev/null || echo 0)"
    ep=$(value apiServerEndpoint); cp=no
    if grep -q certificateKey: "$cfg"; then
      cp=yes; mkdir -p /etc/kubernetes/manifests /etc/kubernetes/pki; echo fake-ca > /etc/kubernetes/pki/ca.crt
      kubeconfig /etc/kubernetes/admin.conf "$ep" kubernetes-admin; echo "kind: Pod" > /etc/kubernetes/manifests/kube-apiserver.yaml
    fi
    kubeconfig /etc/kubernetes/kubelet.conf "$ep" "system:node:$(value name)"
    printf 'token_sha=%s control_plane=%s key_sha=%s\n' "$(printf %s "$tok" | sha256sum | cut -c1-64)" "$cp" \
      "$(value certificateKey | tr -d '\n' | sha256sum | cut -c1-64)" >> $F/joined
    sed -e 's/token: .*/token: REDACTED/' -e 's/certificateKey: .*/certificateKey: REDACTED/' "$cfg" > $F/join.yaml
    touch $F/svc/kubelet.active
    echo "This node has joined the cluster" ;;
  token)
    case "$2" in
      create) [ -f /etc/kubernetes/admin.conf ] || { echo "no cluster here" >&2; exit 1; }
              tok="$(rand 6).$(rand 16)"; echo "$tok" >> $F/secrets
              ep=$(sed -n 's#^ *server: https://##p' /etc/kubernetes/admin.conf | head -n 1)
              echo "kubeadm join $ep --token $tok --discovery-token-ca-cert-hash sha256:$(printf %s "$ep" | sha256sum | cut -c1-64) " ;;
      delete) echo "bootstrap token \"$3\" deleted" ;;
    esac ;;
esac
"""

_KUBECTL = r"""
installed kubectl || exit 127
sub=; skip=; file=
for a; do
  if [ -n "$skip" ]; then [ "$skip" = -f ] && file=$a; skip=; continue; fi
  case "$a" in --kubeconfig|-n|-o|-f) skip=$a ;; -*) ;; *) [ -z "$sub" ] && sub=$a ;; esac
done
[ "$sub" = version ] && { echo "Client Version: v$(cat $F/pkg/kubectl)"; echo "Kustomize Version: v5.0.4"; exit 0; }
[ -f /etc/kubernetes/admin.conf ] || { echo "The connection to the server localhost:8080 was refused" >&2; exit 1; }
case "$sub" in
  apply) if [ "$file" = - ]; then cat > $F/cni.yaml; else echo "$file" > $F/cni.url; fi
         touch $F/cni-applied; echo "daemonset.apps/calico-node created" ;;
  get) [ -f $F/cni-applied ] || { echo 'Error from server (NotFound): daemonsets.apps "calico-node" not found' >&2; exit 1; }
       echo "daemonset.apps/calico-node" ;;
  rollout) [ -f $F/cni-applied ] || exit 1; echo 'daemon set "calico-node" successfully rolled out' ;;
esac
"""

_SYSCTL = r"""
path() { p=/proc/sys; o=$IFS; IFS=.; for part in $1; do p=$p/$part; done; IFS=$o; }
get() {
  if [ -f $F/sysctl/$1 ]; then read -r v < $F/sysctl/$1; echo "$v"; return 0; fi
  path $1; if [ -e "$p" ]; then read -r v < "$p"; echo "$v"; return 0; fi
  case "$1" in net.bridge.*) [ -f $F/modules/br_netfilter ] && { echo 0; return 0; } ;; esac
  return 1
}
file=; n=; w=
while [ $# -gt 0 ]; do
  case "$1" in -n) n=1 ;; -q) ;; -p|--load) shift; file=$1 ;; -w) shift; w=$1 ;; *) key=$1 ;; esac
  shift
done
if [ -n "$file" ]; then
  grep -v '^[#;]' "$file" | while IFS='=' read -r k v; do
    k=$(echo $k); v=$(echo $v); [ -n "$k" ] && echo "$v" > $F/sysctl/$k
  done; exit 0
fi
if [ -n "$w" ]; then echo "${w#*=}" > $F/sysctl/${w%%=*}; exit 0; fi
get "$key" || { path $key; echo "sysctl: cannot stat $p: No such file or directory" >&2; exit 255; }
"""

_MODPROBE = r"""
for m; do case "$m" in -*) ;; *) touch $F/modules/$m ;; esac; done
"""

_SWAPOFF = "\n:\n"

SCRIPTS = {"apt-get": _APT_GET, "apt-mark": _APT_MARK, "systemctl": _SYSTEMCTL, "containerd": _CONTAINERD,
           "kubelet": _KUBELET, "kubeadm": _KUBEADM, "kubectl": _KUBECTL, "sysctl": _SYSCTL,
           "modprobe": _MODPROBE, "swapoff": _SWAPOFF}


HOLD = "/etc/vmfake/join_hold"


def hold_joins(lab: VmLab, vm: Vm) -> None:
    """``kubeadm join`` on ``vm`` waits (after its preflight line) until ``release_joins``."""
    lab.write_file(vm, HOLD, "")


def release_joins(lab: VmLab, vm: Vm) -> None:
    lab.exec(vm, f"rm -f {HOLD}")


def install(lab: VmLab, vm: Vm, *, join_seconds: float = 0, init_seconds: float = 0) -> None:
    """Every double into ``vm``'s /usr/local/bin, in one command (a VM is entered once, not ten times)."""
    files = {f"/usr/local/bin/{name}": _PRELUDE.replace("@NAME@", name) + body.replace("@KUBE@", KUBE_VERSION)
             for name, body in SCRIPTS.items()}
    files["/etc/vmfake/join_seconds"] = f"{join_seconds:g}\n"
    files["/etc/vmfake/init_seconds"] = f"{init_seconds:g}\n"
    script = "set -e; mkdir -p /usr/local/bin /etc/vmfake\n" + "".join(
        f"base64 -d > {path} <<'EOF'\n{base64.b64encode(text.encode()).decode()}\nEOF\nchmod 755 {path}\n"
        for path, text in files.items())
    lab.exec(vm, ["sh", "-c", script])


@dataclass(frozen=True)
class Call:
    tool: str
    args: tuple[str, ...]
    parent: str

    @property
    def line(self) -> str:
        return " ".join((self.tool, *self.args))

    @property
    def sub(self) -> str:
        """The subcommand: the first word that is no option and no option's value."""
        skip = False
        for a in self.args:
            if skip:
                skip = False
                continue
            if a in ("--kubeconfig", "-o", "-n", "-f"):
                skip = True
                continue
            if not a.startswith("-"):
                return a
        return self.args[0] if self.args else ""


# What only reads: version queries, lookups, service and sysctl states.
_READS = {("kubeadm", "version"), ("kubelet", "--version"), ("kubectl", "version"), ("kubectl", "get"),
          ("kubectl", "rollout"), ("containerd", "--version"), ("apt-mark", "showhold"),
          ("systemctl", "is-active"), ("systemctl", "is-enabled")}


def changes(call: Call) -> bool:
    if call.tool == "sysctl":
        return "-n" not in call.args
    if call.tool in ("kubelet", "containerd"):
        return (call.tool, call.args[0] if call.args else "") not in _READS
    return (call.tool, call.sub) not in _READS


def calls(lab: VmLab, vm: Vm) -> list[Call]:
    r = lab.exec(vm, f"cat {LOG} 2>/dev/null || true")
    out = []
    for line in r.stdout.decode(errors="replace").splitlines():
        tool, _, rest = line.partition("\t")
        args, _, parent = rest.partition("\t")
        out.append(Call(tool, tuple(args.split()), parent))
    return out


def changing(lab: VmLab, vm: Vm) -> list[str]:
    return [c.line for c in calls(lab, vm) if changes(c)]


def count(found: Iterable[Call], tool: str, sub: str) -> int:
    return sum(1 for c in found if c.tool == tool and c.sub == sub)


def read(lab: VmLab, vm: Vm, path: str) -> str:
    return lab.exec(vm, f"cat {path} 2>/dev/null || true").stdout.decode(errors="replace")


def secrets(lab: VmLab, vm: Vm) -> list[str]:
    """The tokens and certificate keys the fake kubeadm made on ``vm``."""
    return [s for s in read(lab, vm, f"{STATE}/secrets").split() if s]


def clear_log(lab: VmLab, vm: Vm) -> None:
    lab.exec(vm, f": > {LOG}")
