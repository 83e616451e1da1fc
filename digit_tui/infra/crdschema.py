"""Structural OpenAPI schemas for apiextensions.k8s.io/v1 CustomResourceDefinitions.

v1beta1 accepted any OpenAPI v3 schema; v1 accepts only *structural* ones
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema).
``structural_problems`` lists what a v1 API server would reject;
``make_structural`` repairs what can be repaired without changing which
objects the schema accepts by more than it has to, and says what it did.

Not repaired (reported by ``structural_problems`` only): a field that appears
inside ``allOf``/``anyOf``/``oneOf``/``not`` but not beside it.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

PERMISSIVE_SCHEMA: Schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

_JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
# Inside a junctor a structural schema may only restrict values, never declare them.
_NOT_IN_JUNCTORS = ("description", "type", "default", "additionalProperties", "nullable")
# Kept from v1beta1 schemas but refused by v1.
_FORBIDDEN = ("uniqueItems", "$ref", "definitions", "dependencies", "additionalItems", "patternProperties",
              "id", "$schema")


def _untyped_ok(node: Schema) -> bool:
    return bool(node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields"))


def _closes_or_types_extra(node: Schema) -> bool:
    """additionalProperties false or a schema: v1 refuses either beside properties (true is allowed)."""
    extra = node.get("additionalProperties")
    return extra is False or isinstance(extra, dict)


def _children(node: Schema, path: str) -> list[tuple[str, Schema, bool]]:
    """(path, child schema, inside a junctor) for every sub-schema of ``node``."""
    out: list[tuple[str, Schema, bool]] = []
    for key, sub in (node.get("properties") or {}).items():
        if isinstance(sub, dict):
            out.append((f"{path}.properties.{key}", sub, False))
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        out.append((f"{path}.additionalProperties", extra, False))
    items = node.get("items")
    if isinstance(items, dict):
        out.append((f"{path}.items", items, False))
    for junctor in _JUNCTORS:
        value = node.get(junctor)
        subs = [value] if isinstance(value, dict) else value if isinstance(value, list) else []
        for i, sub in enumerate(subs):
            if isinstance(sub, dict):
                out.append((f"{path}.{junctor}[{i}]", sub, True))
    return out


def structural_problems(schema: Any) -> list[str]:
    """What a v1 API server would refuse in this schema (empty when it is structural)."""
    problems: list[str] = []
    if not isinstance(schema, dict):
        return ["openAPIV3Schema: must be an object"]
    if schema.get("type") != "object":
        problems.append("openAPIV3Schema.type: must be object")
    meta = (schema.get("properties") or {}).get("metadata")
    if isinstance(meta, dict) and (set(meta) - {"type", "properties"}
                                   or set(meta.get("properties") or {}) - {"name", "generateName"}):
        problems.append("openAPIV3Schema.properties.metadata: may only restrict name and generateName")

    def walk(node: Schema, path: str, in_junctor: bool, int_or_string_parent: bool) -> None:
        for key in _FORBIDDEN:
            if key == "uniqueItems" and not node.get(key):
                continue
            if key in node:
                problems.append(f"{path}.{key}: not allowed in apiextensions.k8s.io/v1")
        if in_junctor and not int_or_string_parent:
            for key in _NOT_IN_JUNCTORS:
                if key in node:
                    problems.append(f"{path}.{key}: must not be set inside allOf/anyOf/oneOf/not")
        elif not in_junctor and not node.get("type") and not _untyped_ok(node):
            problems.append(f"{path}.type: Required value")
        if node.get("properties") and _closes_or_types_extra(node):
            problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
        if isinstance(node.get("items"), list):
            problems.append(f"{path}.items: must be a schema, not a list")
        for child_path, child, junctor in _children(node, path):
            walk(child, child_path, in_junctor or junctor, bool(node.get("x-kubernetes-int-or-string")))

    walk(schema, "openAPIV3Schema", False, False)
    return problems


def make_structural(schema: Schema, *, preserve_unknown: bool = False) -> tuple[Schema, list[str]]:
    """Repair ``schema`` in place into a structural one; return it and the repairs made.

    ``preserve_unknown``: v1beta1 kept fields the schema does not name (its
    default, ``preserveUnknownFields: true``); v1 prunes them unless the schema
    says ``x-kubernetes-preserve-unknown-fields: true``, which is set at the root
    so stored objects keep every field, as before.
    """
    changes: list[str] = []
    if preserve_unknown and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["x-kubernetes-preserve-unknown-fields"] = True   # asked for: not a repair to report
    if schema.get("type") != "object":
        schema["type"] = "object"
        changes.append("type: object at the root")
    props = schema.get("properties")
    meta = props.get("metadata") if isinstance(props, dict) else None
    if isinstance(props, dict) and isinstance(meta, dict) and meta != {"type": "object"}:
        props["metadata"] = {"type": "object"}
        changes.append("properties.metadata reduced to {type: object} (v1 allows no other metadata schema)")
    counts: dict[str, int] = {}

    def count(what: str) -> None:
        counts[what] = counts.get(what, 0) + 1

    def walk(node: Schema, in_junctor: bool, int_or_string_parent: bool) -> None:
        for key in _FORBIDDEN:
            if key in node and (key != "uniqueItems" or node[key]):
                del node[key]
                count(f"{key} removed")
        if isinstance(node.get("items"), list):
            node["items"] = node["items"][0] if node["items"] and isinstance(node["items"][0], dict) else {}
            count("list-valued items reduced to their first schema")
        if in_junctor and not int_or_string_parent:
            for key in _NOT_IN_JUNCTORS:
                if key in node:
                    del node[key]
                    count(f"{key} removed inside allOf/anyOf/oneOf/not")
        elif not in_junctor and not node.get("type") and not _untyped_ok(node):
            if node.get("properties") or isinstance(node.get("additionalProperties"), dict):
                node["type"] = "object"
                count("type: object added")
            elif "items" in node:
                node["type"] = "array"
                count("type: array added")
            else:
                # Untyped in v1beta1 meant "any value"; this is v1's way to say so.
                node["x-kubernetes-preserve-unknown-fields"] = True
                count("untyped field marked x-kubernetes-preserve-unknown-fields")
        if node.get("properties") and _closes_or_types_extra(node):
            del node["additionalProperties"]
            count("additionalProperties removed beside properties")
        for _, child, junctor in _children(node, ""):
            walk(child, in_junctor or junctor, bool(node.get("x-kubernetes-int-or-string")))

    walk(schema, False, False)
    changes.extend(f"{what} ({n}x)" if n > 1 else what for what, n in counts.items())
    return schema, changes
