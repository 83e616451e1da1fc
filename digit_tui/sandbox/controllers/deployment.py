"""Deployment: ReplicaSets per pod template, rolling updates (maxSurge / maxUnavailable) or Recreate,
revision annotations, history clean-up, and the status `kubectl rollout status` reads."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import (parse_time, clone, int_or_percent, is_controlled_by, is_deleting, meta, name_of,
                                                ns_of, owner_ref, set_condition, spec_of, status_of,
                                                template_hash, uid_of)
from digit_tui.sandbox.resources import DEPLOYMENTS, REPLICASETS, ResourceType

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"


def _revision(rs: Obj) -> int:
    try:
        return int((meta(rs).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def _template_without_hash(template: Obj) -> Obj:
    t = clone(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(HASH_LABEL, None)
    return t


def _spec_replicas(rs: Obj) -> int:
    return int(spec_of(rs).get("replicas", 0) or 0)


def _avail(rs: Obj) -> int:
    return int(status_of(rs).get("availableReplicas", 0) or 0)


class DeploymentController(Controller):
    name = "deployment"
    watches: tuple[ResourceType, ...] = (DEPLOYMENTS, REPLICASETS)
    component = "deployment-controller"
    child_type = REPLICASETS
    owner_kind = "Deployment"

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        d = self.cache.get(DEPLOYMENTS, ns, name)
        if d is None or is_deleting(d):
            return
        spec = spec_of(d)
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        template = spec.get("template") or {}
        all_rs = [rs for rs in self.cache.owned(REPLICASETS, uid_of(d)) if is_controlled_by(rs, d)]
        want_tpl = _template_without_hash(template)
        new_rs = next((rs for rs in all_rs if _template_without_hash(spec_of(rs).get("template") or {}) == want_tpl),
                      None)
        old_rss = sorted((rs for rs in all_rs if rs is not new_rs), key=lambda r: (_revision(r),
                                                                                      meta(r).get("creationTimestamp", "")))
        strategy = spec.get("strategy") or {}
        rolling = strategy.get("type", "RollingUpdate") != "Recreate"
        ru = strategy.get("rollingUpdate") or {}
        surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, True) if rolling else 0
        unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False) if rolling else replicas
        if rolling and surge == 0 and unavailable == 0:
            unavailable = 1
        unavailable = min(unavailable, replicas)
        paused = bool(spec.get("paused"))
        created_new = False

        if new_rs is None and not paused:
            new_rs = self._create_rs(d, template, old_rss, replicas, surge, rolling)
            if new_rs is None:
                return  # hash collision: collisionCount bumped, the next pass retries
            created_new = True
            all_rs.append(new_rs)
        elif new_rs is not None:
            max_old = max((_revision(r) for r in old_rss), default=0)
            if _revision(new_rs) <= max_old and not paused:
                self._annotate_rs(new_rs, revision=max_old + 1, replicas=replicas, surge=surge)

        if new_rs is not None and not paused:
            self._sync_revision(d, new_rs)
            if rolling:
                self._rollout_rolling(d, new_rs, old_rss, replicas, surge, unavailable)
            else:
                self._rollout_recreate(d, new_rs, old_rss, replicas)
        elif paused and new_rs is not None and _spec_replicas(new_rs) != replicas and not any(
                _spec_replicas(r) for r in old_rss):
            self._scale(d, new_rs, replicas)

        self._cleanup(d, [r for r in old_rss])
        d = self.cache.get(DEPLOYMENTS, ns, name) or d
        self._update_status(d, new_rs, all_rs, replicas, unavailable, created_new, paused)

    # --- replica sets --------------------------------------------------------------------------
    def _create_rs(self, d: Obj, template: Obj, old_rss: list[Obj], replicas: int, surge: int,
                   rolling: bool) -> Obj | None:
        collisions = int(status_of(d).get("collisionCount", 0) or 0)
        h = template_hash(_template_without_hash(template), collisions)
        tpl = clone(template)
        tpl.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = h
        sel = clone(spec_of(d).get("selector") or {})
        sel.setdefault("matchLabels", {})[HASH_LABEL] = h
        revision = max((_revision(r) for r in old_rss), default=0) + 1
        if rolling:
            total = sum(_spec_replicas(r) for r in old_rss)
            start = max(0, min(replicas, replicas + surge - total))
        else:
            start = 0 if any(_spec_replicas(r) or status_of(r).get("replicas") for r in old_rss) else replicas
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels[HASH_LABEL] = h
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {
                "name": f"{name_of(d)}-{h}", "namespace": ns_of(d), "labels": labels,
                "annotations": {DESIRED: str(replicas), MAX_REPLICAS: str(replicas + surge), REVISION: str(revision)},
                "ownerReferences": [owner_ref(d, DEPLOYMENTS)],
            },
            "spec": {"replicas": start, "minReadySeconds": int(spec_of(d).get("minReadySeconds", 0) or 0),
                     "selector": sel, "template": tpl},
        }
        try:
            created = self.store.create(REPLICASETS, rs)
        except Exception as exc:
            if getattr(exc, "code", None) != 409:
                raise
            existing = self.cache.get(REPLICASETS, ns_of(d), rs["metadata"]["name"])
            if existing is not None and is_controlled_by(existing, d):
                return existing
            new = clone(d)
            new.setdefault("status", {})["collisionCount"] = collisions + 1
            self.store.update(DEPLOYMENTS, new, subresource="status")
            return None
        self.event(d, DEPLOYMENTS, "ScalingReplicaSet", f"Scaled up replica set {name_of(created)} from 0 to {start}")
        return created

    def _annotate_rs(self, rs: Obj, *, revision: int | None = None, replicas: int, surge: int) -> None:
        new = clone(rs)
        ann = new["metadata"].setdefault("annotations", {})
        if revision is not None:
            ann[REVISION] = str(revision)
        ann[DESIRED] = str(replicas)
        ann[MAX_REPLICAS] = str(replicas + surge)
        if new != rs:
            self.store.update(REPLICASETS, new)

    def _sync_revision(self, d: Obj, new_rs: Obj) -> None:
        rev = (meta(new_rs).get("annotations") or {}).get(REVISION)
        if rev and (meta(d).get("annotations") or {}).get(REVISION) != rev:
            new = clone(d)
            new["metadata"].setdefault("annotations", {})[REVISION] = rev
            self.store.update(DEPLOYMENTS, new)

    def _scale(self, d: Obj, rs: Obj, to: int) -> None:
        rs = self.cache.get(REPLICASETS, ns_of(rs), name_of(rs)) or rs
        before = _spec_replicas(rs)
        if before == to:
            return
        new = clone(rs)
        new["spec"]["replicas"] = to
        self.store.update(REPLICASETS, new)
        verb = "up" if to > before else "down"
        self.event(d, DEPLOYMENTS, "ScalingReplicaSet", f"Scaled {verb} replica set {name_of(rs)} from {before} to {to}")

    def _rollout_rolling(self, d: Obj, new_rs: Obj, old_rss: list[Obj], replicas: int, surge: int,
                         unavailable: int) -> None:
        new_spec = _spec_replicas(new_rs)
        total = new_spec + sum(_spec_replicas(r) for r in old_rss)
        if new_spec > replicas:
            self._scale(d, new_rs, replicas)
            new_spec = replicas
        elif new_spec < replicas:
            allowed = replicas + surge - total
            up = min(allowed, replicas - new_spec)
            if up > 0:
                self._scale(d, new_rs, new_spec + up)
                new_spec += up
        total = new_spec + sum(_spec_replicas(r) for r in old_rss)
        min_available = replicas - unavailable
        new_rs = self.cache.get(REPLICASETS, ns_of(new_rs), name_of(new_rs)) or new_rs
        new_unavailable = max(0, new_spec - _avail(new_rs))
        max_down = total - min_available - new_unavailable
        if max_down <= 0:
            return
        # First the old pods that are not available anyway, then available ones within the budget.
        for rs in old_rss:
            if max_down <= 0:
                break
            spec_n = _spec_replicas(rs)
            unhealthy = spec_n - _avail(rs)
            if spec_n == 0 or unhealthy <= 0:
                continue
            down = min(max_down, unhealthy)
            self._scale(d, rs, spec_n - down)
            max_down -= down
        available_total = _avail(new_rs) + sum(_avail(r) for r in old_rss)
        budget = min(max_down, available_total - min_available)
        for rs in old_rss:
            if budget <= 0:
                break
            rs = self.cache.get(REPLICASETS, ns_of(rs), name_of(rs)) or rs
            spec_n = _spec_replicas(rs)
            if spec_n == 0:
                continue
            down = min(spec_n, budget)
            self._scale(d, rs, spec_n - down)
            budget -= down

    def _rollout_recreate(self, d: Obj, new_rs: Obj, old_rss: list[Obj], replicas: int) -> None:
        for rs in old_rss:
            if _spec_replicas(rs):
                self._scale(d, rs, 0)
        if any(int(status_of(r).get("replicas", 0) or 0) for r in old_rss):
            return  # wait until the old pods are gone
        if _spec_replicas(new_rs) != replicas:
            self._scale(d, new_rs, replicas)

    def _cleanup(self, d: Obj, old_rss: list[Obj]) -> None:
        limit = spec_of(d).get("revisionHistoryLimit")
        limit = 10 if limit is None else int(limit)
        idle = [r for r in old_rss if not _spec_replicas(r) and not int(status_of(r).get("replicas", 0) or 0)]
        excess = len(idle) - limit
        for rs in idle[:max(0, excess)]:
            try:
                self.store.delete(REPLICASETS, ns_of(rs), name_of(rs))
            except Exception as exc:
                if getattr(exc, "code", None) != 404:
                    raise

    # --- status --------------------------------------------------------------------------------
    def _update_status(self, d: Obj, new_rs: Obj | None, all_rs: list[Obj], replicas: int, unavailable: int,
                       created_new: bool, paused: bool) -> None:
        all_rs = [self.cache.get(REPLICASETS, ns_of(r), name_of(r)) or r for r in all_rs]
        if new_rs is not None:
            new_rs = self.cache.get(REPLICASETS, ns_of(new_rs), name_of(new_rs)) or new_rs
        old = status_of(d)
        now = self.now()
        st_replicas = sum(int(status_of(r).get("replicas", 0) or 0) for r in all_rs)
        updated = int(status_of(new_rs).get("replicas", 0) or 0) if new_rs is not None else 0
        ready = sum(int(status_of(r).get("readyReplicas", 0) or 0) for r in all_rs)
        available = sum(_avail(r) for r in all_rs)
        spec_total = sum(_spec_replicas(r) for r in all_rs)
        status: Obj = {"observedGeneration": meta(d).get("generation", 1), "replicas": st_replicas,
                       "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                       "unavailableReplicas": max(0, spec_total - available)}
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not status[k]:
                del status[k]
        if old.get("collisionCount"):
            status["collisionCount"] = old["collisionCount"]
        conds = list(old.get("conditions") or [])
        if available >= replicas - unavailable:
            conds = set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                                  "Deployment has minimum availability.", now, update_time=True)
        else:
            conds = set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                                  "Deployment does not have minimum availability.", now, update_time=True)
        rs_name = name_of(new_rs) if new_rs is not None else ""
        prog = next((c for c in conds if c.get("type") == "Progressing"), None)
        complete = (new_rs is not None and updated == replicas and st_replicas == replicas and available >= replicas)
        deadline = spec_of(d).get("progressDeadlineSeconds")
        if paused:
            if not prog or prog.get("reason") != "DeploymentPaused":
                conds = set_condition(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused",
                                      now, update_time=True)
        elif complete:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                                  f'ReplicaSet "{rs_name}" has successfully progressed.', now, update_time=True)
        elif created_new:
            conds = set_condition(conds, "Progressing", "True", "NewReplicaSetCreated",
                                  f'Created new replica set "{rs_name}"', now, update_time=True)
        else:
            progressed = any(status.get(k, 0) > old.get(k, 0) for k in ("updatedReplicas", "readyReplicas",
                                                                        "availableReplicas")) or \
                status.get("replicas", 0) != old.get("replicas", 0) or prog is None or \
                prog.get("reason") in ("NewReplicaSetAvailable", "DeploymentPaused", "DeploymentResumed") or \
                (prog.get("reason") == "NewReplicaSetCreated" and rs_name not in prog.get("message", ""))
            timed_out = False
            if prog is not None and deadline is not None and prog.get("reason") != "ProgressDeadlineExceeded":
                last = parse_time(prog.get("lastUpdateTime"))
                timed_out = not progressed and last is not None and time.time() - last > int(deadline)
            if prog is not None and prog.get("reason") == "ProgressDeadlineExceeded" and not progressed:
                pass
            elif timed_out:
                conds = set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                                      f'ReplicaSet "{rs_name}" has timed out progressing.', now, update_time=True)
                self.event(d, DEPLOYMENTS, "ProgressDeadlineExceeded",
                           f'ReplicaSet "{rs_name}" has timed out progressing.', "Warning")
            elif progressed:
                conds = set_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                                      f'ReplicaSet "{rs_name}" is progressing.', now, update_time=True, touch=True)
            if deadline is not None and not timed_out:
                self.enqueue((ns_of(d), name_of(d)), int(deadline) + 1)
        # Available first, Progressing second, as the real controller orders them on creation.
        conds.sort(key=lambda c: {"Available": 0, "Progressing": 1}.get(c.get("type", ""), 2))
        status["conditions"] = conds
        if status != old:
            new = clone(d)
            new["status"] = status
            self.store.update(DEPLOYMENTS, new, subresource="status")
