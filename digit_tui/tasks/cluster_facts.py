"""What the cluster phase reads from a cluster before any later task may use it, and what it demands.

Facts (server version, nodes and their Ready condition, StorageClasses) are read through
``infra.kube`` and judged against ``Requirements``. A judgement is a list of ``Problem``s: the
ones waiting can fix (a node still joining, NotReady for now) are ``waitable``; the others need
the operator. API failures become the engine's errors here, classified by ``infra.failures``:
a certificate, the credentials or the rights are permanent with a remedy; a refused or silent
API server is transient, and the task then waits for exactly that server.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from digit_tui import yamlload
from digit_tui.engine.task import Endpoint
from digit_tui.errors import PermanentError, TaskError, TransientError
from digit_tui.infra.failures import explain, failure_of
from digit_tui.infra.kube import Kube, KubeError, status_message

# digit-tui applies every object with server-side apply (GA in 1.22), and converts DIGIT's
# charts to networking.k8s.io/v1 Ingress, policy/v1 PodDisruptionBudget and batch/v1 CronJob,
# all served from 1.21/1.22 on.
MIN_VERSION = (1, 22)
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
AGAIN = "then run `digit-tui install` again"


@dataclass(frozen=True)
class ServerVersion:
    major: int
    minor: int
    git_version: str            # as the server says it ("v1.27.16-eks-a18cd3a")

    def at_least(self, wanted: tuple[int, int]) -> bool:
        return (self.major, self.minor) >= wanted


@dataclass(frozen=True)
class NodeFact:
    name: str
    ready: bool
    why: str = ""               # the Ready condition's reason and message when not Ready


@dataclass(frozen=True)
class StorageClassFact:
    name: str
    default: bool
    provisioner: str


@dataclass(frozen=True)
class ClusterFacts:
    server: str
    version: ServerVersion
    nodes: tuple[NodeFact, ...]
    storage_classes: tuple[StorageClassFact, ...]

    @property
    def not_ready(self) -> list[NodeFact]:
        return [n for n in self.nodes if not n.ready]

    def summary(self) -> str:
        ready = len(self.nodes) - len(self.not_ready)
        default = [s.name for s in self.storage_classes if s.default]
        sc = f"default StorageClass {default[0]}" if default else "no default StorageClass"
        return f"Kubernetes {self.version.git_version} at {self.server}, {ready}/{len(self.nodes)} nodes Ready, {sc}"


@dataclass(frozen=True)
class Requirements:
    """What a cluster must offer. ``storage_class``: the one the answers name (storage.storage_class);
    without one, ``default_class`` asks for a default StorageClass (dynamic volumes need it)."""

    storage_class: str | None = None
    default_class: bool = True
    min_version: tuple[int, int] = MIN_VERSION


@dataclass(frozen=True)
class Problem:
    message: str
    remedy: str
    waitable: bool = False      # a node joining or coming back: waiting can fix it


# -- reading -------------------------------------------------------------------------------

_NUMBER = re.compile(r"\d+")


def parse_version(doc: Mapping[str, Any]) -> ServerVersion:
    """``GET /version`` as numbers. Managed clusters say minor "27+" (EKS, GKE); the gitVersion
    (v1.27.16-eks-...) is the fallback when major/minor are missing. ValueError if neither parses."""
    git = str(doc.get("gitVersion") or "")
    major = _NUMBER.match(str(doc.get("major") or ""))
    minor = _NUMBER.match(str(doc.get("minor") or ""))
    if major and minor:
        return ServerVersion(int(major.group()), int(minor.group()), git or f"v{major.group()}.{minor.group()}")
    m = re.match(r"v?(\d+)\.(\d+)", git)
    if m:
        return ServerVersion(int(m.group(1)), int(m.group(2)), git)
    raise ValueError(f"the API server's /version says neither major/minor nor gitVersion: {dict(doc)!r}"[:200])


def node_fact(obj: Mapping[str, Any]) -> NodeFact:
    name = str((obj.get("metadata") or {}).get("name", ""))
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            if cond.get("status") == "True":
                return NodeFact(name, True)
            why = ": ".join(str(x) for x in (cond.get("reason"), cond.get("message")) if x)
            return NodeFact(name, False, why or f"Ready is {cond.get('status')}")
    return NodeFact(name, False, "no Ready condition yet (kubelet not registered)")


def storage_class_fact(obj: Mapping[str, Any]) -> StorageClassFact:
    meta = obj.get("metadata") or {}
    ann = meta.get("annotations") or {}
    default = any(str(ann.get(a, "")).lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS)
    return StorageClassFact(str(meta.get("name", "")), default, str(obj.get("provisioner", "")))


def read_facts(kube: Kube) -> ClusterFacts:
    """Version, nodes and StorageClasses (blocking: run it in a thread). Raises the client's errors."""
    version = parse_version(kube.version())
    nodes, _ = kube.list(kube.resource("v1", "Node"))
    classes, _ = kube.list(kube.resource("storage.k8s.io/v1", "StorageClass"))
    return ClusterFacts(kube.server, version, tuple(sorted((node_fact(n) for n in nodes), key=lambda n: n.name)),
                        tuple(sorted((storage_class_fact(s) for s in classes), key=lambda s: s.name)))


# -- judging -------------------------------------------------------------------------------

def _names(items: Iterable[str]) -> str:
    return ", ".join(items) or "(none)"


def problems(facts: ClusterFacts, req: Requirements) -> list[Problem]:
    out: list[Problem] = []
    v = facts.version
    if not v.at_least(req.min_version):
        want = f"{req.min_version[0]}.{req.min_version[1]}"
        out.append(Problem(
            f"the cluster runs Kubernetes {v.git_version}; digit-tui needs {want} or newer (it applies with "
            "server-side apply and converts DIGIT's charts to the v1 Ingress, PodDisruptionBudget and CronJob APIs)",
            f"upgrade the cluster to Kubernetes {want} or newer, or install into another cluster"))
    if not facts.nodes:
        out.append(Problem("the cluster has no nodes", "join worker nodes to the cluster (they may still be "
                           f"registering), {AGAIN}", waitable=True))
    bad = facts.not_ready
    if bad:
        detail = "; ".join(f"{n.name} ({n.why})" if n.why else n.name for n in bad)
        gone = " ".join(n.name for n in bad)
        out.append(Problem(
            f"{len(bad)} of {len(facts.nodes)} nodes are not Ready: {detail}",
            f"bring them back (kubelet, container runtime, network: `kubectl describe node {bad[0].name}`), or "
            f"remove the ones that are gone (`kubectl delete node {gone}`), {AGAIN}", waitable=True))
    names = [s.name for s in facts.storage_classes]
    if req.storage_class is not None:
        if req.storage_class not in names:
            out.append(Problem(
                f"the StorageClass {req.storage_class} named by storage.storage_class is not in the cluster "
                f"(it has: {_names(names)})",
                f"create the StorageClass {req.storage_class}, or set storage.storage_class to one of the "
                f"cluster's, {AGAIN}"))
    elif req.default_class and not any(s.default for s in facts.storage_classes):
        out.append(Problem(
            f"the cluster has no default StorageClass (it has: {_names(names)}), and dynamic volumes need one",
            "set storage.storage_class to one of the cluster's StorageClasses, or mark one as the default "
            "(`kubectl annotate storageclass NAME storageclass.kubernetes.io/is-default-class=true`), "
            f"{AGAIN}"))
    return out


def raise_for(found: Sequence[Problem]) -> None:
    """The problems as one permanent error (waitable ones included: the caller waited already)."""
    if found:
        raise PermanentError("; ".join(p.message for p in found),
                             remedy="; ".join(dict.fromkeys(p.remedy for p in found)))


# -- kubeconfigs ---------------------------------------------------------------------------

def kubeconfig_doc(text: str, where: str) -> dict[str, Any]:
    """A kubeconfig's YAML as a mapping with clusters, users and contexts; PermanentError naming
    ``where`` (never the content: it holds credentials)."""
    try:
        doc = yamlload.safe_load(text)
    except Exception:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("contexts"), list) or not doc.get("clusters"):
        raise PermanentError(f"{where} is not a kubeconfig (expected YAML with clusters, users and contexts)",
                             remedy=f"make {where} a kubeconfig file's text, {AGAIN}")
    return doc


def context_of(doc: Mapping[str, Any], where: str, wanted: str | None = None) -> str:
    """The context to use: ``wanted``, else the current-context, else the only one there is."""
    names = [str(c.get("name")) for c in doc.get("contexts") or () if isinstance(c, dict) and c.get("name")]
    if wanted is not None:
        if wanted not in names:
            raise PermanentError(f"the context {wanted} is not in {where} (it has: {_names(names)})",
                                 remedy=f"set target.context to one of them, {AGAIN}")
        return wanted
    current = doc.get("current-context")
    if current:
        if str(current) not in names:
            raise PermanentError(f"the current-context {current} of {where} is not one of its contexts "
                                 f"({_names(names)})", remedy=f"fix current-context in {where}, or set target.context")
        return str(current)
    if len(names) == 1:
        return names[0]
    raise PermanentError(f"{where} names no current-context and has {len(names)} contexts ({_names(names)})",
                         remedy=f"set target.context to the one to install into, {AGAIN}")


def read_kubeconfig(path: Path, wanted_context: str | None = None) -> str:
    """The context to use from the kubeconfig file at ``path`` (PermanentError if it is unusable)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise PermanentError(f"the kubeconfig {path} does not exist",
                             remedy=f"set target.kubeconfig to the cluster's kubeconfig file, {AGAIN}") from None
    except OSError as exc:
        raise PermanentError(f"cannot read the kubeconfig {path}: {exc.strerror}",
                             remedy=f"make {path} readable by this user, {AGAIN}") from None
    return context_of(kubeconfig_doc(text, f"the kubeconfig {path}"), f"the kubeconfig {path}", wanted_context)


# -- connecting ----------------------------------------------------------------------------

def connect(kubeconfig: Path, context: str, *, read_timeout: float = 15.0) -> Kube:
    """A client for the context (no request made yet); PermanentError for an unusable kubeconfig."""
    try:
        return Kube(kubeconfig, context, timeout=read_timeout)
    except Exception as exc:   # kubernetes.config.ConfigException: a broken user, cluster or exec plugin
        raise PermanentError(f"cannot use the context {context} of the kubeconfig {kubeconfig}: "
                             f"{status_message(exc)}", remedy=f"fix the kubeconfig {kubeconfig}, {AGAIN}") from None


def api_endpoint(server: str) -> Endpoint | None:
    """The API server as the network probe's endpoint (GET /readyz over TLS)."""
    url = urlsplit(server)
    if not url.hostname:
        return None
    port = url.port or (443 if url.scheme == "https" else 80)
    return Endpoint(url.hostname, port, "cluster API", scheme="https" if url.scheme != "http" else "tcp")


def api_error(what: str, exc: BaseException, kube: Kube) -> TaskError:
    """One line for a failed API call: permanent with a remedy for a certificate, credentials,
    rights or an unknown host name; transient (the engine retries, then waits for the API server)
    for a refused, reset or silent connection and for a failing server."""
    if isinstance(exc, TaskError):
        return exc
    failure = failure_of(exc)
    if failure is not None:
        problem, remedy = explain(failure, kube.kubeconfig, kube.server)
        if failure.transient:
            return TransientError(f"{what}: {problem}", remedy=remedy)
        return PermanentError(f"{what}: {problem}", remedy=f"{remedy}; {AGAIN}")
    if isinstance(exc, (KubeError, ValueError)):
        return PermanentError(f"{what}: {exc}", remedy=f"check that {kube.server} is a Kubernetes API server")
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status == 404:
        return PermanentError(f"{what}: {status_message(exc)} (HTTP 404)",
                              remedy=f"check that the server in {kube.kubeconfig} is a Kubernetes API server")
    return PermanentError(f"{what}: {status_message(exc)}", remedy=f"check the cluster at {kube.server}, {AGAIN}")
