"""StatefulSet: stable pod names `<sts>-<ordinal>`, PVCs `<template>-<sts>-<ordinal>`, OrderedReady or
Parallel pod management, RollingUpdate from the highest ordinal (with partition) or OnDelete,
ControllerRevisions, and currentRevision/updateRevision status for `kubectl rollout status`."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.replicaset import pod_from_template
from digit_tui.sandbox.controllers.util import (clone, is_controlled_by, is_deleting, labels_of, meta, name_of, ns_of,
                                                owner_ref, pod_is_active, pod_is_ready, spec_of, status_of,
                                                template_hash, uid_of)
from digit_tui.sandbox.resources import CONTROLLERREVISIONS, PODS, PVCS, STATEFULSETS, ResourceType

Obj = dict[str, Any]

REVISION_LABEL = "controller-revision-hash"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def _ordinal(sts_name: str, pod_name: str) -> int | None:
    prefix = sts_name + "-"
    if not pod_name.startswith(prefix):
        return None
    tail = pod_name[len(prefix):]
    return int(tail) if tail.isdigit() else None


def _running_ready(pod: Obj) -> bool:
    return status_of(pod).get("phase") == "Running" and pod_is_ready(pod)


class StatefulSetController(Controller):
    name = "statefulset"
    watches: tuple[ResourceType, ...] = (STATEFULSETS, PODS)
    component = "statefulset-controller"
    child_type = PODS
    owner_kind = "StatefulSet"

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        ns, name = key
        sts = self.cache.get(STATEFULSETS, ns, name)
        if sts is None or is_deleting(sts):
            return
        spec = spec_of(sts)
        replicas = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        template = spec.get("template") or {}
        update_rev = f"{name}-{template_hash(template)}"
        self._ensure_revision(sts, update_rev, template)
        current_rev = status_of(sts).get("currentRevision") or update_rev
        parallel = spec.get("podManagementPolicy") == "Parallel"
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition", 0) or 0) if rolling else 0

        pods: dict[int, Obj] = {}
        for owned in self.cache.owned_pods(uid_of(sts)):
            if not is_controlled_by(owned, sts):
                continue
            o = _ordinal(name, name_of(owned))
            if o is not None:
                pods[o] = owned

        # Create or replace pods in ordinal order; OrderedReady waits for each one to be Running and Ready.
        for o in range(replicas):
            pod = pods.get(o)
            if pod is not None and status_of(pod).get("phase") in ("Failed", "Succeeded") and not is_deleting(pod):
                self._delete_pod(sts, pod)
                pod = None
                pods.pop(o, None)
                if not parallel:
                    break
            if pod is None:
                rev = update_rev
                tpl = template
                if rolling and o < partition and current_rev != update_rev:
                    old_tpl = self._revision_template(sts, current_rev)
                    if old_tpl is not None:
                        rev, tpl = current_rev, old_tpl
                self._create_pod(sts, o, rev, tpl)
                if not parallel:
                    break
                continue
            if not parallel and not _running_ready(pod):
                break
        else:
            # Scale down: highest ordinal first; OrderedReady removes one at a time.
            extra = sorted((o for o in pods if o >= replicas), reverse=True)
            for o in extra:
                pod = pods[o]
                if is_deleting(pod):
                    if not parallel:
                        break
                    continue
                self._delete_pod(sts, pod)
                if not parallel:
                    break
            if not extra and rolling:
                self._rolling_update(sts, pods, replicas, partition, update_rev)
        self._update_status(sts, update_rev, current_rev, replicas, partition)

    def _rolling_update(self, sts: Obj, pods: dict[int, Obj], replicas: int, partition: int, update_rev: str) -> None:
        """Replace one outdated pod at a time, from the highest ordinal down to the partition."""
        live = [pods.get(o) for o in range(replicas)]
        if any(p is None or is_deleting(p) or not _running_ready(p) for p in live):
            return
        for o in range(replicas - 1, partition - 1, -1):
            pod = pods[o]
            if labels_of(pod).get(REVISION_LABEL) != update_rev:
                self._delete_pod(sts, pod)
                return

    def _ensure_revision(self, sts: Obj, rev_name: str, template: Obj) -> None:
        if self.cache.get(CONTROLLERREVISIONS, ns_of(sts), rev_name) is not None:
            return
        existing = self.cache.owned(CONTROLLERREVISIONS, uid_of(sts))
        number = max((int(r.get("revision", 0) or 0) for r in existing), default=0) + 1
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels["controller.kubernetes.io/hash"] = rev_name.rsplit("-", 1)[-1]
        try:
            self.store.create(CONTROLLERREVISIONS, {
                "apiVersion": "apps/v1", "kind": "ControllerRevision",
                "metadata": {"name": rev_name, "namespace": ns_of(sts), "labels": labels,
                             "ownerReferences": [owner_ref(sts, STATEFULSETS)]},
                "data": {"spec": {"template": clone(template)}}, "revision": number})
        except Exception as exc:
            if getattr(exc, "code", None) != 409:
                raise

    def _revision_template(self, sts: Obj, rev_name: str) -> Obj | None:
        cr = self.cache.get(CONTROLLERREVISIONS, ns_of(sts), rev_name)
        if cr is None:
            return None
        return ((cr.get("data") or {}).get("spec") or {}).get("template")

    def _claim_name(self, tmpl: Obj, sts: Obj, o: int) -> str:
        return f"{name_of(tmpl)}-{name_of(sts)}-{o}"

    def _create_pod(self, sts: Obj, o: int, rev: str, template: Obj) -> None:
        name = f"{name_of(sts)}-{o}"
        spec = spec_of(sts)
        policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
        for tmpl in spec.get("volumeClaimTemplates") or ():
            claim = self._claim_name(tmpl, sts, o)
            if self.cache.get(PVCS, ns_of(sts), claim) is not None:
                continue
            labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
            labels.update((spec.get("selector") or {}).get("matchLabels") or {})
            pvc: Obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "metadata": {"name": claim, "namespace": ns_of(sts), "labels": labels},
                        "spec": clone(tmpl.get("spec") or {})}
            if (tmpl.get("metadata") or {}).get("annotations"):
                pvc["metadata"]["annotations"] = dict(tmpl["metadata"]["annotations"])
            if policy.get("whenDeleted") == "Delete":
                pvc["metadata"]["ownerReferences"] = [owner_ref(sts, STATEFULSETS, controller=True)]
            try:
                self.store.create(PVCS, pvc)
            except Exception as exc:
                if getattr(exc, "code", None) != 409:
                    self.event(sts, STATEFULSETS, "FailedCreate",
                               f"create Claim {claim} for Pod {name} in StatefulSet {name_of(sts)} failed error: {exc}",
                               "Warning")
                    raise
            else:
                self.event(sts, STATEFULSETS, "SuccessfulCreate",
                           f"create Claim {claim} Pod {name} in StatefulSet {name_of(sts)} success")
        pod = pod_from_template(template, sts, STATEFULSETS, name=name, extra_labels={
            REVISION_LABEL: rev, POD_NAME_LABEL: name, POD_INDEX_LABEL: str(o)})
        pspec = pod["spec"]
        pspec["hostname"] = name
        if spec.get("serviceName"):
            pspec["subdomain"] = spec["serviceName"]
        vols = [v for v in pspec.get("volumes") or () if v.get("name") not in
                {name_of(t) for t in spec.get("volumeClaimTemplates") or ()}]
        for tmpl in spec.get("volumeClaimTemplates") or ():
            vols.append({"name": name_of(tmpl),
                         "persistentVolumeClaim": {"claimName": self._claim_name(tmpl, sts, o)}})
        if vols:
            pspec["volumes"] = vols
        owner = name_of(sts)
        self.create_pod(sts, STATEFULSETS, pod,
                        created=lambda pod_name: f"create Pod {pod_name} in StatefulSet {owner} successful",
                        failed=lambda pod_name, exc: f"create Pod {pod_name} in StatefulSet {owner} failed error: {exc}")

    def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        owner = name_of(sts)
        self.delete_pod(sts, STATEFULSETS, pod,
                        deleted=lambda pod_name: f"delete Pod {pod_name} in StatefulSet {owner} successful")

    def _update_status(self, sts: Obj, update_rev: str, current_rev: str, replicas: int, partition: int) -> None:
        sts = self.cache.get(STATEFULSETS, ns_of(sts), name_of(sts)) or sts
        pods = [p for p in self.cache.owned_pods(uid_of(sts)) if is_controlled_by(p, sts) and pod_is_active(p)]
        ready = sum(1 for p in pods if pod_is_ready(p))
        updated = sum(1 for p in pods if labels_of(p).get(REVISION_LABEL) == update_rev)
        current = sum(1 for p in pods if labels_of(p).get(REVISION_LABEL) == current_rev)
        in_range = [p for p in pods if (_ordinal(name_of(sts), name_of(p)) or 0) < replicas]
        if (current_rev != update_rev and updated >= replicas and ready >= replicas and len(pods) == replicas
                and all(labels_of(p).get(REVISION_LABEL) == update_rev for p in in_range)):
            current_rev, current = update_rev, updated
        status: Obj = {"observedGeneration": meta(sts).get("generation", 1), "replicas": len(pods),
                       "readyReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
                       "currentRevision": current_rev, "updateRevision": update_rev, "collisionCount": 0,
                       "availableReplicas": ready}
        for k in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
            if not status[k]:
                del status[k]
        old = status_of(sts)
        if status != old:
            new = clone(sts)
            new["status"] = status
            self.store.update(STATEFULSETS, new, subresource="status")
