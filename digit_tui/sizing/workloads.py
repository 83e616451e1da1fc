"""Rendered Kubernetes objects → the workloads the scheduler will have to place.

Per-pod requests follow the scheduler's own rule: app containers (and sidecar
init containers, ``restartPolicy: Always``) are summed; each ordinary init
container runs alone (with the sidecars started before it), so the pod needs
the max of those and the app sum; ``spec.overhead`` is added on top. A
container with limits but no requests gets requests = limits (the API server
defaults them that way).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from digit_tui.errors import InputError
from digit_tui.sizing.model import ClaimSize, Workload
from digit_tui.sizing.quantity import bytes_of, cpu_millis

POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Pod"}
HOSTNAME_KEY = "kubernetes.io/hostname"


def _requests(container: Mapping[str, Any]) -> tuple[int, int, bool]:
    res = container.get("resources") or {}
    req = res.get("requests") or {}
    lim = res.get("limits") or {}
    cpu = req.get("cpu", lim.get("cpu"))
    mem = req.get("memory", lim.get("memory"))
    unset = cpu is None or mem is None
    return (cpu_millis(cpu) if cpu is not None else 0, bytes_of(mem) if mem is not None else 0, unset)


def pod_requests(spec: Mapping[str, Any]) -> tuple[int, int, bool]:
    """Effective (cpu millicores, memory bytes, any-request-unset) of a pod spec."""
    unset = False
    side_cpu = side_mem = 0
    init_cpu = init_mem = 0
    for c in spec.get("initContainers") or []:
        cpu, mem, u = _requests(c)
        if c.get("restartPolicy") == "Always":
            unset |= u              # a sidecar runs all along; a one-shot init without requests costs nothing
            side_cpu += cpu
            side_mem += mem
        else:
            init_cpu = max(init_cpu, cpu + side_cpu)
            init_mem = max(init_mem, mem + side_mem)
    app_cpu = side_cpu
    app_mem = side_mem
    for c in spec.get("containers") or []:
        cpu, mem, u = _requests(c)
        unset |= u
        app_cpu += cpu
        app_mem += mem
    overhead = spec.get("overhead") or {}
    cpu = max(app_cpu, init_cpu) + (cpu_millis(overhead["cpu"]) if "cpu" in overhead else 0)
    mem = max(app_mem, init_mem) + (bytes_of(overhead["memory"]) if "memory" in overhead else 0)
    return cpu, mem, unset


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

