"""Where kubeadm, kubelet and kubectl come from: the Kubernetes apt repository, or a mirror.

The default is the community repository (``pkgs.k8s.io``), one repository per
minor version. An SDC without internet access points ``repository`` at its own
mirror (an apt mirror of the same repository, or any apt repository carrying
the ``kubeadm``, ``kubelet`` and ``kubectl`` packages) and gives the signing
key as a file on the jump host (``key_file``: uploaded, nothing is downloaded)
or a URL the hosts can reach (``key_url``: fetched on each host with curl).
``trusted`` skips signature checks: only for an internal mirror you vouch for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

LIST_FILE = "/etc/apt/sources.list.d/digit-tui-kubernetes.list"
KEY_FILE = "/etc/apt/keyrings/digit-tui-kubernetes.asc"    # armored: apt reads .asc keys as they are
KUBE_PACKAGES = ("kubelet", "kubeadm", "kubectl")
_VERSION = re.compile(r"^\d+\.\d+(\.\d+)?$")


@dataclass(frozen=True)
class Packages:
    kubernetes_version: str = "1.30"        # a minor ("1.30": its latest patch) or an exact version ("1.30.2")
    repository: str | None = None           # default: https://pkgs.k8s.io/core:/stable:/v<minor>/deb/
    suite: str = "/"                        # "/" for flat repositories such as pkgs.k8s.io
    components: tuple[str, ...] = ()        # ("main",) for a classic dists/ repository
    key_url: str | None = None              # default: <repository>Release.key when the repository is the default
    key_file: Path | None = None            # the repository's signing key on the jump host (armored or binary)
    trusted: bool = False                   # no signature check (an internal mirror only)
    containerd_package: str = "containerd"  # Debian's and Ubuntu's; "containerd.io" from Docker's repository

    def __post_init__(self) -> None:
        if not _VERSION.match(self.kubernetes_version):
            raise ValueError(f"kubernetes_version {self.kubernetes_version!r}: expected 1.30 or 1.30.2")
        if self.repository is not None and not self.trusted and self.key_url is None and self.key_file is None:
            raise ValueError("a package mirror needs its signing key (key_file or key_url), or trusted=True")

    @property
    def minor(self) -> str:
        major, minor = self.kubernetes_version.split(".")[:2]
        return f"{major}.{minor}"

    @property
    def minor_number(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    @property
    def exact(self) -> bool:
        return self.kubernetes_version.count(".") == 2

    @property
    def repository_url(self) -> str:
        return self.repository or f"https://pkgs.k8s.io/core:/stable:/v{self.minor}/deb/"

    @property
    def signing_key_url(self) -> str | None:
        if self.key_file is not None or self.trusted:
            return None
        if self.key_url is not None:
            return self.key_url
        return self.repository_url.rstrip("/") + "/Release.key"

    def list_line(self) -> str:
        """The one line of LIST_FILE."""
        option = "[trusted=yes]" if self.trusted else f"[signed-by={KEY_FILE}]"
        parts = ["deb", option, self.repository_url, self.suite, *self.components]
        return " ".join(parts) + "\n"

    def apt_version(self) -> str:
        """What apt-get install pins: ``1.30.*`` or ``1.30.2-*`` (the repository's package revision)."""
        return f"{self.kubernetes_version}-*" if self.exact else f"{self.kubernetes_version}.*"

    def matches(self, version: str | None) -> bool:
        """Whether an installed ``v1.30.2`` is what these settings ask for."""
        if not version:
            return False
        v = version.lstrip("v")
        return v == self.kubernetes_version if self.exact else v.startswith(self.kubernetes_version + ".")
