"""Commands against the cluster from its first control plane, over SSH: join credentials, the pod
network (CNI) and the admin kubeconfig.

kubectl runs on the first master with ``/etc/kubernetes/admin.conf``: the jump
host needs no kubectl and no route to the API for these phases. Secrets that
come back (a join token, a certificate key, the admin kubeconfig) are returned
to the caller and never put in a message; errors quote kubeadm's and
kubectl's output only through ``scrub``.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass

from digit_tui.errors import PermanentError, TransientError
from digit_tui.infra import hoststeps
from digit_tui.infra.kubeadm.configs import JoinCredentials, parse_certificate_key, parse_join_command, scrub
from digit_tui.infra.kubeadm.facts import SLOT
from digit_tui.infra.ssh import RunResult, SshConnection

ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBECTL = f"kubectl --kubeconfig {ADMIN_CONF}"
STEP_DIR = hoststeps.slot_dir(SLOT)
INIT_CONFIG = f"{STEP_DIR}/init.yaml"
JOIN_CONFIG = f"{STEP_DIR}/join.yaml"
# Long enough for a slow join; short enough that a token of a join killed half way soon dies.
TOKEN_TTL = "30m"


def _said(r: RunResult) -> str:
    text = (r.stderr.strip() or r.stdout.strip()).splitlines()
    return scrub(" ".join(text[-3:]))[:400] if text else f"exit {r.exit_code}"


def fail(label: str, what: str, r: RunResult, remedy: str) -> Exception:
    """A failed command as the right error: the network (retry) or not (the operator)."""
    message = f"{label}: {what} failed: {_said(r)}"
    if hoststeps.looks_transient(r.stdout + r.stderr):
        return TransientError(message)
    return PermanentError(message, remedy)


def write_private(conn: SshConnection, path: str, content: str, timeout: float = 30.0) -> None:
    """A root-only file with ``content`` sent over stdin (never in a command line)."""
    q = shlex.quote(path)
    r = conn.run(f'umask 077; mkdir -p "$(dirname {q})"; cat > {q}.new && mv -f {q}.new {q}', timeout, sudo=True,
                 input=content.encode())
    if not r.ok:
        raise fail(conn.target.label, f"writing {path}", r, "check that root can write /var/lib on the host")


def init_script() -> str:
    return f"kubeadm init --config {INIT_CONFIG} --skip-token-print --skip-certificate-key-print\n"


def join_script() -> str:
    # The configuration holds the token (and a control plane's certificate key): gone once kubeadm is.
    return f"rc=0\nkubeadm join --config {JOIN_CONFIG} || rc=$?\nrm -f {JOIN_CONFIG}\nexit $rc\n"


def create_join(conn: SshConnection, node: str, timeout: float = 60.0) -> JoinCredentials:
    """A fresh bootstrap token for one join (``TOKEN_TTL``), and how to find the cluster."""
    description = shlex.quote(f"digit-tui: join of {node}")
    r = conn.run(f"kubeadm token create --print-join-command --ttl {TOKEN_TTL} --description {description}",
                 timeout, sudo=True)
    if not r.ok:
        raise fail(conn.target.label, "creating a join token", r,
                   "check the first control plane: `kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes` on it")
    return parse_join_command(r.stdout, conn.target.label)


def upload_certs(conn: SshConnection, timeout: float = 120.0) -> str:
    """Upload the control-plane certificates (encrypted, for 2 hours) and return their key."""
    r = conn.run("kubeadm init phase upload-certs --upload-certs", timeout, sudo=True)
    if not r.ok:
        raise fail(conn.target.label, "uploading the control-plane certificates", r,
                   "check the first control plane's API server and etcd")
    return parse_certificate_key(r.stdout, conn.target.label)


def delete_token(conn: SshConnection, creds: JoinCredentials, timeout: float = 30.0) -> None:
    """Best effort: a token left behind expires by itself."""
    conn.run(f"kubeadm token delete {shlex.quote(creds.token_id)}", timeout, sudo=True)


@dataclass(frozen=True)
class DaemonSet:
    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> DaemonSet:
        ns, sep, name = text.partition("/")
        if not sep or not ns or not name:
            raise ValueError(f"{text!r}: expected NAMESPACE/NAME, such as kube-system/calico-node")
        return cls(ns, name)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


def daemonset_exists(conn: SshConnection, ds: DaemonSet, timeout: float = 60.0) -> bool:
    r = conn.run(f"{KUBECTL} get daemonset -n {shlex.quote(ds.namespace)} {shlex.quote(ds.name)} -o name "
                 "--request-timeout=30s", timeout, sudo=True)
    if r.ok:
        return True
    if "NotFound" in r.stderr or "not found" in r.stderr:
        return False
    # The API server of a fresh control plane takes a while to answer; so does one behind a broken LB.
    raise TransientError(f"{conn.target.label}: the cluster API did not answer kubectl: {_said(r)}")


def apply_manifest(conn: SshConnection, manifest: str | bytes, timeout: float = 300.0) -> None:
    """``kubectl apply`` of a URL the host fetches itself, or of a manifest's bytes sent over stdin."""
    if isinstance(manifest, bytes):
        r = conn.run(f"{KUBECTL} apply -f - --request-timeout=120s", timeout, sudo=True, input=manifest)
        what = "applying the pod network manifest"
    else:
        r = conn.run(f"{KUBECTL} apply -f {shlex.quote(manifest)} --request-timeout=120s", timeout, sudo=True)
        what = f"applying the pod network manifest {manifest}"
    if not r.ok:
        raise fail(conn.target.label, what, r, "check the manifest (or its URL, which the first master must reach)")


def rollout(conn: SshConnection, ds: DaemonSet, seconds: float) -> None:
    r = conn.run(f"{KUBECTL} rollout status daemonset/{shlex.quote(ds.name)} -n {shlex.quote(ds.namespace)} "
                 f"--timeout={int(seconds)}s", seconds + 60, sudo=True)
    if not r.ok:
        raise TransientError(f"{conn.target.label}: {ds} is not ready after {seconds:g}s ({_said(r)}); "
                             "its nodes must be able to pull its images")


def admin_conf_sha256(conn: SshConnection, timeout: float = 30.0) -> str | None:
    r = conn.run(f"sha256sum {ADMIN_CONF} 2>/dev/null | cut -d' ' -f1", timeout, sudo=True)
    value = r.stdout.strip()
    return value if len(value) == 64 else None


def read_admin_conf(conn: SshConnection, timeout: float = 30.0) -> bytes:
    r = conn.run(f"cat {ADMIN_CONF}", timeout, sudo=True)
    if not r.ok or not r.stdout.strip():
        raise PermanentError(f"{conn.target.label}: {ADMIN_CONF} cannot be read",
                             "check that kubeadm init completed on the first master")
    data = r.stdout.encode()
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
