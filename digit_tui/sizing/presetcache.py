"""Validated sizing presets kept on disk, so a ``digit-tui size`` run needs neither YAML nor pydantic.

Validating the seven presets costs pydantic's import and schema build, more than
the plan itself. What they validate to depends only on the preset files and on
the code (``presets.py``, ``deepmerge.py`` for ``extends:``, and this module,
which writes and reads them back), so a digest of their contents names the
result: ``$XDG_CACHE_HOME/digit-tui/presets/<digest>.json`` (0600 in a 0700
directory).
A file that cannot be read or does not fit the schema is a miss, never an error:
the caller validates again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from digit_tui.paths import cache_root

FORMAT = 1                                       # bump when the stored layout changes
_PACKAGE = Path(__file__).resolve().parent.parent
# The code a preset's validated value depends on: the schema, its inheritance merge, this reader.
SCHEMA = (_PACKAGE / "sizing" / "presets.py", _PACKAGE / "deepmerge.py", _PACKAGE / "sizing" / "presetcache.py")


def cache_dir() -> Path:
    return cache_root() / "presets"


def digest(directory: Path) -> str:
    """sha256 over the schema's code and every ``*.yaml`` file of ``directory`` (name and content)."""
    h = hashlib.sha256(f"{FORMAT}\n{directory.resolve()}\n".encode())
    for path in (*SCHEMA, *sorted(directory.glob("*.yaml"))):
        try:
            h.update(f"{path.name}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            h.update(f"{path.name}\0?".encode())
    return h.hexdigest()


def load(key: str, cls: type[Any], root: Path | None = None) -> dict[str, Any] | None:
    """The presets stored under ``key``, as ``cls`` instances; None when absent or unreadable."""
    try:
        doc = json.loads(((root or cache_dir()) / f"{key}.json").read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            return None
        build = _builder(cls, {})
        return {str(name): build(data) for name, data in doc["presets"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None     # absent, truncated, or another layout: validate again


def save(key: str, presets: dict[str, Any], root: Path | None = None) -> None:
    """Best effort: a cache that cannot be written costs the next run a validation, nothing else."""
    from digit_tui.atomic import atomic_write

    base = root or cache_dir()
    doc = {"format": FORMAT, "presets": {name: dataclasses.asdict(p) for name, p in presets.items()}}
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(base / f"{key}.json", json.dumps(doc), mode=0o600)
    except OSError:
        pass


Build = Callable[[Any], Any]


def _builder(tp: Any, made: dict[Any, Build]) -> Build:
    """A function making type ``tp`` of its JSON data (a validated preset): dataclasses, lists, tuples,
    dicts, optionals, literals and scalars, which is all the preset schema uses. Made once per type
    (``made``), so that reading is a call per value, not a walk of the type each time."""
    if tp in made:
        return made[tp]
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    cls = origin if origin is not None else tp
    build: Build
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        made[tp] = lambda value: build(value)       # a dataclass may hold itself, if only optionally
        hints = typing.get_type_hints(cls)
        bound = dict(zip(getattr(cls, "__parameters__", ()), args))
        fields = [(f.name, _builder(bound.get(hints[f.name], hints[f.name]), made)) for f in dataclasses.fields(cls)]

        def build(value: Any) -> Any:
            if not isinstance(value, dict):
                raise TypeError(f"{cls.__name__}: not a mapping")
            return cls(**{name: part(value[name]) for name, part in fields if name in value})
    elif origin is list:
        item = _builder(args[0], made)
        build = lambda value: [item(v) for v in value]  # noqa: E731
    elif origin is tuple:
        parts = [_builder(a, made) for a in args]
        build = lambda value: tuple(part(v) for part, v in zip(parts, value, strict=True))  # noqa: E731
    elif origin is dict:
        item = _builder(args[1], made)
        build = lambda value: {str(k): item(v) for k, v in value.items()}  # noqa: E731
    elif origin is typing.Union or origin is types.UnionType:
        inner = _builder(next(a for a in args if a is not type(None)), made)
        build = lambda value: None if value is None else inner(value)  # noqa: E731
    elif origin is typing.Literal:
        def build(value: Any) -> Any:
            if value not in args:
                raise TypeError(f"{value!r} is not one of {args}")
            return value
    elif tp is float:
        build = float
    elif tp in (int, str, bool):
        def build(value: Any) -> Any:
            if not isinstance(value, tp):
                raise TypeError(f"{value!r} is not {tp.__name__}")
            return value
    else:
        build = lambda value: value  # noqa: E731
    made[tp] = build
    return build
