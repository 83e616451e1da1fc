"""The sandbox's resource type registry: built-in Kubernetes types plus CRD-registered ones.

The registry drives discovery, routing and storage: a type that is not here is
not served.  CustomResourceDefinitions add types at runtime (see ``add_crd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ALL_VERBS: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for core
    version: str  # "v1"
    plural: str  # "pods"
    kind: str  # "Pod"
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()  # e.g. ("status", "log") / ("status", "scale")
    categories: tuple[str, ...] = ()  # "all" makes `kubectl get all` include the type
    singular: str = ""
    verbs: tuple[str, ...] = ALL_VERBS
    # additionalPrinterColumns of a CRD (name, type, jsonPath), used for table output
    printer_columns: tuple[tuple[str, str, str], ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    @property
    def key(self) -> tuple[str, str]:
        """Storage identity: group and plural (the version is only a view of it)."""
        return (self.group, self.plural)


def _rt(group: str, plural: str, kind: str, namespaced: bool = True, short: tuple[str, ...] = (),
        sub: tuple[str, ...] = (), cat: tuple[str, ...] = (), version: str = "v1",
        verbs: tuple[str, ...] = ALL_VERBS) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, short, sub, cat, verbs=verbs)


_ALL = ("all",)

NAMESPACES = _rt("", "namespaces", "Namespace", False, ("ns",), ("status", "finalize"),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch"))
PODS = _rt("", "pods", "Pod", True, ("po",), ("status", "log", "binding", "eviction"), _ALL)
SERVICES = _rt("", "services", "Service", True, ("svc",), ("status",), _ALL,
               verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"))
ENDPOINTS = ResourceType("", "v1", "endpoints", "Endpoints", True, ("ep",), singular="endpoints")
CONFIGMAPS = _rt("", "configmaps", "ConfigMap", True, ("cm",))
SECRETS = _rt("", "secrets", "Secret", True)
SERVICEACCOUNTS = _rt("", "serviceaccounts", "ServiceAccount", True, ("sa",), ("token",))
PVS = _rt("", "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",))
PVCS = _rt("", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",))
NODES = _rt("", "nodes", "Node", False, ("no",), ("status", "proxy"))
EVENTS = _rt("", "events", "Event", True, ("ev",))
LIMITRANGES = _rt("", "limitranges", "LimitRange", True, ("limits",))
RESOURCEQUOTAS = _rt("", "resourcequotas", "ResourceQuota", True, ("quota",), ("status",))
REPLICATIONCONTROLLERS = _rt("", "replicationcontrollers", "ReplicationController", True, ("rc",),
                             ("status", "scale"), _ALL)

DEPLOYMENTS = _rt("apps", "deployments", "Deployment", True, ("deploy",), ("status", "scale"), _ALL)
STATEFULSETS = _rt("apps", "statefulsets", "StatefulSet", True, ("sts",), ("status", "scale"), _ALL)
DAEMONSETS = _rt("apps", "daemonsets", "DaemonSet", True, ("ds",), ("status",), _ALL)
REPLICASETS = _rt("apps", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale"), _ALL)
CONTROLLERREVISIONS = _rt("apps", "controllerrevisions", "ControllerRevision", True)

JOBS = _rt("batch", "jobs", "Job", True, (), ("status",), _ALL)
CRONJOBS = _rt("batch", "cronjobs", "CronJob", True, ("cj",), ("status",), _ALL)

INGRESSES = _rt("networking.k8s.io", "ingresses", "Ingress", True, ("ing",), ("status",))
INGRESSCLASSES = _rt("networking.k8s.io", "ingressclasses", "IngressClass", False)
NETWORKPOLICIES = _rt("networking.k8s.io", "networkpolicies", "NetworkPolicy", True, ("netpol",))

STORAGECLASSES = _rt("storage.k8s.io", "storageclasses", "StorageClass", False, ("sc",))

_RBAC = "rbac.authorization.k8s.io"
ROLES = _rt(_RBAC, "roles", "Role", True)
ROLEBINDINGS = _rt(_RBAC, "rolebindings", "RoleBinding", True)
CLUSTERROLES = _rt(_RBAC, "clusterroles", "ClusterRole", False)
CLUSTERROLEBINDINGS = _rt(_RBAC, "clusterrolebindings", "ClusterRoleBinding", False)

PODDISRUPTIONBUDGETS = _rt("policy", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",))
HPAS = _rt("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), ("status",),
           _ALL, version="v2")
HPAS_V1 = _rt("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), ("status",),
              _ALL, version="v1")

CRDS = _rt("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", False,
           ("crd", "crds"), ("status",), ("api-extensions",))
LEASES = _rt("coordination.k8s.io", "leases", "Lease", True)
EVENTS_V1 = _rt("events.k8s.io", "events", "Event", True, ("ev",))

BUILTIN: tuple[ResourceType, ...] = (
    NAMESPACES, PODS, SERVICES, ENDPOINTS, CONFIGMAPS, SECRETS, SERVICEACCOUNTS, PVS, PVCS, NODES, EVENTS,
    LIMITRANGES, RESOURCEQUOTAS, REPLICATIONCONTROLLERS,
    DEPLOYMENTS, STATEFULSETS, DAEMONSETS, REPLICASETS, CONTROLLERREVISIONS,
    JOBS, CRONJOBS,
    INGRESSES, INGRESSCLASSES, NETWORKPOLICIES,
    STORAGECLASSES,
    ROLES, ROLEBINDINGS, CLUSTERROLES, CLUSTERROLEBINDINGS,
    PODDISRUPTIONBUDGETS, HPAS, HPAS_V1,
    CRDS, LEASES, EVENTS_V1,
)

# Groups whose preferred version is not the first one served.
_PREFERRED = {"autoscaling": "v2"}


class Registry:
    """Built-in types plus CRD types added at runtime; lookups are dict hits."""

    def __init__(self) -> None:
        self._by_plural: dict[tuple[str, str, str], ResourceType] = {}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        self._crd_types: dict[str, list[ResourceType]] = {}  # CRD name -> its served versions
        self._crd_schemas: dict[tuple[str, str, str], dict[str, Any]] = {}
        for rt in BUILTIN:
            self._add(rt)

    def _add(self, rt: ResourceType) -> None:
        self._by_plural[(rt.group, rt.version, rt.plural)] = rt
        self._by_kind[(rt.api_version, rt.kind)] = rt

    def _remove(self, rt: ResourceType) -> None:
        self._by_plural.pop((rt.group, rt.version, rt.plural), None)
        if self._by_kind.get((rt.api_version, rt.kind)) == rt:
            del self._by_kind[(rt.api_version, rt.kind)]
        self._crd_schemas.pop((rt.group, rt.version, rt.plural), None)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def by_plural(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_plural.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._by_plural.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first ("" is the core group)."""
        out: dict[str, list[str]] = {}
        for rt in self._by_plural.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        for group, versions in out.items():
            pref = _PREFERRED.get(group)
            if pref in versions:
                versions.remove(pref)
                versions.insert(0, pref)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_plural.values() if rt.group == group and rt.version == version]

    def storage_type(self, rt: ResourceType) -> ResourceType:
        """All versions of one resource share storage; this is the canonical type for it."""
        return rt

    def is_crd_type(self, rt: ResourceType) -> bool:
        return any(rt in types for types in self._crd_types.values())

    def crd_schema(self, rt: ResourceType) -> dict[str, Any] | None:
        return self._crd_schemas.get((rt.group, rt.version, rt.plural))

    def add_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        """Register (or re-register) the served versions of a CustomResourceDefinition."""
        name = crd.get("metadata", {}).get("name", "")
        self.remove_crd(name)
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group", "")
        namespaced = spec.get("scope", "Namespaced") == "Namespaced"
        types: list[ResourceType] = []
        for ver in spec.get("versions") or []:
            if not ver.get("served", True):
                continue
            sub = ver.get("subresources") or spec.get("subresources") or {}
            subs = tuple(s for s in ("status", "scale") if s in sub)
            cols = tuple(
                (str(c.get("name", "")), str(c.get("type", "string")), str(c.get("jsonPath", "")))
                for c in ver.get("additionalPrinterColumns") or spec.get("additionalPrinterColumns") or []
            )
            rt = ResourceType(
                group=group, version=ver.get("name", "v1"), plural=names.get("plural", ""),
                kind=names.get("kind", ""), namespaced=namespaced,
                short_names=tuple(names.get("shortNames") or ()), subresources=subs,
                categories=tuple(names.get("categories") or ()), singular=names.get("singular", ""),
                printer_columns=cols,
            )
            if not rt.plural or not rt.kind:
                continue
            self._add(rt)
            schema = (ver.get("schema") or {}).get("openAPIV3Schema") or (spec.get("validation") or {}).get(
                "openAPIV3Schema")
            if schema:
                self._crd_schemas[(rt.group, rt.version, rt.plural)] = schema
            types.append(rt)
        self._crd_types[name] = types
        return types

    def remove_crd(self, name: str) -> list[ResourceType]:
        types = self._crd_types.pop(name, [])
        for rt in types:
            self._remove(rt)
        return types
