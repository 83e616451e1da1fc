"""PATCH semantics: JSON merge (RFC 7386), strategic merge, JSON patch (RFC 6902), server-side apply.

All functions take the live object and return a new one; they never mutate their inputs.
"""

from __future__ import annotations

import json
from typing import Any

from digit_tui.sandbox.store import ApiError, clone

Obj = dict[str, Any]
Path = tuple[str, ...]

# --------------------------------------------------------------------------- merge patch


def merge_patch(target: Any, patch: Any) -> Any:
    return _merge_into(clone(target), clone(patch))


def _merge_into(target: Any, patch: Any) -> Any:
    """``merge_patch`` on private copies, which it reuses in place: copying the live object at
    every level it descends, as each level's own copy did, made a patch cost the object's size
    times its depth."""
    if not isinstance(patch, dict):
        return patch
    out = target if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = _merge_into(out.get(k), v)
    return out


# --------------------------------------------------------------------------- strategic merge

_CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}
# field name -> merge key, for lists the Kubernetes types tag with patchStrategy=merge.
_MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type", "ownerReferences": "uid",
    "resourceClaims": "name", "topologySpreadConstraints": "topologyKey", "secrets": "name",
    "addresses": "type", "taints": "key",
}
# primitive lists merged as sets
_SET_LISTS = {"finalizers"}


def merge_key_for(path: Path) -> str | None:
    """Merge key of the list at ``path`` (field names only); None for atomic lists."""
    if not path:
        return None
    last = path[-1]
    if last == "ports":
        parent = path[-2] if len(path) > 1 else ""
        return "containerPort" if parent in _CONTAINER_LISTS else "port"
    return _MERGE_KEYS.get(last)


def strategic_merge(target: Any, patch: Any, path: Path = ()) -> Any:
    return _strategic_into(clone(target), clone(patch), path)


def _strategic_into(target: Any, patch: Any, path: Path) -> Any:
    """``strategic_merge`` on private copies of both, reused in place (each part of either ends up
    in the result at most once), for the reason ``_merge_into`` gives."""
    if not isinstance(patch, dict):
        return patch
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out: Obj = target if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k.startswith("$setElementOrder/") or k in ("$retainKeys", "$patch"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(out.get(field), list):
                out[field] = [x for x in out[field] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
            continue
        sub = path + (k,)
        if isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, sub)
        elif isinstance(v, dict):
            merged = _strategic_into(out.get(k), v, sub)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = v
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(live: Any, patch: list[Any], path: Path) -> list[Any]:
    key = merge_key_for(path)
    if path and path[-1] in _SET_LISTS and isinstance(live, list):
        out = list(live)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    if key is None or not isinstance(live, list) or not all(isinstance(x, dict) for x in patch):
        if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch):
            return [x for x in patch if not (isinstance(x, dict) and x.get("$patch"))]
        return [x for x in patch if not (isinstance(x, dict) and x.get("$patch") == "delete")]
    out = list(live)
    index = {x.get(key): i for i, x in enumerate(out) if isinstance(x, dict)}
    removed: set[int] = set()
    for item in patch:
        if item.get("$patch") == "replace":
            return [x for x in patch if x.get("$patch") is None]
        k = item.get(key)
        if item.get("$patch") == "delete":
            if k in index:
                removed.add(index[k])
            continue
        if k in index:
            out[index[k]] = _strategic_into(out[index[k]], item, path)
        else:
            index[k] = len(out)
            out.append(_strategic_into({}, item, path))
    return [x for i, x in enumerate(out) if i not in removed]


# --------------------------------------------------------------------------- JSON patch


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError.bad_request(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError) as exc:
                raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                              f"index {p} out of range") from exc
        elif isinstance(cur, dict) and p in cur:
            cur = cur[p]
        else:
            raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request: "
                                          f"doc is missing path: /{'/'.join(parts)}")
    return cur


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise ApiError.bad_request("json patch must be a list of operations")
    out = clone(doc)
    for op in ops:
        kind = op.get("op")
        parts = _pointer(op.get("path", ""))
        if kind == "test":
            if _resolve(out, parts) != op.get("value"):
                raise ApiError(422, "Invalid", f"testing value {op.get('path')} failed")
            continue
        if kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = clone(_resolve(out, src))
            if kind == "move":
                out = _remove(out, src)
            out = _add(out, parts, value)
            continue
        if kind == "remove":
            out = _remove(out, parts)
        elif kind == "add":
            out = _add(out, parts, clone(op.get("value")))
        elif kind == "replace":
            _resolve(out, parts)
            out = _remove(out, parts)
            out = _add(out, parts, clone(op.get("value")))
        else:
            raise ApiError.bad_request(f"unknown json patch operation {kind!r}")
    return out


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            idx = int(last)
            if idx > len(parent):
                raise ApiError(422, "Invalid", f"index {idx} out of range")
            parent.insert(idx, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise ApiError(422, "Invalid", f"cannot add to /{'/'.join(parts)}")
    return doc


def _remove(doc: Any, parts: list[str]) -> Any:
    parent = _resolve(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, list):
        del parent[int(last)]
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                      f"doc is missing path: /{'/'.join(parts)}")
    return doc


# --------------------------------------------------------------------------- server-side apply
#
# Field ownership is tracked as sets of leaf paths per manager, stored in
# metadata.managedFields in the FieldsV1 shape ("f:name", "k:{...}").  Keyed
# list items are addressed by their merge key; other lists are atomic leaves.

Leaf = tuple[str, ...]
_IGNORED_META = {"managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink",
                 "deletionTimestamp", "deletionGracePeriodSeconds"}


def leaves(obj: Any, path: Path = (), names: Path = ()) -> set[Leaf]:
    """Leaf field paths of an object; keyed list items become ``k:{"key":value}`` segments."""
    out: set[Leaf] = set()
    if isinstance(obj, dict):
        if not obj and path:
            out.add(path)
        for k, v in obj.items():
            if not path and k in ("apiVersion", "kind", "status"):
                continue
            if path == ("f:metadata",) and k in _IGNORED_META:
                continue
            out |= leaves(v, path + (f"f:{k}",), names + (k,))
        return out
    if isinstance(obj, list):
        key = merge_key_for(names)
        if key and obj and all(isinstance(x, dict) and key in x for x in obj):
            for item in obj:
                seg = "k:" + json.dumps({key: item[key]}, separators=(",", ":"))
                out |= leaves(item, path + (seg,), names) or {path + (seg,)}
                out.add(path + (seg, "."))
            return out
        if names and names[-1] in _SET_LISTS:
            for item in obj:
                out.add(path + ("v:" + json.dumps(item, separators=(",", ":")),))
            return out
    out.add(path)
    return out


def fields_v1(paths: set[Leaf]) -> Obj:
    root: Obj = {}
    for p in sorted(paths):
        cur = root
        for seg in p:
            if seg == ".":
                cur["."] = {}
                break
            cur = cur.setdefault(seg, {})
    return root


def paths_from_fields_v1(fields: Obj, prefix: Path = ()) -> set[Leaf]:
    out: set[Leaf] = set()
    for k, v in (fields or {}).items():
        if k == ".":
            out.add(prefix + (".",))
            continue
        if isinstance(v, dict) and v:
            sub = paths_from_fields_v1(v, prefix + (k,))
            if sub:
                out |= sub
                continue
        out.add(prefix + (k,))
    return out


def _get_path(obj: Any, path: Leaf) -> tuple[bool, Any]:
    cur = obj
    names: Path = ()
    for seg in path:
        if seg == ".":
            return True, cur
        if seg.startswith("f:"):
            name = seg[2:]
            if not isinstance(cur, dict) or name not in cur:
                return False, None
            cur = cur[name]
            names += (name,)
        elif seg.startswith("k:"):
            want = json.loads(seg[2:])
            if not isinstance(cur, list):
                return False, None
            found = [x for x in cur if isinstance(x, dict) and all(x.get(a) == b for a, b in want.items())]
            if not found:
                return False, None
            cur = found[0]
        elif seg.startswith("v:"):
            val = json.loads(seg[2:])
            return (isinstance(cur, list) and val in cur), val
        else:
            return False, None
    return True, cur


def _delete_path(obj: Any, path: Leaf) -> None:
    if not path:
        return
    if path[-1] == ".":
        path = path[:-1]
    parent_ok, parent = _get_path(obj, path[:-1])
    if not parent_ok:
        return
    seg = path[-1]
    if seg.startswith("f:") and isinstance(parent, dict):
        parent.pop(seg[2:], None)
    elif seg.startswith("k:") and isinstance(parent, list):
        want = json.loads(seg[2:])
        parent[:] = [x for x in parent if not (isinstance(x, dict) and all(x.get(a) == b for a, b in want.items()))]
    elif seg.startswith("v:") and isinstance(parent, list):
        val = json.loads(seg[2:])
        parent[:] = [x for x in parent if x != val]


def _managers(obj: Obj) -> list[Obj]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def _owned(entry: Obj) -> set[Leaf]:
    return paths_from_fields_v1(entry.get("fieldsV1") or {})


def _manager_label(entry: Obj) -> str:
    return entry.get("manager", "")


def server_side_apply(live: Obj | None, applied: Obj, manager: str, *, force: bool, api_version: str,
                      now: str) -> Obj:
    """Merge ``applied`` into ``live`` as field manager ``manager``; raises 409 on conflicts unless forced."""
    if not manager:
        raise ApiError.bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
    applied_paths = leaves(applied)
    if live is None:
        out = clone(applied)
        out.setdefault("metadata", {})["managedFields"] = [_entry(manager, "Apply", api_version, now, applied_paths)]
        return out
    entries = _managers(live)
    conflicts: list[tuple[str, Leaf]] = []
    for e in entries:
        if _manager_label(e) == manager and e.get("operation") == "Apply":
            continue
        if _manager_label(e) == manager:
            continue
        for p in _owned(e) & applied_paths:
            if p[-1] == ".":
                continue
            ok_live, v_live = _get_path(live, p)
            ok_new, v_new = _get_path(applied, p)
            if ok_live and ok_new and v_live != v_new:
                conflicts.append((_manager_label(e), p))
    if conflicts and not force:
        text = "; ".join(f'conflict with "{m}": {_dotted(p)}' for m, p in conflicts[:10])
        n = len(conflicts)
        raise ApiError(409, "Conflict", f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {text}",
                       details={"causes": [{"reason": "FieldManagerConflict",
                                            "message": f'conflict with "{m}"', "field": _dotted(p)}
                                           for m, p in conflicts]})
    previous: set[Leaf] = set()
    for e in entries:
        if _manager_label(e) == manager and e.get("operation") == "Apply":
            previous = _owned(e)
    others: set[Leaf] = set()
    new_entries: list[Obj] = []
    for e in entries:
        if _manager_label(e) == manager and e.get("operation") == "Apply":
            continue
        # Fields applied with an identical value become shared; a forced apply takes them over.
        owned = _owned(e) - applied_paths if force else _owned(e)
        others |= owned
        if owned:
            new_entries.append({**e, "fieldsV1": fields_v1(owned)})
    out = strategic_merge(live, _strip_meta(applied))
    gone = previous - applied_paths - others
    # Whole list items first (addressed by key), then leaves; then drop containers left empty.
    for p in sorted(gone, key=lambda p: (p[-1] != ".", len(p))):
        _delete_path(out, p)
    for p in sorted(gone, key=len, reverse=True):
        for cut in range(len(p) - 1, 1, -1):
            prefix = p[:cut]
            if prefix[-1] == ".":
                continue
            ok, val = _get_path(out, prefix)
            if ok and val in ({}, []):
                _delete_path(out, prefix)
    new_entries.append(_entry(manager, "Apply", api_version, now, applied_paths))
    out.setdefault("metadata", {})["managedFields"] = new_entries
    return out


def record_update(old: Obj, new: Obj, manager: str, api_version: str, now: str) -> None:
    """Give ``manager`` ownership of the fields an Update (PUT/PATCH) changed, as the real API tracks it."""
    if not manager:
        return
    before = leaves(old)
    after = leaves(new)
    changed = {p for p in after - before}
    for p in after & before:
        if _get_path(old, p)[1] != _get_path(new, p)[1]:
            changed.add(p)
    entries = _managers(old)
    if not changed and not entries:
        new.setdefault("metadata", {}).pop("managedFields", None)
        return
    out: list[Obj] = []
    mine: set[Leaf] = set()
    for e in entries:
        if _manager_label(e) == manager and e.get("operation") == "Update":
            mine = _owned(e) & after
            continue
        owned = (_owned(e) - changed) & (after | {p for p in _owned(e) if p[-1] == "."})
        if owned:
            out.append({**e, "fieldsV1": fields_v1(owned)})
    mine |= changed
    if mine:
        out.append(_entry(manager, "Update", api_version, now, mine))
    new.setdefault("metadata", {})["managedFields"] = out


def _entry(manager: str, op: str, api_version: str, now: str, paths: set[Leaf]) -> Obj:
    return {"manager": manager, "operation": op, "apiVersion": api_version, "time": now,
            "fieldsType": "FieldsV1", "fieldsV1": fields_v1(paths)}


def _strip_meta(applied: Obj) -> Obj:
    out = dict(applied)
    meta = dict(out.get("metadata") or {})
    for k in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation"):
        meta.pop(k, None)
    out["metadata"] = meta
    return out


def _dotted(p: Leaf) -> str:
    out = ""
    for seg in p:
        if seg.startswith("f:"):
            out += "." + seg[2:]
        elif seg.startswith("k:"):
            out += "[" + ",".join(f"{k}={v}" for k, v in json.loads(seg[2:]).items()) + "]"
        elif seg.startswith("v:"):
            out += f"[={seg[2:]}]"
    return out
