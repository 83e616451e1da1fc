"""Postgres as the cluster sees it: deployed into it (``database.mode: in-cluster``) and checked
from inside it (every mode).

    in-cluster:    cluster-configs -> postgres-render -> postgres-in-cluster -> postgres-from-cluster
    vm, external:  postgres (from the jump host) -> cluster-configs -> postgres-from-cluster

and every service with a Flyway migration image (the ``-db`` entries of the release manifest)
waits for ``postgres-from-cluster``: a database the pods cannot reach stops the install there,
with the check's log, instead of as a crash loop in each service.

**In-cluster**: the DIGIT source's ``postgres`` chart (DIGIT-DevOps' ``backbone-services/
postgres``, or the bundled sample's), rendered and applied the release's way (``phasecharts``).
It starts after cluster-configs, which renders the namespace and the ``db`` Secret the chart reads
its role and password from: the Secret holds ``database.password_file`` or the password
helm-config generated into the secrets file, and this phase never reads it (so it cannot reach
the journal, a log or a command line). The data lives on a claim ``postgres-data`` that this
phase creates (dynamic provisioning: ``storage.storage_class``, else the cluster's default class),
and the chart is told to mount it rather than make its own (DIGIT's chart pins its claim to a
static PV). The Service the services connect to is the environment file's ``db-host``, which must
be ``postgres.egov`` (``selection.IN_CLUSTER_DB_HOST``, what helm-config writes for this mode):
the phase refuses another name rather than deploy a database nothing points at. If the release
manifest itself lists ``postgres`` (DIGIT's quickstart releases do), the release deploys it and
this phase only checks it: one thing deploys the database.

**The check** (``postgres-from-cluster``): a Job in namespace egov running ``pg_isready`` and a
login with ``SELECT 1`` against the environment file's ``db-host`` (postgres.egov, db-service.egov
or a managed database's name), as the ``db`` Secret's user (``dbservice.verification_job``). The
task creates it under a fresh name, waits for it to complete or fail, reports a failure with the
pod's termination reason and its last log lines, and deletes a failed Job (its pods go with it). It
runs in ``check`` (like the jump host's login check): a rerun checks again and changes nothing.

A passed Job is kept, labelled with a digest of what its verdict depends on (the database, the
check image, the outputs of the tasks the check follows) and annotated with this machine's clock:
for TRUST_SECONDS a check with the same digest trusts it and runs no Job (a rerun of a finished
install then costs one list, not a Job's create, run and delete). A changed digest, an older Job or
a failed one is deleted and a Job runs again. TRUST_SECONDS is also the Job's TTL, so the record
removes itself when it stops counting. On the sandbox the Job's pod is simulated: it cannot run pg_isready, so it completes after
the sandbox's run time, or fails when the sandbox's crash rules match the check image.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from digit_tui.answers.config import InstallConfig
from digit_tui.digit.dbservice import (
    CHECK_IMAGE, CHECK_LABEL, DbCheck, NoDatabaseInEnv, db_check_of, job_result, verification_job,
)
from digit_tui.digit.selection import IN_CLUSTER_DB_HOST, Release
from digit_tui.engine.errors import PermanentError, TaskError
from digit_tui.engine.task import RetryPolicy, Task, TaskContext
from digit_tui.infra import reads
from digit_tui.infra.kube import Kube
from digit_tui.infra.kubeclaims import default_class
from digit_tui.infra.kubewait import CRASH, JOB_FAILED, NotReady, WaitPolicy, Workload, wait_ready
from digit_tui.tasks.helmconfig import TASK_ID as HELM_CONFIG
from digit_tui.tasks.phasecharts import (
    PhaseChart, PhaseInputs, PhaseRenderTask, PhaseServiceTask, PhaseUnavailable, missing_charts,
)
from digit_tui.tasks.render import TASK_ID as RENDER
from digit_tui.tasks.release import CLUSTER_CONFIGS, DEFAULT_DEADLINE, Cluster, Desired, api_error
from digit_tui.tasks.waitremedy import remedy_for

PHASE = "postgres"
CHART = "postgres"
DEPLOY_TASK_ID = "postgres-in-cluster"
CHECK_TASK_ID = "postgres-from-cluster"
CLAIM = "postgres-data"
CLAIM_SIZE = "10Gi"
CHECK_DEADLINE = 180.0          # the Job's own deadline (120 s) and the time to schedule it
# A passed check Job counts this long for a check with the same inputs (docs/rerun-and-caches.md);
# it is also the Job's TTL, so the record removes itself when it stops counting.
TRUST_SECONDS = 600
INPUTS_LABEL = "digit.org/check-inputs"     # digest of what the verdict depends on (_inputs_key)
CHECKED_AT = "digit.org/checked-at"         # this machine's clock (seconds) when the Job was made
NO_CHART_REMEDY = ("use database.mode vm or external, or a DIGIT-DevOps tree with "
                   "deploy-as-code/helm/charts/backbone-services/postgres")
CHECK_REMEDY = ("the database does not answer or refuses the login from the pods: check that the db-host Service "
                "leads to it (kubectl -n egov get endpoints), that pg_hba.conf lets the nodes' network in, and that "
                "the db Secret's username and password are the role's; then run `digit-tui install` again")


def trusted_age(job: Mapping[str, Any], key: str, now: float) -> float | None:
    """Seconds since a check Job with inputs ``key`` was made, when it passed and that is less than
    TRUST_SECONDS ago by this machine's clock (the API server's may differ); None: it does not count."""
    meta = job.get("metadata") or {}
    if (meta.get("labels") or {}).get(INPUTS_LABEL) != key or job_result(job.get("status")) != "succeeded":
        return None
    try:
        age = now - float((meta.get("annotations") or {}).get(CHECKED_AT, ""))
    except ValueError:
        return None
    return age if 0 <= age < TRUST_SECONDS else None


def _in_cluster_names() -> set[str]:
    return {IN_CLUSTER_DB_HOST, f"{IN_CLUSTER_DB_HOST}.svc", f"{IN_CLUSTER_DB_HOST}.svc.cluster.local"}


def database_of(values: Mapping[str, Any], *, image: str = CHECK_IMAGE) -> DbCheck:
    """Where the services' environment file says the database is (PermanentError if it does not)."""
    try:
        return db_check_of(values, image=image)
    except NoDatabaseInEnv as exc:
        raise PermanentError(f"the generated environment file does not say where the database is: {exc}",
                             remedy="set db-host and db-url under cluster-configs.configmaps.egov-config.data in "
                                    "digit.environment_file, or leave them to digit-tui; run `digit-tui install` "
                                    "again") from None
    except ValueError as exc:
        raise PermanentError(f"the environment file's database is not usable: {exc}",
                             remedy="fix db-host / db-url in digit.environment_file") from None


def postgres_chart(config: InstallConfig, inputs: PhaseInputs) -> PhaseChart:
    """The postgres chart's values (the environment file's database, a claim this phase makes) and
    that claim."""
    db = database_of(inputs.base)
    if db.host not in _in_cluster_names():
        raise PermanentError(f"database.mode is in-cluster but the environment file's db-host is {db.host}, not the "
                             f"in-cluster database's Service {IN_CLUSTER_DB_HOST}",
                             remedy=f"set db-host: {IN_CLUSTER_DB_HOST} (and db-url) in digit.environment_file, or "
                                    f"use database.mode external with host: {db.host}")
    namespace = IN_CLUSTER_DB_HOST.split(".", 1)[1]
    values: dict[str, Any] = {"postgresDatabase": db.database, "port": db.port, "namespace": namespace,
                              # DIGIT's chart: no PV or claim of its own; its volume names CLAIM already.
                              "persistence": {"enabled": False, "claimName": CLAIM}}
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": CLAIM_SIZE}}}
    if config.answers.storage.storage_class:
        spec["storageClassName"] = config.answers.storage.storage_class
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": CLAIM, "namespace": namespace, "labels": {"app": CHART}}, "spec": spec}
    # The chart reads its values at the top and, like DIGIT's charts, its block under its name.
    return PhaseChart(CHART, {**values, CHART: values}, objects=(claim,))


class PostgresInClusterTask(PhaseServiceTask):
    """Apply the postgres chart and its claim, wait until the server is ready."""

    def __init__(self, deps: Iterable[str], *, cluster: Cluster, policy: WaitPolicy) -> None:
        super().__init__(CHART, deps, cluster=cluster, phase=PHASE, task_id=DEPLOY_TASK_ID,
                         title="Deploy PostgreSQL into the cluster (database.mode in-cluster)", policy=policy)

    def _desired(self, ctx: TaskContext, kube: Kube) -> Desired:
        want = super()._desired(ctx, kube)
        name, _, namespace = IN_CLUSTER_DB_HOST.partition(".")
        if not any(o.get("kind") == "Service" and o["metadata"].get("name") == name
                   and o["metadata"].get("namespace") == namespace for o in want.objects):
            raise PermanentError(f"the postgres chart renders no Service {name} in namespace {namespace}, which the "
                                 f"services' db-host {IN_CLUSTER_DB_HOST} names",
                                 remedy="fix the chart's name or namespace values, or use database.mode external")
        return want

    def _class_problem(self, ctx: TaskContext) -> PermanentError | None:
        kube = self.cluster.for_task(self, ctx)
        try:
            classes, _ = kube.list(kube.resource("storage.k8s.io/v1", "StorageClass"))
        except Exception as exc:
            raise api_error("list the StorageClasses", exc, kube.server, kube.kubeconfig) from exc
        wanted = self.cluster.config.answers.storage.storage_class
        names = ", ".join(sorted(str(c["metadata"]["name"]) for c in classes)) or "none"
        if wanted and not any(c["metadata"].get("name") == wanted for c in classes):
            return PermanentError(f"StorageClass {wanted} does not exist (the cluster has: {names}): the in-cluster "
                                  f"database's claim {CLAIM} cannot bind",
                                  remedy="set storage.storage_class to a class the cluster has, or use database.mode vm")
        if not wanted and default_class(classes) is None:
            return PermanentError(f"the cluster has no default StorageClass (it has: {names}): the in-cluster "
                                  f"database's claim {CLAIM} cannot bind",
                                  remedy="name one in storage.storage_class, mark one the default, or use "
                                         "database.mode vm")
        return None

    async def ensure(self, ctx: TaskContext) -> None:
        problem = await ctx.run_sync(self._class_problem, ctx)
        if problem is not None:
            raise problem
        await super().ensure(ctx)
        ctx.log(f"PostgreSQL is ready in the cluster; the services reach it at {IN_CLUSTER_DB_HOST}")

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        where = (f"StorageClass {self.cluster.config.answers.storage.storage_class}"
                 if self.cluster.config.answers.storage.storage_class else "the cluster's default StorageClass")
        return [f"would create the claim {CLAIM} ({CLAIM_SIZE}, {where}) and apply the DIGIT source's postgres chart "
                f"(Service {IN_CLUSTER_DB_HOST}; role and password from the db Secret cluster-configs renders), "
                "then wait until it is ready"]


class ClusterDbCheckTask(Task):
    """``pg_isready`` and a login, run as a Job inside the cluster against the services' db-host."""

    # The environment file and the check Jobs, through Kube; a passed Job is trusted for
    # TRUST_SECONDS, and so is a record of it (``reads.until``). A check that runs a Job writes:
    # that run is not recorded.
    witnessed = True

    def __init__(self, config: InstallConfig, deps: Iterable[str], *, cluster: Cluster, image: str = CHECK_IMAGE,
                 policy: WaitPolicy | None = None) -> None:
        self.policy = policy or WaitPolicy(deadline=CHECK_DEADLINE)
        super().__init__(CHECK_TASK_ID, "Check the database from inside the cluster (pg_isready and a login)",
                         PHASE, tuple(deps), retry=RetryPolicy(attempts=3, base_delay=2.0, max_delay=20.0),
                         timeout=self.policy.deadline + 120.0)
        self.config, self.cluster, self.image = config, cluster, image

    def _target(self, ctx: TaskContext) -> DbCheck:
        from digit_tui.digit.pipeline import base_values

        env_file = ctx.output(HELM_CONFIG).get("env_file")
        if not env_file:
            raise PermanentError("the helm-config task published no environment file", remedy="run `digit-tui install` again")
        reads.file(str(env_file))
        # The environment file alone: the check needs no secret, the Job reads the db Secret itself.
        return database_of(base_values(str(env_file), None, keep=True), image=self.image)

    def _inputs_key(self, ctx: TaskContext, check: DbCheck) -> str:
        """What a check's verdict depends on: the database the pods are told to use, the image, and
        the outputs of the tasks it follows (cluster-configs' digest changes with the db Secret and
        with db-service's address, postgres-in-cluster's with the server deployed)."""
        inputs = [check.host, check.port, check.database, check.namespace, check.secret, check.image,
                  {dep: ctx.output(dep) for dep in sorted(self.deps)}]
        return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:40]

    def _verify(self, ctx: TaskContext, stop: threading.Event) -> DbCheck:
        kube = self.cluster.for_task(self, ctx)
        check = self._target(ctx)
        key = self._inputs_key(ctx, check)
        try:
            trusted = self._tidy(ctx, kube, check.namespace, key)
        except Exception as exc:
            raise api_error("list the database check Jobs", exc, kube.server, kube.kubeconfig) from exc
        if trusted is not None:
            name, age = trusted
            reads.until(time.time() - age + TRUST_SECONDS)
            ctx.log(f"Job {check.namespace}/{name} passed {age:.0f}s ago against {check.database} at "
                    f"{check.host}:{check.port} with the same inputs; trusted (a passed check counts for "
                    f"{TRUST_SECONDS}s)")
            return check
        job = verification_job(check, run=secrets.token_hex(3), labels={INPUTS_LABEL: key},
                               annotations={CHECKED_AT: f"{time.time():.0f}"}, ttl=TRUST_SECONDS)
        name = str(job["metadata"]["name"])
        try:
            kube.apply(job)
        except Exception as exc:
            raise api_error("create the database check Job", exc, kube.server, kube.kubeconfig) from exc
        ctx.log(f"Job {check.namespace}/{name}: pg_isready and a login to {check.database} at {check.host}:{check.port} "
                f"as the db Secret's user")
        passed = False
        try:
            wait_ready(kube, [Workload.of(job)], self.policy, stop=stop)
            passed = True
        except NotReady as exc:
            if stop.is_set():
                raise asyncio.CancelledError() from None
            why = self._pod_failure(kube, check.namespace, name, log="last log lines" not in exc.diagnosis.message)
            # A failed login or an unreachable server is the database's; an image that cannot be pulled or
            # a missing db Secret is the cluster's, in the release's words.
            remedy = CHECK_REMEDY if exc.diagnosis.kind in (JOB_FAILED, CRASH) else remedy_for(exc.diagnosis)
            raise PermanentError(f"the database {check.host}:{check.port}/{check.database} does not pass the check from "
                                 f"inside the cluster: {exc.diagnosis.message}" + (f"; {why}" if why else ""),
                                 remedy=remedy) from None
        except TaskError:
            raise
        except Exception as exc:
            raise api_error("wait for the database check Job", exc, kube.server, kube.kubeconfig) from exc
        finally:
            if not passed:   # a passed Job is kept: the record a rerun trusts (``_tidy``), gone after its TTL
                self._delete(ctx, kube, check.namespace, name)
        return check

    def _pod_failure(self, kube: Kube, namespace: str, job: str, *, log: bool) -> str:
        """The last failed pod's termination reason and exit code, and (``log``) its last log lines
        ("" if unknown)."""
        try:
            live = kube.get("batch/v1", "Job", job, namespace) or {}
            uid = (live.get("metadata") or {}).get("uid")
            labels = (((live.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
            selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or (f"controller-uid={uid}" if uid else "")
            if not selector:
                return ""
            pods, _ = kube.list(kube.resource("v1", "Pod"), namespace, label_selector=selector)
        except Exception:  # the report is a nicety: the Job's own condition already says it failed
            return ""
        failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        if not failed:
            return ""
        pod = failed[-1]
        pod_name = str(pod["metadata"]["name"])
        term: Mapping[str, Any] = {}
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (cs.get("state") or {}).get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
        head = f"pod {pod_name}: {term.get('reason') or 'failed'}" + \
            (f" (exit code {term['exitCode']})" if term.get("exitCode") is not None else "")
        if not log:
            return head
        try:
            text = kube.pod_log(namespace, pod_name, "check", tail_lines=5)
        except Exception:
            return head
        tail = " | ".join(ln.strip() for ln in text.splitlines() if ln.strip())
        return head + (f", log: {tail[:400]}" if tail else "")

    def _tidy(self, ctx: TaskContext, kube: Kube, namespace: str, key: str) -> tuple[str, float] | None:
        """The check Job that passed less than TRUST_SECONDS ago with the same inputs (``key``), as
        (name, seconds since it started); every other check Job is deleted: an earlier check's that
        no longer counts, or one an interrupted attempt left behind."""
        jobs, _ = kube.list(kube.resource("batch/v1", "Job"), namespace, label_selector=f"{CHECK_LABEL}=database")
        trusted: tuple[str, float] | None = None
        for job in jobs:
            meta = job["metadata"]
            name = str(meta["name"])
            if meta.get("deletionTimestamp"):
                continue
            age = trusted_age(job, key, time.time())
            if age is not None and trusted is None:
                trusted = (name, age)
                continue
            kube.delete("batch/v1", "Job", name, namespace, propagation="Background")
            ctx.log(f"deleted the check Job {namespace}/{name}, which no longer counts")
        return trusted

    def _delete(self, ctx: TaskContext, kube: Kube, namespace: str, name: str) -> None:
        try:
            kube.delete("batch/v1", "Job", name, namespace, propagation="Background")
        except Exception as exc:  # the Job's TTL removes it within the hour; say so rather than fail a passed check
            ctx.log(f"could not delete the check Job {namespace}/{name} ({exc.__class__.__name__}); its TTL removes it "
                    "within the hour", level="warning")

    async def check(self, ctx: TaskContext) -> bool:
        stop = threading.Event()
        try:
            db = await ctx.run_sync(self._verify, ctx, stop)
        except asyncio.CancelledError:
            stop.set()
            raise
        ctx.log(f"the pods reach {db.database} at {db.host}:{db.port} and log in as the db Secret's user")
        ctx.publish("host", db.host)
        ctx.publish("port", db.port)
        ctx.publish("database", db.database)
        return True

    async def ensure(self, ctx: TaskContext) -> None:
        await self.check(ctx)   # not reached: check passes or raises; the check changes nothing to converge

    async def dry_run(self, ctx: TaskContext) -> list[str]:
        return ["would run a Job in namespace egov (pg_isready, then a login and SELECT 1 as the db Secret's user) "
                "against the environment file's db-host, report the pod's failure reason and log if it fails, "
                f"and delete the Job then (a passed Job is kept {TRUST_SECONDS // 60} minutes: a check with the same "
                "database and inputs meanwhile trusts it instead of running another)"]


def cluster_database_tasks(config: InstallConfig, release: Release, graph: Mapping[str, Sequence[str]], *,
                           database_checked: Sequence[str] = (), policy: WaitPolicy | None = None,
                           check_image: str = CHECK_IMAGE, cluster: Cluster | None = None) -> list[Task]:
    """The database tasks that reach into the cluster; the last one is ``CHECK_TASK_ID``.

    ``graph``: the release's service graph (does it deploy cluster-configs, or postgres itself?).
    ``database_checked``: the outside database's own tasks (vm, external), which the check follows.
    ``cluster``: the graph's connection, shared with the release's tasks (else one of their own)."""
    cluster = cluster or Cluster(config)
    base = [CLUSTER_CONFIGS] if CLUSTER_CONFIGS in graph else [RENDER]
    check_after = [*base, *database_checked]
    tasks: list[Task] = []
    if config.answers.database.mode == "in-cluster":
        if CHART in graph:
            check_after.append(CHART)          # the release deploys it: one thing does
        elif missing_charts(config, [CHART]):
            # The check stays in the graph (services wait for it), blocked behind the reason.
            unavailable = PhaseUnavailable(DEPLOY_TASK_ID, base, "database.mode is in-cluster but the DIGIT source "
                                           f"has no postgres chart under {release.source.charts_dir}", NO_CHART_REMEDY)
            tasks.append(unavailable)
            check_after.append(unavailable.id)
        else:
            # The render reads only helm-config's files (its own dependency): it runs beside the
            # release's render and cluster-configs instead of after them, off the install's longest chain.
            render = PhaseRenderTask(config, PHASE, lambda inputs: [postgres_chart(config, inputs)], (),
                                     title="Render the in-cluster PostgreSQL chart")
            render.witnessed = True     # postgres_chart reads the answers and helm-config's files only
            deploy = PostgresInClusterTask([render.id, *base], cluster=cluster,
                                           policy=policy or WaitPolicy(deadline=DEFAULT_DEADLINE))
            tasks += [render, deploy]
            check_after.append(deploy.id)
    return [*tasks, ClusterDbCheckTask(config, check_after, cluster=cluster, image=check_image)]
