"""Job: run pods to completion (completions / parallelism / Indexed mode), count failures against
backoffLimit (restarts count too, for OnFailure), activeDeadlineSeconds, Complete / Failed
conditions, and ttlSecondsAfterFinished clean-up."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.replicaset import pod_from_template
from digit_tui.sandbox.controllers.util import (parse_time, clone, is_controlled_by, is_deleting, meta, name_of, ns_of,
                                                pod_is_ready, random_suffix, set_condition, spec_of, status_of,
                                                uid_of)
from digit_tui.sandbox.resources import JOBS, PODS, ResourceType

Obj = dict[str, Any]
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"


def _finished(job: Obj) -> str | None:
    for c in status_of(job).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c.get("type"))
    return None


class JobController(Controller):
    name = "job"
    watches: tuple[ResourceType, ...] = (JOBS, PODS)
    component = "job-controller"
    owner_kind = "Job"

    def __init__(self, mgr: Any) -> None:
        super().__init__(mgr)
        self._seen: dict[str, dict[str, str]] = {}  # job uid -> finished pod uid -> "s" / "f"
        self._not_before: dict[str, float] = {}  # job uid -> monotonic time before which no pod is created

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt.key == PODS.key:
            self.enqueue_owner(obj)
            return
        if event_type == "DELETED":
            self._seen.pop(uid_of(obj), None)
            self._not_before.pop(uid_of(obj), None)
            return
        self.enqueue((ns_of(obj), name_of(obj)))

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        job = self.cache.get(JOBS, ns, name)
        if job is None or is_deleting(job):
            return
        juid = uid_of(job)
        spec = spec_of(job)
        now_s = self.now()
        old = status_of(job)
        pods = [p for p in self.cache.owned_pods(juid) if is_controlled_by(p, job)]
        seen = self._seen.setdefault(juid, {})
        for p in pods:
            phase = status_of(p).get("phase")
            if phase == "Succeeded":
                seen[uid_of(p)] = "s"
            elif phase == "Failed":
                seen[uid_of(p)] = "f"
        active = [p for p in pods if not is_deleting(p) and status_of(p).get("phase") not in ("Succeeded", "Failed")]
        succeeded = max(int(old.get("succeeded", 0) or 0), sum(1 for v in seen.values() if v == "s"))
        failed = max(int(old.get("failed", 0) or 0), sum(1 for v in seen.values() if v == "f"))
        restarts = sum(int(cs.get("restartCount", 0) or 0) for p in active
                       for cs in status_of(p).get("containerStatuses") or ())
        conds = list(old.get("conditions") or [])
        status: Obj = {"startTime": old.get("startTime") or now_s}
        finished = _finished(job)
        if failed > int(old.get("failed", 0) or 0) and finished is None:
            # the real controller backs off before replacing failed pods: 10s, 20s, 40s ... (capped at 6 min)
            self._not_before[juid] = time.monotonic() + self.cfg.delay(min(360.0, 10.0 * 2 ** max(0, failed - 1)))
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        backoff_limit = int(spec.get("backoffLimit", 6) if spec.get("backoffLimit") is not None else 6)
        indexed = spec.get("completionMode") == "Indexed"

        if finished is None:
            reason = None
            deadline = spec.get("activeDeadlineSeconds")
            start = parse_time(status["startTime"])
            if failed + restarts > backoff_limit:
                reason = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
            elif deadline is not None and start is not None and time.time() - start >= int(deadline):
                reason = ("DeadlineExceeded", "Job was active longer than specified deadline")
            elif deadline is not None and start is not None:
                self.enqueue(key, max(0.1, int(deadline) - (time.time() - start) + 0.1))
            if reason is not None:
                for p in active:
                    self._delete(p)
                active = []
                conds = set_condition(conds, "FailureTarget", "True", reason[0], reason[1], now_s)
                conds = set_condition(conds, "Failed", "True", reason[0], reason[1], now_s)
                self.event(job, JOBS, reason[0], reason[1], "Warning")
                finished = "Failed"
            elif (completions is not None and succeeded >= int(completions)) or \
                    (completions is None and succeeded > 0 and not active):
                conds = set_condition(conds, "SuccessCriteriaMet", "True", "CompletionsReached",
                                      "Reached expected number of succeeded pods", now_s)
                conds = set_condition(conds, "Complete", "True", "CompletionsReached",
                                      "Reached expected number of succeeded pods", now_s)
                status["completionTime"] = now_s
                self.event(job, JOBS, "Completed", "Job completed")
                finished = "Complete"
            elif spec.get("suspend"):
                for p in active:
                    self._delete(p)
                active = []
                conds = set_condition(conds, "Suspended", "True", "JobSuspended", "Job suspended", now_s)
            else:
                if any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
                    conds = set_condition(conds, "Suspended", "False", "JobResumed", "Job resumed", now_s)
                if completions is not None:
                    want = min(parallelism, int(completions) - succeeded)
                else:
                    want = parallelism if succeeded == 0 else 0
                missing = want - len(active)
                wait = self._not_before.get(juid, 0.0) - time.monotonic()
                if missing > 0 and wait > 0:
                    self.enqueue(key, wait)
                elif missing > 0:
                    self._create(job, missing, pods if indexed else None, int(completions or 0))
                elif missing < 0:
                    for p in sorted(active, key=lambda p: pod_is_ready(p))[: -missing]:
                        self._delete(p)
        if finished == "Complete" and old.get("completionTime"):
            status["completionTime"] = old["completionTime"]
        active_now = [p for p in self.cache.owned_pods(juid) if is_controlled_by(p, job) and not is_deleting(p)
                      and status_of(p).get("phase") not in ("Succeeded", "Failed")]
        status["active"] = len(active_now)
        status["ready"] = sum(1 for p in active_now if pod_is_ready(p))
        status["succeeded"] = succeeded
        status["failed"] = failed
        status["terminating"] = 0
        status["uncountedTerminatedPods"] = {}
        if indexed:
            done_idx = sorted({int((meta(p).get("annotations") or {}).get(INDEX_ANNOTATION, -1)) for p in pods
                               if status_of(p).get("phase") == "Succeeded"} - {-1})
            if done_idx:
                status["completedIndexes"] = ",".join(str(i) for i in done_idx)
        for k in ("active", "succeeded", "failed"):
            if not status[k]:
                del status[k]
        if conds:
            status["conditions"] = conds
        if status != old:
            new = clone(job)
            new["status"] = status
            self.store.update(JOBS, new, subresource="status")
        ttl = spec.get("ttlSecondsAfterFinished")
        if finished and ttl is not None:
            done_at = parse_time(next((c.get("lastTransitionTime") for c in conds if c.get("type") == finished), None))
            left = (done_at or time.time()) + int(ttl) - time.time()
            if left <= 0:
                try:
                    self.store.delete(JOBS, ns, name, propagation="Background")
                except Exception as exc:
                    if getattr(exc, "code", None) != 404:
                        raise
            else:
                self.enqueue(key, left + 0.05)

    def _create(self, job: Obj, n: int, indexed_pods: list[Obj] | None, completions: int) -> None:
        template = spec_of(job).get("template") or {}
        free: list[int] = []
        if indexed_pods is not None:
            taken = set()
            for p in indexed_pods:
                if status_of(p).get("phase") == "Failed" or is_deleting(p):
                    continue
                idx = (meta(p).get("annotations") or {}).get(INDEX_ANNOTATION)
                if idx is not None:
                    taken.add(int(idx))
            free = [i for i in range(completions) if i not in taken]
        for i in range(n):
            pod = pod_from_template(template, job, JOBS)
            if indexed_pods is not None:
                if i >= len(free):
                    break
                idx = free[i]
                pod["metadata"].setdefault("annotations", {})[INDEX_ANNOTATION] = str(idx)
                pod["metadata"]["labels"][INDEX_ANNOTATION] = str(idx)
                pod["metadata"]["name"] = f"{name_of(job)}-{idx}-{random_suffix(self.mgr.rng)}"
            else:
                pod["metadata"]["name"] = f"{name_of(job)}-{random_suffix(self.mgr.rng)}"
            pod["metadata"].pop("generateName", None)
            self.create_pod(job, JOBS, pod)

    def _delete(self, pod: Obj) -> None:
        try:
            self.store.delete(PODS, ns_of(pod), name_of(pod))
        except Exception as exc:
            if getattr(exc, "code", None) != 404:
                raise
