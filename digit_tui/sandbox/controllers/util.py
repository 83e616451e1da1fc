"""Small helpers shared by the controllers: object access, owner references, conditions, hashing."""

from __future__ import annotations

import datetime as _dt
import json
import pickle
from typing import Any

from digit_tui.sandbox.resources import ResourceType

Obj = dict[str, Any]

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def clone(obj: Obj) -> Obj:
    """A deep copy of a JSON-shaped object (a pickle round trip is several times faster than deepcopy)."""
    return pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))


def meta(obj: Obj) -> dict[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: Obj) -> str:
    return meta(obj).get("name", "")


def ns_of(obj: Obj) -> str:
    return meta(obj).get("namespace") or ""


def uid_of(obj: Obj) -> str:
    return meta(obj).get("uid", "")


def labels_of(obj: Obj) -> dict[str, str]:
    return meta(obj).get("labels") or {}


def spec_of(obj: Obj) -> dict[str, Any]:
    return obj.get("spec") or {}


def status_of(obj: Obj) -> dict[str, Any]:
    return obj.get("status") or {}


def is_deleting(obj: Obj) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def owner_ref(owner: Obj, rt: ResourceType, *, controller: bool = True) -> dict[str, Any]:
    return {"apiVersion": rt.api_version, "kind": rt.kind, "name": name_of(owner), "uid": uid_of(owner),
            "controller": controller, "blockOwnerDeletion": True}


def controller_uid(obj: Obj) -> str | None:
    for ref in meta(obj).get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid")
    return None


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    return controller_uid(obj) == uid_of(owner)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def template_hash(template: Any, collision_count: int = 0) -> str:
    raw = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        raw += str(collision_count).encode()
    h = fnv32a(raw)
    out = []
    while h:
        h, r = divmod(h, len(_SAFE_ALPHABET))
        out.append(_SAFE_ALPHABET[r])
    return "".join(out)[:10] or "b"


def set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str, message: str,
                  now: str, *, update_time: bool = False, touch: bool = False) -> list[dict[str, Any]]:
    """Conditions with ``ctype`` set; lastTransitionTime moves only when the status flips.

    ``update_time`` adds lastUpdateTime (Deployments); it moves when anything changes or ``touch``.
    """
    out = [dict(c) for c in conditions if c.get("type") != ctype]
    prev = next((c for c in conditions if c.get("type") == ctype), None)
    cond: dict[str, Any] = {"type": ctype, "status": status}
    changed = prev is None or prev.get("status") != status or prev.get("reason") != reason or \
        prev.get("message") != message
    if update_time:
        cond["lastUpdateTime"] = now if (changed or touch or prev is None) else prev.get("lastUpdateTime", now)
    cond["lastTransitionTime"] = prev.get("lastTransitionTime", now) if prev and prev.get("status") == status \
        else now
    cond["reason"] = reason
    cond["message"] = message
    # keep the original position so status comparisons stay stable
    idx = next((i for i, c in enumerate(conditions) if c.get("type") == ctype), len(out))
    out.insert(min(idx, len(out)), cond)
    return out


def get_condition(obj: Obj, ctype: str) -> dict[str, Any] | None:
    for c in status_of(obj).get("conditions") or ():
        if c.get("type") == ctype:
            return c
    return None


def pod_is_ready(pod: Obj) -> bool:
    c = get_condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def pod_is_active(pod: Obj) -> bool:
    return not is_deleting(pod) and status_of(pod).get("phase") not in ("Succeeded", "Failed")


def int_or_percent(value: Any, total: int, round_up: bool) -> int:
    """Resolve an IntOrString such as maxSurge ("25%" or 1) against ``total``."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    s = str(value).strip()
    if s.endswith("%"):
        pct = int(s[:-1] or 0)
        num = pct * total
        return -(-num // 100) if round_up else num // 100
    return int(s)


def random_suffix(rng: Any, n: int = 5) -> str:
    return "".join(rng.choice(_SAFE_ALPHABET) for _ in range(n))


def parse_time(ts: str | None) -> float | None:
    """An RFC 3339 ``...Z`` timestamp of the store as epoch seconds (None when absent or malformed)."""
    if not ts:
        return None
    try:
        return _dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp()
    except ValueError:
        return None
