"""DaemonSet: one pod per eligible node (nodeSelector / node affinity, taints vs tolerations), placed
by the scheduler through a node-name affinity as the real controller does; rolling updates
honour maxUnavailable."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.replicaset import pod_from_template
from digit_tui.sandbox.controllers.util import (clone, int_or_percent, is_controlled_by, is_deleting, labels_of,
                                                meta, name_of, ns_of, pod_is_active, pod_is_ready, spec_of,
                                                status_of, template_hash, uid_of)
from digit_tui.sandbox.resources import DAEMONSETS, NODES, PODS, ResourceType
from digit_tui.sandbox.scheduler import node_affinity_matches, tolerates

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
_AUTO_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
)


def _pod_node(pod: Obj) -> str:
    node = spec_of(pod).get("nodeName")
    if node:
        return str(node)
    terms = ((((spec_of(pod).get("affinity") or {}).get("nodeAffinity") or {})
              .get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get("nodeSelectorTerms") or [])
    for term in terms:
        for f in term.get("matchFields") or ():
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


class DaemonSetController(Controller):
    name = "daemonset"
    watches: tuple[ResourceType, ...] = (DAEMONSETS, PODS, NODES)
    component = "daemonset-controller"
    owner_kind = "DaemonSet"

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt.key == PODS.key:
            self.enqueue_owner(obj)
        elif rt.key == NODES.key:
            if old is not None and event_type == "MODIFIED" and labels_of(old) == labels_of(obj) and \
                    spec_of(old) == spec_of(obj):
                return  # a heartbeat: nothing a DaemonSet cares about
            for ds in self.cache.list(DAEMONSETS):
                self.enqueue((ns_of(ds), name_of(ds)))
        else:
            self.enqueue((ns_of(obj), name_of(obj)))

    def _eligible(self, ds: Obj, node: Obj, tolerations: list[Obj]) -> bool:
        probe = {"spec": (spec_of(ds).get("template") or {}).get("spec") or {}}
        if not node_affinity_matches(probe, node):
            return False
        for taint in spec_of(node).get("taints") or ():
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
                return False
        return True

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        ds = self.cache.get(DAEMONSETS, ns, name)
        if ds is None or is_deleting(ds):
            return
        spec = spec_of(ds)
        template = spec.get("template") or {}
        rev = template_hash(template)
        tolerations = list((template.get("spec") or {}).get("tolerations") or []) + list(_AUTO_TOLERATIONS)
        nodes = {name_of(n): n for n in self.cache.list(NODES)}
        eligible = {n for n, obj in nodes.items() if self._eligible(ds, obj, tolerations)}
        by_node: dict[str, list[Obj]] = {}
        for pod in self.cache.owned_pods(uid_of(ds)):
            if is_controlled_by(pod, ds) and not is_deleting(pod):
                by_node.setdefault(_pod_node(pod), []).append(pod)
        for node, pods in by_node.items():
            if node not in eligible:
                for pod in pods:
                    self._delete(ds, pod)
            else:
                for pod in pods[1:]:
                    self._delete(ds, pod)
                if status_of(pods[0]).get("phase") == "Failed":
                    self._delete(ds, pods[0])
        for node in sorted(eligible):
            if node not in by_node:
                self._create(ds, node, template, rev, tolerations)
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            desired = len(eligible)
            max_unavail = int_or_percent((strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1), desired,
                                         True) or 1
            current = [ps[0] for n, ps in by_node.items() if n in eligible]
            unavailable = sum(1 for p in current if not pod_is_ready(p)) + (desired - len(current))
            budget = max_unavail - unavailable
            for pod in sorted(current, key=lambda p: pod_is_ready(p)):
                if labels_of(pod).get(REVISION_LABEL) == rev:
                    continue
                if pod_is_ready(pod):
                    if budget <= 0:
                        continue
                    budget -= 1
                self._delete(ds, pod)
        self._update_status(ds, eligible, rev)

    def _create(self, ds: Obj, node: str, template: Obj, rev: str, tolerations: list[Obj]) -> None:
        pod = pod_from_template(template, ds, DAEMONSETS, extra_labels={REVISION_LABEL: rev})
        pspec = pod["spec"]
        pspec["tolerations"] = [clone(t) for t in tolerations]
        affinity = pspec.setdefault("affinity", {})
        affinity["nodeAffinity"] = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]}}
        self.create_pod(ds, DAEMONSETS, pod)

    def _delete(self, ds: Obj, pod: Obj) -> None:
        self.delete_pod(ds, DAEMONSETS, pod)

    def _update_status(self, ds: Obj, eligible: set[str], rev: str) -> None:
        ds = self.cache.get(DAEMONSETS, ns_of(ds), name_of(ds)) or ds
        pods = [p for p in self.cache.owned_pods(uid_of(ds)) if is_controlled_by(p, ds) and pod_is_active(p)]
        scheduled = [p for p in pods if spec_of(p).get("nodeName")]
        on_eligible = [p for p in scheduled if spec_of(p).get("nodeName") in eligible]
        ready = sum(1 for p in on_eligible if pod_is_ready(p))
        status: Obj = {
            "currentNumberScheduled": len(on_eligible),
            "desiredNumberScheduled": len(eligible),
            "numberMisscheduled": len(scheduled) - len(on_eligible),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": max(0, len(eligible) - ready),
            "observedGeneration": meta(ds).get("generation", 1),
            "updatedNumberScheduled": sum(1 for p in on_eligible if labels_of(p).get(REVISION_LABEL) == rev),
        }
        for k in ("numberAvailable", "numberUnavailable"):
            if not status[k]:
                del status[k]
        if status != status_of(ds):
            new = clone(ds)
            new["status"] = status
            self.store.update(DAEMONSETS, new, subresource="status")
