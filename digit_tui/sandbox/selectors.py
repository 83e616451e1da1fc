"""Label and field selectors in the Kubernetes string syntax, compiled to predicates."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|!=|=)\s*([A-Za-z0-9._-]*)\s*$")


class SelectorError(ValueError):
    """A selector that does not parse: the API answers 400 BadRequest."""


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p for p in (x.strip() for x in parts) if p]


def _label_req(req: str) -> Callable[[dict[str, str]], bool]:
    m = _EQ_RE.match(req)
    if m:
        key, op, val = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != val
        return lambda labels: labels.get(key) == val
    m = _SET_RE.match(req)
    if not m:
        raise SelectorError(f"unable to parse requirement: {req!r}")
    neg, key, op, values = m.groups()
    if op:
        if neg:
            raise SelectorError(f"unable to parse requirement: {req!r}")
        allowed = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if neg:
        return lambda labels: key not in labels
    return lambda labels: key in labels


def label_predicate(selector: str | None) -> Predicate | None:
    """A predicate on whole objects (reads metadata.labels); None when the selector is empty."""
    if not selector or not selector.strip():
        return None
    reqs = [_label_req(r) for r in _split_top(selector)]

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


def match_labels(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """A structured LabelSelector (matchLabels / matchExpressions) against a label map."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def field_value(obj: dict[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_predicate(selector: str | None) -> Predicate | None:
    """``metadata.name=x,status.phase!=Running`` -> predicate; None when empty."""
    if not selector or not selector.strip():
        return None
    reqs: list[tuple[str, bool, str]] = []
    for part in _split_top(selector):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
        if not m:
            raise SelectorError(f"invalid field selector: {part!r}")
        path, op, val = m.groups()
        reqs.append((path, op == "!=", val))

    def match(obj: dict[str, Any]) -> bool:
        for path, neg, val in reqs:
            if (field_value(obj, path) == val) == neg:
                return False
        return True

    return match


def field_equalities(selector: str | None) -> dict[str, str]:
    """The ``path=value`` terms of a field selector, used to narrow a list cheaply (e.g. metadata.name)."""
    out: dict[str, str] = {}
    if not selector:
        return out
    for part in _split_top(selector):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=)\s*(.*?)\s*$", part)
        if m:
            out[m.group(1)] = m.group(3)
    return out
