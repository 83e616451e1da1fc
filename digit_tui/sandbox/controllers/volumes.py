"""PersistentVolume binder and dynamic provisioner (the persistentvolume-controller's job).

A pending claim binds, in this order, to: the PV named by ``spec.volumeName``; a PV whose
``spec.claimRef`` names the claim and that fits it (DIGIT's classic static volumes); the smallest Available
PV of the same storage class with enough capacity and the access modes asked; else a new PV
provisioned through the claim's StorageClass (``pvc-<claim uid>``). A claim without
``storageClassName`` uses the default StorageClass, as the admission plugin would have set.
Released volumes follow their reclaim policy (Delete removes the PV, Retain keeps it Released).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from digit_tui.sandbox.controllers.base import Controller
from digit_tui.sandbox.controllers.util import clone, is_deleting, labels_of, meta, name_of, ns_of, spec_of, \
    status_of, uid_of
from digit_tui.sandbox.resources import PVCS, PVS, STORAGECLASSES, ResourceType
from digit_tui.sandbox.selectors import match_labels
from digit_tui.sandbox.simconfig import memory_bytes

Obj = dict[str, Any]

PROVISIONER = "sandbox.digit-tui.io/local-path"
DEFAULT_CLASS_ANN = "storageclass.kubernetes.io/is-default-class"


def _size(q: Any) -> int:
    try:
        return memory_bytes(q)
    except ValueError:
        return 0


def _request(pvc: Obj) -> int:
    return _size(((spec_of(pvc).get("resources") or {}).get("requests") or {}).get("storage", 0))


def _capacity(pv: Obj) -> int:
    return _size((spec_of(pv).get("capacity") or {}).get("storage", 0))


class VolumeBinder(Controller):
    name = "volume-binder"
    watches: tuple[ResourceType, ...] = (PVCS, PVS, STORAGECLASSES)
    component = "persistentvolume-controller"

    def bootstrap(self) -> None:
        name = self.cfg.storage_class
        if not name or self.cache.get(STORAGECLASSES, None, name) is not None:
            return
        try:
            self.store.create(STORAGECLASSES, {
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANN: "true"}},
                "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
                "allowVolumeExpansion": True})
        except Exception:
            pass

    def on_event(self, event_type: str, rt: ResourceType, obj: Obj, old: Obj | None) -> None:
        if rt.key == PVCS.key:
            self.enqueue(("pvc", ns_of(obj), name_of(obj)))
            ref = spec_of(obj).get("volumeName")
            if ref and event_type == "DELETED":
                self.enqueue(("pv", "", ref))
            if event_type == "DELETED":
                for pv in self.cache.list(PVS):
                    cref = spec_of(pv).get("claimRef") or {}
                    if cref.get("name") == name_of(obj) and cref.get("namespace") == ns_of(obj):
                        self.enqueue(("pv", "", name_of(pv)))
            return
        if rt.key == PVS.key:
            if event_type != "DELETED":
                self.enqueue(("pv", "", name_of(obj)))
            cref = spec_of(obj).get("claimRef") or {}
            if cref.get("name"):
                self.enqueue(("pvc", cref.get("namespace", ""), cref["name"]))
        self._pending_claims()

    def _pending_claims(self) -> None:
        for pvc in self.cache.list(PVCS):
            if status_of(pvc).get("phase", "Pending") == "Pending":
                self.enqueue(("pvc", ns_of(pvc), name_of(pvc)))

    def resync(self) -> None:
        for pv in self.cache.list(PVS):
            self.enqueue(("pv", "", name_of(pv)))
        self._pending_claims()

    def reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        kind, ns, name = key
        if kind == "pv":
            self._sync_pv(name)
        else:
            self._sync_pvc(ns, name)

    # --- claims --------------------------------------------------------------------------------
    def _default_class(self) -> str | None:
        for sc in self.cache.list(STORAGECLASSES):
            if (meta(sc).get("annotations") or {}).get(DEFAULT_CLASS_ANN) == "true":
                return name_of(sc)
        return None

    def _sync_pvc(self, ns: str, name: str) -> None:
        pvc = self.cache.get(PVCS, ns, name)
        if pvc is None or is_deleting(pvc):
            return
        phase = status_of(pvc).get("phase", "Pending")
        vol_name = spec_of(pvc).get("volumeName")
        if phase == "Bound":
            if vol_name and self.cache.get(PVS, None, vol_name) is None:
                self._set_pvc_status(pvc, {"phase": "Lost"})
                self.event(pvc, PVCS, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                           "Warning")
            return
        if phase == "Lost":
            return
        if vol_name:
            pv = self.cache.get(PVS, None, vol_name)
            if pv is not None:
                cref = spec_of(pv).get("claimRef") or {}
                if not cref or (cref.get("name") == name and cref.get("namespace") == ns):
                    self._bind(pv, pvc)
            return
        for pv in self.cache.list(PVS):
            cref = spec_of(pv).get("claimRef") or {}
            if cref.get("name") == name and cref.get("namespace") == ns and \
                    cref.get("uid") in (None, "", uid_of(pvc)) and status_of(pv).get("phase") != "Released" and \
                    self._satisfies(pv, pvc):
                self._bind(pv, pvc)
                return
        spec = spec_of(pvc)
        explicit = "storageClassName" in spec and spec.get("storageClassName") is not None
        class_name = spec.get("storageClassName") if explicit else self._default_class()
        pv = self._find_match(pvc, class_name or "")
        if pv is None and not explicit:
            pv = self._find_match(pvc, "")
        if pv is not None:
            self._bind(pv, pvc)
            return
        if not class_name:
            self.event(pvc, PVCS, "FailedBinding",
                       "no persistent volumes available for this claim and no storage class is set")
            return
        sc = self.cache.get(STORAGECLASSES, None, class_name)
        if sc is None:
            self.event(pvc, PVCS, "ProvisioningFailed", f'storageclass.storage.k8s.io "{class_name}" not found',
                       "Warning")
            return
        annotations = meta(pvc).get("annotations") or {}
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and \
                not annotations.get("volume.kubernetes.io/selected-node"):
            self.event(pvc, PVCS, "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
            return
        self._provision(pvc, sc, class_name, set_class=not explicit)

    @staticmethod
    def _satisfies(pv: Obj, pvc: Obj) -> bool:
        """A pre-bound PV still has to fit its claim, as in the real controller's matching: enough
        capacity, the access modes and volume mode asked (not the class), not being deleted."""
        spec, pspec = spec_of(pvc), spec_of(pv)
        return (_capacity(pv) >= _request(pvc) and not is_deleting(pv)
                and set(spec.get("accessModes") or ()) <= set(pspec.get("accessModes") or ())
                and spec.get("volumeMode", "Filesystem") == pspec.get("volumeMode", "Filesystem"))

    def _find_match(self, pvc: Obj, class_name: str) -> Obj | None:
        spec = spec_of(pvc)
        want = _request(pvc)
        modes = set(spec.get("accessModes") or ())
        mode = spec.get("volumeMode", "Filesystem")
        selector = spec.get("selector")
        best: Obj | None = None
        for pv in self.cache.list(PVS):
            pspec = spec_of(pv)
            if pspec.get("claimRef") or status_of(pv).get("phase", "Available") != "Available" or is_deleting(pv):
                continue
            if (pspec.get("storageClassName") or "") != class_name:
                continue
            if pspec.get("volumeMode", "Filesystem") != mode or not modes <= set(pspec.get("accessModes") or ()):
                continue
            if _capacity(pv) < want:
                continue
            if selector and not match_labels(selector, labels_of(pv)):
                continue
            if best is None or _capacity(pv) < _capacity(best):
                best = pv
        return best

    def _provision(self, pvc: Obj, sc: Obj, class_name: str, *, set_class: bool) -> None:
        provisioner = sc.get("provisioner", PROVISIONER)
        key = f"{ns_of(pvc)}/{name_of(pvc)}"
        self.event(pvc, PVCS, "Provisioning", f'External provisioner is provisioning volume for claim "{key}"')
        pv_name = f"pvc-{uid_of(pvc)}"
        spec = spec_of(pvc)
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        pv: Obj = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "annotations": {"pv.kubernetes.io/provisioned-by": provisioner},
                         "finalizers": ["kubernetes.io/pv-protection"]},
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": list(spec.get("accessModes") or ["ReadWriteOnce"]),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": class_name,
                "volumeMode": spec.get("volumeMode", "Filesystem"),
                "hostPath": {"path": f"/var/lib/sandbox/volumes/{pv_name}", "type": "DirectoryOrCreate"},
                "claimRef": self._claim_ref(pvc),
            },
        }
        node = (meta(pvc).get("annotations") or {}).get("volume.kubernetes.io/selected-node")
        if node:
            pv["spec"]["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
        try:
            created = self.store.create(PVS, pv)
        except Exception as exc:
            if getattr(exc, "code", None) != 409:
                self.event(pvc, PVCS, "ProvisioningFailed", f"failed to provision volume: {exc}", "Warning")
                raise
            created = self.cache.get(PVS, None, pv_name) or pv
        self.event(pvc, PVCS, "ProvisioningSucceeded", f"Successfully provisioned volume {pv_name}")
        self._bind(created, pvc, set_class=class_name if set_class else None, provisioner=provisioner)

    @staticmethod
    def _claim_ref(pvc: Obj) -> Obj:
        return {"kind": "PersistentVolumeClaim", "namespace": ns_of(pvc), "name": name_of(pvc),
                "uid": uid_of(pvc), "apiVersion": "v1", "resourceVersion": meta(pvc).get("resourceVersion", "")}

    def _bind(self, pv: Obj, pvc: Obj, *, set_class: str | None = None, provisioner: str | None = None) -> None:
        pv = self.cache.get(PVS, None, name_of(pv)) or pv
        new_pv = clone(pv)
        pspec = new_pv.setdefault("spec", {})
        cref = pspec.get("claimRef") or {}
        if cref.get("uid") != uid_of(pvc):
            if not cref:
                new_pv["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
            pspec["claimRef"] = self._claim_ref(pvc)
        if new_pv != pv:
            pv = self.store.update(PVS, new_pv)
        if status_of(pv).get("phase") != "Bound":
            upd = clone(pv)
            upd["status"] = {"phase": "Bound"}
            pv = self.store.update(PVS, upd, subresource="status")
        pvc = self.cache.get(PVCS, ns_of(pvc), name_of(pvc)) or pvc
        new_pvc = clone(pvc)
        ann = new_pvc["metadata"].setdefault("annotations", {})
        ann["pv.kubernetes.io/bind-completed"] = "yes"
        ann["pv.kubernetes.io/bound-by-controller"] = "yes"
        if provisioner:
            ann["volume.beta.kubernetes.io/storage-provisioner"] = provisioner
            ann["volume.kubernetes.io/storage-provisioner"] = provisioner
        new_pvc["spec"]["volumeName"] = name_of(pv)
        if set_class and not new_pvc["spec"].get("storageClassName"):
            new_pvc["spec"]["storageClassName"] = set_class
        if new_pvc != pvc:
            pvc = self.store.update(PVCS, new_pvc)
        self._set_pvc_status(pvc, {"phase": "Bound",
                                    "accessModes": list(spec_of(pv).get("accessModes") or []),
                                    "capacity": dict(spec_of(pv).get("capacity") or {})})

    def _set_pvc_status(self, pvc: Obj, status: Obj) -> None:
        if status_of(pvc) == status:
            return
        new = clone(pvc)
        new["status"] = status
        self.store.update(PVCS, new, subresource="status")

    # --- volumes -------------------------------------------------------------------------------
    def _sync_pv(self, name: str) -> None:
        pv = self.cache.get(PVS, None, name)
        if pv is None:
            return
        if is_deleting(pv):
            # the pv-protection finalizer goes once no claim is bound to the volume
            cref = spec_of(pv).get("claimRef") or {}
            claim = self.cache.get(PVCS, cref.get("namespace"), cref.get("name", "")) if cref.get("name") else None
            if claim is None or spec_of(claim).get("volumeName") != name:
                new = clone(pv)
                new["metadata"]["finalizers"] = [f for f in meta(pv).get("finalizers") or ()
                                                 if f != "kubernetes.io/pv-protection"]
                self.store.update(PVS, new)
            return
        cref = spec_of(pv).get("claimRef") or {}
        phase = status_of(pv).get("phase", "Available")
        if not cref:
            want = "Available"
        else:
            claim = self.cache.get(PVCS, cref.get("namespace"), cref.get("name", ""))
            if claim is not None and (not cref.get("uid") or cref.get("uid") == uid_of(claim)):
                want = "Bound" if spec_of(claim).get("volumeName") == name else phase if phase != "Released" else \
                    "Released"
                if want not in ("Bound", "Released"):
                    want = "Available"
            elif cref.get("uid"):
                want = "Released"
            else:
                want = "Available"  # pre-bound to a claim that does not exist yet
        if want == "Released" and spec_of(pv).get("persistentVolumeReclaimPolicy") == "Delete":
            try:
                self.store.delete(PVS, None, name)
            except Exception as exc:
                if getattr(exc, "code", None) != 404:
                    raise
            return
        if phase != want:
            new = clone(pv)
            new["status"] = {"phase": want}
            self.store.update(PVS, new, subresource="status")
