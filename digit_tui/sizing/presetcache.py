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
from pathlib import Path
from typing import Any

from digit_tui.sizing import diskcache

FORMAT = 1                                       # bump when the stored layout changes
_PACKAGE = Path(__file__).resolve().parent.parent
# The code a preset's validated value depends on: the schema, its inheritance merge, this reader.
SCHEMA = (_PACKAGE / "sizing" / "presets.py", _PACKAGE / "deepmerge.py", _PACKAGE / "sizing" / "presetcache.py")


def cache_dir() -> Path:
    return diskcache.cache_dir().parent / "presets"


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
        hints: dict[type[Any], dict[str, Any]] = {}
        return {str(name): _build(cls, data, hints) for name, data in doc["presets"].items()}
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


def _build(tp: Any, value: Any, hints: dict[type[Any], dict[str, Any]]) -> Any:
    """``value`` (JSON data of a validated preset) as type ``tp``: dataclasses, lists, tuples, dicts,
    optionals, literals and scalars, which is all the preset schema uses."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    cls = origin if origin is not None else tp
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        if not isinstance(value, dict):
            raise TypeError(f"{cls.__name__}: not a mapping")
        if cls not in hints:
            hints[cls] = typing.get_type_hints(cls)
        bound = dict(zip(getattr(cls, "__parameters__", ()), args))
        kwargs = {f.name: _build(bound.get(hints[cls][f.name], hints[cls][f.name]), value[f.name], hints)
                  for f in dataclasses.fields(cls) if f.name in value}
        return cls(**kwargs)
    if origin is list:
        return [_build(args[0], v, hints) for v in value]
    if origin is tuple:
        return tuple(_build(a, v, hints) for a, v in zip(args, value, strict=True))
    if origin is dict:
        return {str(k): _build(args[1], v, hints) for k, v in value.items()}
    if origin is typing.Union or origin is types.UnionType:
        if value is None:
            return None
        return _build(next(a for a in args if a is not type(None)), value, hints)
    if origin is typing.Literal:
        if value not in args:
            raise TypeError(f"{value!r} is not one of {args}")
        return value
    if tp is float:
        return float(value)
    if tp in (int, str, bool) and not isinstance(value, tp):
        raise TypeError(f"{value!r} is not {tp.__name__}")
    return value

