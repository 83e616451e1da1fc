"""ReplicaSet: keep spec.replicas pods from the template; report replicas/ready/available."""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import (clone, controller_uid, get_condition, is_controlled_by, is_deleting,
                                                meta, name_of, ns_of, owner_ref, pod_is_active, pod_is_ready,
                                                random_suffix, spec_of, status_of, uid_of)
from digit_tui.sandbox.resources import PODS, REPLICASETS, ResourceType
from digit_tui.sandbox.selectors import match_labels

Obj = dict[str, Any]

_BURST = 100  # pods created or deleted per reconcile; the rest on the next pass (keeps the loop responsive)


def pod_from_template(template: Obj, owner: Obj, rt: ResourceType, *, name: str | None = None,
                      generate_name: str | None = None, extra_labels: dict[str, str] | None = None) -> Obj:
    tmeta = template.get("metadata") or {}
    labels = dict(tmeta.get("labels") or {})
    labels.update(extra_labels or {})
    md: Obj = {"namespace": ns_of(owner), "labels": labels, "ownerReferences": [owner_ref(owner, rt)]}
    if tmeta.get("annotations"):
        md["annotations"] = dict(tmeta["annotations"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name or f"{name_of(owner)}-"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": clone(template.get("spec") or {})}


def available_since(pod: Obj, min_ready: int, now_wall: float) -> bool:
    """Ready for at least minReadySeconds (wall clock from the Ready transition)."""
    if not pod_is_ready(pod):
        return False
    if min_ready <= 0:
        return True
    cond = get_condition(pod, "Ready") or {}
    ts = cond.get("lastTransitionTime")
    if not ts:
        return False
    import datetime as _dt
    t = _dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp()
    return now_wall - t >= min_ready


def _deletion_rank(pod: Obj) -> tuple[int, int, int, str]:
    """Lower goes first: unscheduled, pending, not ready, then the youngest."""
    st = status_of(pod)
    scheduled = 1 if spec_of(pod).get("nodeName") else 0
    running = 1 if st.get("phase") == "Running" else 0
    ready = 1 if pod_is_ready(pod) else 0
    created = meta(pod).get("creationTimestamp", "")
    inverted = "".join(chr(255 - ord(ch)) for ch in created)
    return (scheduled, running, ready, inverted)


class ReplicaSetController(Controller):
    name = "replicaset"
    watches: tuple[ResourceType, ...] = (REPLICASETS, PODS)
    component = "replicaset-controller"
    child_type = PODS
    owner_kind = "ReplicaSet"

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        rs = self.cache.get(REPLICASETS, ns, name)
        if rs is None or is_deleting(rs):
            return
        spec = spec_of(rs)
        want = int(spec.get("replicas", 1) or 0)
        pods = [p for p in self.cache.owned_pods(uid_of(rs)) if is_controlled_by(p, rs)]
        active = [p for p in pods if pod_is_active(p)]
        self._adopt(rs)
        diff = want - len(active)
        if diff > 0:
            template = spec.get("template") or {}
            for _ in range(min(diff, _BURST)):
                pod = pod_from_template(template, rs, REPLICASETS)
                pod["metadata"]["name"] = f"{name}-{random_suffix(self.mgr.rng)}"
                pod["metadata"].pop("generateName", None)
                self.create_pod(rs, REPLICASETS, pod)
            if diff > _BURST:
                self.enqueue(key)
        elif diff < 0:
            victims = sorted(active, key=_deletion_rank)[: min(-diff, _BURST)]
            for pod in victims:
                self.delete_pod(rs, REPLICASETS, pod)
            if -diff > _BURST:
                self.enqueue(key)
        self._update_status(rs)

    def _adopt(self, rs: Obj) -> None:
        """Orphan pods matching the selector (e.g. after `delete --cascade=orphan`) are adopted."""
        sel = spec_of(rs).get("selector") or {}
        ml = sel.get("matchLabels") or {}
        if not ml:
            return
        for pod in self.cache.pods_matching(ns_of(rs), ml):
            if controller_uid(pod) is None and not is_deleting(pod) and match_labels(sel, meta(pod).get("labels")):
                new = clone(pod)
                new["metadata"].setdefault("ownerReferences", []).append(owner_ref(rs, REPLICASETS))
                self.store.update(PODS, new)

    def _update_status(self, rs: Obj) -> None:
        rs = self.cache.get(REPLICASETS, ns_of(rs), name_of(rs)) or rs
        spec = spec_of(rs)
        pods = [p for p in self.cache.owned_pods(uid_of(rs)) if is_controlled_by(p, rs) and pod_is_active(p)]
        tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds", 0) or 0)
        now = time.time()
        ready = sum(1 for p in pods if pod_is_ready(p))
        available = sum(1 for p in pods if available_since(p, min_ready, now))
        status: Obj = {
            "replicas": len(pods),
            "fullyLabeledReplicas": sum(1 for p in pods if all(
                (meta(p).get("labels") or {}).get(k) == v for k, v in tlabels.items())),
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": meta(rs).get("generation", 1),
        }
        for k in ("readyReplicas", "availableReplicas"):
            if not status[k]:
                del status[k]
        old = status_of(rs)
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        if status != old:
            new = clone(rs)
            new["status"] = status
            self.store.update(REPLICASETS, new, subresource="status")
        if min_ready > 0 and ready > available:
            self.enqueue((ns_of(rs), name_of(rs)), self.cfg.delay(0) + min_ready / 2)
