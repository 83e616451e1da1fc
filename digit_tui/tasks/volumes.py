"""The volumes phase: persistent volumes for ZooKeeper, Kafka and Elasticsearch (data and master).

``volumes`` (before helm-config):

* dynamic: the StorageClass the answers name, or else the cluster's default one, must exist;
  otherwise a permanent error names it and lists the classes that exist;
* static: one PersistentVolume per replica of each stateful service, for the disks the terraform
  outputs list (iSCSI targets, NFS exports, EBS / Azure disk / Cinder IDs), sized from the sizing
  plan, pre-bound (``claimRef``) to the claim the StatefulSet will create, reclaim policy Retain,
  created by server-side apply (field manager ``digit-tui-volumes``). Each PV is what the
  release's own chart renders for the same disk, so the release re-applying it changes nothing.
  A PV that exists for another disk stops the task: a PV's disk can never change.

It publishes what helm-config writes into the environment file's ``persistence`` blocks:
``volumes`` (``EnvInputs.volumes``), ``env_overrides`` (``EnvInputs.service_overrides``),
``storage_mode``, ``storage_provider`` and ``storage_class``; nobody pastes a volume ID.

``volumes-bound`` (alongside the backbone services, after cluster-configs): waits, within a
deadline, until every claim of the backbone StatefulSets is bound, to its pre-created PV in
static mode, and otherwise names each claim that is not and why (no PV of that size or class,
wrong access mode, a PV still held by a deleted claim, a missing StorageClass, a claim bound to
a freshly provisioned volume instead of the disk...). A reason waiting cannot change fails the
task once it has lasted ``grace`` seconds.

Tasks take typed inputs only (never ``ctx.settings``); the cluster is reached through the
kubeconfig and context they are given, never a default one.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from digit_tui import yamldump
from digit_tui.atomic import atomic_write
from digit_tui.digit.disks import DiskHints, candidate_outputs, disks_from_outputs
from digit_tui.digit.volumes import (
    BACKBONE,
    BY_SERVICE,
    DEFAULT_SIZES,
    ENV_FILE_PROVIDERS,
    PROVIDERS,
    SAMPLE,
    ChartLayout,
    DiskSet,
    DiskSize,
    claims,
    env_overrides,
    layout_limits,
    persistent_volumes,
    pv_source,
    unsupported,
    volume_refs,
)
from digit_tui.engine.task import Endpoint, RetryPolicy, Task, TaskContext
from digit_tui.errors import InputError, PermanentError, TaskError
from digit_tui.infra.kubeclaims import ClaimState, default_class, explain_claim

if TYPE_CHECKING:
    from digit_tui.answers.model import Storage
    from digit_tui.infra.kube import Kube
    from digit_tui.tasks.release import Cluster

TASK_ID = "volumes"
BOUND_TASK_ID = "volumes-bound"
PHASE = "volumes"
FIELD_MANAGER = "digit-tui-volumes"
VOLUMES_DIR = "volumes"                     # <state_dir>/volumes/persistent-volumes.yaml
MANIFEST = "persistent-volumes.yaml"
DEFAULT_BOUND_DEADLINE = 300.0              # below a backbone service's readiness deadline (600 s)
AGAIN = "then run `digit-tui install` again"

Obj = dict[str, Any]


# -- typed inputs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class KubeAccess:
    """The cluster, as the cluster phase gives it: a kubeconfig and its context."""

    kubeconfig: Path
    context: str | None = None


@dataclass(frozen=True)
class StorageChoice:
    """The answers' storage section as this phase reads it (``of`` converts ``answers.model.Storage``)."""

    mode: str = "dynamic"                   # static or dynamic
    provider: str = "none"                  # iscsi, nfs, aws, azure, cinder; none for dynamic
    storage_class: str = ""
    iscsi_portal: str = ""
    iqn_prefix: str = ""
    nfs_server: str = ""

    @classmethod
    def of(cls, storage: Storage | StorageChoice) -> StorageChoice:
        if isinstance(storage, StorageChoice):
            return storage
        iscsi = storage.iscsi
        return cls(mode=storage.mode, provider=storage.provider, storage_class=storage.storage_class or "",
                   iscsi_portal=iscsi.portal if iscsi else "", iqn_prefix=(iscsi.iqn_prefix or "") if iscsi else "",
                   nfs_server=storage.nfs.server if storage.nfs else "")

    def __post_init__(self) -> None:
        if self.mode not in ("static", "dynamic"):
            raise ValueError(f"storage mode {self.mode!r} is neither static nor dynamic")
        if self.mode == "static" and self.provider not in PROVIDERS:
            raise ValueError(f"static volumes need a provider ({', '.join(PROVIDERS)}), not {self.provider!r}")

    @property
    def static(self) -> bool:
        return self.mode == "static"


@dataclass(frozen=True)
class TerraformOutputs:
    """Where the disks' IDs come from: outputs given here (an SDC team's hand-over), and/or those a
    terraform task publishes (``task``: its id, read at run time and made a dependency).
    ``names``: service -> output name, where an output is not named as DIGIT's modules name it."""

    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    task: str | None = None
    names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Where ``values`` came from, as messages name it: "storage." for the answers' storage.disks.
    source: str = "terraform output "

    def read(self, ctx: TaskContext) -> dict[str, Any]:
        found = dict(self.values)
        if self.task:
            found.update(ctx.output(self.task))
        return found


class PlannedVolume(Protocol):
    """A row of the sizing plan's volume table (``sizing.model.VolumePlan``)."""

    @property
    def workload(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def size_gb(self) -> int: ...


def sizes_from_plan(rows: Iterable[PlannedVolume]) -> dict[str, DiskSize]:
    """Disk count and size of each stateful service from the sizing plan (its ``volumes``); the
    largest row wins where a service has several."""
    out: dict[str, DiskSize] = {}
    for row in rows:
        if row.workload not in BY_SERVICE:
            continue
        old = out.get(row.workload)
        if old is None or row.size_gb > old.gib:
            out[row.workload] = DiskSize(int(row.count), int(row.size_gb))
    return out


def storage_outputs(storage: StorageChoice, layout: ChartLayout, sizes: Mapping[str, DiskSize],
                    disks: DiskSet | None, storage_class: str) -> dict[str, Any]:
    """What the ``volumes`` task publishes. helm-config makes ``EnvInputs(storage_mode=storage_mode,
    storage_provider=storage_provider, storage_class=storage_class, volumes=volumes,
    service_overrides=env_overrides)`` of it; ``claims`` and ``persistent_volumes`` are for the
    screens and the bound check."""
    in_env_file = disks is not None and disks.provider in ENV_FILE_PROVIDERS
    every = claims(layout, sizes)
    return {
        # NFS PVs are pre-bound and need no chart's help: the env file sees dynamic storage.
        "storage_mode": "static" if in_env_file else "dynamic",
        "storage_provider": storage.provider if in_env_file else "none",
        "storage_class": storage_class,
        "volumes": volume_refs(disks, sizes) if disks is not None else {},
        "env_overrides": env_overrides(layout, sizes, disks),
        "layout": layout.family,
        "claims": {f"{c.namespace}/{c.name}": (c.pv if storage.static else "") for c in every},
        "persistent_volumes": [c.pv for c in every] if storage.static else [],
    }


# -- the cluster ----------------------------------------------------------------------------

class _Connection:
    """One client per task, made on first use (never at graph build) from the given kubeconfig, or
    (``access`` None) from the one the cluster phase's task published; with ``shared`` (the install
    graph's connection, tasks/release.py ``Cluster``) that one, so a rerun's checks make one
    connection and one discovery for all their tasks."""

    def __init__(self, access: KubeAccess | None, shared: Cluster | None = None) -> None:
        self.access = access
        self.shared = shared
        self._kube: Kube | None = None
        self._lock = threading.Lock()

    def _access(self, ctx: TaskContext) -> KubeAccess:
        if self.access is not None:
            return self.access
        from digit_tui.tasks.cluster import TASK_ID as CLUSTER, PublishedCluster

        published = PublishedCluster.from_outputs(ctx.output(CLUSTER))
        return KubeAccess(Path(published.kubeconfig), published.context)

    def get(self, task: Task, ctx: TaskContext) -> Kube:
        from digit_tui.infra.kube import Kube
        from digit_tui.infra.kube import status_message

        if self.access is None and self.shared is not None:
            return self.shared.for_task(task, ctx)
        with self._lock:
            if self._kube is None:
                access = self._access(ctx)
                try:
                    self._kube = Kube(access.kubeconfig, access.context)
                except Exception as exc:  # a missing or unusable kubeconfig
                    raise PermanentError(f"cannot use the kubeconfig {access.kubeconfig}: {status_message(exc)}",
                                         remedy="the cluster phase writes it; check that phase, " + AGAIN) from None
            kube = self._kube
        url = urlsplit(kube.server)
        if url.hostname:
            # While the network is down the task waits for exactly the API server it talks to.
            port = url.port or (443 if url.scheme == "https" else 80)
            task.endpoints = (Endpoint(url.hostname, port, "cluster API", scheme=url.scheme or "https"),)
        return kube


def _api(what: str, kube: Kube, fn: Any) -> Any:
    from digit_tui.tasks.release import api_error

    try:
        return fn()
    except TaskError:
        raise
    except Exception as exc:
        raise api_error(what, exc, kube.server, kube.kubeconfig) from exc


def _storage_classes(kube: Kube) -> list[Obj]:
    items, _ = kube.list(kube.resource("storage.k8s.io/v1", "StorageClass"))
    return items


def _names(objs: Iterable[Mapping[str, Any]]) -> str:
    return ", ".join(sorted(str((o.get("metadata") or {}).get("name", "")) for o in objs)) or "none"


def _subset(want: Any, have: Any) -> bool:
    """Whether every field of ``want`` is in ``have`` with the same value (the API adds defaults
    and the volume controller adds claimRef.uid: those are not differences)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and _subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(_subset(a, b) for a, b in zip(want, have))
    return bool(want == have)


def _describe_source(pv: Mapping[str, Any]) -> str:
    kind, src = pv_source(pv)
    if not isinstance(src, Mapping):
        return kind or "no volume source"
    ident = src.get("volumeHandle") or src.get("volumeID") or src.get("diskURI") or src.get("iqn") or \
        (f"{src.get('server')}:{src.get('path')}" if kind == "nfs" else src.get("path"))
    return f"{kind} {ident}"


# -- volumes ----------------------------------------------------------------------------------

class VolumesTask(Task):
    """Check the StorageClass (dynamic) or create the pre-bound PVs (static); publish the env
    file's storage inputs."""

    def __init__(self, storage: Storage | StorageChoice, sizes: Mapping[str, DiskSize], kube: KubeAccess | None,
                 state_dir: Path, *, layout: ChartLayout = SAMPLE, terraform: TerraformOutputs = TerraformOutputs(),
                 deps: Sequence[str] = (), shared: Cluster | None = None) -> None:
        self.storage = StorageChoice.of(storage)
        self.sizes = MappingProxyType({s: v for s, v in sizes.items() if s in BY_SERVICE and v.replicas > 0})
        self.layout = layout
        self.terraform = terraform
        self.state_dir = Path(state_dir)
        self.connection = _Connection(kube, shared)
        deps = tuple(deps) + ((terraform.task,) if terraform.task and terraform.task not in deps else ())
        title = "Create the backbone's persistent volumes" if self.storage.static else "Check the StorageClass"
        # Dynamic: the StorageClasses, read through Kube. Static PVs come from disks that may be
        # terraform's: not compared later in one pass.
        self.witnessed = not self.storage.static
        super().__init__(TASK_ID, title, PHASE, deps, retry=RetryPolicy(attempts=4, base_delay=1.0, max_delay=20.0),
                         timeout=300.0)

    # -- static: what to create -------------------------------------------------------------
    def _disks(self, ctx: TaskContext) -> DiskSet:
        s = self.storage
        hints = DiskHints(portal=s.iscsi_portal, iqn_prefix=s.iqn_prefix, nfs_server=s.nfs_server,
                          output_names=self.terraform.names, source=self.terraform.source)
        try:
            disks = disks_from_outputs(s.provider, self.terraform.read(ctx),
                                       {svc: size.replicas for svc, size in self.sizes.items()}, hints)
        except InputError as exc:
            origin = f" in the terraform outputs of task {self.terraform.task}" if self.terraform.task else \
                " in the terraform outputs" if self.terraform.source.startswith("terraform") else \
                " in storage.disks of the answers (as many disks as the sizing plan's replicas)"
            raise PermanentError(f"the disks for static {s.provider} volumes: {exc.message}",
                                 remedy=(exc.expected or "") + f"{origin}; {AGAIN}") from None
        limit = layout_limits(self.layout, disks)
        if limit:
            raise PermanentError(limit, remedy="give the disks as those charts can mount them, " + AGAIN)
        return disks

    def _publish(self, ctx: TaskContext, disks: DiskSet | None, storage_class: str) -> None:
        for key, value in storage_outputs(self.storage, self.layout, self.sizes, disks, storage_class).items():
            ctx.publish(key, value)

    def _compare(self, kube: Kube, desired: list[Obj]) -> tuple[bool, str]:
        """Whether every PV is there as desired; PermanentError when any exists for another disk or
        another claim (applying cannot change either), before anything is created."""
        behind = ""
        for pv in desired:
            name = pv["metadata"]["name"]
            live = kube.get("v1", "PersistentVolume", name)
            if live is None:
                behind = behind or f"PV {name} does not exist"
                continue
            kind, src = pv_source(pv)
            have_kind, have_src = pv_source(live)
            if kind != have_kind or not _subset(src, have_src):
                raise PermanentError(
                    f"PV {name} already exists for another disk ({_describe_source(live)}); the outputs name "
                    f"{_describe_source(pv)}, and a PV's disk cannot change",
                    remedy=f"if PV {name} and its disk are no longer used, delete the PV (kubectl delete pv {name}: "
                           "its reclaim policy Retain keeps the disk and its data); otherwise correct the disks "
                           f"in the terraform outputs; {AGAIN}")
            ref, have_ref = pv["spec"]["claimRef"], (live.get("spec") or {}).get("claimRef") or {}
            if have_ref and (have_ref.get("namespace"), have_ref.get("name")) != (ref["namespace"], ref["name"]):
                raise PermanentError(f"PV {name} is bound to claim {have_ref.get('namespace')}/{have_ref.get('name')}, "
                                     f"not {ref['namespace']}/{ref['name']}",
                                     remedy=f"free it (or delete PV {name} if unused), {AGAIN}")
            if not _subset(pv["spec"], live.get("spec") or {}) or \
                    not _subset(pv["metadata"].get("labels") or {}, (live.get("metadata") or {}).get("labels") or {}):
                behind = behind or f"PV {name} differs from what the disks and sizes give"
        return (False, behind) if behind else (True, "every PV exists as desired")

    # -- dynamic ---------------------------------------------------------------------------
    def _storage_class(self, kube: Kube) -> tuple[str | None, list[Obj]]:
        classes = _api("list the StorageClasses", kube, lambda: _storage_classes(kube))
        wanted = self.storage.storage_class
        if wanted:
            return (wanted if any((c.get("metadata") or {}).get("name") == wanted for c in classes) else None), classes
        return default_class(classes), classes

    def _class_error(self, classes: list[Obj]) -> PermanentError:
        wanted = self.storage.storage_class
        if wanted:
            return PermanentError(f"StorageClass {wanted} does not exist (the cluster has: {_names(classes)})",
                                  remedy=f"create StorageClass {wanted}, or set storage.storage_class to one the "
                                         f"cluster has, or use storage.mode: static; {AGAIN}")
        return PermanentError(f"the cluster has no default StorageClass (it has: {_names(classes)})",
                              remedy="name one in storage.storage_class, mark one the default (kubectl annotate "
                                     "storageclass NAME storageclass.kubernetes.io/is-default-class=true), or use "
                                     f"storage.mode: static; {AGAIN}")

    def _class_warnings(self, ctx: TaskContext, name: str, classes: list[Obj]) -> None:
        found = next(c for c in classes if (c.get("metadata") or {}).get("name") == name)
        if found.get("provisioner") == "kubernetes.io/no-provisioner":
            ctx.log(f"StorageClass {name} provisions nothing (kubernetes.io/no-provisioner): the claims bind only "
                    "to PVs someone created in it", level="warning")

    # -- the task --------------------------------------------------------------------------
    def _warn_unsupported(self, ctx: TaskContext) -> None:
        why = unsupported(self.layout, self.storage.mode)
        if why:
            # DIGIT's own deployer installs these charts this way: a warning the operator sees, not a refusal.
            ctx.log(f"{why}: the backbone's data is not kept across pod restarts; use storage.mode: static "
                    "with the disks' IDs to keep it", level="warning")

    def _state(self, ctx: TaskContext) -> tuple[bool, str]:
        self._warn_unsupported(ctx)
        kube = self.connection.get(self, ctx)
        if not self.storage.static:
            name, classes = self._storage_class(kube)
            if name is None:
                return False, str(self._class_error(classes))
            self._publish(ctx, None, name)
            return True, f"StorageClass {name} exists"
        disks = self._disks(ctx)
        desired = persistent_volumes(self.layout, disks, self.sizes)
        ok, why = _api("read the PersistentVolumes", kube, lambda: self._compare(kube, desired))
        if ok:
            self._publish(ctx, disks, "")
        return ok, why

    async def check(self, ctx: TaskContext) -> bool:
        ok, why = await ctx.run_sync(self._state, ctx)
        if not ok:
            ctx.log(f"check: {why}")
        return ok

    def _converge(self, ctx: TaskContext) -> None:
        self._warn_unsupported(ctx)
        kube = self.connection.get(self, ctx)
        if not self.storage.static:
            name, classes = self._storage_class(kube)
            if name is None:
                raise self._class_error(classes)
            self._class_warnings(ctx, name, classes)
            how = "named in the answers" if self.storage.storage_class else "the cluster's default"
            ctx.log(f"dynamic volumes: StorageClass {name} ({how}) provisions the backbone's claims")
            self._publish(ctx, None, name)
            return
        disks = self._disks(ctx)
        desired = persistent_volumes(self.layout, disks, self.sizes)
        _api("read the PersistentVolumes", kube, lambda: self._compare(kube, desired))  # refuse another disk first
        by_pv = {c.pv: c for c in claims(self.layout, self.sizes)}
        for i, pv in enumerate(desired):
            claim = by_pv[pv["metadata"]["name"]]
            _api(f"apply PV {claim.pv}", kube, lambda pv=pv: kube.apply(pv, field_manager=FIELD_MANAGER))
            disk = disks.disks[claim.service][claim.ordinal]
            ctx.log(f"PV {claim.pv}: {self.sizes[claim.service].quantity} on {disk.describe(disks.provider)}, "
                    f"for claim {claim.namespace}/{claim.name}")
            ctx.progress(i + 1, len(desired), f"PV {claim.pv}")
        self._write_manifest(desired)
        ctx.log(f"{len(desired)} PersistentVolumes for {', '.join(self.sizes)} ({disks.provider}, "
                f"{self.layout.family} charts); a copy is in {self.state_dir / VOLUMES_DIR / MANIFEST}")
        self._publish(ctx, disks, "")

    def _write_manifest(self, desired: list[Obj]) -> None:
        # For the operator (and DIGIT's own tooling): what was created, to read or re-apply by hand.
        directory = self.state_dir / VOLUMES_DIR
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(directory / MANIFEST, yamldump.safe_dump_all(desired, sort_keys=False), mode=0o600)

    async def ensure(self, ctx: TaskContext) -> None:
        await ctx.run_sync(self._converge, ctx)

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        s = self.storage
        why = unsupported(self.layout, s.mode)
        if not s.static:
            which = f"StorageClass {s.storage_class}" if s.storage_class else "the cluster's default StorageClass"
            lines: list[str] = [f"would check that {which} exists; the backbone's claims are provisioned through it"]
            return lines + ([f"warning: {why}: the backbone's data would not outlive its pods"] if why else [])
        lines = []
        try:
            disks: DiskSet | None = disks_from_outputs(
                s.provider, self.terraform.read(ctx), {svc: size.replicas for svc, size in self.sizes.items()},
                DiskHints(s.iscsi_portal, s.iqn_prefix, s.nfs_server, self.terraform.names, self.terraform.source))
        except InputError as exc:
            disks = None
            known = f"after task {self.terraform.task} runs" if self.terraform.task else "from the terraform outputs"
            lines.append(f"  the disks are known {known} ({exc.message})")
        for c in claims(self.layout, self.sizes):
            where = disks.disks[c.service][c.ordinal].describe(s.provider) if disks is not None else \
                f"{s.provider} disk {c.ordinal} of " \
                f"{self.terraform.names.get(c.service) or candidate_outputs(BY_SERVICE[c.service])[0]}"
            lines.append(f"would create PV {c.pv} ({self.sizes[c.service].quantity}, Retain) on {where}, "
                         f"for claim {c.namespace}/{c.name}")
        return lines


# -- volumes-bound ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClaimReport:
    where: str              # "kafka-cluster/data-kafka-v2-0", or "StatefulSet kafka-cluster/kafka-v2"
    state: ClaimState
    pv: str = ""


class VolumesBoundTask(Task):
    """Wait for the backbone StatefulSets' claims to bind; name each one that does not, and why."""

    witnessed = True    # the API, through Kube

    def __init__(self, storage: Storage | StorageChoice, sizes: Mapping[str, DiskSize], kube: KubeAccess | None,
                 state_dir: Path, *, layout: ChartLayout = SAMPLE, deps: Sequence[str] = (TASK_ID,),
                 deadline: float = DEFAULT_BOUND_DEADLINE, grace: float = 10.0, interval: float = 1.0,
                 shared: Cluster | None = None) -> None:
        self.storage = StorageChoice.of(storage)
        self.sizes = MappingProxyType({s: v for s, v in sizes.items() if s in BY_SERVICE and v.replicas > 0})
        self.layout = layout
        self.state_dir = Path(state_dir)
        self.deadline = deadline
        self.grace = grace
        self.interval = interval
        self.connection = _Connection(kube, shared)
        super().__init__(BOUND_TASK_ID, "Wait for the backbone's volume claims to bind", PHASE, tuple(deps),
                         retry=RetryPolicy(attempts=4, base_delay=1.0, max_delay=20.0), timeout=deadline + 60.0)

    def _observe(self, kube: Kube) -> list[ClaimReport]:
        classes = _storage_classes(kube)
        pvs, _ = kube.list(kube.resource("v1", "PersistentVolume"))
        out: list[ClaimReport] = []
        for svc in BACKBONE:
            size = self.sizes.get(svc.service)
            if size is None:
                continue
            sts = kube.get("apps/v1", "StatefulSet", svc.service, svc.namespace)
            where = f"StatefulSet {svc.namespace}/{svc.service}"
            if sts is None:
                out.append(ClaimReport(where, ClaimState(False, "not applied yet")))
                continue
            spec = sts.get("spec") or {}
            templates = [str((t.get("metadata") or {}).get("name", "")) for t in spec.get("volumeClaimTemplates") or ()]
            if not templates:
                out.append(ClaimReport(where, ClaimState(
                    False, "has no volumeClaimTemplates: its data is on an emptyDir (persistence is off in the "
                           "environment file)", definite=True)))
                continue
            replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
            for template in templates:
                for i in range(replicas):
                    out.append(self._claim(kube, svc.service, svc.namespace, template, i, replicas, size, pvs, classes))
        return out

    def _claim(self, kube: Kube, service: str, namespace: str, template: str, ordinal: int, replicas: int,
               size: DiskSize, pvs: list[Obj], classes: list[Obj]) -> ClaimReport:
        name = f"{template}-{service}-{ordinal}"
        where = f"{namespace}/{name}"
        expected: str | None = None
        if self.storage.static:
            if template != self.layout.template(service):
                made = f"{self.layout.template(service)}-{service}-N"
                return ClaimReport(where, ClaimState(False, f"the PVs were made for claims {made} ({self.layout.family} "
                                                            "charts), not for this release's charts", definite=True))
            if ordinal >= size.replicas:
                return ClaimReport(where, ClaimState(False, f"no disk was made for it: the StatefulSet runs {replicas} "
                                                            f"replicas, the sizes give {size.replicas}", definite=True))
            expected = self.layout.pv_name(service, ordinal)
        claim = kube.get("v1", "PersistentVolumeClaim", name, namespace)
        bound = claim is not None and (claim.get("status") or {}).get("phase") == "Bound"
        events = kube.events_for(namespace, "PersistentVolumeClaim", name) if claim is not None and not bound else []
        state = explain_claim(claim, namespace=namespace, name=name, pvs=pvs, classes=classes, events=events,
                              expected_pv=expected)
        volume = str(((claim or {}).get("spec") or {}).get("volumeName") or "")
        return ClaimReport(where, state, volume)

    def _publish(self, ctx: TaskContext, reports: list[ClaimReport]) -> None:
        ctx.publish("claims", {r.where: r.pv for r in reports})

    def _look(self, ctx: TaskContext) -> tuple[bool, list[ClaimReport]]:
        kube = self.connection.get(self, ctx)
        reports = _api("read the backbone's claims", kube, lambda: self._observe(kube))
        return all(r.state.bound for r in reports), reports

    async def check(self, ctx: TaskContext) -> bool:
        ok, reports = await ctx.run_sync(self._look, ctx)
        if ok:
            self._publish(ctx, reports)
        else:
            first = next(r for r in reports if not r.state.bound)
            ctx.log(f"check: {first.where}: {first.state.reason}")
        return ok

    def _wait(self, ctx: TaskContext, stop: threading.Event) -> None:
        start = time.monotonic()
        since: dict[tuple[str, str], float] = {}    # a definite reason, and when it was first seen
        last_said = ""
        while True:
            ok, reports = self._look(ctx)
            if ok:
                self._publish(ctx, reports)
                ctx.log(f"all {len(reports)} claims of the backbone are bound")
                return
            unbound = [r for r in reports if not r.state.bound]
            now = time.monotonic()
            since = {k: v for k, v in since.items() if any((r.where, r.state.reason) == k for r in unbound)}
            for r in unbound:
                if r.state.definite:
                    since.setdefault((r.where, r.state.reason), now)
            done = len(reports) - len(unbound)
            ctx.progress(done, len(reports), f"{done}/{len(reports)} claims bound")
            said = f"{unbound[0].where}: {unbound[0].state.reason}"
            if said != last_said:
                ctx.log(f"waiting: {said}" + (f" (and {len(unbound) - 1} more)" if len(unbound) > 1 else ""))
                last_said = said
            lasting = [k for k, t in since.items() if now - t >= self.grace]
            if lasting or now - start >= self.deadline:
                raise self._failure(unbound, waited=now - start, definite=bool(lasting))
            if stop.wait(self.interval):
                raise asyncio.CancelledError()

    def _failure(self, unbound: list[ClaimReport], *, waited: float, definite: bool) -> PermanentError:
        names = "; ".join(f"{r.where}: {r.state.reason}" for r in unbound)
        head = f"{len(unbound)} of the backbone's claims did not bind" if definite else \
            f"{len(unbound)} of the backbone's claims are not bound after {waited:.0f}s"
        remedy = f"fix what each claim's reason names, {AGAIN}" if definite else \
            f"check the nodes, the provisioner and the backbone's pods (kubectl get pvc,pods -A), {AGAIN} to keep waiting"
        return PermanentError(f"{head}: {names}", remedy=remedy)

    async def ensure(self, ctx: TaskContext) -> None:
        stop = threading.Event()
        try:
            await ctx.run_sync(self._wait, ctx, stop)
        except asyncio.CancelledError:
            stop.set()      # the waiting thread notices within one interval
            raise

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        target = "their pre-created PVs" if self.storage.static else "volumes provisioned through the StorageClass"
        count = sum(size.replicas for size in self.sizes.values())
        return [f"would wait up to {self.deadline:.0f}s for the {count} claims of {', '.join(self.sizes)} to bind "
                f"to {target}, naming any that does not and why"]


# -- the phase ----------------------------------------------------------------------------------

def volume_tasks(storage: Storage | StorageChoice, *, kube: KubeAccess | None, state_dir: Path,
                 sizes: Mapping[str, DiskSize] = DEFAULT_SIZES, layout: ChartLayout = SAMPLE,
                 terraform: TerraformOutputs = TerraformOutputs(), after: Sequence[str] = (),
                 bound_after: Sequence[str] = (), bound_deadline: float = DEFAULT_BOUND_DEADLINE,
                 shared: Cluster | None = None) -> list[Task]:
    """``volumes`` (after ``after``, and the terraform task when the disks come from one) and
    ``volumes-bound`` (after ``volumes`` and ``bound_after``: place it after cluster-configs,
    beside the backbone services, so it names an unbound claim while their pods wait for it).
    ``shared``: the graph's connection to the cluster the cluster phase published (``kube`` None)."""
    return [
        VolumesTask(storage, sizes, kube, state_dir, layout=layout, terraform=terraform, deps=after, shared=shared),
        VolumesBoundTask(storage, sizes, kube, state_dir, layout=layout, deps=(TASK_ID, *bound_after),
                         deadline=bound_deadline, shared=shared),
    ]
