"""Tasks that put the rendered release into the cluster: one per service, then ``release-record``.

A service task applies what the render task wrote for its service, with
server-side apply (field manager ``digit-tui``): CRDs first, then the objects,
each labelled ``app.kubernetes.io/managed-by=digit-tui`` and
``digit.org/service=<name>`` and annotated with the digest of the service's
rendered manifest and the tag it was rendered with (``digit.org/tag``). It then prunes objects carrying the service's label that
the service no longer renders, and waits for its Deployments, StatefulSets,
DaemonSets and Jobs to be ready within the service's deadline.

Objects of APIs the cluster no longer serves (DIGIT's charts target Kubernetes
<= 1.21: extensions/v1beta1 Ingress, policy/v1beta1 PodDisruptionBudget, ...)
are converted to the successor the cluster serves (``infra.kubeconvert``, from
the cluster's discovery, read once per connection) before they are applied;
what was converted is journalled. Apply, check and pruning all use the
converted objects, so the identities compared are the ones applied.

``check`` is converged when every object to apply is in the cluster with the
current digest and every workload is ready, so a rerun applies nothing.

``release-record`` writes the ConfigMap ``digit-tui-release`` (namespace
``egov``) listing services, tags and digests, and prunes the objects of
services that are no longer in the release.

The cluster is reached only through the kubeconfig ``kube_target`` finds: the
one the cluster phase published (tasks/cluster.py), else the answers'
``target.kubeconfig`` / ``target.context``; never the client library's default
``$KUBECONFIG`` / ``~/.kube/config``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

from digit_tui.answers.config import InstallConfig
from digit_tui.digit.releaserecord import RELEASE_CONFIGMAP, RELEASE_NAMESPACE
from digit_tui.engine.errors import ErrorKind, PermanentError, TaskError, TransientError, classify
from digit_tui.engine.task import Endpoint, RetryPolicy, Task, TaskContext
from digit_tui.infra.failures import explain, failure_of
from digit_tui.infra.kubeconvert import ConversionResult, ServedAPIs, convert_objects
from digit_tui.infra.kube import (
    DEFAULT_NAMESPACE,
    FIELD_MANAGER,
    Kube,
    KubeError,
    ObjectKey,
    UnknownType,
    object_key,
    status_message,
)
from digit_tui.infra.kubewait import NotReady, WaitPolicy, Workload, is_workload, readiness, wait_ready
from digit_tui.tasks.render import TASK_ID as RENDER, load_rendered
from digit_tui.tasks.runningtags import TAG_ANNOTATION
from digit_tui.tasks.waitremedy import remedy_for

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = FIELD_MANAGER
SERVICE_LABEL = "digit.org/service"
DIGEST_ANNOTATION = "digit.org/digest"
RELEASE_TASK = "release-record"
CLUSTER_CONFIGS = "cluster-configs"
CLUSTER_TASK = "cluster"        # the cluster phase's task (tasks/cluster.py TASK_ID)
DEFAULT_DEADLINE = 600.0        # seconds per service: DIGIT's docs say "wait and watch for 10 minutes"
APPLY_ALLOWANCE = 300.0         # on top of the deadline, for applying and pruning

# Types searched when pruning; what a service renders (and rendered last time) is added to these.
PRUNE_KINDS: tuple[tuple[str, str], ...] = (
    ("", "ConfigMap"), ("", "Secret"), ("", "Service"), ("", "ServiceAccount"), ("", "Endpoints"),
    ("apps", "Deployment"), ("apps", "StatefulSet"), ("apps", "DaemonSet"),
    ("batch", "Job"), ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"), ("networking.k8s.io", "IngressClass"), ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"), ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"), ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("policy", "PodDisruptionBudget"), ("autoscaling", "HorizontalPodAutoscaler"),
)
# Deleting these loses data or everything inside them: never pruned, only reported.
NEVER_PRUNE: frozenset[tuple[str, str]] = frozenset({
    ("", "Namespace"), ("", "PersistentVolume"), ("", "PersistentVolumeClaim"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
})

T = TypeVar("T")


# -- reaching the cluster ---------------------------------------------------------

NO_CLUSTER_REMEDY = ("set target.kubeconfig (and target.context) in the answers file to the kubeconfig of the "
                     "cluster to install into; digit-tui never falls back to $KUBECONFIG or ~/.kube/config")


@dataclass(frozen=True)
class KubeTarget:
    kubeconfig: str
    context: str | None
    origin: str             # where it came from, for messages: "target.kubeconfig", "the sandbox", ...


def kube_target(config: InstallConfig, cluster_outputs: Mapping[str, Any] | None = None) -> KubeTarget:
    """The cluster to install into: what the cluster phase published (``cluster_outputs``, the
    outputs of its task), else ``target.kubeconfig``, else a kubeconfig a cluster phase wrote into
    the state directory (a graph without the cluster phase, such as ``release_tasks``).

    Never the kubernetes library's default: with none of these, PermanentError naming the key to
    set, raised before any task changes anything in a cluster.
    """
    from digit_tui.tasks.cluster import PublishedCluster

    if cluster_outputs and cluster_outputs.get("kubeconfig"):
        published = PublishedCluster.from_outputs(cluster_outputs)
        return KubeTarget(published.kubeconfig, published.context, f"the cluster phase ({published.provider})")
    target = config.answers.target
    context = target.context
    if target.kubeconfig is not None:
        return KubeTarget(str(target.kubeconfig), context, "target.kubeconfig")
    looked = config.state_dir / "kubeconfig" if config.state_dir is not None else None
    if looked is not None and looked.is_file():
        return KubeTarget(str(looked), context, f"the cluster phase ({looked})")
    raise PermanentError("the answers name no cluster: target.kubeconfig is not set"
                         + (f" and there is no kubeconfig at {looked}" if looked else ""), remedy=NO_CLUSTER_REMEDY)


def connect(target: KubeTarget) -> Kube:
    try:
        return Kube(target.kubeconfig, target.context)
    except Exception as exc:  # kubernetes.config.ConfigException, a missing or unreadable file
        raise PermanentError(f"cannot use the kubeconfig {target.kubeconfig} from {target.origin}: "
                             f"{status_message(exc)}", remedy=NO_CLUSTER_REMEDY) from None


SNAPSHOT_TTL = 10.0     # seconds a list of our objects taken by one check may serve the checks after it


class Cluster:
    """One connection to the target shared by the release tasks of one engine: a pool of
    connections and one discovery cache instead of a handshake and discovery per task, one
    list of our objects per type and namespace for the checks of all services, and one per
    type for their prunes."""

    def __init__(self, config: InstallConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._kube: Kube | None = None
        self._target: KubeTarget | None = None
        self._served: ServedAPIs | None = None
        # (type path, namespace) -> (monotonic time listed, objects labelled managed-by digit-tui)
        self._lists: dict[tuple[str, str | None], tuple[float, list[dict[str, Any]]]] = {}
        self._listing: dict[tuple[str, str | None], threading.Lock] = {}
        self._discovering = threading.Lock()
        # For the prunes (``labelled``): type path -> our objects of the type in all namespaces, listed
        # once per connection; service -> what its task applied through it (as the server returned it).
        self._labelled: dict[str, list[dict[str, Any]]] = {}
        self._applied: dict[str, dict[ObjectKey, dict[str, Any]]] = {}
        self._listing_labelled = threading.Lock()

    def ours(self, kube: Kube, rtype: Any, namespace: str | None) -> list[dict[str, Any]]:
        """Every object of ``rtype`` in ``namespace`` that digit-tui labelled, whichever service: on
        a rerun twenty checks in a row share one list per type instead of one per service and type.
        A list serves for SNAPSHOT_TTL seconds and until any service applies or prunes (``changed``),
        so a check never judges from a list older than the last change digit-tui made."""
        key = (rtype.path(namespace), namespace)
        with self._lock:
            if kube is not self._kube:
                return kube.list(rtype, namespace, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}")[0]
            gate = self._listing.setdefault(key, threading.Lock())
        with gate:  # concurrent checks of one type wait for one list rather than each making it
            with self._lock:
                hit = self._lists.get(key)
                if hit is not None and time.monotonic() - hit[0] < SNAPSHOT_TTL:
                    return hit[1]
            started = time.monotonic()
            items, _ = kube.list(rtype, namespace, label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY}")
            with self._lock:
                if kube is self._kube:
                    self._lists[key] = (started, items)
            return items

    def changed(self) -> None:
        """Forget every list: a service is about to apply or prune."""
        with self._lock:
            self._lists.clear()

    def applied(self, kube: Kube, service: str, live: dict[str, Any]) -> None:
        """``service``'s task applied ``live`` (the object as the server returned it)."""
        with self._lock:
            if kube is self._kube:
                self._applied.setdefault(service, {})[object_key(live)] = live

    def labelled(self, kube: Kube, types: Iterable[Any], service: str) -> list[dict[str, Any]]:
        """The objects of ``types`` (all namespaces) that carry ``service``'s label: what its prune
        looks at.

        Only the service's own task applies objects with its label, and it applies them through
        this connection (``applied``). So what carries the label now is what carried it when
        digit-tui's objects of the type were listed, plus what the task applied since: one list
        per type serves the prunes of every service, instead of some twenty lists per service
        (most of a first install's requests, pruning nothing)."""
        types = list(types)
        with self._lock:
            shared = kube is self._kube
        if not shared:
            return kube.list_labelled(types, service_selector(service))
        with self._listing_labelled:  # the services of one wave prune together: the first lists for all
            with self._lock:
                missing = [t for t in types if t.path() not in self._labelled]
            if missing:
                found = kube.list_labelled(missing, f"{MANAGED_BY_LABEL}={MANAGED_BY}")
                by_type: dict[tuple[str, str], list[dict[str, Any]]] = {(t.group, t.kind): [] for t in missing}
                for obj in found:
                    by_type.setdefault(_group_kind(obj), []).append(obj)
                with self._lock:
                    if kube is self._kube:
                        self._labelled.update({t.path(): by_type[(t.group, t.kind)] for t in missing})
        with self._lock:
            listed = [o for t in types for o in self._labelled.get(t.path(), ())]
            since = list(self._applied.get(service, {}).values())
        mine = [o for o in listed if ((o.get("metadata") or {}).get("labels") or {}).get(SERVICE_LABEL) == service]
        kinds = {(t.group, t.kind) for t in types}
        known = {object_key(o) for o in mine}
        return mine + [o for o in since if object_key(o) not in known and _group_kind(o) in kinds]

    def get(self, cluster_outputs: Mapping[str, Any] | None = None) -> Kube:
        target = kube_target(self.config, cluster_outputs)
        with self._lock:
            if self._kube is None or self._target != target:
                self._kube = connect(target)
                self._target = target
                self._served = None
                self._lists.clear()
                self._labelled.clear()
                self._applied.clear()
            return self._kube

    def served(self, kube: Kube) -> ServedAPIs:
        """What the cluster of ``kube`` serves, read by discovery once per connection (the
        API groups a conversion involves only; a service's own CRDs never change them)."""
        with self._discovering:  # the checks of a rerun start together: one discovery for all of them
            with self._lock:
                if self._served is not None and kube is self._kube:
                    return self._served
            served = _call("discover the cluster's API versions", kube, lambda: ServedAPIs.from_kube(kube))
            with self._lock:
                if kube is self._kube:
                    self._served = served
            return served

    def for_task(self, task: Task, ctx: TaskContext) -> Kube:
        """The connection to the cluster the cluster phase published (when the graph has one), and
        the task's network endpoint set to its API server: when the network drops, the task waits
        for exactly the server it talks to, whichever kubeconfig named it."""
        kube = self.get(ctx.output(CLUSTER_TASK))
        url = urlsplit(kube.server)
        if url.hostname:
            port = url.port or (443 if url.scheme == "https" else 80)
            task.endpoints = (Endpoint(url.hostname, port, "cluster API", scheme=url.scheme or "https"),)
        return kube


AGAIN = "then run `digit-tui install` again"


def api_error(what: str, exc: BaseException, server: str = "", kubeconfig: str = "") -> TaskError:
    """A one-line task error for an API failure: transient when retrying can help, permanent with
    a remedy of its own for a certificate, credentials, rights or a name that does not resolve."""
    if isinstance(exc, TaskError):
        return exc
    if isinstance(exc, UnknownType):
        return PermanentError(f"{what}: {exc}", remedy="install the CRD or operator that provides it, or "
                                                       "remove the object from the chart")
    if isinstance(exc, KubeError):
        return PermanentError(f"{what}: {exc}")
    failure = failure_of(exc)
    if failure is not None:
        problem, remedy = explain(failure, kubeconfig or "the kubeconfig", server)
        if failure.transient:
            return TransientError(f"{what}: {problem}", remedy=remedy)
        return PermanentError(f"{what}: {problem}", remedy=f"{remedy}; {AGAIN}")
    if classify(exc) is ErrorKind.TRANSIENT:
        where = f" at {server}" if server else ""
        return TransientError(f"{what}: cluster API{where} unreachable or failing ({status_message(exc)})")
    return PermanentError(f"{what}: {status_message(exc)}",
                          remedy=f"fix the chart or the environment file, {AGAIN}")


def _call(what: str, kube: Kube, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except NotReady:
        raise
    except Exception as exc:
        raise api_error(what, exc, kube.server, kube.kubeconfig) from exc


# -- desired state ------------------------------------------------------------------

def managed(obj: Mapping[str, Any], service: str, digest: str, tag: str | None = None) -> dict[str, Any]:
    """The object as applied: our labels, the digest annotation and the tag it was rendered with
    ("" for the chart's own: the running tag a later render takes, see ``runningtags``)."""
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), MANAGED_BY_LABEL: MANAGED_BY, SERVICE_LABEL: service}
    meta["annotations"] = {**(meta.get("annotations") or {}), DIGEST_ANNOTATION: digest, TAG_ANNOTATION: tag or ""}
    return {**obj, "metadata": meta}


def _group_kind(obj: Mapping[str, Any]) -> tuple[str, str]:
    return str(obj.get("apiVersion", "")).rpartition("/")[0], str(obj.get("kind", ""))


def service_selector(service: str) -> str:
    return f"{MANAGED_BY_LABEL}={MANAGED_BY},{SERVICE_LABEL}={service}"


def prune_types(kube: Kube, extra: Iterable[tuple[str, str]] = ()) -> list[Any]:
    kinds = [k for k in (*PRUNE_KINDS, *extra) if k not in NEVER_PRUNE]
    return kube.types_for(kinds)


def applied_by_us(obj: Mapping[str, Any]) -> bool:
    """Whether digit-tui applied this object. Controllers copy labels onto what they create
    (the Endpoints of a Service), so the label alone does not make an object ours to prune."""
    meta = obj.get("metadata") or {}
    fields = meta.get("managedFields")
    if fields:
        return any(f.get("manager") == FIELD_MANAGER and f.get("operation") == "Apply" for f in fields)
    # Without managedFields: an owner, or another controller's managed-by label, marks a copy.
    others = [k for k in (meta.get("labels") or {}) if k.endswith("/managed-by") and k != MANAGED_BY_LABEL]
    return not meta.get("ownerReferences") and not others


def prune_objects(kube: Kube, live: Iterable[Mapping[str, Any]], keep: set[ObjectKey],
                  log: Callable[[str], None]) -> int:
    """Delete ``live`` objects not in ``keep`` (never namespaces, volumes or CRDs); returns how many."""
    removed = 0
    for obj in live:
        key = object_key(obj)  # as listed: the namespace is always filled in for namespaced objects
        if key in keep or (key.group, key.kind) in NEVER_PRUNE or not applied_by_us(obj):
            continue
        if kube.delete(str(obj.get("apiVersion")), key.kind, key.name, key.namespace or None):
            log(f"pruned {key} (no longer rendered)")
            removed += 1
    return removed


# -- one service ----------------------------------------------------------------------

class ServiceTask(Task):
    """Apply one service's rendered objects, prune what it stopped rendering, wait until ready."""

    witnessed = True    # its rendered file (``read_rendered``) and the API through Kube

    def __init__(self, service: str, deps: Iterable[str], *, cluster: Cluster, policy: WaitPolicy | None = None,
                 module: str | None = None) -> None:
        self.service = service
        self.cluster = cluster
        self.policy = policy or WaitPolicy(deadline=DEFAULT_DEADLINE)
        # "release/core": screens group a module's services under the release phase
        phase = f"release/{module}" if module else "release"
        super().__init__(service, f"Deploy {service}", phase, tuple(deps),
                         retry=RetryPolicy(attempts=4, base_delay=1.0, max_delay=20.0),
                         timeout=self.policy.deadline + APPLY_ALLOWANCE)

    def _info(self, ctx: TaskContext) -> dict[str, Any]:
        info = (ctx.output(RENDER).get("services") or {}).get(self.service)
        if not info:
            raise PermanentError(f"the render task has no output for {self.service}",
                                 remedy="run `digit-tui install` again")
        return dict(info)

    def _desired(self, ctx: TaskContext, kube: Kube) -> Desired:
        """The rendered objects converted for what this cluster serves, labelled and annotated."""
        info = self._info(ctx)
        crds, objects = load_rendered(self.cluster.config.require_state_dir(), self.service)
        conversion = convert_objects([*crds, *objects], self.cluster.served(kube))
        digest = f"sha256:{info['digest']}"
        out = [managed(o, self.service, digest, info.get("tag")) for o in conversion.objects]
        return Desired(info, [o for o in out if o.get("kind") == CRD_KIND],
                       [o for o in out if o.get("kind") != CRD_KIND], conversion)

    def _publish(self, ctx: TaskContext, info: Mapping[str, Any], count: int) -> None:
        ctx.publish("digest", f"sha256:{info['digest']}")
        ctx.publish("tag", info.get("tag"))
        ctx.publish("module", info.get("module"))
        ctx.publish("objects", count)

    # check ------------------------------------------------------------------
    def _converged(self, ctx: TaskContext) -> tuple[bool, str, int]:
        kube = self.cluster.for_task(self, ctx)
        want = self._desired(ctx, kube)
        digest = f"sha256:{want.info['digest']}"
        ok, why = _call(f"check {self.service}", kube, lambda: self._compare(kube, [*want.crds, *want.objects], digest))
        return ok, why, len(want.objects)

    def _compare(self, kube: Kube, desired: list[dict[str, Any]], digest: str) -> tuple[bool, str]:
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for obj in desired:
            ns = str((obj.get("metadata") or {}).get("namespace") or "")
            groups.setdefault((str(obj["apiVersion"]), str(obj["kind"]), ns), []).append(obj)
        for (api_version, kind, ns), objs in groups.items():
            try:
                rtype = kube.resource(api_version, kind)
            except UnknownType:
                return False, f"{kind} ({api_version}) is not served yet"
            where = (ns or DEFAULT_NAMESPACE) if rtype.namespaced else None
            # The same objects a list with service_selector(self.service) returns, from the
            # engine's shared list of everything digit-tui labelled in this type and namespace.
            live = [o for o in self.cluster.ours(kube, rtype, where)
                    if ((o.get("metadata") or {}).get("labels") or {}).get(SERVICE_LABEL) == self.service]
            by_name = {str(o["metadata"]["name"]): o for o in live}
            for obj in objs:
                name = str(obj["metadata"]["name"])
                found = by_name.get(name)
                if found is None:
                    return False, f"{kind} {name} is missing"
                if (found["metadata"].get("annotations") or {}).get(DIGEST_ANNOTATION) != digest:
                    return False, f"{kind} {name} has another rendered digest"
                if is_workload(found) and not readiness(found).ready:
                    return False, f"{kind} {name} is not ready ({readiness(found).detail})"
        return True, "all objects applied and ready"

    async def check(self, ctx: TaskContext) -> bool:
        ok, why, count = await ctx.run_sync(self._converged, ctx)
        if ok:
            self._publish(ctx, self._info(ctx), count)
        else:
            ctx.log(f"check: {why}")
        return ok

    # ensure -----------------------------------------------------------------
    def _log_conversion(self, ctx: TaskContext, conversion: ConversionResult) -> None:
        if not conversion.converted and not conversion.dropped and not conversion.unserved:
            return
        ctx.log(f"{conversion.summary()} (for the API versions the cluster serves)")
        for line in ConversionResult(objects=[], dropped=conversion.dropped, unserved=conversion.unserved).warnings():
            ctx.log(line, level="warning")
        for line in ConversionResult(objects=[], converted=conversion.converted).warnings():
            ctx.log(line)

    def _apply(self, ctx: TaskContext, stop: threading.Event) -> int:
        kube = self.cluster.for_task(self, ctx)
        self.cluster.changed()
        want = self._desired(ctx, kube)
        info, crds, objects = want.info, want.crds, want.objects
        self._log_conversion(ctx, want.conversion)
        for crd in crds:
            _call(f"apply {object_key(crd)}", kube, lambda: kube.apply(crd))  # called at once: crd is this one
        if crds:
            ctx.log(f"applied {len(crds)} CRDs")
            for crd in crds:  # their types must be discovered afresh
                spec = crd.get("spec") or {}
                for version in spec.get("versions") or []:
                    kube.forget(f"{spec.get('group')}/{version.get('name')}")
        served: set[tuple[str, str]] = set()
        for obj in objects:
            if stop.is_set():
                raise asyncio.CancelledError()
            key = object_key(obj)
            av, kind = str(obj["apiVersion"]), str(obj["kind"])
            if crds and (av, kind) not in served:
                _call(f"discover {kind}", kube, lambda: kube.wait_for_type(av, kind))
                served.add((av, kind))
            self.cluster.applied(kube, self.service, _call(f"apply {key}", kube, lambda: kube.apply(obj)))
        ctx.log(f"applied {len(objects)} objects of {self.service} ({info.get('tag') or 'chart tag'})")
        self._prune(ctx, kube, [*crds, *objects])
        workloads = [workload_of(o) for o in objects if is_workload(o)]
        if workloads:
            ctx.log(f"waiting for {', '.join(str(w) for w in workloads)}")
            try:
                _call(f"wait for {self.service}", kube,
                      lambda: wait_ready(kube, workloads, self.policy, stop=stop, progress=ctx.log))
            except NotReady as exc:
                if stop.is_set():
                    raise asyncio.CancelledError() from None
                raise PermanentError(f"{self.service} is not ready: {exc}", remedy=remedy_for(exc.diagnosis)) from None
        return len(objects)

    def _prune(self, ctx: TaskContext, kube: Kube, desired: list[dict[str, Any]]) -> None:
        keep = {key_of(kube, o) for o in desired}
        extra = {_group_kind(o) for o in desired}

        def run() -> int:
            live = self.cluster.labelled(kube, prune_types(kube, extra), self.service)
            return prune_objects(kube, live, keep, ctx.log)

        _call(f"prune {self.service}", kube, run)

    async def ensure(self, ctx: TaskContext) -> None:
        stop = threading.Event()
        try:
            count = await ctx.run_sync(self._apply, ctx, stop)
        except asyncio.CancelledError:
            stop.set()  # the worker thread notices within one watch timeout
            raise
        finally:
            self.cluster.changed()  # lists taken while it applied are not what it left behind
        self._publish(ctx, self._info(ctx), count)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would apply the rendered objects of {self.service} (server-side apply, field manager "
                f"{FIELD_MANAGER}; objects of removed APIs converted for the cluster's served versions), "
                "prune what it no longer renders and wait until ready"]


CRD_KIND = "CustomResourceDefinition"


@dataclass
class Desired:
    """What a service task applies: the rendered objects as converted for the cluster."""

    info: dict[str, Any]                # the render task's output for the service (module, tag, digest)
    crds: list[dict[str, Any]]
    objects: list[dict[str, Any]]
    conversion: ConversionResult


def key_of(kube: Kube, obj: Mapping[str, Any]) -> ObjectKey:
    """The object's key as the API will list it: namespaced objects without a namespace land in
    ``default`` (as with kubectl), cluster-scoped ones have none."""
    key = object_key(obj)
    try:
        namespaced = kube.resource(str(obj.get("apiVersion", "")), key.kind).namespaced
    except UnknownType:
        namespaced = bool(key.namespace)
    if namespaced and not key.namespace:
        return replace(key, namespace=DEFAULT_NAMESPACE)
    if not namespaced and key.namespace:
        return replace(key, namespace="")
    return key


def workload_of(obj: Mapping[str, Any]) -> Workload:
    wl = Workload.of(dict(obj))
    return wl if wl.namespace else replace(wl, namespace=DEFAULT_NAMESPACE)


# -- the release record -------------------------------------------------------------------

class ReleaseRecordTask(Task):
    """Record the deployed release in ConfigMap digit-tui-release and prune removed services."""

    witnessed = True    # the API, through Kube

    def __init__(self, deps: Iterable[str], *, cluster: Cluster) -> None:
        self.cluster = cluster
        super().__init__(RELEASE_TASK, "Record the deployed release", "release", tuple(deps),
                         retry=RetryPolicy(attempts=4), timeout=300.0)

    def _desired(self, ctx: TaskContext) -> tuple[dict[str, Any], dict[str, str]]:
        out = ctx.output(RENDER)
        services = out.get("services") or {}
        record = {name: {"module": info.get("module"), "tag": info.get("tag"), "digest": f"sha256:{info['digest']}"}
                  for name, info in services.items()}
        # In the render's order, not the mapping's: outputs read back from the journal have their
        # keys sorted, and a resumed (or checked-ahead) record must not differ from the one written.
        names = [n for n in out.get("order") or () if n in services] or list(services)
        modules = list(dict.fromkeys(str(services[n].get("module")) for n in names))
        data = {"release": str(out.get("release") or ""), "environment": self.cluster.config.environment,
                "modules": ",".join(modules), "services.json": json.dumps(record, sort_keys=True, indent=1)}
        skipped = [str(name) for name in out.get("skipped") or ()]
        if skipped:
            # Left out on purpose: the health view shows them as such, never as missing.
            data["skipped"] = ",".join(skipped)
        return record, data

    def _kept(self, ctx: TaskContext, record: Mapping[str, Any]) -> set[str]:
        """Services whose objects stay: those of the release, and those skipped on purpose (an
        operator leaving a service out does not ask to delete what an earlier install deployed)."""
        return set(record) | {str(name) for name in ctx.output(RENDER).get("skipped") or ()}

    def _configmap(self, data: dict[str, str]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": RELEASE_CONFIGMAP, "namespace": RELEASE_NAMESPACE,
                             "labels": {MANAGED_BY_LABEL: MANAGED_BY}},
                "data": data}

    def _orphans(self, kube: Kube, current: set[str]) -> list[dict[str, Any]]:
        # Objects of other phases (monitoring, Jenkins: labelled digit.org/phase) are not the release's to prune.
        live = kube.list_labelled(prune_types(kube), f"{MANAGED_BY_LABEL}={MANAGED_BY},{SERVICE_LABEL},!digit.org/phase")
        return [o for o in live if ((o.get("metadata") or {}).get("labels") or {}).get(SERVICE_LABEL) not in current
                and _group_kind(o) not in NEVER_PRUNE]

    def _state(self, ctx: TaskContext) -> tuple[bool, str]:
        record, data = self._desired(ctx)
        kube = self.cluster.for_task(self, ctx)

        def look() -> tuple[bool, str]:
            live = kube.get("v1", "ConfigMap", RELEASE_CONFIGMAP, RELEASE_NAMESPACE)
            if live is None or (live.get("data") or {}) != data:
                return False, f"ConfigMap {RELEASE_NAMESPACE}/{RELEASE_CONFIGMAP} is not up to date"
            orphans = self._orphans(kube, self._kept(ctx, record))
            if orphans:
                names = sorted({o["metadata"]["labels"][SERVICE_LABEL] for o in orphans})
                return False, f"objects of removed services remain: {', '.join(names)}"
            return True, "recorded"

        return _call("check the release record", kube, look)

    async def check(self, ctx: TaskContext) -> bool:
        ok, why = await ctx.run_sync(self._state, ctx)
        if ok:
            self._publish(ctx)
        else:
            ctx.log(f"check: {why}")
        return ok

    def _publish(self, ctx: TaskContext) -> None:
        record, data = self._desired(ctx)
        ctx.publish("release", data["release"])
        ctx.publish("services", record)

    def _write(self, ctx: TaskContext) -> None:
        record, data = self._desired(ctx)
        kube = self.cluster.for_task(self, ctx)

        def run() -> None:
            orphans = self._orphans(kube, self._kept(ctx, record))
            for name in sorted({o["metadata"]["labels"][SERVICE_LABEL] for o in orphans}):
                ctx.log(f"pruning service {name}: it is no longer in the release")
            prune_objects(kube, orphans, set(), ctx.log)
            kube.apply(self._configmap(data))

        _call("record the release", kube, run)
        ctx.log(f"recorded release {data['release']} ({len(record)} services) in ConfigMap "
                f"{RELEASE_NAMESPACE}/{RELEASE_CONFIGMAP}")

    async def ensure(self, ctx: TaskContext) -> None:
        await ctx.run_sync(self._write, ctx)
        self._publish(ctx)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return [f"would write ConfigMap {RELEASE_NAMESPACE}/{RELEASE_CONFIGMAP} and prune services removed "
                "from the release"]

