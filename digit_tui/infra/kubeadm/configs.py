"""kubeadm's configuration files, the join credentials, and keeping both out of every log.

``kubeadm init`` and ``kubeadm join`` read a configuration file rather than
flags: the join token and the certificate key then live in a 0600 file the
step writes and deletes, never in a command line (``ps`` on the host shows
``kubeadm join --config FILE``). The API version follows the Kubernetes
version: ``kubeadm.k8s.io/v1beta3`` up to 1.30, ``v1beta4`` from 1.31 (where
extra arguments became a list of name/value pairs).

``scrub`` masks anything shaped like a bootstrap token or a certificate key in
text that leaves the host (kubeadm's output streamed to the journal, errors).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from digit_tui import yamldump
from digit_tui.errors import PermanentError

CRI_SOCKET = "unix:///run/containerd/containerd.sock"
_TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")
_KEY = re.compile(r"(?<![:0-9a-f])[0-9a-f]{64}(?![0-9a-f])")    # not a "sha256:<hex>" CA hash
_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def scrub(text: str) -> str:
    return _KEY.sub("<certificate key>", _TOKEN.sub("<token>", text))


@dataclass(frozen=True)
class NodeSpec:
    name: str               # the node's name in Kubernetes
    address: str            # what the kubelet and, on a control plane, the API server advertise


@dataclass(frozen=True)
class ClusterSpec:
    control_plane_endpoint: str     # host:port of the load balancer in front of the API servers
    pod_cidr: str
    service_cidr: str
    kubernetes_version: str         # exact, "v1.30.2": what the first master's kubeadm is
    image_repository: str | None = None     # a registry mirror of registry.k8s.io


@dataclass(frozen=True)
class JoinCredentials:
    endpoint: str
    token: str = field(repr=False)
    ca_hashes: tuple[str, ...]

    @property
    def token_id(self) -> str:
        """The public half of the token (what ``kubeadm token delete`` takes)."""
        return self.token.split(".", 1)[0]


def api_version(kubernetes_version: str) -> str:
    minor = int(kubernetes_version.lstrip("v").split(".")[1])
    return "kubeadm.k8s.io/v1beta4" if minor >= 31 else "kubeadm.k8s.io/v1beta3"


def _kubelet_args(api: str, address: str) -> Any:
    if api.endswith("v1beta4"):
        return [{"name": "node-ip", "value": address}]
    return {"node-ip": address}


def _registration(api: str, node: NodeSpec, taints: tuple[str, ...] | None) -> dict[str, Any]:
    reg: dict[str, Any] = {"name": node.name, "criSocket": CRI_SOCKET,
                           "kubeletExtraArgs": _kubelet_args(api, node.address)}
    if taints is not None:      # kubeadm: left out, a control plane gets its NoSchedule taint; [] none
        reg["taints"] = list(taints)
    return reg


def init_config(node: NodeSpec, cluster: ClusterSpec, api_port: int = 6443,
                taints: tuple[str, ...] | None = None) -> str:
    """The first control plane's configuration; ``taints=()`` for a master that also runs workloads."""
    api = api_version(cluster.kubernetes_version)
    init = {"apiVersion": api, "kind": "InitConfiguration",
            "localAPIEndpoint": {"advertiseAddress": node.address, "bindPort": api_port},
            "nodeRegistration": _registration(api, node, taints)}
    clusterc: dict[str, Any] = {"apiVersion": api, "kind": "ClusterConfiguration",
                                "kubernetesVersion": cluster.kubernetes_version,
                                "controlPlaneEndpoint": cluster.control_plane_endpoint,
                                "networking": {"podSubnet": cluster.pod_cidr, "serviceSubnet": cluster.service_cidr}}
    if cluster.image_repository:
        clusterc["imageRepository"] = cluster.image_repository
    kubelet = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
               "cgroupDriver": "systemd"}
    return yamldump.safe_dump_all([init, clusterc, kubelet], sort_keys=False)


def join_config(node: NodeSpec, creds: JoinCredentials, kubernetes_version: str, *,
                certificate_key: str | None = None, api_port: int = 6443,
                taints: tuple[str, ...] | None = None) -> str:
    """A worker's JoinConfiguration, or a control plane's with ``certificate_key``. Holds secrets."""
    api = api_version(kubernetes_version)
    doc: dict[str, Any] = {
        "apiVersion": api, "kind": "JoinConfiguration",
        "discovery": {"bootstrapToken": {"apiServerEndpoint": creds.endpoint, "token": creds.token,
                                         "caCertHashes": list(creds.ca_hashes)}},
        "nodeRegistration": _registration(api, node, taints),
    }
    if certificate_key is not None:
        doc["controlPlane"] = {"certificateKey": certificate_key,
                               "localAPIEndpoint": {"advertiseAddress": node.address, "bindPort": api_port}}
    return yamldump.safe_dump(doc, sort_keys=False)


def parse_join_command(text: str, label: str = "") -> JoinCredentials:
    """What ``kubeadm token create --print-join-command`` prints (errors never quote it)."""
    who = f"{label}: " if label else ""
    line = next((ln for ln in text.splitlines() if ln.strip().startswith("kubeadm join")), "")
    try:
        words = shlex.split(line)
    except ValueError:
        words = []
    endpoint = words[2] if len(words) > 2 and not words[2].startswith("-") else ""
    token = next((words[i + 1] for i, w in enumerate(words[:-1]) if w == "--token"), "")
    hashes = tuple(words[i + 1] for i, w in enumerate(words[:-1]) if w == "--discovery-token-ca-cert-hash")
    if not endpoint or not _TOKEN.fullmatch(token) or not hashes or not all(_HASH.fullmatch(h) for h in hashes):
        raise PermanentError(f"{who}kubeadm token create printed no join command this program understands",
                             "run `kubeadm token create --print-join-command` on the first master and check its "
                             "output; the kubeadm version may be unsupported")
    return JoinCredentials(endpoint, token, hashes)


def parse_certificate_key(text: str, label: str = "") -> str:
    """The key ``kubeadm init phase upload-certs --upload-certs`` prints on its last line."""
    for line in reversed(text.splitlines()):
        if re.fullmatch(r"[0-9a-f]{64}", line.strip()):
            return line.strip()
    who = f"{label}: " if label else ""
    raise PermanentError(f"{who}kubeadm printed no certificate key after uploading the certificates",
                         "run `kubeadm init phase upload-certs --upload-certs` on the first master and check its "
                         "output")
