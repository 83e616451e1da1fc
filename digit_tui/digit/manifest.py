"""DIGIT release manifests: ``dependancy_chart-<product>-vX.Y.yaml`` (and the ``dependency_`` spelling).

A manifest lists modules; each module lists services and the modules it depends
on. Only modules whose name contains ``m_`` are offered to the operator; the
platform modules (backbone, authn-authz, core, business, frontend, and any other
module without ``m_``) are always part of a release. Choosing an ``m_`` module
pulls in its dependencies transitively.

A service entry is ``name``, ``name:tag`` or ``registry/name:tag``. An entry
whose name ends in ``-db`` is the Flyway migration image of the service without
``-db``: it sets that service's migration tag and is not a service of its own.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from digit_tui.errors import InputError

# DIGIT's conventional order; it breaks ties between modules the dependencies leave unordered.
CONVENTIONAL_ORDER: tuple[str, ...] = ("backbone", "authn-authz", "core", "business", "frontend")
SELECTABLE_MARK = "m_"
MIGRATION_SUFFIX = "-db"
MANIFEST_GLOBS: tuple[str, ...] = ("dependancy_chart-*.yaml", "dependency_chart-*.yaml")


class ModuleModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    dependencies: list[str] = []
    services: list[str] = []

    @field_validator("dependencies", "services", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        # `services:` with nothing under it parses as null in DIGIT's files.
        return [] if value is None else value


class ManifestModel(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str | None = None
    modules: list[ModuleModel]

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return None if value is None else str(value)


@dataclass(frozen=True)
class ServiceEntry:
    """One service of the release, with the tags its render needs."""

    name: str
    module: str
    tag: str | None                      # image.tag; None when the chart pins its own
    registry: str | None = None          # as written in the manifest (e.g. ``egovio``)
    migration_tag: str | None = None     # initContainers.dbMigration.image.tag
    line: int | None = None


@dataclass(frozen=True)
class Module:
    name: str
    dependencies: tuple[str, ...]
    services: tuple[ServiceEntry, ...]
    line: int | None = None

    @property
    def selectable(self) -> bool:
        return SELECTABLE_MARK in self.name


@dataclass
class ReleaseManifest:
    path: Path | None
    version: str | None
    modules: dict[str, Module]           # in file order
    warnings: list[str] = field(default_factory=list)

    # -- modules -----------------------------------------------------------

    def selectable(self) -> list[str]:
        return [m for m in self.modules if self.modules[m].selectable]

    def resolve(self, selected: Iterable[str] | None = None) -> list[str]:
        """The modules to deploy, in order: the platform modules, the chosen ``m_`` modules
        (all of them when ``selected`` is None) and everything they depend on."""
        if selected is None:
            wanted = list(self.modules)
        else:
            chosen = [s.strip() for s in selected if s and s.strip()]
            unknown = [s for s in chosen if s not in self.modules]
            if unknown:
                raise InputError(
                    f"unknown module{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                    f"selected; selectable modules: {', '.join(self.selectable()) or '(none)'}",
                    path=self.path, expected="one or more of the m_ modules of the release manifest")
            wanted = [m for m in self.modules if not self.modules[m].selectable] + chosen
        closure: set[str] = set()
        stack = list(wanted)
        while stack:
            name = stack.pop()
            if name in closure:
                continue
            closure.add(name)
            stack.extend(self.modules[name].dependencies)
        return self._order(closure)

    def _order(self, names: set[str]) -> list[str]:
        file_index = {name: i for i, name in enumerate(self.modules)}

        def rank(name: str) -> tuple[int, int]:
            if name in CONVENTIONAL_ORDER:
                return (CONVENTIONAL_ORDER.index(name), file_index[name])
            return (len(CONVENTIONAL_ORDER) + (1 if SELECTABLE_MARK in name else 0), file_index[name])

        waiting = {n: {d for d in self.modules[n].dependencies if d in names} for n in names}
        ready = [(rank(n), n) for n, deps in waiting.items() if not deps]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, name = heapq.heappop(ready)
            order.append(name)
            for other, deps in waiting.items():
                if name in deps:
                    deps.discard(name)
                    if not deps:
                        heapq.heappush(ready, (rank(other), other))
        if len(order) != len(names):  # cycles are rejected at load time; keep the guard honest
            raise InputError(f"module dependency cycle: {' -> '.join(_find_cycle(self.modules) or [])}",
                             path=self.path)
        return order

    # -- services ----------------------------------------------------------

    def services(self, modules: Iterable[str] | None = None) -> list[ServiceEntry]:
        """The services of ``modules`` (already resolved and ordered; default: all, resolved),
        each once: a service listed by two modules belongs to the earlier one."""
        order = list(modules) if modules is not None else self.resolve(None)
        seen: dict[str, ServiceEntry] = {}
        out: list[ServiceEntry] = []
        for module in order:
            for entry in self.modules[module].services:
                first = seen.get(entry.name)
                if first is None:
                    seen[entry.name] = entry
                    out.append(entry)
                elif first.tag and entry.tag and first.tag != entry.tag:
                    raise InputError(
                        f"service {entry.name} is listed with tag {first.tag} in module {first.module} "
                        f"(line {first.line}) and with tag {entry.tag} in module {entry.module}",
                        path=self.path, line=entry.line, expected="one tag per service in a release")
        return out

    def service_dependencies(self, modules: Iterable[str] | None = None, *,
                             cluster_configs: str | None = None) -> dict[str, list[str]]:
        """Service-level graph: a service depends on every service of the modules its module
        depends on. A dependency module without services is looked through, so its own
        dependencies still order the service. With ``cluster_configs`` set (a node name),
        every service also depends on that node, which has no dependencies itself."""
        order = list(modules) if modules is not None else self.resolve(None)
        entries = self.services(order)
        owner = {e.name: e.module for e in entries}
        by_module: dict[str, list[str]] = {m: [] for m in order}
        for e in entries:
            by_module[e.module].append(e.name)

        def upstream(module: str) -> list[str]:
            found: list[str] = []
            seen: set[str] = set()
            stack = list(self.modules[module].dependencies)
            while stack:
                dep = stack.pop(0)
                if dep in seen or dep not in by_module:
                    continue
                seen.add(dep)
                if by_module[dep]:
                    found.extend(by_module[dep])
                else:
                    stack.extend(self.modules[dep].dependencies)
            return found

        graph: dict[str, list[str]] = {}
        if cluster_configs:
            graph[cluster_configs] = []
        for e in entries:
            deps = [s for s in upstream(owner[e.name]) if s != e.name]
            if cluster_configs:
                deps = [cluster_configs, *deps]
            graph[e.name] = list(dict.fromkeys(deps))
        return graph


def parse_service_entry(text: str) -> tuple[str, str | None, str | None]:
    """``registry/name:tag`` -> (name, tag, registry); tag and registry may be absent."""
    raw = text.strip()
    if not raw or any(c.isspace() for c in raw) or "@" in raw:
        raise ValueError("a service entry is name, name:tag or registry/name:tag")
    registry, _, last = raw.rpartition("/")
    name, sep, tag = last.partition(":")
    if not name or (sep and not tag) or ":" in tag:
        raise ValueError("a service entry is name, name:tag or registry/name:tag")
    return name, (tag or None), (registry or None)


def find_manifests(folder: str | os.PathLike[str]) -> list[Path]:
    base = Path(folder)
    return sorted({p for pattern in MANIFEST_GLOBS for p in base.rglob(pattern)})


def load_manifest(path: str | os.PathLike[str]) -> ReleaseManifest:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("release manifest not found", path=p,
                         expected="a dependancy_chart-<product>-vX.Y.yaml file") from None
    except OSError as exc:
        raise InputError(f"cannot read the release manifest: {exc.strerror}", path=p) from None
    return parse_manifest(text, p)


def parse_manifest(text: str, path: Path | None = None) -> ReleaseManifest:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(f"release manifest is not valid YAML: {exc.problem or exc.context}",
                         path=path, line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError("release manifest is not a mapping", path=path, line=1,
                         expected="version: and modules: at the top level")
    try:
        model = ManifestModel.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise InputError(f"release manifest: {'.'.join(str(x) for x in loc)}: {err['msg']}",
                         path=path, line=_line_of(root, loc),
                         expected="modules: a list of {name, dependencies, services}") from None

    modules: dict[str, Module] = {}
    migrations: dict[str, tuple[str | None, int | None, str]] = {}
    for mi, mod in enumerate(model.modules):
        mline = _line_of(root, ("modules", mi))
        if mod.name in modules:
            raise InputError(f"module {mod.name} is defined twice", path=path, line=mline,
                             expected="unique module names")
        entries: list[ServiceEntry] = []
        for si, raw in enumerate(mod.services):
            sline = _line_of(root, ("modules", mi, "services", si))
            try:
                name, tag, registry = parse_service_entry(raw)
            except ValueError as exc:
                raise InputError(f"bad service entry {raw!r} in module {mod.name}", path=path, line=sline,
                                 expected=str(exc)) from None
            if name.endswith(MIGRATION_SUFFIX) and len(name) > len(MIGRATION_SUFFIX):
                migrations[name[: -len(MIGRATION_SUFFIX)]] = (tag, sline, mod.name)
                continue
            entries.append(ServiceEntry(name=name, module=mod.name, tag=tag, registry=registry, line=sline))
        modules[mod.name] = Module(name=mod.name, dependencies=tuple(dict.fromkeys(mod.dependencies)),
                                   services=tuple(entries), line=mline)

    for mi, mod in enumerate(model.modules):
        for di, dep in enumerate(mod.dependencies):
            if dep not in modules:
                raise InputError(f"module {mod.name} depends on unknown module {dep}", path=path,
                                 line=_line_of(root, ("modules", mi, "dependencies", di)),
                                 expected=f"one of: {', '.join(modules)}")
    cycle = _find_cycle(modules)
    if cycle:
        raise InputError(f"module dependency cycle: {' -> '.join(cycle)}", path=path,
                         line=modules[cycle[0]].line, expected="module dependencies without a cycle")

    warnings: list[str] = []
    known = {e.name for m in modules.values() for e in m.services}
    for base, (tag, line, module) in migrations.items():
        if base not in known:
            warnings.append(f"line {line}: migration image {base}{MIGRATION_SUFFIX} in module {module} "
                            f"has no service {base} in this release; ignored")
    for name, mod in list(modules.items()):
        patched = tuple(
            ServiceEntry(name=e.name, module=e.module, tag=e.tag, registry=e.registry, line=e.line,
                         migration_tag=migrations[e.name][0] if e.name in migrations and migrations[e.name][0]
                         else e.tag)
            for e in mod.services)
        modules[name] = Module(name=mod.name, dependencies=mod.dependencies, services=patched, line=mod.line)
    return ReleaseManifest(path=path, version=model.version, modules=modules, warnings=warnings)


def _find_cycle(modules: dict[str, Module]) -> list[str] | None:
    """The first dependency cycle in file order, as a closed path (``a -> b -> a``)."""
    state: dict[str, int] = {}   # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in modules[name].dependencies:
            if dep not in modules:
                continue
            if state.get(dep) == 1:
                return path[path.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in modules:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at ``loc`` (keys and list indexes), or of its nearest parent."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line
