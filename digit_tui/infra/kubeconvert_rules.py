"""One pure function per removed Kubernetes API: a rendered object in, its successor out.

Each function takes an object as a chart renders it (a dict) and returns a
:class:`Conversion`: a new object in the successor apiVersion (the input is
never changed) and notes about anything the operator should know (a default
that had to be chosen, a field that could not be carried over).

Where the old API defaulted a field differently from its successor, the old
default is written out explicitly, as ``kubectl convert`` does (it prints the
defaulted object), so the workload behaves on the new API as it did on the old
one. Which defaults these are is in docs/kube-convert.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from digit_tui.infra.crdschema import PERMISSIVE_SCHEMA, make_structural

Obj = dict[str, Any]
MAX_INT32 = 2147483647  # what extensions/v1beta1 meant by "no deadline" and "keep every revision"


@dataclass(frozen=True)
class Conversion:
    """The converted object and what the operator should know about it."""

    object: Obj
    notes: tuple[str, ...] = field(default=())


def _fresh(obj: Obj, api_version: str) -> Obj:
    """A deep copy with the new apiVersion in the same position (so dumped YAML reads the same)."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = api_version
    return out


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    return spec


# -- only the apiVersion changes ---------------------------------------------

def same_shape(target: str) -> Callable[[Obj], Conversion]:
    """For APIs whose successor has the same fields (RBAC v1beta1, PriorityClass, StorageClass, ...)."""
    def convert(obj: Obj) -> Conversion:
        return Conversion(_fresh(obj, target))
    convert.__name__ = f"to_{target.replace('/', '_').replace('.', '_')}"
    convert.__doc__ = f"Same fields in {target}: only apiVersion changes."
    return convert


rbac_to_v1_from_beta = same_shape("rbac.authorization.k8s.io/v1")
priorityclass_to_v1 = same_shape("scheduling.k8s.io/v1")
storageclass_to_v1 = same_shape("storage.k8s.io/v1")
cronjob_to_batch_v1 = same_shape("batch/v1")
networkpolicy_to_v1 = same_shape("networking.k8s.io/v1")
ingressclass_to_v1 = same_shape("networking.k8s.io/v1")
hpa_v2beta2_to_v2 = same_shape("autoscaling/v2")
apiservice_to_v1 = same_shape("apiregistration.k8s.io/v1")


def rbac_v1alpha1_to_v1(obj: Obj) -> Conversion:
    """rbac v1alpha1 subjects carried ``apiVersion``; v1 has ``apiGroup`` (empty for ServiceAccounts)."""
    out = _fresh(obj, "rbac.authorization.k8s.io/v1")
    for subject in out.get("subjects") or []:
        if isinstance(subject, dict) and "apiVersion" in subject:
            subject.pop("apiVersion")
            if subject.get("kind") == "ServiceAccount":
                subject.setdefault("apiGroup", "")
            else:
                subject.setdefault("apiGroup", "rbac.authorization.k8s.io")
    return Conversion(out)


# -- Ingress ------------------------------------------------------------------

def _backend_v1(old: Any, where: str, notes: list[str]) -> Any:
    """``serviceName``/``servicePort`` -> ``service: {name, port: {number|name}}``; ``resource`` stays."""
    if not isinstance(old, dict):
        return old
    new: Obj = {k: v for k, v in old.items() if k not in ("serviceName", "servicePort")}
    if "serviceName" in old or "servicePort" in old:
        service: Obj = {"name": old.get("serviceName")}
        port = old.get("servicePort")
        if isinstance(port, bool) or port is None:
            notes.append(f"{where}: servicePort is missing; networking.k8s.io/v1 requires a port")
        elif isinstance(port, int):
            service["port"] = {"number": port}
        elif isinstance(port, str) and port.isdigit():
            # A quoted number was never a valid port name; the chart meant the number.
            service["port"] = {"number": int(port)}
            notes.append(f"{where}: servicePort {port!r} (a string) taken as port number {int(port)}")
        else:
            service["port"] = {"name": str(port)}
        new = {"service": service, **new}
    return new


def ingress_to_v1(obj: Obj) -> Conversion:
    """Ingress extensions/v1beta1 or networking.k8s.io/v1beta1 -> networking.k8s.io/v1.

    ``spec.backend`` becomes ``spec.defaultBackend``; every backend's
    ``serviceName``/``servicePort`` becomes ``service.name`` and ``service.port.number``
    (a number) or ``service.port.name`` (a name); a path without ``pathType``
    gets ``ImplementationSpecific``, which is what v1beta1 did. ``tls``,
    ``ingressClassName`` and every annotation (``kubernetes.io/ingress.class``
    too: v1 still honours it) stay as they are.
    """
    out = _fresh(obj, "networking.k8s.io/v1")
    spec = _spec(out)
    notes: list[str] = []
    if "backend" in spec:
        items = list(spec.items())
        spec.clear()
        for key, value in items:
            if key == "backend":
                spec["defaultBackend"] = _backend_v1(value, "spec.backend", notes)
            else:
                spec[key] = value
    elif "defaultBackend" in spec:
        spec["defaultBackend"] = _backend_v1(spec["defaultBackend"], "spec.defaultBackend", notes)
    for r, rule in enumerate(spec.get("rules") or []):
        http = rule.get("http") if isinstance(rule, dict) else None
        for p, path in enumerate((http or {}).get("paths") or []):
            if not isinstance(path, dict):
                continue
            if "backend" in path:
                path["backend"] = _backend_v1(path["backend"], f"spec.rules[{r}].http.paths[{p}].backend", notes)
            path.setdefault("pathType", "ImplementationSpecific")
    return Conversion(out, tuple(notes))


# -- workloads ----------------------------------------------------------------

def _selector_from_template(spec: Obj, notes: list[str]) -> None:
    """Old APIs defaulted the selector to the template's labels; apps/v1 requires it."""
    if spec.get("selector"):
        return
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if isinstance(labels, dict) and labels:
        spec["selector"] = {"matchLabels": dict(labels)}
    else:
        notes.append("no spec.selector and no template labels to make one from; apps/v1 requires a selector")


def workload_to_apps_v1(obj: Obj) -> Conversion:
    """Deployment, StatefulSet, DaemonSet, ReplicaSet from extensions/v1beta1, apps/v1beta1 or apps/v1beta2 -> apps/v1.

    The selector is made from the template labels when missing (what the old
    APIs defaulted it to); fields apps/v1 removed (``spec.rollbackTo``,
    ``spec.templateGeneration``) are dropped; old defaults that apps/v1 changed
    are written out when the object does not set them.
    """
    old_version = str(obj.get("apiVersion"))
    kind = str(obj.get("kind"))
    out = _fresh(obj, "apps/v1")
    spec = _spec(out)
    notes: list[str] = []
    if spec.pop("rollbackTo", None) is not None:
        notes.append("spec.rollbackTo dropped (apps/v1 has no rollback request; use `kubectl rollout undo`)")
    spec.pop("templateGeneration", None)
    _selector_from_template(spec, notes)

    if kind == "Deployment" and old_version == "extensions/v1beta1":
        spec.setdefault("revisionHistoryLimit", MAX_INT32)
        spec.setdefault("progressDeadlineSeconds", MAX_INT32)
        strategy = spec.setdefault("strategy", {})
        if isinstance(strategy, dict) and strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxUnavailable", 1)
                rolling.setdefault("maxSurge", 1)
    elif kind == "Deployment" and old_version == "apps/v1beta1":
        spec.setdefault("revisionHistoryLimit", 2)
    elif kind == "DaemonSet" and old_version == "extensions/v1beta1":
        spec.setdefault("updateStrategy", {"type": "OnDelete"})
    elif kind == "StatefulSet" and old_version == "apps/v1beta1":
        spec.setdefault("updateStrategy", {"type": "OnDelete"})
    return Conversion(out, tuple(notes))


# -- PodDisruptionBudget --------------------------------------------------------

def pdb_to_v1(obj: Obj) -> Conversion:
    """PodDisruptionBudget policy/v1beta1 -> policy/v1.

    An empty selector (``{}``) selected no pods in v1beta1 and selects every
    pod of the namespace in v1; it is removed, so the budget still covers no pods.
    """
    out = _fresh(obj, "policy/v1")
    spec = _spec(out)
    notes: list[str] = []
    selector = spec.get("selector")
    if isinstance(selector, dict) and not selector.get("matchLabels") and not selector.get("matchExpressions"):
        spec.pop("selector")
        notes.append("empty spec.selector removed (it selected no pods in policy/v1beta1 and would select "
                     "every pod of the namespace in policy/v1)")
    return Conversion(out, tuple(notes))


# -- HorizontalPodAutoscaler ---------------------------------------------------

def _target(metric: Obj, *, utilization: str | None = None, average: str | None = None,
            value: str | None = None) -> Obj | None:
    """The v2 ``target`` from whichever v2beta1 target field is set (the keys named here are removed)."""
    if utilization and utilization in metric:
        return {"type": "Utilization", "averageUtilization": metric.pop(utilization)}
    if average and average in metric:
        return {"type": "AverageValue", "averageValue": metric.pop(average)}
    if value and value in metric:
        return {"type": "Value", "value": metric.pop(value)}
    return None


def _metric_id(src: Obj, name_key: str, selector_key: str) -> Obj:
    ident: Obj = {"name": src.pop(name_key, None)}
    selector = src.pop(selector_key, None)
    if selector is not None:
        ident["selector"] = selector
    return ident


def _metric_v2(metric: Any, where: str, notes: list[str]) -> Any:
    if not isinstance(metric, dict):
        return metric
    mtype = metric.get("type")
    key = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
           "Object": "object", "External": "external"}.get(str(mtype))
    src = metric.get(key) if key else None
    if not isinstance(src, dict):
        return metric
    src = dict(src)
    new: Obj
    if key in ("resource", "containerResource"):
        target = _target(src, utilization="targetAverageUtilization", average="targetAverageValue")
        new = {**src, "target": target} if target else src
    elif key == "pods":
        target = _target(src, average="targetAverageValue")
        new = {"metric": _metric_id(src, "metricName", "selector"), **({"target": target} if target else {})}
    elif key == "object":
        described = src.pop("target", None)
        target = _target(src, average="averageValue", value="targetValue")
        new = {"describedObject": described, "metric": _metric_id(src, "metricName", "selector"),
               **({"target": target} if target else {})}
    else:  # external
        target = _target(src, average="targetAverageValue", value="targetValue")
        new = {"metric": _metric_id(src, "metricName", "metricSelector"), **({"target": target} if target else {})}
    if "target" not in new:
        notes.append(f"{where}: no target value to carry over; autoscaling/v2 requires one")
    return {**metric, key: new}


def hpa_v2beta1_to_v2(obj: Obj) -> Conversion:
    """HorizontalPodAutoscaler autoscaling/v2beta1 -> autoscaling/v2.

    Each metric's ``targetAverageUtilization`` / ``targetAverageValue`` /
    ``targetValue`` becomes ``target: {type: Utilization|AverageValue|Value, ...}``;
    ``metricName`` (+ ``selector`` / ``metricSelector``) becomes ``metric: {name, selector}``;
    an Object metric's ``target`` reference becomes ``describedObject``. The
    status (a v2beta1 shape, and owned by the controller) is dropped.
    """
    out = _fresh(obj, "autoscaling/v2")
    out.pop("status", None)
    spec = _spec(out)
    notes: list[str] = []
    if isinstance(spec.get("metrics"), list):
        spec["metrics"] = [_metric_v2(m, f"spec.metrics[{i}]", notes) for i, m in enumerate(spec["metrics"])]
    return Conversion(out, tuple(notes))


# -- admission webhooks ---------------------------------------------------------

# sideEffects in v1 must be None or NoneOnDryRun: the closest to each v1beta1 value.
_SIDE_EFFECTS = {"Unknown": "None", "Some": "NoneOnDryRun", "None": "None", "NoneOnDryRun": "NoneOnDryRun"}


def webhooks_to_v1(obj: Obj) -> Conversion:
    """Validating/MutatingWebhookConfiguration admissionregistration.k8s.io/v1beta1 -> v1.

    The v1beta1 defaults that v1 changed are written out where the object does
    not set them (failurePolicy Ignore, matchPolicy Exact, timeoutSeconds 30,
    admissionReviewVersions [v1beta1]); v1 has no default for sideEffects and
    accepts only None or NoneOnDryRun: Unknown (the v1beta1 default) becomes
    None and Some becomes NoneOnDryRun, each with a note, because the webhook
    will now also be called for dry-run requests.
    """
    out = _fresh(obj, "admissionregistration.k8s.io/v1")
    notes: list[str] = []
    seen: set[str] = set()
    for i, hook in enumerate(out.get("webhooks") or []):
        if not isinstance(hook, dict):
            continue
        hname = str(hook.get("name") or f"webhooks[{i}]")
        if hname in seen:
            notes.append(f"webhook name {hname} appears twice; admissionregistration.k8s.io/v1 requires unique names")
        seen.add(hname)
        hook.setdefault("failurePolicy", "Ignore")
        hook.setdefault("matchPolicy", "Exact")
        hook.setdefault("timeoutSeconds", 30)
        hook.setdefault("admissionReviewVersions", ["v1beta1"])
        old = hook.get("sideEffects", "Unknown")
        new = _SIDE_EFFECTS.get(str(old), "None")
        hook["sideEffects"] = new
        if new != old:
            notes.append(f"webhook {hname}: sideEffects {old} -> {new} (v1 accepts only None or NoneOnDryRun; "
                         "dry-run requests now reach the webhook)")
    return Conversion(out, tuple(notes))


# -- CustomResourceDefinition -----------------------------------------------------

def _columns_v1(columns: Any) -> Any:
    if not isinstance(columns, list):
        return columns
    out = []
    for col in columns:
        if isinstance(col, dict) and "JSONPath" in col:
            col = {("jsonPath" if k == "JSONPath" else k): v for k, v in col.items()}
        out.append(col)
    return out


def crd_to_v1(obj: Obj) -> Conversion:
    """CustomResourceDefinition apiextensions.k8s.io/v1beta1 -> v1.

    ``spec.version`` / ``spec.versions`` become a ``versions`` list with
    ``served`` and ``storage`` set; the top-level ``validation``,
    ``subresources`` and ``additionalPrinterColumns`` (``JSONPath`` ->
    ``jsonPath``) move into every version that has none of its own; a version
    without a schema gets the permissive ``{type: object,
    x-kubernetes-preserve-unknown-fields: true}``; each schema is made
    structural (as v1 requires) and, when v1beta1 preserved unknown fields (its
    default), keeps doing so through ``x-kubernetes-preserve-unknown-fields``
    at its root; ``spec.preserveUnknownFields`` becomes false; ``scope``
    (defaulted to Namespaced by v1beta1, required by v1) is written out; a
    conversion webhook's settings move under ``conversion.webhook``.
    """
    out = _fresh(obj, "apiextensions.k8s.io/v1")
    spec = _spec(out)
    notes: list[str] = []
    old_version = spec.pop("version", None)
    validation = spec.pop("validation", None)
    top_schema = validation.get("openAPIV3Schema") if isinstance(validation, dict) else None
    top_subresources = spec.pop("subresources", None)
    top_columns = spec.pop("additionalPrinterColumns", None)
    preserve = spec.get("preserveUnknownFields")
    preserved = preserve is None or preserve is True   # v1beta1 defaulted it to true

    versions = spec.get("versions")
    if not isinstance(versions, list) or not versions:
        versions = [{"name": old_version, "served": True, "storage": True}] if old_version else []
        if not versions:
            notes.append("neither spec.version nor spec.versions; v1 requires versions")
    else:
        versions = [dict(v) if isinstance(v, dict) else v for v in versions]
        if not any(isinstance(v, dict) and v.get("storage") for v in versions):
            # v1beta1 made the first version (spec.version's) the storage version.
            first = next((v for v in versions if isinstance(v, dict) and v.get("name") == old_version), versions[0])
            if isinstance(first, dict):
                first["storage"] = True
    for ver in versions:
        if not isinstance(ver, dict):
            continue
        ver.setdefault("served", True)
        ver.setdefault("storage", False)
        own = (ver.get("schema") or {}).get("openAPIV3Schema") if isinstance(ver.get("schema"), dict) else None
        schema = own if own is not None else top_schema
        if schema is None:
            schema = copy.deepcopy(PERMISSIVE_SCHEMA)
            notes.append(f"version {ver.get('name')} had no schema; a permissive one (any fields kept) was added")
        else:
            schema, changes = make_structural(copy.deepcopy(schema), preserve_unknown=preserved)
            if changes:
                notes.append(f"version {ver.get('name')} schema made structural: {', '.join(changes)}")
        ver["schema"] = {"openAPIV3Schema": schema}
        if "subresources" not in ver and top_subresources is not None:
            ver["subresources"] = copy.deepcopy(top_subresources)
        if "additionalPrinterColumns" in ver:
            ver["additionalPrinterColumns"] = _columns_v1(ver["additionalPrinterColumns"])
        elif top_columns is not None:
            ver["additionalPrinterColumns"] = _columns_v1(copy.deepcopy(top_columns))
    spec["versions"] = versions
    spec["preserveUnknownFields"] = False
    spec.setdefault("scope", "Namespaced")

    conversion = spec.get("conversion")
    if isinstance(conversion, dict) and ("webhookClientConfig" in conversion or "conversionReviewVersions" in conversion):
        webhook: Obj = {}
        if "webhookClientConfig" in conversion:
            webhook["clientConfig"] = conversion.pop("webhookClientConfig")
        webhook["conversionReviewVersions"] = conversion.pop("conversionReviewVersions", ["v1beta1"])
        if conversion.get("strategy") == "Webhook":
            conversion["webhook"] = webhook
    return Conversion(out, tuple(notes))
