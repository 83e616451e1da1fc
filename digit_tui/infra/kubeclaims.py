"""Why a PersistentVolumeClaim is not bound, in one line an operator can act on.

Judged the way Kubernetes' persistentvolume-controller matches claims: a PV pre-bound to the
claim (``spec.claimRef``) first, if its capacity, access modes and volume mode satisfy the claim
(its storage class is not compared); else the smallest Available PV of the claim's class that
does; else the class's provisioner. The claim's own events (FailedBinding, ProvisioningFailed
...) complete the picture. Pure functions over API objects: the caller reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
NO_PROVISIONER = "kubernetes.io/no-provisioner"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"

_QUANTITY = re.compile(r"^([0-9.]+(?:[eE][-+]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?$")
_FACTOR = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity_bytes(value: Any) -> int | None:
    """A storage quantity ("50Gi", "1e9", 5) in bytes; None when it is not one."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        return None
    try:
        return int(float(match.group(1)) * _FACTOR[match.group(2)])
    except ValueError:
        return None


@dataclass(frozen=True)
class ClaimState:
    bound: bool
    reason: str             # "" when bound as wanted
    definite: bool = False  # waiting will not change it


def _spec(obj: Obj | None) -> Obj:
    return (obj or {}).get("spec") or {}


def _meta(obj: Obj | None) -> Obj:
    return (obj or {}).get("metadata") or {}


def _name(obj: Obj | None) -> str:
    return str(_meta(obj).get("name", ""))


def requested(claim: Obj) -> str:
    return str(((_spec(claim).get("resources") or {}).get("requests") or {}).get("storage", "0"))


def capacity(pv: Obj) -> str:
    return str((_spec(pv).get("capacity") or {}).get("storage", "0"))


def _modes(obj: Obj) -> list[str]:
    return [str(m) for m in _spec(obj).get("accessModes") or ()]


def default_class(classes: Sequence[Obj]) -> str | None:
    for sc in classes:
        annotations = _meta(sc).get("annotations") or {}
        if any(str(annotations.get(a, "")).lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS):
            return _name(sc)
    return None


def claim_class(claim: Obj, classes: Sequence[Obj]) -> str:
    """The class the claim asks for: its own, else (unset) the default the API server gives it."""
    value = _spec(claim).get("storageClassName")
    if value is None:
        return default_class(classes) or ""
    return str(value)


def misfit(pv: Obj, claim: Obj) -> str | None:
    """Why ``pv`` cannot satisfy ``claim`` (capacity, access modes, volume mode), or None."""
    name = _name(pv)
    have, want = quantity_bytes(capacity(pv)), quantity_bytes(requested(claim))
    if have is not None and want is not None and have < want:
        return f"PV {name} offers {capacity(pv)}, the claim asks {requested(claim)}"
    missing = [m for m in _modes(claim) if m not in _modes(pv)]
    if missing:
        return f"PV {name} offers access {', '.join(_modes(pv)) or '(none)'}, the claim asks {', '.join(missing)}"
    pv_mode = _spec(pv).get("volumeMode") or "Filesystem"
    claim_mode = _spec(claim).get("volumeMode") or "Filesystem"
    if pv_mode != claim_mode:
        return f"PV {name} is volumeMode {pv_mode}, the claim asks {claim_mode}"
    return None


def _reserved_for_other(pv: Obj, claim: Obj) -> str | None:
    ref = _spec(pv).get("claimRef") or {}
    if not ref:
        return None
    namespace, name = str(_meta(claim).get("namespace", "")), _name(claim)
    if ref.get("namespace") != namespace or ref.get("name") != name:
        return f"PV {_name(pv)} is reserved for claim {ref.get('namespace')}/{ref.get('name')}"
    uid = ref.get("uid")
    if uid and uid != _meta(claim).get("uid"):
        return (f"PV {_name(pv)} still belongs to a deleted claim of that name ({(pv.get('status') or {}).get('phase', '')},"
                f" reclaim policy {_spec(pv).get('persistentVolumeReclaimPolicy', 'Retain')} kept its data): remove "
                f"spec.claimRef.uid to give the disk to the new claim (kubectl patch pv {_name(pv)} --type json "
                "-p '[{\"op\":\"remove\",\"path\":\"/spec/claimRef/uid\"}]')")
    return None


def _latest_event(events: Sequence[Obj], warning_only: bool = True) -> Obj | None:
    chosen = [e for e in events if not warning_only or e.get("type") == "Warning"]
    return chosen[-1] if chosen else None


def _event_text(events: Sequence[Obj]) -> str:
    ev = _latest_event(events, warning_only=False)
    if ev is None:
        return ""
    return f"{ev.get('reason', '')}: {ev.get('message', '')}".strip(": ")


def _origin(pv: Obj | None) -> str:
    if pv is None:
        return ""
    by = (_meta(pv).get("annotations") or {}).get(PROVISIONED_BY)
    cls = _spec(pv).get("storageClassName")
    if by:
        return f" (provisioned by {by}{f' for StorageClass {cls}' if cls else ''})"
    return f" (StorageClass {cls})" if cls else ""


def explain_claim(claim: Obj | None, *, namespace: str, name: str, pvs: Sequence[Obj], classes: Sequence[Obj],
                  events: Sequence[Obj] = (), expected_pv: str | None = None) -> ClaimState:
    """Whether the claim ``namespace/name`` is bound (to ``expected_pv`` when one is meant for it)
    and, if not, why."""
    if claim is None:
        return ClaimState(False, "not created yet (its StatefulSet creates it with the pod)")
    by_name = {_name(pv): pv for pv in pvs}
    phase = (claim.get("status") or {}).get("phase", "Pending")
    volume = str(_spec(claim).get("volumeName") or "")
    expected = by_name.get(expected_pv) if expected_pv else None
    if phase == "Bound":
        if not expected_pv or volume == expected_pv:
            return ClaimState(True, "")
        why = ""
        if expected is None:
            why = f"; PV {expected_pv} does not exist"
        else:
            found = _reserved_for_other(expected, claim) or misfit(expected, claim)
            why = f"; {found}" if found else ""
        return ClaimState(False, f"bound to PV {volume}{_origin(by_name.get(volume))}, not to the pre-created "
                                 f"disk's PV {expected_pv}{why}", definite=True)
    if phase == "Lost":
        return ClaimState(False, f"lost: its PV {volume or '(none)'} is gone", definite=True)
    if expected_pv:
        return _static(claim, expected_pv, expected, events)
    return _dynamic(claim, pvs, classes, events)


def _static(claim: Obj, expected_pv: str, pv: Obj | None, events: Sequence[Obj]) -> ClaimState:
    if pv is None:
        return ClaimState(False, f"PV {expected_pv} meant for it does not exist", definite=True)
    if _meta(pv).get("deletionTimestamp"):
        return ClaimState(False, f"PV {expected_pv} is being deleted", definite=True)
    problem = _reserved_for_other(pv, claim) or misfit(pv, claim)
    if problem:
        return ClaimState(False, problem, definite=True)
    tail = _event_text(events)
    return ClaimState(False, f"waiting for the volume controller to bind PV {expected_pv}"
                             + (f" (last event {tail})" if tail else ""))


def _dynamic(claim: Obj, pvs: Sequence[Obj], classes: Sequence[Obj], events: Sequence[Obj]) -> ClaimState:
    cls = claim_class(claim, classes)
    size, modes = requested(claim), ", ".join(_modes(claim)) or "(no access mode)"
    candidates = [pv for pv in pvs if (_spec(pv).get("storageClassName") or "") == cls
                  and not _spec(pv).get("claimRef") and (pv.get("status") or {}).get("phase") == "Available"]
    if any(misfit(pv, claim) is None for pv in candidates):
        return ClaimState(False, "waiting for the volume controller to bind an Available PV of its class")
    largest = max(candidates, key=lambda pv: quantity_bytes(capacity(pv)) or 0, default=None)
    near = f"; the largest, {misfit(largest, claim)}" if largest is not None else ""
    wanted = f"no Available PV of {size} ({modes}) in StorageClass {cls!r}" if cls else \
        f"no Available PV of {size} ({modes}) without a StorageClass"
    if not cls:
        why = "its storageClassName is \"\"" if _spec(claim).get("storageClassName") is not None else \
            "the cluster has no default StorageClass"
        return ClaimState(False, f"{wanted} and no StorageClass to provision one ({why}){near}", definite=True)
    found = next((sc for sc in classes if _name(sc) == cls), None)
    if found is None:
        have = ", ".join(sorted(_name(sc) for sc in classes)) or "none"
        return ClaimState(False, f"StorageClass {cls} does not exist (the cluster has: {have})", definite=True)
    if found.get("provisioner") == NO_PROVISIONER:
        return ClaimState(False, f"{wanted}, and StorageClass {cls} provisions nothing ({NO_PROVISIONER}){near}",
                          definite=True)
    if found.get("volumeBindingMode") == "WaitForFirstConsumer" and \
            not (_meta(claim).get("annotations") or {}).get("volume.kubernetes.io/selected-node"):
        return ClaimState(False, f"waiting for a pod to use it (StorageClass {cls} binds WaitForFirstConsumer)")
    failed = _latest_event(events)
    if failed is not None and failed.get("reason") == "ProvisioningFailed":
        return ClaimState(False, f"provisioning through StorageClass {cls} failed: {failed.get('message', '')}")
    return ClaimState(False, f"waiting for {found.get('provisioner', 'the provisioner')} to provision {size} "
                             f"through StorageClass {cls}")
