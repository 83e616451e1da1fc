"""DIGIT-aware health checks: pure functions from one read of a cluster to named verdicts.

Each check has a name, a verdict (ok / warn / fail), a one-line detail, a remedy when it is not ok,
and findings (one per service or object worth naming). The release record (ConfigMap
``egov/digit-tui-release``) says which services belong to which module: ``backbone`` is the
backbone module's services, the core services are the ``authn-authz`` and ``core`` modules' (as in
DIGIT's release manifests), the rest are the other modules'. A service belongs to the workloads
labelled ``digit.org/service=<name>`` (what digit-tui applies), else to those named like it.
Without a record the checks fall back to DIGIT's namespaces (StatefulSets in the backbone's,
Deployments in ``egov``) and say so.

What a workload's state means is ``infra.kubewait``'s (the installer's rollout rules) and a pod's
``infra.podstate``'s: the same words as the install's errors. Nothing here talks to a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from digit_tui.digit.releaserecord import RecordedService, ReleaseRecord
from digit_tui.health.model import HealthModel, events_by_object, key_of
from digit_tui.infra.kubewait import PERMANENT_KINDS, Diagnosis, diagnose_pods, readiness

Obj = Mapping[str, Any]

SERVICE_LABEL = "digit.org/service"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PHASE_LABEL = "digit.org/phase"           # monitoring, Jenkins: not the release's
DIGEST_ANNOTATION = "digit.org/digest"
BACKBONE_MODULES = ("backbone",)
CORE_MODULES = ("authn-authz", "core")
# Without a record: where DIGIT-DevOps puts its backbone and its services.
BACKBONE_NAMESPACES = ("backbone", "zookeeper-cluster", "kafka-cluster", "es-cluster")
CORE_NAMESPACE = "egov"
INGRESS_NAMES = ("nginx-ingress", "ingress-nginx-controller", "nginx-ingress-controller", "ingress-nginx")


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


_RANK = {Verdict.OK: 0, Verdict.WARN: 1, Verdict.FAIL: 2}


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=_RANK.__getitem__, default=Verdict.OK)


@dataclass(frozen=True)
class Finding:
    """One thing a check names: a service, a workload, a pod."""

    subject: str
    state: str          # ready, not-ready, missing, image-drift, digest-drift, skipped, unrecorded, faulty, ...
    detail: str
    verdict: Verdict = Verdict.OK

    def to_json(self) -> dict[str, str]:
        return {"subject": self.subject, "state": self.state, "detail": self.detail, "verdict": self.verdict.value}


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str
    remedy: str = ""
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict.value, "detail": self.detail, "remedy": self.remedy,
                "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True)
class ProbeResult:
    """An HTTP request to the ingress: the status it answered, or why it did not."""

    url: str
    status: int | None
    error: str
    seconds: float


@dataclass(frozen=True)
class Inputs:
    """What the checks read: the cluster's objects (raw JSON) and what was probed."""

    model: HealthModel
    record: ReleaseRecord | None
    record_forbidden: bool
    deployments: Sequence[Obj]
    statefulsets: Sequence[Obj]
    jobs: Sequence[Obj]
    pods: Sequence[Obj]
    events: Sequence[Obj]
    services: Sequence[Obj]
    endpoints: Sequence[Obj]
    egov_config: Obj | None
    egov_config_forbidden: bool
    probe: ProbeResult | None = None
    now: float | None = None


# -- object helpers ---------------------------------------------------------------------------

def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _labels(obj: Obj) -> Mapping[str, Any]:
    return _meta(obj).get("labels") or {}


def _ns_name(obj: Obj) -> str:
    return key_of(obj)


def _what(obj: Obj) -> str:
    return f"{obj.get('kind') or 'object'} {_ns_name(obj)}"


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    if not selector:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pods_of(workload: Obj, pods: Iterable[Obj]) -> list[Obj]:
    ns = _meta(workload).get("namespace")
    selector = (workload.get("spec") or {}).get("selector") or {}
    return [p for p in pods if _meta(p).get("namespace") == ns and _selector_matches(selector, _labels(p))]


def _by_service(objs: Iterable[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for o in objs:
        name = _labels(o).get(SERVICE_LABEL)
        if name:
            out.setdefault(str(name), []).append(o)
    return out


@dataclass(frozen=True)
class _Index:
    """The service label of every listed object, and names for services not labelled."""

    workloads: dict[str, list[Obj]]      # service -> its Deployments and StatefulSets
    present: dict[str, list[Obj]]        # service -> any listed object of it
    by_name: dict[str, list[Obj]]        # workload name -> workloads (no label)

    @classmethod
    def of(cls, inp: Inputs) -> _Index:
        wls = [*inp.deployments, *inp.statefulsets]
        extra = [*inp.jobs, *inp.services, *([inp.egov_config] if inp.egov_config else [])]
        by_name: dict[str, list[Obj]] = {}
        for w in wls:
            by_name.setdefault(str(_meta(w).get("name") or ""), []).append(w)
        return cls(_by_service(wls), _by_service([*wls, *extra]), by_name)

    def workloads_of(self, service: str) -> list[Obj]:
        return self.workloads.get(service) or [w for w in self.by_name.get(service, []) if SERVICE_LABEL not in _labels(w)]


# -- workload readiness -----------------------------------------------------------------------

# The remedy for the first finding that is not ok, by the words the installer's diagnosis uses.
_REMEDIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("cannot be pulled",),
     "check the image name and tag (and the registry's pull secret); `kubectl describe pod` shows the pull error"),
    (("missing in", "configuration error"),
     "create the missing Secret / ConfigMap or key (cluster-configs renders them from the env and secrets files)"),
    (("Pending:",), "add capacity or lower the requests: `digit-tui size` and the nodes' allocatable"),
    (("CrashLoopBackOff", "restarting"),
     "read the container's previous log: `kubectl logs --previous` (often the database or Kafka)"),
    (("job failed",), "read the Job's pod log and rerun the install"),
)
NOT_READY_REMEDY = "wait for the rollout, or look at its pods: `kubectl describe` and `kubectl logs`"


def _workload_finding(service: str, wl: Obj, inp: Inputs, events: Mapping[str, list[Obj]]) -> Finding:
    ready = readiness(dict(wl))
    if ready.ready:
        return Finding(service, "ready", f"{_what(wl)} {ready.detail}")
    diagnosis: Diagnosis = diagnose_pods(dict(wl), [dict(p) for p in pods_of(wl, inp.pods)],
                                         events=lambda pod: [dict(e) for e in events.get(key_of(pod), [])],
                                         now=inp.now)
    spec_want = (wl.get("spec") or {}).get("replicas")
    want = 1 if spec_want is None else int(spec_want)
    serving = int((wl.get("status") or {}).get("readyReplicas") or 0)
    # Fewer ready than wanted: the service is not (fully) serving. All ready but a rollout under way:
    # a fault only when waiting cannot fix it.
    failing = serving < want or diagnosis.kind in PERMANENT_KINDS
    return Finding(service, "not-ready" if failing else "rolling-out", f"{_what(wl)} {ready.detail}: {diagnosis.message}",
                   Verdict.FAIL if failing else Verdict.WARN)


def _remedy_for(findings: Sequence[Finding]) -> str:
    for f in findings:
        if f.verdict is Verdict.OK:
            continue
        for words, text in _REMEDIES:
            if any(w in f.detail for w in words):
                return text
    return NOT_READY_REMEDY


def _services_check(name: str, what: str, services: Sequence[RecordedService], inp: Inputs, index: _Index,
                    events: Mapping[str, list[Obj]]) -> Check:
    """The workloads of these recorded services ready. Services skipped on purpose are not among
    them (the record keeps no module for them): the release-drift check names them."""
    findings: list[Finding] = []
    for svc in services:
        wls = index.workloads_of(svc.name)
        if not wls:
            if svc.name in index.present:
                continue        # a service without workloads (cluster-configs): nothing to be ready
            findings.append(Finding(svc.name, "missing", "no Deployment or StatefulSet of it in the cluster", Verdict.FAIL))
            continue
        findings.extend(_workload_finding(svc.name, wl, inp, events) for wl in wls)
    counted = {f.subject for f in findings}
    bad = {f.subject for f in findings if f.verdict is not Verdict.OK}
    verdict = worst(f.verdict for f in findings)
    detail = f"{len(counted - bad)}/{len(counted)} {what} ready"
    if bad:
        detail += f"; not ready: {', '.join(sorted(bad))}"
    if not services:
        return Check(name, Verdict.WARN, f"the recorded release has no {what}", "check the release manifest's modules")
    return Check(name, verdict, detail, "" if verdict is Verdict.OK else _remedy_for(findings), tuple(findings))


def _by_namespace_check(name: str, what: str, workloads: Sequence[Obj], inp: Inputs,
                        events: Mapping[str, list[Obj]], note: str) -> Check:
    if not workloads:
        return Check(name, Verdict.WARN, f"no release record and no {what} found ({note})",
                     "install with digit-tui (it records the release in ConfigMap egov/digit-tui-release)")
    findings = [_workload_finding(str(_meta(w).get("name")), w, inp, events) for w in workloads]
    bad = [f.subject for f in findings if f.verdict is not Verdict.OK]
    verdict = worst(f.verdict for f in findings)
    detail = f"{len(findings) - len(bad)}/{len(findings)} {what} ready (no release record: {note})"
    if bad:
        detail += f"; not ready: {', '.join(sorted(bad))}"
    return Check(name, verdict, detail, "" if verdict is Verdict.OK else _remedy_for(findings), tuple(findings))


def _modules(record: ReleaseRecord, modules: Sequence[str] | None, exclude: Sequence[str] = ()) -> list[RecordedService]:
    return [s for s in record.recorded().values()
            if (modules is None or s.module in modules) and s.module not in exclude]


def backbone_check(inp: Inputs, index: _Index, events: Mapping[str, list[Obj]]) -> Check:
    if inp.record is None:
        sts = [s for s in inp.statefulsets if _meta(s).get("namespace") in BACKBONE_NAMESPACES]
        return _by_namespace_check("backbone", "backbone StatefulSets", sts, inp, events,
                                   f"StatefulSets in {', '.join(BACKBONE_NAMESPACES)}")
    return _services_check("backbone", "backbone services", _modules(inp.record, BACKBONE_MODULES), inp, index, events)


def core_check(inp: Inputs, index: _Index, events: Mapping[str, list[Obj]]) -> Check:
    if inp.record is None:
        deps = [d for d in inp.deployments if _meta(d).get("namespace") == CORE_NAMESPACE]
        return _by_namespace_check("core-services", "Deployments", deps, inp, events,
                                   f"Deployments in {CORE_NAMESPACE}")
    return _services_check("core-services", "core services", _modules(inp.record, CORE_MODULES), inp, index, events)


def other_services_check(inp: Inputs, index: _Index, events: Mapping[str, list[Obj]]) -> Check | None:
    if inp.record is None:
        return None
    services = _modules(inp.record, None, exclude=(*BACKBONE_MODULES, *CORE_MODULES))
    if not services:
        return None
    return _services_check("other-services", "services of the other modules", services, inp, index, events)


# -- the cluster as a whole (what `health --once` always reported) ----------------------------

def nodes_check(model: HealthModel) -> Check:
    c = model.summary.nodes
    if c.total == 0:
        return Check("nodes", Verdict.FAIL, "no nodes", "join nodes to the cluster")
    if c.ok:
        return Check("nodes", Verdict.OK, f"{c} nodes ready")
    return Check("nodes", Verdict.FAIL, f"{c} nodes ready", "`kubectl describe node` shows why a node is not ready")


def pods_check(model: HealthModel) -> Check:
    faults = model.faults
    detail = f"{model.summary.pods} pods, {len(faults)} faulty"
    if not faults:
        return Check("pods", Verdict.OK, detail)
    findings = tuple(Finding(p.key, p.fault or "faulty", f"{p.status}, restarts {p.restarts}, node {p.node}"
                             + (f": {p.reason}" if p.reason else ""), Verdict.FAIL) for p in faults)
    return Check("pods", Verdict.FAIL, detail, "act on each pod's reason (docs/pod-states.md)", findings)


def workloads_check(inp: Inputs) -> Check:
    """Every Deployment, StatefulSet and Job of the cluster, DIGIT's or not (the summary's counts)."""
    s = inp.model.summary
    counts = f"Deployments {s.deployments}, StatefulSets {s.statefulsets}, Jobs {s.jobs} ready"
    bad = [Finding(_ns_name(o), str(o.get("kind") or ""), readiness(dict(o)).detail, Verdict.FAIL)
           for objs in (inp.deployments, inp.statefulsets, inp.jobs) for o in objs if not readiness(dict(o)).ready]
    if not bad:
        return Check("workloads", Verdict.OK, counts)
    names = ", ".join(f"{f.state} {f.subject}" for f in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    return Check("workloads", Verdict.FAIL, f"{counts}; not ready or not rolled out: {names}", NOT_READY_REMEDY,
                 tuple(bad))


def volumes_check(model: HealthModel) -> Check:
    c = model.summary.pvcs
    if c.ok:
        return Check("volumes", Verdict.OK, f"{c} PersistentVolumeClaims bound")
    return Check("volumes", Verdict.FAIL, f"{c} PersistentVolumeClaims bound",
                 "a claim stays Pending without a matching volume or StorageClass (docs/volumes.md)")


# -- ingress ----------------------------------------------------------------------------------

def _endpoint_addresses(ep: Obj | None) -> tuple[list[str], int]:
    """(ready "ip:port" entries, not-ready address count) of an Endpoints object."""
    ready: list[str] = []
    not_ready = 0
    for subset in (ep or {}).get("subsets") or []:
        ports = [p.get("port") for p in subset.get("ports") or []] or [None]
        for a in subset.get("addresses") or []:
            ready.extend(f"{a.get('ip')}:{p}" if p else str(a.get("ip")) for p in ports[:1])
        not_ready += len(subset.get("notReadyAddresses") or [])
    return ready, not_ready


def _endpoints_by_key(inp: Inputs) -> dict[str, Obj]:
    return {key_of(e): e for e in inp.endpoints}


def ingress_check(inp: Inputs, index: _Index) -> Check:
    recorded = inp.record.recorded() if inp.record else {}
    names = [n for n in recorded if "ingress" in n] or list(INGRESS_NAMES)
    skipped = [s for s in (inp.record.skipped if inp.record else ()) if "ingress" in s]
    candidates = [s for s in inp.services
                  if _labels(s).get(SERVICE_LABEL) in names or _meta(s).get("name") in names]
    if not candidates:
        if skipped:
            return Check("ingress", Verdict.OK, f"{', '.join(skipped)} skipped on purpose (digit.skip_services)",
                         findings=tuple(Finding(s, "skipped", "skipped on purpose") for s in skipped))
        return Check("ingress", Verdict.FAIL if recorded else Verdict.WARN,
                     f"no ingress controller Service found (looked for {', '.join(names)})",
                     "deploy the nginx-ingress service (module authn-authz) or name your controller's Service")
    eps = _endpoints_by_key(inp)
    findings: list[Finding] = []
    for svc in candidates:
        ready, not_ready = _endpoint_addresses(eps.get(key_of(svc)))
        ports = ", ".join(f"{p.get('port')}" + (f"->{p['nodePort']}" if p.get("nodePort") else "")
                          for p in (svc.get("spec") or {}).get("ports") or [])
        text = f"Service {_ns_name(svc)} ({(svc.get('spec') or {}).get('type') or 'ClusterIP'} {ports}): " \
               f"{len(ready)} ready endpoint(s)" + (f", {not_ready} not ready" if not_ready else "")
        findings.append(Finding(_ns_name(svc), "answering" if ready else "no-endpoints", text,
                                Verdict.OK if ready else Verdict.FAIL))
    if inp.probe is not None:
        p = inp.probe
        if p.status is None:
            findings.append(Finding(p.url, "no-answer", f"GET {p.url}: {p.error}", Verdict.FAIL))
        else:
            findings.append(Finding(p.url, f"http-{p.status}", f"GET {p.url} answered {p.status} in "
                                    f"{p.seconds * 1000:.0f} ms", Verdict.OK if p.status < 500 else Verdict.WARN))
    verdict = worst(f.verdict for f in findings)
    detail = "; ".join(f.detail for f in findings)
    remedy = ""
    if verdict is not Verdict.OK:
        if any(f.state == "no-endpoints" for f in findings):
            remedy = "the controller's pods are not ready: see the core-services and pods checks"
        elif inp.probe is not None and "certificate" in inp.probe.error:
            remedy = ("the ingress answers with a certificate this machine does not trust: check the domain's "
                      "certificate (cert-manager, or the one the load balancer serves)")
        else:
            remedy = "the ingress address does not answer: check the load balancer, the node ports and the firewall"
    return Check("ingress", verdict, detail, remedy, tuple(findings))


# -- database ---------------------------------------------------------------------------------

_JDBC_PORT = re.compile(r"jdbc:postgresql://[^/:]+:(\d+)/")
_IP = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$|^[0-9a-fA-F:]+:[0-9a-fA-F:]*$")


def _service_of_host(host: str) -> tuple[str, str] | None:
    """(namespace, name) of the Service a cluster DNS name points at, or None for other hosts."""
    host = host.rstrip(".")
    for suffix in (".svc.cluster.local", ".svc"):
        if host.endswith(suffix):
            host = host[: -len(suffix)]
    parts = host.split(".")
    if len(parts) == 2 and all(parts):
        return parts[1], parts[0]
    if len(parts) == 1 and parts[0]:
        return CORE_NAMESPACE, parts[0]
    return None


def database_check(inp: Inputs) -> Check:
    if inp.egov_config_forbidden:
        return Check("database", Verdict.WARN, "ConfigMap egov/egov-config is not readable (403): the database "
                     "host is unknown", "grant read on ConfigMaps in egov")
    if inp.egov_config is None:
        if inp.record is None:
            return Check("database", Verdict.WARN, "no ConfigMap egov/egov-config: not a DIGIT cluster, or "
                         "cluster-configs is not applied", "install DIGIT's cluster-configs")
        return Check("database", Verdict.FAIL, "ConfigMap egov/egov-config is missing: the services do not know "
                     "their database", "rerun the install (cluster-configs renders egov-config)")
    data = inp.egov_config.get("data") or {}
    host = str(data.get("db-host") or "")
    port_match = _JDBC_PORT.match(str(data.get("db-url") or ""))
    port = port_match.group(1) if port_match else "5432"
    if not host:
        return Check("database", Verdict.FAIL, "egov/egov-config has no db-host", "set database in the answers and rerun")
    target = None if _IP.match(host) else _service_of_host(host)
    if target is None:
        return Check("database", Verdict.WARN, f"the services reach the database at {host}:{port} directly: not "
                     "verified from inside the cluster", "check it from a pod: `kubectl run` with pg_isready",
                     (Finding(host, "not-verified", f"{host}:{port}", Verdict.WARN),))
    ns, name = target
    svc = next((s for s in inp.services if _meta(s).get("namespace") == ns and _meta(s).get("name") == name), None)
    where = f"{name}.{ns}"
    if svc is None:
        return Check("database", Verdict.FAIL, f"the services' database host {host} has no Service {ns}/{name}",
                     "rerun the install (database.mode in-cluster deploys it), or set database.mode external "
                     "with its host in the answers and rerun",
                     (Finding(where, "missing", f"no Service {ns}/{name}", Verdict.FAIL),))
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        ext = spec.get("externalName") or "?"
        return Check("database", Verdict.WARN, f"{where} is an ExternalName for {ext}: resolved by DNS in the pods, "
                     "not verified from inside the cluster", "check it from a pod: `kubectl run` with pg_isready",
                     (Finding(where, "external-name", ext, Verdict.WARN),))
    ep = _endpoints_by_key(inp).get(f"{ns}/{name}")
    ready, not_ready = _endpoint_addresses(ep)
    manual = not spec.get("selector")
    if not ready:
        why = "no Endpoints" if ep is None else f"no ready address ({not_ready} not ready)"
        return Check("database", Verdict.FAIL, f"Service {ns}/{name} for db-host {host}: {why}",
                     "the database pods are not ready (see pods)" if not manual else
                     "the db-service Endpoints come from cluster-configs.db (db-ips): rerun the install",
                     (Finding(where, "no-endpoints", why, Verdict.FAIL),))
    kind = "manual Endpoints of an external database" if manual else "ready pods"
    return Check("database", Verdict.OK, f"Service {ns}/{name} for db-host {host}: {', '.join(ready)} ({kind}; "
                 "no connection is made from here)", findings=(Finding(where, "endpoints", ", ".join(ready)),))


# -- the running release against the record -----------------------------------------------------

def _images(wl: Obj) -> list[tuple[str, str]]:
    """(container name, image) of a workload's init and app containers."""
    spec = ((wl.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [(str(c.get("name") or ""), str(c.get("image") or ""))
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]]


def image_tag(image: str) -> str:
    """``egovio/egov-user:v1.3.0`` -> ``v1.3.0``; "" without a tag (a digest alone, a bare name)."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


def _repo(image: str) -> str:
    return image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]


def _tag_drift(svc: RecordedService, wl: Obj) -> list[Finding]:
    """The service's own images (``<name>`` and its migration image ``<name>-db``; else the first
    container's) not running the recorded tag."""
    images = _images(wl)
    own = [(c, i) for c, i in images if _repo(i) in (svc.name, f"{svc.name}-db") or c == svc.name] or images[-1:]
    out = []
    for container, image in own:
        tag = image_tag(image)
        if tag != svc.tag:
            out.append(Finding(svc.name, "image-drift", f"{_what(wl)} container {container} runs {image}, the record "
                               f"says tag {svc.tag}", Verdict.WARN))
    return out


def release_check(inp: Inputs, index: _Index) -> Check:
    if inp.record_forbidden:
        return Check("release-drift", Verdict.WARN, "the release record egov/digit-tui-release is not readable (403)",
                     "grant read on ConfigMaps in egov")
    record = inp.record
    if record is None:
        return Check("release-drift", Verdict.WARN, "no release record (ConfigMap egov/digit-tui-release): nothing to "
                     "compare with", "install with digit-tui: its last task records the release")
    recorded = record.recorded()
    findings: list[Finding] = []
    for svc in recorded.values():
        present = index.present.get(svc.name) or index.workloads_of(svc.name)
        if not present:
            findings.append(Finding(svc.name, "missing", "recorded, but none of its objects is in the cluster",
                                    Verdict.FAIL))
            continue
        wls = index.workloads_of(svc.name)
        drift: list[Finding] = []
        if svc.tag:
            for wl in wls:
                drift.extend(_tag_drift(svc, wl))
        for wl in wls:
            digest = (_meta(wl).get("annotations") or {}).get(DIGEST_ANNOTATION)
            if digest and svc.digest and digest != svc.digest:
                drift.append(Finding(svc.name, "digest-drift", f"{_what(wl)} was applied from another render "
                                     f"({digest[:19]}…, recorded {svc.digest[:19]}…)", Verdict.WARN))
        findings.extend(drift or [Finding(svc.name, "as-recorded", f"tag {svc.tag or '(chart default)'}")])
    for name in record.skipped:
        remains = bool(index.present.get(name))
        findings.append(Finding(name, "skipped", "skipped on purpose (digit.skip_services)"
                                + ("; objects of an earlier install remain" if remains else "")))
    known = set(recorded) | set(record.skipped)
    for name, objs in sorted(index.workloads.items()):
        ours = [o for o in objs if _labels(o).get(MANAGED_BY_LABEL) == "digit-tui" and PHASE_LABEL not in _labels(o)]
        if name not in known and ours:
            findings.append(Finding(name, "unrecorded", f"{_what(ours[0])} carries digit-tui's labels but the "
                                    "recorded release has no such service", Verdict.WARN))
    verdict = worst(f.verdict for f in findings)
    missing = sorted(f.subject for f in findings if f.state == "missing")
    drifted = sorted({f.subject for f in findings if f.state.endswith("-drift")})
    unrecorded = sorted(f.subject for f in findings if f.state == "unrecorded")
    parts = [f"release {record.release or '?'} ({record.environment}): "
             f"{sum(1 for f in findings if f.state == 'as-recorded')}/{len(recorded)} services as recorded"]
    if missing:
        parts.append(f"missing: {', '.join(missing)}")
    if drifted:
        parts.append(f"drift: {', '.join(drifted)}")
    if unrecorded:
        parts.append(f"not in the record: {', '.join(unrecorded)}")
    if record.skipped:
        parts.append(f"skipped on purpose: {', '.join(record.skipped)}")
    remedy = ""
    if missing:
        remedy = "rerun the install: it deploys the missing services"
    elif drifted:
        remedy = ("something changed the running release since the install (kubectl set image, another deploy): "
                  "rerun the install to restore the recorded release, or record the change in the release manifest")
    elif unrecorded:
        remedy = "rerun the install: the release record prunes services no longer in the release"
    return Check("release-drift", verdict, "; ".join(parts), remedy, tuple(findings))


# -- all of them ------------------------------------------------------------------------------

def run_checks(inp: Inputs) -> list[Check]:
    index = _Index.of(inp)
    events = events_by_object(inp.events)
    evs: dict[str, list[Obj]] = {k: list(v) for k, v in events.items()}
    checks: list[Check | None] = [
        nodes_check(inp.model),
        backbone_check(inp, index, evs),
        core_check(inp, index, evs),
        other_services_check(inp, index, evs),
        ingress_check(inp, index),
        database_check(inp),
        release_check(inp, index),
        workloads_check(inp),
        volumes_check(inp.model),
        pods_check(inp.model),
    ]
    return [c for c in checks if c is not None]

