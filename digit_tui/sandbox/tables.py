"""Server-side table printing (meta.k8s.io/v1 Table), which `kubectl get` asks for.

kubectl has no client-side printers for built-in types any more: without a
Table it shows only NAME and AGE.  Columns follow the real server's printers
(priority 1 = shown with ``-o wide``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from digit_tui.sandbox import resources
from digit_tui.sandbox.resources import ResourceType
from digit_tui.sandbox.selectors import field_value

if TYPE_CHECKING:
    from digit_tui.sandbox.store import Store

Obj = dict[str, Any]
Col = tuple[str, str, int]  # name, type, priority
Row = Callable[[Obj], list[Any]]


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def age(ts: str | None, now: dt.datetime | None = None) -> str:
    if not ts:
        return "<unknown>"
    try:
        t = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return "<unknown>"
    secs = int(((now or dt.datetime.now(dt.timezone.utc)) - t).total_seconds())
    secs = max(secs, 0)
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s" if secs % 60 else f"{mins}m"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 8:
        return f"{hours}h{mins % 60}m" if mins % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if days < 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


def _md(o: Obj) -> Obj:
    return o.get("metadata") or {}


def _spec(o: Obj) -> Obj:
    return o.get("spec") or {}


def _status(o: Obj) -> Obj:
    return o.get("status") or {}


def _containers(o: Obj) -> tuple[str, str]:
    cs = ((_spec(o).get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(str(c.get("name", "")) for c in cs), ",".join(str(c.get("image", "")) for c in cs)


def _selector(o: Obj) -> str:
    sel = _spec(o).get("selector") or {}
    if isinstance(sel, dict) and ("matchLabels" in sel or "matchExpressions" in sel):
        parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
        return ",".join(parts) or "<none>"
    if isinstance(sel, dict):
        return ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"
    return "<none>"


def pod_status_reason(pod: Obj) -> str:
    """The STATUS column of `kubectl get pods`, computed the way the real printer does."""
    st = _status(pod)
    reason = st.get("reason") or st.get("phase") or "Pending"
    inits = _spec(pod).get("initContainers") or []
    initializing = False
    for i, cs in enumerate(st.get("initContainerStatuses") or []):
        state = cs.get("state") or {}
        term = state.get("terminated")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif (state.get("waiting") or {}).get("reason") and state["waiting"]["reason"] != "PodInitializing":
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = f"Init:{i}/{len(inits)}"
        initializing = True
        break
    if not initializing:
        has_running = False
        for cs in reversed(st.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif (state.get("terminated") or {}).get("reason"):
                reason = state["terminated"]["reason"]
            elif state.get("terminated"):
                t = state["terminated"]
                reason = f"Signal:{t['signal']}" if t.get("signal") else f"ExitCode:{t.get('exitCode')}"
            elif state.get("running") and cs.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if _md(pod).get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_row(o: Obj) -> list[Any]:
    st = _status(o)
    cs = st.get("containerStatuses") or []
    total = len(_spec(o).get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount", 0)) for c in cs)
    ips = st.get("podIP") or "<none>"
    return [_md(o).get("name"), f"{ready}/{total}", pod_status_reason(o), restarts,
            age(_md(o).get("creationTimestamp")), ips, _spec(o).get("nodeName") or "<none>",
            st.get("nominatedNodeName") or "<none>", "<none>"]


def _node_row(o: Obj) -> list[Any]:
    conds = {c.get("type"): c.get("status") for c in _status(o).get("conditions") or []}
    status = "Ready" if conds.get("Ready") == "True" else ("NotReady" if "Ready" in conds else "Unknown")
    if _spec(o).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = _md(o).get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    if not roles and labels.get("kubernetes.io/role"):
        roles = [labels["kubernetes.io/role"]]
    info = _status(o).get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in _status(o).get("addresses") or []}
    return [_md(o).get("name"), status, ",".join(roles) or "<none>", age(_md(o).get("creationTimestamp")),
            info.get("kubeletVersion", ""), addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _deploy_row(o: Obj) -> list[Any]:
    st = _status(o)
    c, i = _containers(o)
    return [_md(o).get("name"), f"{st.get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(_md(o).get("creationTimestamp")),
            c, i, _selector(o)]


def _sts_row(o: Obj) -> list[Any]:
    st = _status(o)
    c, i = _containers(o)
    return [_md(o).get("name"), f"{st.get('readyReplicas', 0)}/{_spec(o).get('replicas', 0)}",
            age(_md(o).get("creationTimestamp")), c, i]


def _rs_row(o: Obj) -> list[Any]:
    st = _status(o)
    c, i = _containers(o)
    return [_md(o).get("name"), _spec(o).get("replicas", 0), st.get("replicas", 0), st.get("readyReplicas", 0),
            age(_md(o).get("creationTimestamp")), c, i, _selector(o)]


def _ds_row(o: Obj) -> list[Any]:
    st = _status(o)
    c, i = _containers(o)
    ns = ((_spec(o).get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return [_md(o).get("name"), st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in ns.items()) or "<none>", age(_md(o).get("creationTimestamp")),
            c, i, _selector(o)]


def _svc_row(o: Obj) -> list[Any]:
    s = _spec(o)
    ports = []
    for p in s.get("ports") or []:
        txt = f"{p.get('port')}"
        if p.get("nodePort"):
            txt += f":{p['nodePort']}"
        ports.append(f"{txt}/{p.get('protocol', 'TCP')}")
    ingress = (_status(o).get("loadBalancer") or {}).get("ingress") or []
    ext = ",".join(i.get("ip") or i.get("hostname", "") for i in ingress) or (
        ",".join(s.get("externalIPs") or []) or ("<pending>" if s.get("type") == "LoadBalancer" else "<none>"))
    if s.get("type") == "ExternalName":
        ext = s.get("externalName", "<none>")
    sel = s.get("selector") or {}
    return [_md(o).get("name"), s.get("type", "ClusterIP"), s.get("clusterIP") or "<none>", ext,
            ",".join(ports) or "<none>", age(_md(o).get("creationTimestamp")),
            ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"]


def _job_row(o: Obj) -> list[Any]:
    st = _status(o)
    conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    status = "Complete" if conds.get("Complete") == "True" else (
        "Failed" if conds.get("Failed") == "True" else "Running")
    comp = _spec(o).get("completions")
    duration = ""
    if st.get("startTime"):
        try:
            start = dt.datetime.strptime(st["startTime"], "%Y-%m-%dT%H:%M:%SZ")
            end = dt.datetime.strptime(st["completionTime"], "%Y-%m-%dT%H:%M:%SZ") if st.get(
                "completionTime") else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
            duration = _short(int((end - start).total_seconds()))
        except ValueError:
            duration = ""
    c, i = _containers(o)
    return [_md(o).get("name"), status, f"{st.get('succeeded', 0)}/{comp if comp is not None else 1}", duration,
            age(_md(o).get("creationTimestamp")), c, i, _selector(o)]


def _short(secs: int) -> str:
    if secs < 120:
        return f"{max(secs, 0)}s"
    return f"{secs // 60}m" if secs < 3 * 3600 else f"{secs // 3600}h"


def _ns_row(o: Obj) -> list[Any]:
    return [_md(o).get("name"), _status(o).get("phase", "Active"), age(_md(o).get("creationTimestamp"))]


def _event_row(o: Obj) -> list[Any]:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or _md(o).get("creationTimestamp")
    src = o.get("source") or {}
    return [age(last), o.get("type", ""), o.get("reason", ""), f"{str(inv.get('kind', '')).lower()}/{inv.get('name')}",
            o.get("message", ""), inv.get("fieldPath", ""), ", ".join(v for v in (src.get("component"),
                                                                               src.get("host")) if v),
            age(o.get("firstTimestamp") or last), o.get("count", 1), _md(o).get("name")]


def _pvc_row(o: Obj) -> list[Any]:
    st = _status(o)
    cap = (st.get("capacity") or {}).get("storage", "")
    modes = ",".join(_access(m) for m in st.get("accessModes") or [])
    return [_md(o).get("name"), st.get("phase", "Pending"), _spec(o).get("volumeName", ""), cap, modes,
            _spec(o).get("storageClassName") or "<unset>", "<unset>", age(_md(o).get("creationTimestamp")),
            _spec(o).get("volumeMode", "Filesystem")]


def _pv_row(o: Obj) -> list[Any]:
    s = _spec(o)
    claim = s.get("claimRef") or {}
    return [_md(o).get("name"), (s.get("capacity") or {}).get("storage", ""),
            ",".join(_access(m) for m in s.get("accessModes") or []), s.get("persistentVolumeReclaimPolicy", ""),
            _status(o).get("phase", ""), f"{claim['namespace']}/{claim['name']}" if claim.get("name") else "",
            s.get("storageClassName", ""), "<unset>", _status(o).get("reason", ""),
            age(_md(o).get("creationTimestamp")), s.get("volumeMode", "Filesystem")]


def _access(mode: str) -> str:
    return {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
            "ReadWriteOncePod": "RWOP"}.get(mode, mode)


def _cm_row(o: Obj) -> list[Any]:
    return [_md(o).get("name"), len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            age(_md(o).get("creationTimestamp"))]


def _secret_row(o: Obj) -> list[Any]:
    return [_md(o).get("name"), o.get("type", "Opaque"), len(o.get("data") or {}),
            age(_md(o).get("creationTimestamp"))]


def _ing_row(o: Obj) -> list[Any]:
    s = _spec(o)
    hosts = ",".join(r.get("host", "*") for r in s.get("rules") or []) or "*"
    lb = ((_status(o).get("loadBalancer") or {}).get("ingress") or [])
    ports = "80, 443" if s.get("tls") else "80"
    return [_md(o).get("name"), s.get("ingressClassName") or "<none>", hosts,
            ",".join(i.get("ip") or i.get("hostname", "") for i in lb), ports, age(_md(o).get("creationTimestamp"))]


def _ep_row(o: Obj) -> list[Any]:
    eps = []
    for sub in o.get("subsets") or []:
        for a in sub.get("addresses") or []:
            for p in sub.get("ports") or [{}]:
                eps.append(f"{a.get('ip')}:{p['port']}" if p.get("port") else str(a.get("ip")))
    shown = ",".join(eps[:3]) + (f" + {len(eps) - 3} more..." if len(eps) > 3 else "")
    return [_md(o).get("name"), shown or "<none>", age(_md(o).get("creationTimestamp"))]


def _crd_row(o: Obj) -> list[Any]:
    return [_md(o).get("name"), _md(o).get("creationTimestamp")]


def _default_row(o: Obj) -> list[Any]:
    return [_md(o).get("name"), age(_md(o).get("creationTimestamp"))]


_S, _I = "string", "integer"
_PRINTERS: dict[tuple[str, str], tuple[list[Col], Row]] = {
    resources.PODS.key: ([("Name", _S, 0), ("Ready", _S, 0), ("Status", _S, 0), ("Restarts", _S, 0),
                          ("Age", _S, 0), ("IP", _S, 1), ("Node", _S, 1), ("Nominated Node", _S, 1),
                          ("Readiness Gates", _S, 1)], _pod_row),
    resources.NODES.key: ([("Name", _S, 0), ("Status", _S, 0), ("Roles", _S, 0), ("Age", _S, 0),
                           ("Version", _S, 0), ("Internal-IP", _S, 1), ("External-IP", _S, 1),
                           ("OS-Image", _S, 1), ("Kernel-Version", _S, 1), ("Container-Runtime", _S, 1)], _node_row),
    resources.DEPLOYMENTS.key: ([("Name", _S, 0), ("Ready", _S, 0), ("Up-to-date", _I, 0), ("Available", _I, 0),
                                 ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)],
                                _deploy_row),
    resources.STATEFULSETS.key: ([("Name", _S, 0), ("Ready", _S, 0), ("Age", _S, 0), ("Containers", _S, 1),
                                  ("Images", _S, 1)], _sts_row),
    resources.REPLICASETS.key: ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0),
                                 ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)],
                                _rs_row),
    resources.DAEMONSETS.key: ([("Name", _S, 0), ("Desired", _I, 0), ("Current", _I, 0), ("Ready", _I, 0),
                                ("Up-to-date", _I, 0), ("Available", _I, 0), ("Node Selector", _S, 0),
                                ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)],
                               _ds_row),
    resources.SERVICES.key: ([("Name", _S, 0), ("Type", _S, 0), ("Cluster-IP", _S, 0), ("External-IP", _S, 0),
                              ("Port(s)", _S, 0), ("Age", _S, 0), ("Selector", _S, 1)], _svc_row),
    resources.JOBS.key: ([("Name", _S, 0), ("Status", _S, 0), ("Completions", _S, 0), ("Duration", _S, 0),
                          ("Age", _S, 0), ("Containers", _S, 1), ("Images", _S, 1), ("Selector", _S, 1)], _job_row),
    resources.NAMESPACES.key: ([("Name", _S, 0), ("Status", _S, 0), ("Age", _S, 0)], _ns_row),
    resources.EVENTS.key: ([("Last Seen", _S, 0), ("Type", _S, 0), ("Reason", _S, 0), ("Object", _S, 0),
                            ("Message", _S, 0), ("Subobject", _S, 1), ("Source", _S, 1), ("First Seen", _S, 1),
                            ("Count", _I, 1), ("Name", _S, 1)], _event_row),
    resources.PVCS.key: ([("Name", _S, 0), ("Status", _S, 0), ("Volume", _S, 0), ("Capacity", _S, 0),
                          ("Access Modes", _S, 0), ("StorageClass", _S, 0), ("VolumeAttributesClass", _S, 0),
                          ("Age", _S, 0), ("VolumeMode", _S, 1)], _pvc_row),
    resources.PVS.key: ([("Name", _S, 0), ("Capacity", _S, 0), ("Access Modes", _S, 0), ("Reclaim Policy", _S, 0),
                         ("Status", _S, 0), ("Claim", _S, 0), ("StorageClass", _S, 0),
                         ("VolumeAttributesClass", _S, 0), ("Reason", _S, 0), ("Age", _S, 0),
                         ("VolumeMode", _S, 1)], _pv_row),
    resources.CONFIGMAPS.key: ([("Name", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _cm_row),
    resources.SECRETS.key: ([("Name", _S, 0), ("Type", _S, 0), ("Data", _I, 0), ("Age", _S, 0)], _secret_row),
    resources.INGRESSES.key: ([("Name", _S, 0), ("Class", _S, 0), ("Hosts", _S, 0), ("Address", _S, 0),
                               ("Ports", _S, 0), ("Age", _S, 0)], _ing_row),
    resources.ENDPOINTS.key: ([("Name", _S, 0), ("Endpoints", _S, 0), ("Age", _S, 0)], _ep_row),
    resources.CRDS.key: ([("Name", _S, 0), ("Created At", "date", 0)], _crd_row),
}


def _columns_for(rt: ResourceType) -> tuple[list[Col], Row]:
    if rt.key in _PRINTERS:
        return _PRINTERS[rt.key]
    if rt.printer_columns:
        cols: list[Col] = [("Name", _S, 0)]
        paths = []
        for name, typ, path in rt.printer_columns:
            cols.append((name, typ, 0))
            paths.append(path)
        has_age = any(n.lower() == "age" for n, _, _ in rt.printer_columns)
        if not has_age:
            cols.append(("Age", _S, 0))

        def row(o: Obj) -> list[Any]:
            cells: list[Any] = [_md(o).get("name")]
            for (name, typ, _), path in zip(rt.printer_columns, paths):
                v = field_value(o, path.lstrip("."))
                if typ == "date" and v:
                    v = age(v)
                cells.append(v)
            if not has_age:
                cells.append(age(_md(o).get("creationTimestamp")))
            return cells

        return cols, row
    return [("Name", _S, 0), ("Age", _S, 0)], _default_row


def table(rt: ResourceType, objs: list[Obj], store: Store, *, single: bool = False) -> Obj:
    cols, row = _columns_for(rt)
    defs = [{"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n, "priority": p}
            for n, t, p in cols]
    rows = []
    for o in objs:
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": _md(o)}
        rows.append({"cells": row(o), "object": partial})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": store.resource_version}, "columnDefinitions": defs, "rows": rows}
