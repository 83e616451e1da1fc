"""Dependencies point one way: an AST pass over every module of digit_tui/ fails on any import from
a lower layer to a higher one, or between two packages that share a layer.

Every import counts, wherever it is written: at module level, inside a function (the lazy imports
that keep start-up fast), under ``if TYPE_CHECKING:``. The failure lists every import against the
layers as ``file:line: importer -> imported``, all at once. docs/architecture.md draws the same
layers and says what lives where.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from tests.support import REPO

PACKAGE = REPO / "digit_tui"

# The layers, top to bottom: the one place they are written down. A module may import its own
# package and anything in a lower layer. Packages separated by "|" share a layer and know nothing
# of each other. Names are relative to digit_tui/ (packages or top-level modules; "__init__" is
# digit_tui itself, for __version__); a dotted name (one module of a package) would take
# precedence over its package.
LAYERS: tuple[str, ...] = (
    "cli",                          # argparse and the glue between answers, engine and screens
    "app screens | sandbox",        # the Textual app and its screens; the sandbox, started by the CLI only
    "widgets",                      # reusable Textual widgets
    "viewmodel",                    # what the install view shows, without Textual
    "tasks | sizing | health",      # the install's phases; the capacity planner; pod health
    "preflight",                    # the prerequisite checks that the preflight tasks run
    "answers",                      # the answers file and the typed configuration tasks receive
    "engine | digit",               # the engine knows no task and no DIGIT; digit knows no engine
    "infra",                        # adapters over libraries: no DIGIT, no CLI
    "__init__ errors atomic yamlload yamldump paths procs exitcodes deepmerge",   # shared by all
)

# Imports against the layers that the settings refactor (issue 9, "one typed configuration") is
# still to remove from engine/ and digit/, as (importing module, imported module). None is left
# today; should one come back while that work goes on, it is named here, with the reason. An entry
# that matches no import any more fails the test, so the list only shrinks.
SETTINGS_REFACTOR_ALLOWLIST: frozenset[tuple[str, str]] = frozenset()

# Libraries that belong to one layer: the lowest layer that may import each ("digit knows nothing
# of Textual": neither does anything below the widgets).
LIBRARIES: dict[str, str] = {"textual": "widgets"}


def _table() -> tuple[dict[str, tuple[int, int]], list[str]]:
    """{name: (layer, group)}, and each group as written (for the messages)."""
    table: dict[str, tuple[int, int]] = {}
    groups: list[str] = []
    for layer, text in enumerate(LAYERS):
        for group in text.split("|"):
            for name in group.split():
                assert name not in table, f"{name} is in LAYERS twice"
                table[name] = (layer, len(groups))
            groups.append(" ".join(group.split()))
    return table, groups


TABLE, GROUPS = _table()


def module_name(path: Path) -> str:
    """digit_tui/cli/install.py -> digit_tui.cli.install; a package's __init__.py is the package."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def place(module: str) -> tuple[int, int] | None:
    """(layer, group) of a digit_tui module, by its longest name in LAYERS; None if none names it."""
    parts = module.split(".")[1:] or ["__init__"]
    for n in range(len(parts), 0, -1):
        hit = TABLE.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    return None


def _is_module(dotted: str) -> bool:
    path = REPO.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module imported) for every import in ``source``, nested ones included: digit_tui's
    modules and the LIBRARIES. ``from digit_tui import exitcodes`` imports digit_tui.exitcodes;
    relative imports are resolved."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for a in node.names:
                sub = f"{base}.{a.name}"     # a submodule when there is one, else a name of ``base``
                found.append((node.lineno, sub if _is_module(sub) else base))
    return [(line, m) for line, m in found if m.partition(".")[0] in ("digit_tui", *LIBRARIES)]


def check(relpath: str, source: str) -> tuple[list[str], set[tuple[str, str]]]:
    """The imports of one file that go against the layers, as file:line lines, and the
    allow-listed ones it holds."""
    path = REPO / relpath
    importer = module_name(path)
    here = place(importer)
    if here is None:
        return [f"{relpath}:1: {importer} is in no layer (place it in LAYERS)"], set()
    bad: list[str] = []
    allowed: set[tuple[str, str]] = set()
    for line, imported in imports_of(source, importer, is_package=path.name == "__init__.py"):
        library = imported.partition(".")[0]
        if library in LIBRARIES:
            if here[0] > TABLE[LIBRARIES[library]][0]:
                bad.append(f"{relpath}:{line}: {importer} -> {imported} ({library} only in "
                           f"{LIBRARIES[library]} and above)")
            continue
        there = place(imported)
        if there is None:
            bad.append(f"{relpath}:{line}: {importer} -> {imported}, which is in no layer")
        elif there[1] != here[1] and there[0] <= here[0]:
            if (importer, imported) in SETTINGS_REFACTOR_ALLOWLIST:
                allowed.add((importer, imported))
                continue
            how = "up the layers" if there[0] < here[0] else "sideways"
            bad.append(f"{relpath}:{line}: {importer} -> {imported} ({how}: {GROUPS[here[1]]} may not "
                       f"import {GROUPS[there[1]]})")
    return bad, allowed


@functools.cache
def scan() -> tuple[list[str], frozenset[tuple[str, str]]]:
    """Every file of digit_tui/, once per session (two tests read it)."""
    bad: list[str] = []
    allowed: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        b, a = check(str(path.relative_to(REPO)), path.read_text(encoding="utf-8"))
        bad += b
        allowed |= a
    return bad, frozenset(allowed)


def test_every_import_points_down_the_layers() -> None:
    bad, _ = scan()
    assert not bad, f"{len(bad)} import(s) against the layers (LAYERS in tests/test_layers.py):\n" + "\n".join(bad)


def test_the_allowlist_names_only_imports_that_still_exist() -> None:
    _, seen = scan()
    stale = sorted(SETTINGS_REFACTOR_ALLOWLIST - seen)
    assert not stale, "gone; remove from SETTINGS_REFACTOR_ALLOWLIST: " + ", ".join(f"{a} -> {b}" for a, b in stale)


def test_every_package_and_top_level_module_is_named_in_the_layers() -> None:
    """A new package must be placed on purpose, not inherit a layer by accident."""
    names = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    names |= {p.stem for p in PACKAGE.glob("*.py")}
    assert sorted(names - set(TABLE)) == []


# The pass must be able to fail: hand-written modules (never written to the tree) that break each
# rule DESIGN.md states, and two that keep them.
@pytest.mark.parametrize(("relpath", "source", "broken"), [
    ("digit_tui/engine/x.py", "from digit_tui.tasks.graph import build_graph\n", True),  # engine -> a task
    ("digit_tui/engine/x.py", "def f():\n    import digit_tui.answers.loader\n", True),  # lazy, answers format
    ("digit_tui/engine/x.py", "from digit_tui import screens\n", True),                   # engine -> screens
    ("digit_tui/digit/x.py", "from digit_tui.engine.errors import remedy_for\n", True),   # digit -> engine
    ("digit_tui/digit/x.py", "from digit_tui.widgets import podrow\n", True),            # digit -> Textual
    ("digit_tui/viewmodel/x.py", "from textual.widgets import Tree\n", True),             # Textual below widgets
    ("digit_tui/infra/x.py", "from digit_tui.digit import manifest\n", True),             # infra -> DIGIT
    ("digit_tui/infra/x.py", "from digit_tui import cli\n", True),                        # infra -> CLI
    ("digit_tui/tasks/x.py", "from digit_tui.sandbox.runtime import start_sandbox\n", True),  # a task -> sandbox
    ("digit_tui/screens/x.py", "from digit_tui.cli.install import check_journal\n", True),
    ("digit_tui/widgets/x.py", "from ..screens import base\n", True),                      # relative, upwards
    ("digit_tui/sizing/x.py", "from digit_tui.tasks import release\n", True),              # sideways
    ("digit_tui/tasks/x.py", "from digit_tui.answers.model import Host\n", False),        # typed configuration
    ("digit_tui/cli/x.py", "from digit_tui.engine.daemon import spawn\nfrom digit_tui import exitcodes\n", False),
])
def test_the_pass_catches_what_it_should(relpath: str, source: str, broken: bool) -> None:
    bad, _ = check(relpath, source)
    assert bool(bad) is broken, bad
    if broken:
        assert all(line.startswith(f"{relpath}:") for line in bad)
