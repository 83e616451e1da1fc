"""DIGIT release manifests: ``dependancy_chart-<product>-vX.Y.yaml`` (and the ``dependency_`` spelling).

A manifest lists modules; each module lists services and the modules it depends
on. Only modules whose name contains ``m_`` are offered to the operator; the
platform modules (backbone, authn-authz, core, business, frontend, and any other
module without ``m_``) are always part of a release. Choosing an ``m_`` module
pulls in its dependencies transitively.

A service entry is ``name``, ``name:tag`` or ``registry/name:tag``. An entry
whose name ends in ``-db`` is the Flyway migration image of the service without
``-db``: it sets that service's migration tag and is not a service of its own.

The compatibility contract: every manifest DIGIT's deployer (``egov-deployer``)
accepts is accepted, with the same outcome; where digit-tui is stricter it says
so as a :class:`ManifestNote` (``warnings``), never as a refusal:

* a service listed twice: the deployer deploys both entries and the later one
  stays, so the later entry's tag wins (an untagged later entry keeps the
  earlier tag, which is what the deployer reads back from the cluster);
* a dependency on a module the manifest does not define is ignored;
* a dependency cycle is broken at the edge that closes it, in file order;
* a service without a tag gets the tag of its Deployment running in the
  cluster, or none (the chart's own image tag), like the deployer.

The file is read by libyaml, and what libyaml refuses by Helm's YAML parser, of the family the
deployer's own Go parser belongs to (``helmyaml.parse_plain_mapping``): reading a manifest loads
no Helm SDK.
"""

from __future__ import annotations

import difflib
import heapq
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from digit_tui.digit.helmyaml import parse_plain_mapping, read_text
from digit_tui.errors import InputError

# DIGIT's conventional order; it breaks ties between modules the dependencies leave unordered.
CONVENTIONAL_ORDER: tuple[str, ...] = ("backbone", "authn-authz", "core", "business", "frontend")
SELECTABLE_MARK = "m_"
MIGRATION_SUFFIX = "-db"
MANIFEST_GLOBS: tuple[str, ...] = ("dependancy_chart-*.yaml", "dependency_chart-*.yaml",
                                   "dependancy_chart-*.yml", "dependency_chart-*.yml")

# ManifestNote kinds
DUPLICATE_SERVICE = "duplicate-service"
DUPLICATE_MODULE = "duplicate-module"
UNKNOWN_DEPENDENCY = "unknown-dependency"
CYCLE = "cycle"
UNTAGGED = "untagged"
ORPHAN_MIGRATION = "orphan-migration"


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
    migrates: bool = False               # the release lists its Flyway image (<name>-db)
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


@dataclass(frozen=True)
class ManifestNote:
    """Something the deployer accepts and digit-tui warns about; ``services`` names those concerned."""

    kind: str
    message: str
    line: int | None = None
    services: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()          # every line involved (each entry of a duplicate)

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message


@dataclass(frozen=True)
class SkipProblem:
    """A bad entry of ``digit.skip_services``: its index in the list, the name, what is wrong."""

    index: int
    name: str
    message: str
    expected: str


@dataclass
class ReleaseManifest:
    path: Path | None
    version: str | None
    modules: dict[str, Module]           # in file order
    notes: list[ManifestNote] = field(default_factory=list)

    @property
    def warnings(self) -> list[str]:
        """The notes, one line each (what the render task journals and ``render`` prints)."""
        return [str(n) for n in self.notes]

    def untagged(self, modules: Iterable[str] | None = None) -> list[ServiceEntry]:
        """The services of ``modules`` (default: all) without a tag in the manifest."""
        return [e for e in self.services(modules) if not e.tag]

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
        if len(order) != len(names):  # cycles are broken at load time; keep the guard honest
            cycles = _break_cycles(self.modules)
            raise InputError(f"module dependency cycle: {' -> '.join(cycles[0][0] if cycles else [])}",
                             path=self.path)
        return order

    # -- services ----------------------------------------------------------

    def services(self, modules: Iterable[str] | None = None, *, skip: Collection[str] = ()) -> list[ServiceEntry]:
        """The services of ``modules`` (already resolved and ordered; default: all, resolved), each once.

        A service listed twice keeps the place (and module) of its first entry and
        takes the tag of its last one, as the deployer's second deploy leaves it; a
        later entry without a tag keeps the earlier tag (the deployer reads the tag
        back from the Deployment the earlier entry created). Services named in
        ``skip`` (the answers' ``digit.skip_services``) are left out."""
        order = list(modules) if modules is not None else self.resolve(None)
        at: dict[str, int] = {}
        out: list[ServiceEntry] = []
        for module in order:
            for entry in self.modules[module].services:
                i = at.get(entry.name)
                if i is None:
                    at[entry.name] = len(out)
                    out.append(entry)
                elif entry.tag:
                    out[i] = replace(entry, module=out[i].module)
        return [e for e in out if e.name not in skip] if skip else out

    def skip_problems(self, modules: Iterable[str] | None, skip: Sequence[str], *,
                      always: Iterable[str] = ()) -> list[SkipProblem]:
        """What is wrong with a ``digit.skip_services`` list for these (resolved) modules: a name
        that is no service of them (with a near match, or the unselected module holding it), or
        a name listed twice. ``always`` names services every release has (cluster-configs)."""
        order = list(modules) if modules is not None else self.resolve(None)
        chosen = [*dict.fromkeys(always), *(e.name for e in self.services(order))]
        owner: dict[str, str] = {}
        for module in self.modules.values():
            for e in module.services:
                owner.setdefault(e.name, module.name)
        problems: list[SkipProblem] = []
        seen: set[str] = set()
        release = f"release {self.version}" if self.version else "the release"
        for index, name in enumerate(skip):
            if name in seen:
                problems.append(SkipProblem(index, name, f"{name} is listed twice", "each service once"))
                continue
            seen.add(name)
            if name in chosen:
                continue
            if name in owner:
                problems.append(SkipProblem(
                    index, name, f"{name} is in module {owner[name]}, which is not selected, so it is not "
                    "deployed anyway", f"a service of the selected modules, or {owner[name]} in digit.modules"))
                continue
            close = difflib.get_close_matches(name, chosen, n=1, cutoff=0.6) or \
                [c for c in chosen if c.startswith(name) or name.startswith(c)][:1]
            hint = f"did you mean {close[0]}?" if close else f"one of {', '.join(chosen[:8])}" + \
                (", ..." if len(chosen) > 8 else "")
            problems.append(SkipProblem(index, name, f"{name} is not a service of {release}",
                                        f"a service the release deploys; {hint}"))
        return problems

    def check_skips(self, modules: Iterable[str] | None, skip: Sequence[str], *,
                    always: Iterable[str] = ()) -> None:
        """InputError for the first problem :meth:`skip_problems` finds."""
        problems = self.skip_problems(modules, skip, always=always)
        if problems:
            first = problems[0]
            raise InputError(f"digit.skip_services[{first.index}]: {first.message}", expected=first.expected)

    def service_dependencies(self, modules: Iterable[str] | None = None, *,
                             cluster_configs: str | None = None,
                             skip: Collection[str] = ()) -> dict[str, list[str]]:
        """Service-level graph: a service depends on every service of the modules its module
        depends on. A dependency module without services is looked through, so its own
        dependencies still order the service. With ``cluster_configs`` set (a node name),
        every service also depends on that node, which has no dependencies itself.
        Services in ``skip`` have no node, and a module whose services are all skipped is
        looked through like an empty one; a skipped ``cluster_configs`` has no node either."""
        order = list(modules) if modules is not None else self.resolve(None)
        entries = self.services(order, skip=skip)
        if cluster_configs in skip:
            cluster_configs = None
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
    if not p.is_file():
        raise InputError("release manifest not found", path=p,
                         expected="a dependancy_chart-<product>-vX.Y.yaml file")
    return parse_manifest(read_text(p, role="release manifest"), p)


def parse_manifest(text: str, path: Path | None = None) -> ReleaseManifest:
    """Parse a release manifest; the module docstring says what is a warning rather than an error."""
    data, root = parse_plain_mapping(text, path=path, role="release manifest")  # root: None when Helm read it
    if not data:
        raise InputError("release manifest is empty", path=path, line=1,
                         expected="version: and modules: at the top level")
    try:
        model = ManifestModel.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise InputError(f"release manifest: {'.'.join(str(x) for x in loc)}: {err['msg']}",
                         path=path, line=_line_of(root, loc),
                         expected="modules: a list of {name, dependencies, services}") from None

    notes: list[ManifestNote] = []
    modules: dict[str, Module] = {}
    deps_at: dict[str, list[tuple[str, int | None]]] = {}
    migrations: dict[str, tuple[str | None, int | None, str]] = {}
    for mi, mod in enumerate(model.modules):
        mline = _line_of(root, ("modules", mi))
        if mod.name in modules:
            first = modules[mod.name].line
            notes.append(ManifestNote(
                DUPLICATE_MODULE, f"module {mod.name} is defined twice (lines {first} and {mline}); "
                "the later definition is used", line=mline, lines=tuple(x for x in (first, mline) if x)))
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
        deps_at[mod.name] = [(d, _line_of(root, ("modules", mi, "dependencies", di)))
                             for di, d in enumerate(mod.dependencies)]
        modules[mod.name] = Module(name=mod.name, dependencies=tuple(dict.fromkeys(mod.dependencies)),
                                   services=tuple(entries), line=mline)

    for name, deps in deps_at.items():
        for dep, dline in deps:
            if dep in modules:
                continue
            close = difflib.get_close_matches(dep, list(modules), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            notes.append(ManifestNote(
                UNKNOWN_DEPENDENCY, f"module {name} depends on {dep}, which this release does not define{hint}; "
                "the dependency is ignored, as DIGIT's deployer ignores it", line=dline or modules[name].line))
        modules[name] = replace(modules[name],
                                dependencies=tuple(d for d in modules[name].dependencies if d in modules))

    for cycle, (frm, to) in _break_cycles(modules):
        line = next((ln for d, ln in deps_at.get(frm, []) if d == to), None) or modules[frm].line
        notes.append(ManifestNote(
            CYCLE, f"module dependency cycle {' -> '.join(cycle)}: the dependency of {frm} on {to} closes it "
            "and is ignored", line=line))
        modules[frm] = replace(modules[frm], dependencies=tuple(d for d in modules[frm].dependencies if d != to))

    known = {e.name for m in modules.values() for e in m.services}
    for base, (tag, line, module) in migrations.items():
        if base not in known:
            notes.append(ManifestNote(
                ORPHAN_MIGRATION, f"migration image {base}{MIGRATION_SUFFIX} in module {module} has no service "
                f"{base} in this release; ignored", line=line))
    for name, built in list(modules.items()):
        patched = tuple(
            replace(e, migration_tag=migrations[e.name][0] if e.name in migrations and migrations[e.name][0]
                    else e.tag, migrates=e.name in migrations)
            for e in built.services)
        modules[name] = replace(built, services=patched)
    notes.extend(_duplicate_notes(modules))
    notes.extend(_untagged_notes(modules))
    return ReleaseManifest(path=path, version=model.version, modules=modules, notes=notes)


def _duplicate_notes(modules: Mapping[str, Module]) -> list[ManifestNote]:
    """One note per service listed more than once, naming every entry's line, module and tag."""
    listed: dict[str, list[ServiceEntry]] = {}
    for mod in modules.values():
        for e in mod.services:
            listed.setdefault(e.name, []).append(e)
    notes = []
    for name, entries in listed.items():
        if len(entries) < 2:
            continue
        where = ", ".join(f"line {e.line} ({e.module}, {e.tag or 'no tag'})" if e.line
                          else f"{e.module} ({e.tag or 'no tag'})" for e in entries)
        outcome = ("the same tag each time" if len({e.tag for e in entries}) == 1
                   else "the last entry among the modules deployed wins, as DIGIT's deployer deploys each "
                        "and the last one stays")
        notes.append(ManifestNote(
            DUPLICATE_SERVICE, f"service {name} is listed {len(entries)} times: {where}; {outcome}",
            line=entries[-1].line, services=(name,), lines=tuple(e.line for e in entries if e.line)))
    return notes


def _untagged_notes(modules: Mapping[str, Module]) -> list[ManifestNote]:
    untagged = [e for m in modules.values() for e in m.services if not e.tag]
    if not untagged:
        return []
    names = tuple(dict.fromkeys(e.name for e in untagged))
    listed = ", ".join(f"{e.name} (line {e.line})" if e.line else e.name for e in untagged)
    return [ManifestNote(
        UNTAGGED, f"{len(names)} service{'s' if len(names) != 1 else ''} without a tag: {listed}; each takes the "
        "tag of its Deployment running in the cluster, or else its chart's own image tag (a chart that "
        "requires a tag needs one in digit.tags in the answers)", line=untagged[0].line, services=names,
        lines=tuple(e.line for e in untagged if e.line))]


def _break_cycles(modules: Mapping[str, Module]) -> list[tuple[list[str], tuple[str, str]]]:
    """Walk the modules depth-first in file order, dependencies in listed order; each edge that
    reaches a module still on the path closes a cycle. Returns [(cycle, (from, to))]: removing
    those edges leaves the graph acyclic."""
    state: dict[str, int] = {}   # 1 on the current path, 2 finished
    path: list[str] = []
    found: list[tuple[list[str], tuple[str, str]]] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for dep in modules[name].dependencies:
            if dep not in modules:
                continue
            if state.get(dep) == 1:
                found.append((path[path.index(dep):] + [dep], (name, dep)))
            elif dep not in state:
                visit(dep)
        path.pop()
        state[name] = 2

    for name in modules:
        if name not in state:
            visit(name)
    return found


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
