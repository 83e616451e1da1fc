"""Convert rendered objects whose apiVersion a cluster no longer serves, as ``kubectl convert`` would.

Charts written for Kubernetes <= 1.21 emit APIs that current clusters refuse
(extensions/v1beta1 Ingress, policy/v1beta1 PodDisruptionBudget, batch/v1beta1
CronJob, rbac v1beta1, apiextensions v1beta1 CRDs, ...). ``convert_objects``
rewrites each object whose apiVersion the target cluster does not serve, but
whose successor it does, into that successor (the per-kind functions are in
``kubeconvert_rules``); PodSecurityPolicy has no successor and is dropped with
a warning. Everything else passes through untouched, in order.

What the cluster serves (:class:`ServedAPIs`) comes from its discovery
documents (``ServedAPIs.from_kube`` / ``from_discovery``) or, offline, from the
table of which release removed which API (``ServedAPIs.for_kube_version("1.30")``).

    served = ServedAPIs.for_kube_version("1.30")
    result = convert_objects(objects, served)
    result.objects      # what to apply
    result.summary()    # "converted 61 objects: 41 Ingress extensions/v1beta1 -> networking.k8s.io/v1, ..."
    result.warnings()   # dropped objects and the notes of converted ones
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from digit_tui.errors import InputError
from digit_tui.infra import kubeconvert_rules as rules
from digit_tui.infra.kubeconvert_rules import Conversion

Obj = dict[str, Any]
GVK = tuple[str, str]   # (apiVersion, kind)

_RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
_WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
_WEBHOOKS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


# -- which release serves what ------------------------------------------------------

@dataclass(frozen=True)
class ApiLifetime:
    """The Kubernetes 1.x minor releases that serve ``kind`` in ``api_version`` by default.

    ``introduced`` None: never served by default (alpha versions, and
    extensions/v1beta1 StatefulSet, which charts emit but no release served).
    ``removed`` None: still served.
    """

    api_version: str
    kind: str
    introduced: int | None
    removed: int | None = None

    def served_in(self, minor: int) -> bool:
        return self.introduced is not None and self.introduced <= minor and (self.removed is None
                                                                              or minor < self.removed)


def _life(api_version: str, kinds: Iterable[str], introduced: int | None, removed: int | None = None
          ) -> list[ApiLifetime]:
    return [ApiLifetime(api_version, k, introduced, removed) for k in kinds]


# From https://kubernetes.io/docs/reference/using-api/deprecation-guide/ (removals, and the
# releases the successors are "available since"). Only the APIs this module converts are listed.
API_LIFETIMES: tuple[ApiLifetime, ...] = (
    *_life("extensions/v1beta1", ["Ingress"], 1, 22),
    *_life("networking.k8s.io/v1beta1", ["Ingress"], 14, 22),
    *_life("networking.k8s.io/v1beta1", ["IngressClass"], 18, 22),
    *_life("networking.k8s.io/v1", ["Ingress", "IngressClass"], 19),
    *_life("extensions/v1beta1", ["NetworkPolicy"], 3, 16),
    *_life("networking.k8s.io/v1", ["NetworkPolicy"], 8),
    *_life("extensions/v1beta1", ["Deployment", "DaemonSet", "ReplicaSet"], 2, 16),
    *_life("extensions/v1beta1", ["StatefulSet"], None),
    *_life("apps/v1beta1", ["Deployment", "StatefulSet"], 6, 16),
    *_life("apps/v1beta1", ["ReplicaSet", "DaemonSet"], None),
    *_life("apps/v1beta2", _WORKLOADS, 8, 16),
    *_life("apps/v1", _WORKLOADS, 9),
    *_life("extensions/v1beta1", ["PodSecurityPolicy"], 3, 16),
    *_life("policy/v1beta1", ["PodSecurityPolicy"], 10, 25),
    *_life("policy/v1beta1", ["PodDisruptionBudget"], 5, 25),
    *_life("policy/v1", ["PodDisruptionBudget"], 21),
    *_life("batch/v2alpha1", ["CronJob"], None),
    *_life("batch/v1beta1", ["CronJob"], 8, 25),
    *_life("batch/v1", ["CronJob"], 21),
    *_life("autoscaling/v2beta1", ["HorizontalPodAutoscaler"], 8, 25),
    *_life("autoscaling/v2beta2", ["HorizontalPodAutoscaler"], 12, 26),
    *_life("autoscaling/v2", ["HorizontalPodAutoscaler"], 23),
    *_life("rbac.authorization.k8s.io/v1alpha1", _RBAC_KINDS, None),
    *_life("rbac.authorization.k8s.io/v1beta1", _RBAC_KINDS, 6, 22),
    *_life("rbac.authorization.k8s.io/v1", _RBAC_KINDS, 8),
    *_life("apiextensions.k8s.io/v1beta1", ["CustomResourceDefinition"], 7, 22),
    *_life("apiextensions.k8s.io/v1", ["CustomResourceDefinition"], 16),
    *_life("admissionregistration.k8s.io/v1beta1", _WEBHOOKS, 9, 22),
    *_life("admissionregistration.k8s.io/v1", _WEBHOOKS, 16),
    *_life("scheduling.k8s.io/v1alpha1", ["PriorityClass"], None),
    *_life("scheduling.k8s.io/v1beta1", ["PriorityClass"], 11, 22),
    *_life("scheduling.k8s.io/v1", ["PriorityClass"], 14),
    *_life("storage.k8s.io/v1beta1", ["StorageClass"], 4, 22),
    *_life("storage.k8s.io/v1", ["StorageClass"], 6),
    *_life("apiregistration.k8s.io/v1beta1", ["APIService"], 7, 22),
    *_life("apiregistration.k8s.io/v1", ["APIService"], 10),
)


# -- the conversions ----------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """How an object of a removed API becomes its successor (``successor`` None: drop it)."""

    successor: str | None
    convert: Callable[[Obj], Conversion] | None
    reason: str = ""    # why an object without a successor is dropped


def _rules() -> dict[GVK, Rule]:
    table: dict[GVK, Rule] = {}
    for old in ("extensions/v1beta1", "networking.k8s.io/v1beta1"):
        table[(old, "Ingress")] = Rule("networking.k8s.io/v1", rules.ingress_to_v1)
    table[("networking.k8s.io/v1beta1", "IngressClass")] = Rule("networking.k8s.io/v1", rules.ingressclass_to_v1)
    table[("extensions/v1beta1", "NetworkPolicy")] = Rule("networking.k8s.io/v1", rules.networkpolicy_to_v1)
    for old in ("extensions/v1beta1", "apps/v1beta1", "apps/v1beta2"):
        for kind in _WORKLOADS:
            table[(old, kind)] = Rule("apps/v1", rules.workload_to_apps_v1)
    table[("policy/v1beta1", "PodDisruptionBudget")] = Rule("policy/v1", rules.pdb_to_v1)
    for old in ("batch/v1beta1", "batch/v2alpha1"):
        table[(old, "CronJob")] = Rule("batch/v1", rules.cronjob_to_batch_v1)
    table[("autoscaling/v2beta1", "HorizontalPodAutoscaler")] = Rule("autoscaling/v2", rules.hpa_v2beta1_to_v2)
    table[("autoscaling/v2beta2", "HorizontalPodAutoscaler")] = Rule("autoscaling/v2", rules.hpa_v2beta2_to_v2)
    for kind in _RBAC_KINDS:
        table[("rbac.authorization.k8s.io/v1beta1", kind)] = Rule("rbac.authorization.k8s.io/v1",
                                                                  rules.rbac_to_v1_from_beta)
        table[("rbac.authorization.k8s.io/v1alpha1", kind)] = Rule("rbac.authorization.k8s.io/v1",
                                                                   rules.rbac_v1alpha1_to_v1)
    table[("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition")] = Rule("apiextensions.k8s.io/v1",
                                                                               rules.crd_to_v1)
    for kind in _WEBHOOKS:
        table[("admissionregistration.k8s.io/v1beta1", kind)] = Rule("admissionregistration.k8s.io/v1",
                                                                     rules.webhooks_to_v1)
    for old in ("scheduling.k8s.io/v1beta1", "scheduling.k8s.io/v1alpha1"):
        table[(old, "PriorityClass")] = Rule("scheduling.k8s.io/v1", rules.priorityclass_to_v1)
    table[("storage.k8s.io/v1beta1", "StorageClass")] = Rule("storage.k8s.io/v1", rules.storageclass_to_v1)
    table[("apiregistration.k8s.io/v1beta1", "APIService")] = Rule("apiregistration.k8s.io/v1", rules.apiservice_to_v1)
    psp = ("PodSecurityPolicy was removed in Kubernetes 1.25 with no successor API; enforce pod security "
           "with Pod Security Admission namespace labels (pod-security.kubernetes.io/enforce) instead")
    for old in ("policy/v1beta1", "extensions/v1beta1"):
        table[(old, "PodSecurityPolicy")] = Rule(None, None, psp)
    return table


RULES: dict[GVK, Rule] = _rules()
# When each API of the table is first served: a chart written for a newer cluster (autoscaling/v2 on
# 1.22) is said before its apply fails with "no matches for kind".
FIRST_SERVED: dict[GVK, int] = {(life.api_version, life.kind): life.introduced for life in API_LIFETIMES
                                if life.introduced is not None}
# The API groups a conversion involves: discovery needs to read only these.
GROUPS: frozenset[str] = frozenset(
    api_version.rpartition("/")[0]
    for (old, _), rule in RULES.items() for api_version in (old, rule.successor or "") if "/" in api_version)


# -- what a cluster serves -------------------------------------------------------------

class _Requester(Protocol):
    def request(self, method: str, path: str) -> Any: ...


_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+].*)?$")


def parse_minor(version: str) -> int:
    """``"1.30"`` / ``"v1.30.14"`` / ``"1.30.2-eks-1"`` -> 30; anything else is bad input."""
    match = _VERSION.match(str(version).strip())
    if not match or match.group(1) != "1":
        raise InputError(f"not a Kubernetes version: {version!r}", expected="a version like 1.30")
    return int(match.group(2))


@dataclass(frozen=True)
class ServedAPIs:
    """The (apiVersion, kind) pairs a cluster serves.

    Built offline from :data:`API_LIFETIMES` it knows only the kinds listed
    there, which are the only ones :func:`convert_objects` asks about.
    """

    kinds: frozenset[GVK]
    source: str = ""     # "discovery" or "Kubernetes 1.30 (offline table)": for messages

    def serves(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.kinds

    @classmethod
    def for_kube_version(cls, version: str) -> ServedAPIs:
        minor = parse_minor(version)
        served = frozenset((life.api_version, life.kind) for life in API_LIFETIMES if life.served_in(minor))
        return cls(served, f"Kubernetes 1.{minor} (offline table)")

    @classmethod
    def from_discovery(cls, discovery: Mapping[str, Iterable[str]] | Iterable[Any]) -> ServedAPIs:
        """From discovery data in any of these shapes:

        * ``{"apps/v1": ["Deployment", ...], ...}``;
        * ``[("apps/v1", ["Deployment", ...]), ...]``;
        * ``APIResourceList`` documents as ``/apis/<group>/<version>`` returns them
          (``{"groupVersion": "apps/v1", "resources": [{"name": "deployments", "kind": "Deployment"}, ...]}``);
        * ``"apps/v1/Deployment"`` strings (``"v1/Pod"`` for the core group).
        """
        kinds: set[GVK] = set()
        items: Iterable[Any] = discovery.items() if isinstance(discovery, Mapping) else discovery
        for item in items:
            if isinstance(item, str):
                gv, _, kind = item.rpartition("/")
                if not gv or not kind:
                    raise ValueError(f"not group/version/Kind: {item!r}")
                kinds.add((gv, kind))
            elif isinstance(item, Mapping):
                gv = str(item.get("groupVersion") or "")
                for res in item.get("resources") or []:
                    if isinstance(res, Mapping) and "/" not in str(res.get("name", "")) and res.get("kind"):
                        kinds.add((gv, str(res["kind"])))
            else:
                gv, names = item
                kinds.update((str(gv), str(k)) for k in names)
        return cls(frozenset(kinds), "discovery")

    @classmethod
    def from_kube(cls, kube: _Requester) -> ServedAPIs:
        """Ask the cluster (a :class:`digit_tui.infra.kube.Kube`): one request for the group
        list, then one per served version of the groups a conversion involves."""
        groups = kube.request("GET", "/apis") or {}
        docs: list[Any] = []
        for group in groups.get("groups") or []:
            if group.get("name") not in GROUPS:
                continue
            for ver in group.get("versions") or []:
                gv = str(ver.get("groupVersion") or f"{group['name']}/{ver.get('version')}")
                try:
                    doc = kube.request("GET", f"/apis/{gv}") or {}
                except Exception as exc:
                    if getattr(exc, "status", None) == 404:   # a version dropped between the two requests
                        continue
                    raise
                docs.append({"groupVersion": gv, "resources": doc.get("resources") or []})
        return cls.from_discovery(docs)


def served_for_version(version: str) -> ServedAPIs:
    """What a Kubernetes ``version`` ("1.30") serves, from the removal table (no cluster needed)."""
    return ServedAPIs.for_kube_version(version)


# -- the result ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    @classmethod
    def of(cls, obj: Obj) -> ObjectRef:
        meta = obj.get("metadata") or {}
        return cls(str(obj.get("apiVersion")), str(obj.get("kind")), str(meta.get("name") or "?"),
                   str(meta["namespace"]) if meta.get("namespace") else None)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where} ({self.api_version})"


@dataclass(frozen=True)
class ConvertedObject:
    ref: ObjectRef           # as rendered
    to_api_version: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DroppedObject:
    ref: ObjectRef
    reason: str


@dataclass(frozen=True)
class UnservedObject:
    """The cluster serves neither the object's API nor its successor: left as is (applying it will fail)."""

    ref: ObjectRef
    successor: str | None     # None: an API newer than the cluster (no older one to convert to)

    def why(self, cluster: str) -> str:
        if self.successor:
            return f"{cluster} serves neither {self.ref.api_version} nor {self.successor}"
        since = FIRST_SERVED.get((self.ref.api_version, self.ref.kind))
        return f"{cluster} does not serve {self.ref.api_version}" + (
            f" (Kubernetes 1.{since} and later do)" if since else "")


@dataclass(frozen=True)
class ConversionCount:
    kind: str
    from_api_version: str
    to_api_version: str
    count: int

    def __str__(self) -> str:
        return f"{self.count} {self.kind} {self.from_api_version} -> {self.to_api_version}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@dataclass
class ConversionResult:
    objects: list[Obj]                                   # to apply: input order, converted in place, dropped gone
    converted: list[ConvertedObject] = field(default_factory=list)
    dropped: list[DroppedObject] = field(default_factory=list)
    unserved: list[UnservedObject] = field(default_factory=list)

    def counts(self) -> list[ConversionCount]:
        """Converted objects per (kind, from, to), most frequent first (ties: first seen first)."""
        tally: dict[tuple[str, str, str], int] = {}
        for c in self.converted:
            key = (c.ref.kind, c.ref.api_version, c.to_api_version)
            tally[key] = tally.get(key, 0) + 1
        order = list(tally)
        ranked = sorted(order, key=lambda k: (-tally[k], order.index(k)))
        return [ConversionCount(k[0], k[1], k[2], tally[k]) for k in ranked]

    def summary(self) -> str:
        """``converted 61 objects: 41 Ingress extensions/v1beta1 -> networking.k8s.io/v1, ...``
        (and ``; dropped 3 objects: 3 PodSecurityPolicy policy/v1beta1 (no successor)`` when any were)."""
        text = f"converted {_plural(len(self.converted), 'object')}"
        if self.converted:
            text += ": " + ", ".join(str(c) for c in self.counts())
        if self.dropped:
            tally: dict[tuple[str, str], int] = {}
            for d in self.dropped:
                tally[(d.ref.kind, d.ref.api_version)] = tally.get((d.ref.kind, d.ref.api_version), 0) + 1
            text += f"; dropped {_plural(len(self.dropped), 'object')}: " + ", ".join(
                f"{n} {kind} {gv} (no successor)" for (kind, gv), n in tally.items())
        return text

    def warnings(self) -> list[str]:
        """One line per thing the operator should read: dropped, unserved, and notes on converted objects."""
        out = [f"dropped {d.ref}: {d.reason}" for d in self.dropped]
        out += [f"{u.ref}: {u.why('the cluster')}" for u in self.unserved]
        out += [f"{c.ref} -> {c.to_api_version}: {note}" for c in self.converted for note in c.notes]
        return out


def needs_conversion(obj: Obj, served: ServedAPIs) -> bool:
    """Whether ``convert_objects`` would change or drop ``obj`` for this cluster."""
    rule = RULES.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if rule is None or served.serves(str(obj.get("apiVersion")), str(obj.get("kind"))):
        return False
    return rule.successor is None or served.serves(rule.successor, str(obj.get("kind")))


def convert_objects(objects: Sequence[Obj], served: ServedAPIs) -> ConversionResult:
    """Convert every object the cluster does not serve but whose successor it does; drop those
    without a successor (PodSecurityPolicy); pass the rest through. The input is not changed."""
    result = ConversionResult(objects=[])
    for obj in objects:
        api_version, kind = str(obj.get("apiVersion")), str(obj.get("kind"))
        rule = RULES.get((api_version, kind))
        if served.serves(api_version, kind) or (rule is None and (api_version, kind) not in FIRST_SERVED):
            result.objects.append(obj)
        elif rule is None:
            result.unserved.append(UnservedObject(ObjectRef.of(obj), None))     # newer than the cluster
            result.objects.append(obj)
        elif rule.successor is None:
            result.dropped.append(DroppedObject(ObjectRef.of(obj), rule.reason))
        elif rule.convert is None or not served.serves(rule.successor, kind):
            result.unserved.append(UnservedObject(ObjectRef.of(obj), rule.successor))
            result.objects.append(obj)
        else:
            conversion = rule.convert(obj)
            result.objects.append(conversion.object)
            result.converted.append(ConvertedObject(ObjectRef.of(obj), rule.successor, conversion.notes))
    return result
