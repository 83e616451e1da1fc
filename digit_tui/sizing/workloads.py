"""Rendered Kubernetes objects → the workloads the scheduler will have to place.

Per-pod requests follow the scheduler's own rule (``infra.podrequests``): app
containers and sidecars summed, the largest init step if larger, overhead on
top, limits standing in for missing requests as the API server defaults them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from digit_tui.errors import InputError
from digit_tui.infra import podrequests
from digit_tui.sizing.model import ClaimSize, Workload
from digit_tui.sizing.quantity import bytes_of

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}
HOSTNAME_KEY = "kubernetes.io/hostname"


def pod_requests(spec: Mapping[str, Any]) -> tuple[int, int, bool]:
    """Effective (cpu millicores, memory bytes, any-request-unset) of a pod spec, by the scheduler's
    rule (``infra.podrequests``, which the sandbox's scheduler and the fit check use too)."""
    try:
        r = podrequests.pod_requests(spec)
    except ValueError as exc:
        raise InputError(str(exc), expected="e.g. 500m, 2, 384Mi, 1Gi, 1e3") from None
    return r.cpu, r.mem, r.unset


def _one_per_node(spec: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """True when a required pod anti-affinity on the hostname keeps replicas apart."""
    anti = ((spec.get("affinity") or {}).get("podAntiAffinity") or {})
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        if term.get("topologyKey") != HOSTNAME_KEY:
            continue
        match = ((term.get("labelSelector") or {}).get("matchLabels")) or {}
        if match and all(labels.get(k) == v for k, v in match.items()):
            return True
    return False


def _claims(obj: Mapping[str, Any]) -> tuple[ClaimSize, ...]:
    out: list[ClaimSize] = []
    for tpl in (obj.get("spec") or {}).get("volumeClaimTemplates") or []:
        size = (((tpl.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
        if size is not None:
            out.append(ClaimSize((tpl.get("metadata") or {}).get("name", "data"), bytes_of(size), True))
    return tuple(out)


def workloads_from_objects(
    objects: Iterable[Mapping[str, Any]],
    *,
    service: str,
    module: str,
    request_path: frozenset[str] = frozenset(),
    default_namespace: str = "default",
) -> list[Workload]:
    """The workloads among one service's rendered objects.

    Jobs and CronJobs are left out on purpose: they run to completion and do
    not hold capacity in steady state. Standalone PVCs and static PVs are
    attached to the service's first StatefulSet (the classic charts render one
    PV per replica with a claimRef to the StatefulSet's claim).
    """
    found: list[Workload] = []
    loose: list[ClaimSize] = []
    for obj in objects:
        if not isinstance(obj, Mapping):
            continue
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        if kind == "PersistentVolume":
            size = ((obj.get("spec") or {}).get("capacity") or {}).get("storage")
            if size is not None:
                loose.append(ClaimSize(meta.get("name", "pv"), bytes_of(size), False))
            continue
        if kind == "PersistentVolumeClaim":
            size = ((((obj.get("spec") or {}).get("resources") or {}).get("requests")) or {}).get("storage")
            if size is not None:
                loose.append(ClaimSize(meta.get("name", "pvc"), bytes_of(size), False))
            continue
        if kind not in POD_KINDS:
            continue
        spec = obj.get("spec") or {}
        if kind == "Pod":
            pod_spec, labels, replicas = spec, meta.get("labels") or {}, 1
        else:
            template = spec.get("template") or {}
            pod_spec = template.get("spec") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            replicas = 1 if kind == "DaemonSet" else spec.get("replicas", 1)
        if not isinstance(replicas, int) or replicas < 0:
            raise InputError(f"{kind} {meta.get('name')} of {service} has replicas {replicas!r}",
                             expected="a whole number")
        cpu, mem, unset = pod_requests(pod_spec)
        name = str(meta.get("name") or service)
        found.append(
            Workload(
                service=service,
                module=module,
                kind=str(kind),
                namespace=str(meta.get("namespace") or default_namespace),
                name=name,
                replicas=replicas,
                cpu_m=cpu,
                mem_b=mem,
                unset=unset,
                claims=_claims(obj),
                request_path=service in request_path or name in request_path,
                daemonset=kind == "DaemonSet",
                one_per_node=_one_per_node(pod_spec, labels),
            )
        )
    if loose:
        # Static PVs bound to a StatefulSet's claims duplicate its templates; keep
        # whichever says more so a chart that only renders PVs still counts.
        for i, w in enumerate(found):
            if w.kind == "StatefulSet":
                if not w.claims:
                    per = max(c.size_b for c in loose)
                    found[i] = replace(w, claims=(ClaimSize("data", per, True),))
                break
        else:
            if found:
                found[0] = replace(found[0], claims=found[0].claims + tuple(loose))
    return found

