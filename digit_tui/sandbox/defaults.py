"""Defaulting and the few validations that clients visibly depend on, per resource type.

The real API server fills these in on create/update; `kubectl rollout status`,
controllers and the Python client read them back (spec.replicas, strategy,
clusterIP...), so an object stored without them would behave differently.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from digit_tui.sandbox import resources
from digit_tui.sandbox.resources import ResourceType

if TYPE_CHECKING:
    from digit_tui.sandbox.store import Store

Obj = dict[str, Any]


def _pod_spec(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    if "serviceAccount" in spec and "serviceAccountName" not in spec:
        spec["serviceAccountName"] = spec["serviceAccount"]
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict):
                continue
            image = str(c.get("image", ""))
            tagged = ":" in image.rsplit("/", 1)[-1] or "@" in image
            latest = image.endswith(":latest") or not tagged
            c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            c.setdefault("resources", {})
            for p in c.get("ports") or []:
                if isinstance(p, dict):
                    p.setdefault("protocol", "TCP")


def _template(spec: Obj) -> None:
    tpl = spec.get("template")
    if isinstance(tpl, dict):
        tpl.setdefault("metadata", {})
        if isinstance(tpl.get("spec"), dict):
            _pod_spec(tpl["spec"])


def _qos(spec: Obj) -> str:
    reqs, lims, any_set = [], [], False
    for c in spec.get("containers") or []:
        r = (c.get("resources") or {})
        reqs.append(r.get("requests") or {})
        lims.append(r.get("limits") or {})
        any_set = any_set or bool(r.get("requests") or r.get("limits"))
    if not any_set:
        return "BestEffort"
    guaranteed = all(
        lim.get("cpu") and lim.get("memory") and req.get("cpu", lim["cpu"]) == lim["cpu"]
        and req.get("memory", lim["memory"]) == lim["memory"]
        for req, lim in zip(reqs, lims))
    return "Guaranteed" if guaranteed else "Burstable"


def _check_selector(rt: ResourceType, obj: Obj, old: Obj | None, store: Store) -> None:
    from digit_tui.sandbox.selectors import match_labels
    from digit_tui.sandbox.store import ApiError

    spec = obj.get("spec") or {}
    name = obj["metadata"].get("name", "")
    sel = spec.get("selector")
    tpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not sel:
        raise ApiError.invalid(rt, name, [("spec.selector", "Required value")])
    if not match_labels(sel, tpl_labels):
        raise ApiError.invalid(rt, name, [(
            "spec.template.metadata.labels",
            f"Invalid value: {tpl_labels!r}: `selector` does not match template `labels`")])
    if old is not None and (old.get("spec") or {}).get("selector") != sel:
        raise ApiError.invalid(rt, name, [("spec.selector", f"Invalid value: {sel!r}: field is immutable")])


def apply(rt: ResourceType, obj: Obj, store: Store, *, old: Obj | None = None) -> None:
    """Fill defaults into ``obj`` in place (a private copy owned by the store); may raise ApiError."""
    meta = obj["metadata"]
    spec = obj.get("spec")
    key = rt.key
    if old is None and "status" in rt.subresources and key != resources.NODES.key:
        # Status belongs to controllers: a create cannot set it (nodes excepted, as in the real API).
        obj.pop("status", None)
    if key == resources.NAMESPACES.key:
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        if old is None:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        elif "spec" not in obj and "spec" in old:
            obj["spec"] = old["spec"]
    elif key == resources.PODS.key:
        if isinstance(spec, dict):
            _pod_spec(spec)
        if old is None:
            obj["status"] = {"phase": "Pending", "qosClass": _qos(spec or {})}
    elif key in (resources.DEPLOYMENTS.key, resources.REPLICASETS.key, resources.STATEFULSETS.key,
                 resources.DAEMONSETS.key):
        spec = obj.setdefault("spec", {})
        if key != resources.DAEMONSETS.key:
            spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        if key == resources.DEPLOYMENTS.key:
            spec.setdefault("progressDeadlineSeconds", 600)
            strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strat.get("type", "RollingUpdate") == "RollingUpdate":
                strat["type"] = "RollingUpdate"
                ru = strat.setdefault("rollingUpdate", {})
                ru.setdefault("maxSurge", "25%")
                ru.setdefault("maxUnavailable", "25%")
        elif key == resources.STATEFULSETS.key:
            spec.setdefault("podManagementPolicy", "OrderedReady")
            us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if us.get("type") == "RollingUpdate":
                us.setdefault("rollingUpdate", {"partition": 0})
            spec.setdefault("persistentVolumeClaimRetentionPolicy",
                            {"whenDeleted": "Retain", "whenScaled": "Retain"})
            for pvc in spec.get("volumeClaimTemplates") or []:
                if isinstance(pvc, dict):
                    pvc.setdefault("apiVersion", "v1")
                    pvc.setdefault("kind", "PersistentVolumeClaim")
                    pvc.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        elif key == resources.DAEMONSETS.key:
            us = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
            if us.get("type") == "RollingUpdate":
                us.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        _template(spec)
        _check_selector(rt, obj, old, store)
    elif key == resources.JOBS.key:
        spec = obj.setdefault("spec", {})
        if old is None and "completions" not in spec and "parallelism" not in spec:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        if not spec.get("manualSelector"):
            uid = meta["uid"]
            tpl_meta = spec.setdefault("template", {}).setdefault("metadata", {})
            labels = tpl_meta.setdefault("labels", {})
            for k, v in (("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", meta["name"]),
                         ("controller-uid", uid), ("job-name", meta["name"])):
                labels.setdefault(k, v)
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        _template(spec)
        tspec = (spec.get("template") or {}).get("spec") or {}
        if old is None and tspec.get("restartPolicy") not in ("Never", "OnFailure"):
            from digit_tui.sandbox.store import ApiError
            raise ApiError.invalid(rt, meta["name"], [(
                "spec.template.spec.restartPolicy",
                f'Unsupported value: "{tspec.get("restartPolicy")}": supported values: "OnFailure", "Never"')])
    elif key == resources.CRONJOBS.key:
        spec = obj.setdefault("spec", {})
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        jt = (spec.get("jobTemplate") or {}).get("spec")
        if isinstance(jt, dict):
            _template(jt)
    elif key == resources.SERVICES.key:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        old_spec = (old or {}).get("spec") or {}
        if spec["type"] != "ExternalName":
            if "clusterIP" not in spec or spec.get("clusterIP") == "":
                spec["clusterIP"] = old_spec.get("clusterIP") or store.allocate_cluster_ip()
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {p.get("port"): p for p in old_spec.get("ports") or []}
        for p in spec.get("ports") or []:
            if not isinstance(p, dict):
                continue
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
            if spec["type"] in ("NodePort", "LoadBalancer") and not p.get("nodePort"):
                p["nodePort"] = old_ports.get(p.get("port"), {}).get("nodePort") or store.allocate_node_port()
        if old is None:
            obj["status"] = {"loadBalancer": {}}
    elif key == resources.SECRETS.key:
        string_data = obj.pop("stringData", None)
        if string_data:
            data = obj.setdefault("data", {}) or {}
            obj["data"] = data
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
        obj.setdefault("type", "Opaque")
    elif key == resources.PVCS.key:
        obj.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        if old is None:
            obj["status"] = {"phase": "Pending"}
    elif key == resources.PVS.key:
        spec = obj.setdefault("spec", {})
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        spec.setdefault("volumeMode", "Filesystem")
        if old is None:
            obj["status"] = {"phase": "Available"}
    elif key == resources.STORAGECLASSES.key:
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")
