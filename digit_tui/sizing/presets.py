"""Sizing presets: YAML data in ``digit_tui/profiles/`` (``kind: SizingPreset``).

A preset may ``extends:`` another (deep merge, lists replaced). Every number
carries its ``source`` so the plan can print why it holds. Validation errors
name the file and line of the offending key.

The presets are plain frozen dataclasses, validated by pydantic (which reads
stdlib dataclasses: types, extra keys refused, the checks in ``__post_init__``)
only when the preset files or this schema changed: the validated presets are
kept on disk (:mod:`digit_tui.sizing.presetcache`), so ``digit-tui size`` plans
without importing pydantic, a third of its start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from digit_tui.deepmerge import deep_merge
from digit_tui.errors import InputError

PROFILES_DIR = Path(__file__).resolve().parent.parent / "profiles"
KIND = "SizingPreset"
T = TypeVar("T")


class _Strict:
    # pydantic's configuration for the stdlib dataclasses below (a plain dict: no pydantic import here)
    __pydantic_config__ = {"extra": "forbid"}


def _at_least(value: float, bound: float, what: str, *, strictly: bool = False) -> None:
    if value < bound or (strictly and value == bound):
        raise ValueError(f"{what} should be {'greater than' if strictly else 'at least'} {bound:g}")


@dataclass(frozen=True)
class Sourced(_Strict, Generic[T]):
    value: T
    source: str

    def __post_init__(self) -> None:
        _at_least(len(self.source), 3, "source's length")


@dataclass(frozen=True)
class UsersModel(_Strict):
    base: Sourced[int]
    per_ulb: Sourced[float]


@dataclass(frozen=True)
class Retention(_Strict):
    kafka_days: Sourced[int]
    es_days: Sourced[int]


@dataclass(frozen=True)
class Growth(_Strict):
    kafka_mb_per_ulb_day: Sourced[float]
    es_mb_per_ulb_day: Sourced[float]
    filestore_gb_per_ulb_year: Sourced[float]
    db_gb_per_ulb_year: Sourced[float]
    horizon_years: Sourced[float]
    kafka_replication: Sourced[int]
    es_replicas: Sourced[int]
    free_margin: Sourced[float]


@dataclass(frozen=True)
class VolumeRule(_Strict):
    """How one row of the volume table is sized.

    ``rule``: ``kafka`` / ``es`` grow with ULBs × retention, ``filestore`` with
    ULBs × years, ``fixed`` is the published minimum only. ``workload`` names
    the StatefulSet (or service) whose replicas give the count; ``count`` is
    used when there is no such workload (e.g. the filestore disk).
    """

    name: str
    rule: Literal["kafka", "es", "filestore", "fixed"]
    min_gb: Sourced[int]
    workload: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class ExtraWorkload(_Strict):
    """A workload the release does not render but the target runs (e.g. the
    logging copies of Kafka and Elasticsearch on SDC prod)."""

    name: str
    source: str
    copy_of: str | None = None
    namespace: str = "default"
    replicas: int | None = None
    cpu: str | None = None
    memory: str | None = None


@dataclass(frozen=True)
class VmSpec(_Strict):
    count: int
    flavor: str
    source: str

    def __post_init__(self) -> None:
        _at_least(self.count, 0, "count")


@dataclass(frozen=True)
class PostgresSpec(_Strict):
    mode: Literal["vm", "managed", "in-cluster"]
    count: Sourced[int]
    min_flavor: Sourced[str]
    ladder: list[str]
    min_disk_gb: Sourced[int]
    mem_gb_per_100_ulbs: Sourced[float]
    users_per_core: Sourced[int]


@dataclass(frozen=True)
class Reservation(_Strict):
    """Per-node reservation as (upper bound, share) steps, plus eviction memory."""

    cpu_steps: list[tuple[float, float]]        # (up to N cores, fraction reserved of that slice)
    mem_steps: list[tuple[float, float]]        # (up to N GiB, fraction)
    eviction_mi: int
    source: str


@dataclass(frozen=True)
class SystemDaemon(_Strict):
    name: str
    cpu: str
    memory: str
    source: str


@dataclass(frozen=True)
class RequestPath(_Strict):
    service: str
    users_per_replica: int

    def __post_init__(self) -> None:
        _at_least(self.users_per_replica, 0, "users_per_replica", strictly=True)


@dataclass(frozen=True)
class RequestPathSpec(_Strict):
    services: list[RequestPath]
    ha_min_replicas: int
    source: str

    def __post_init__(self) -> None:
        _at_least(self.ha_min_replicas, 1, "ha_min_replicas")


@dataclass(frozen=True)
class UnsetDefault(_Strict):
    cpu: str
    memory: str
    source: str


@dataclass(frozen=True)
class Reference(_Strict):
    workers: int
    flavor: str
    masters: str
    volumes: str
    source: str


@dataclass(frozen=True)
class Preset(_Strict):
    kind: Literal["SizingPreset"]
    name: str
    description: str
    tier: Literal["dev", "uat", "prod"]
    ulbs: Sourced[int]
    users: UsersModel
    flavor: Sourced[str]
    flavor_candidates: Sourced[list[str]]
    ha: Sourced[bool]
    managed_control_plane: Sourced[bool]
    headroom: Sourced[float]
    retention: Retention
    growth: Growth
    volumes: list[VolumeRule]
    masters: VmSpec
    lb: VmSpec
    jenkins: VmSpec
    postgres: PostgresSpec
    reservation: Reservation
    system_daemonsets: list[SystemDaemon]
    request_path: RequestPathSpec
    unset_default: UnsetDefault
    abstract: bool = False
    extra_workloads: list[ExtraWorkload] = field(default_factory=list)
    replica_overrides: Sourced[dict[str, int]] | None = None
    reference: Reference | None = None


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest parent)."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == part), None)
            if nxt is None:
                break
            line = next(k.start_mark.line + 1 for k, v in node.value if k.value == part)
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _read(path: Path) -> tuple[dict[str, Any], str]:
    import yaml     # here: when the validated presets are on disk, no YAML is read

    try:
        text = path.read_text(encoding="utf-8")
        # libyaml's loader when present: seven presets are read whenever one of them changed.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise InputError(f"cannot read preset: {exc.strerror}", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError("not valid YAML", path=path, line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError("a preset is a YAML mapping", path=path, expected=f"kind: {KIND}")
    return data, text


def _files(directory: Path) -> dict[str, tuple[Path, dict[str, Any], str]]:
    found: dict[str, tuple[Path, dict[str, Any], str]] = {}
    for path in sorted(directory.glob("*.yaml")):
        data, text = _read(path)
        if data.get("kind") != KIND:
            continue            # target profiles share the directory
        name = str(data.get("name") or path.stem)
        found[name] = (path, data, text)
    return found


def _resolve(name: str, files: dict[str, tuple[Path, dict[str, Any], str]], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if name in seen:
        raise InputError(f"preset {name!r} extends itself through {' → '.join(seen)}")
    path, data, _ = files[name]
    parent = data.get("extends")
    if parent is None:
        return dict(data)
    if parent not in files:
        raise InputError(f"preset {name!r} extends unknown preset {parent!r}", path=path,
                         line=_line_of(files[name][2], ("extends",)))
    merged = deep_merge(_resolve(parent, files, (*seen, name)), {k: v for k, v in data.items() if k != "extends"})
    merged["abstract"] = bool(data.get("abstract", False))
    return merged


@lru_cache(maxsize=8)
def load_all(directory: Path = PROFILES_DIR) -> dict[str, Preset]:
    """Every concrete preset in ``directory``, validated (once per content of the files: see presetcache)."""
    from digit_tui.sizing import presetcache

    key = presetcache.digest(directory)
    stored = presetcache.load(key, Preset)
    if stored is not None:
        return stored
    out = _validate_all(directory)
    presetcache.save(key, out)
    return out


def _validate_all(directory: Path) -> dict[str, Preset]:
    from pydantic import TypeAdapter, ValidationError

    files = _files(directory)
    adapter = TypeAdapter(Preset)
    out: dict[str, Preset] = {}
    for name in files:
        data = _resolve(name, files)
        try:
            preset = adapter.validate_python(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = tuple(err["loc"])
            path, _, text = files[name]
            line = _line_of(text, loc)
            if line is None and files[name][1].get("extends") in files:
                path, _, text = files[files[name][1]["extends"]]
                line = _line_of(text, loc)
            raise InputError(f"{'.'.join(map(str, loc))}: {err['msg']}", path=path, line=line) from None
        if not preset.abstract:
            out[name] = preset
    return out


def load(name: str, directory: Path = PROFILES_DIR) -> Preset:
    presets = load_all(directory)
    if name not in presets:
        raise InputError(f"unknown preset {name!r}", expected="one of " + ", ".join(sorted(presets)))
    return presets[name]


def default_for_tier(tier: str, directory: Path = PROFILES_DIR) -> Preset:
    """The generic preset of a tier (``dev``, ``uat``, ``prod``)."""
    return load(tier, directory)
