"""Load an answers file: YAML -> validated ``Answers``, or one precise InputError.

Every problem names the file, the 1-based line and what is expected there::

    answers.yaml:12: hosts[1].port: 70000 is not a valid port (expected: an integer 1-65535)

The loader only reads: it never creates, rewrites or deletes anything.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from digit_tui.answers.locate import Document, Loc, parse, read_text
from digit_tui.answers.fields import show
from digit_tui.answers.model import Answers
from digit_tui.errors import InputError

# Keys whose values are never echoed back, whatever the error.
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential")


@dataclass
class AnswersError(InputError):
    """The first problem (what the CLI prints) plus all of them, in file order (for the TUI)."""

    problems: list[InputError] = field(default_factory=list)


def load_answers(path: str | os.PathLike[str], *, check_files: bool = True) -> Answers:
    """Read and validate an answers file; raises InputError (exit 2) on any problem."""
    shown = os.fspath(path)
    text = read_text(Path(shown), shown)
    return parse_answers(text, shown, check_files=check_files)


def parse_answers(text: str, path: str | os.PathLike[str] = "answers.yaml", *, check_files: bool = True) -> Answers:
    """Validate answers given as text; ``path`` names the file in errors and anchors relative paths."""
    shown = os.fspath(path)
    doc = parse(text, shown)
    if doc.data is None:
        raise InputError("the file is empty", path=shown, line=1,
                         expected="a mapping with at least environment, target and digit.domain")
    if not isinstance(doc.data, dict):
        raise InputError(f"the file holds {show(doc.data)}, not a mapping", path=shown, line=doc.line(()),
                         expected="a mapping with at least environment, target and digit.domain")
    base_dir = Path(os.path.abspath(shown)).parent
    try:
        return Answers.model_validate(doc.data, context={"base_dir": base_dir, "check_files": check_files})
    except ValidationError as exc:
        errors = _drop_explained(exc.errors(include_url=False))
        ranked = sorted(((err["type"] != "extra_forbidden", _translate(err, doc)) for err in errors),
                        key=lambda item: (item[1].line or 0, item[0]))
        problems = [problem for _, problem in ranked]
        first = problems[0]
        raise AnswersError(first.message, path=first.path, line=first.line, expected=first.expected,
                           problems=problems) from None


def _drop_explained(errors: list[Any]) -> list[Any]:
    """Drop "missing X" when an unknown key beside it is a misspelling of X: the typo is the news."""
    unknown: dict[tuple[Any, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            unknown.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    kept = []
    for err in errors:
        if err["type"] == "missing":
            typos = unknown.get(tuple(err["loc"][:-1]), [])
            if difflib.get_close_matches(str(err["loc"][-1]), typos, n=1, cutoff=0.6):
                continue
        kept.append(err)
    return kept or errors


# --------------------------------------------------------------------------- error translation


def loc_text(loc: Loc) -> str:
    """('hosts', 1, 'port') -> 'hosts[1].port' (union tags dropped)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.startswith("@"):
            out += ("." if out else "") + part
    return out


def _strip(annotation: Any) -> Any:
    """Peel Annotated and Optional off a type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return []


def _keys(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {(info.alias or name): info for name, info in model.model_fields.items()}


def schema_at(loc: Loc) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model holding the last element of ``loc``, and that element's field (if a model key)."""
    annotation: Any = Answers
    parent: type[BaseModel] | None = None
    info: FieldInfo | None = None
    for part in loc:
        if isinstance(part, str) and part.startswith("@"):
            continue
        if isinstance(part, int):
            args = typing.get_args(_strip(annotation))
            annotation = args[0] if args else Any
            parent, info = None, None
            continue
        models = [m for m in _models_in(annotation) if part in _keys(m)]
        if not models:
            candidates = _models_in(annotation)
            return (candidates[0] if len(candidates) == 1 else None), None
        parent, info = models[0], _keys(models[0])[part]
        annotation = info.annotation
    return parent, info


def _expected_of(info: FieldInfo | None) -> str | None:
    extra = info.json_schema_extra if info is not None else None
    return str(extra["expected"]) if isinstance(extra, dict) and "expected" in extra else None


def _is_secret(loc: Loc) -> bool:
    return any(isinstance(p, str) and any(w in p.lower() for w in _SECRET_WORDS) and not p.endswith("_file")
               for p in loc)


def _translate(err: Any, doc: Document) -> InputError:
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    loc: tuple[str | int, ...] = tuple(err["loc"]) + tuple(ctx.get("at", ()))
    value = err.get("input")
    where = loc_text(loc)
    parent_model, info = schema_at(loc)
    expected = ctx.get("expected") or _expected_of(info)
    shown = "the value" if _is_secret(loc) else show(value)

    if kind == "answers":
        message, line = str(ctx["detail"]), doc.line(loc)
    elif kind == "missing":
        message = f"required key {loc[-1]!r} is missing"
        line = doc.line(loc, missing=True)
        where = loc_text(loc[:-1])
    elif kind == "extra_forbidden":
        message, expected = _unknown_key(loc, parent_model)
        line = doc.line(loc, key=True)
        where = loc_text(loc[:-1])
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        model, _ = schema_at(loc + ("\0",))
        keys = ", ".join(_keys(model)) if model else ""
        message, expected = f"{shown} is not a mapping", f"a mapping with keys: {keys}" if keys else "a mapping"
        line = doc.line(loc)
    elif kind in ("list_type", "tuple_type"):
        message, line = f"{shown} is not a list", doc.line(loc)
        expected = expected or "a list"
        if "list" not in expected:
            expected = f"a list ({expected})"
    elif kind == "literal_error":
        message, line = f"{shown} is not allowed", doc.line(loc)
        expected = _expected_of(info) or f"one of {ctx.get('expected', '')}"
        if loc and loc[-1] == "version":
            message = f"unsupported answers file version {shown}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        message, line = f"{shown} is not a whole number", doc.line(loc)
        expected = expected or "an integer"
    elif kind in ("float_type", "float_parsing", "finite_number"):
        message, line = f"{shown} is not a number", doc.line(loc)
        expected = expected or "a number"
    elif kind in ("bool_type", "bool_parsing"):
        message, line, expected = f"{shown} is not true or false", doc.line(loc), "true or false"
    elif kind in ("string_type", "string_too_short", "string_pattern_mismatch"):
        message, line = f"{shown} is not valid text here", doc.line(loc)
        expected = expected or "text"
    elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": "at least", "greater_than": "more than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]
        limit = next(iter(v for k, v in ctx.items() if k in ("ge", "gt", "le", "lt")), "")
        message, line = f"{shown} is out of range ({bound} {limit})", doc.line(loc)
    elif kind == "too_short":
        message, line = f"{shown} has too few entries (at least {ctx.get('min_length', 1)})", doc.line(loc)
    elif kind == "too_long":
        message, line = f"{shown} has too many entries (at most {ctx.get('max_length')})", doc.line(loc)
    else:
        message, line = str(err.get("msg", "invalid value")), doc.line(loc)
    prefix = f"{where}: " if where else ""
    return InputError(prefix + message, path=doc.path, line=line, expected=expected)


def _unknown_key(loc: Loc, parent: type[BaseModel] | None) -> tuple[str, str | None]:
    key = str(loc[-1])
    allowed = list(_keys(parent)) if parent is not None else []
    if any(w in key.lower() for w in ("password", "passwd")):
        # The value is a secret: never echo it, and say where passwords belong.
        target = "password_file" if "password_file" in allowed else "a credentials file or ssh_key"
        return (f"unknown key {key!r}: passwords are never written in the answers file",
                f"{target}: PATH of a file only you can read (chmod 600) holding the password")
    hint = ""
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    if close:
        hint = f"; did you mean {close[0]!r}?"
    expected = ("one of " + ", ".join(allowed) + hint) if allowed else None
    return f"unknown key {key!r}", expected


__all__ = ["AnswersError", "load_answers", "loc_text", "parse_answers", "schema_at"]
