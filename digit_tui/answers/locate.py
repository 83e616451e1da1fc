"""YAML with line numbers: parse once, keep the node tree to point at keys and values.

``yaml.safe_load`` forgets where things were; an operator needs ``FILE:LINE``.
We compose the node tree with PyYAML's SafeLoader, build plain Python data from
it ourselves (so duplicate keys and odd keys are caught, and mapping keys stay
the text the operator typed), and answer "which line is this path on?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from digit_tui.errors import InputError
from digit_tui.yamlload import MAX_DEPTH, LimitedSafeLoader, TooDeep

# An answers file is tens of lines; these caps stop alias bombs and runaway input.
MAX_BYTES = 1 << 20
MAX_NODES = 100_000

Loc = Sequence[str | int]


@dataclass(frozen=True)
class Document:
    """Parsed YAML plus the node tree it came from."""

    data: Any
    root: Node | None
    path: str

    def line(self, loc: Loc, *, missing: bool = False, key: bool = False) -> int:
        return line_of(self.root, loc, missing=missing, key=key)


def _yaml_error(exc: yaml.YAMLError, path: str) -> InputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    if isinstance(exc, TooDeep):
        return InputError(f"the file is nested deeper than {MAX_DEPTH} levels", path=path, line=line,
                          expected="an answers file a few levels deep")
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if "'\\t'" in problem or "\t" in problem:
        return InputError("YAML syntax error: a tab character is used for indentation", path=path, line=line,
                          expected="indentation with spaces, not tabs")
    detail = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return InputError(detail, path=path, line=line,
                      expected="valid YAML: 'key: value' pairs, consistent space indentation, matching quotes and brackets")


def parse(text: str, path: str) -> Document:
    """Parse one YAML document; every problem becomes an InputError with a line."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise InputError("the file is larger than 1 MiB", path=path, expected="an answers file (a few kilobytes)")
    try:
        loader = LimitedSafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise InputError(f"unacceptable character #x{exc.character:04x} in the file", path=path, line=line,
                         expected="printable text (no control characters)") from None
    try:
        root = loader.get_single_node()
        data = _Builder(loader, path).build(root) if root is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    finally:
        loader.dispose()
    return Document(data=data, root=root, path=path)


class _Builder:
    """Node tree -> dicts/lists/scalars, rejecting duplicates and non-text keys."""

    def __init__(self, loader: yaml.SafeLoader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise InputError("the file expands to too many values (alias loop or alias bomb?)", path=self.path,
                             line=node.start_mark.line + 1, expected="an answers file without nested aliases")
        if isinstance(node, ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.active:
            raise InputError("an alias refers to a node that contains it", path=self.path,
                             line=node.start_mark.line + 1, expected="aliases that do not loop")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item) for item in node.value]
            assert isinstance(node, MappingNode)
            self._check_keys(node)
            self.loader.flatten_mapping(node)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                out[str(key_node.value)] = self.build(value_node)
            return out
        finally:
            self.active.discard(id(node))

    def _check_keys(self, node: MappingNode) -> None:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, ScalarNode):
                raise InputError("a key is a list or mapping", path=self.path, line=line,
                                 expected="plain names as keys, such as 'port:'")
            if key_node.value in seen:
                raise InputError(f"duplicate key {key_node.value!r} (first on line {seen[key_node.value]})",
                                 path=self.path, line=line, expected="each key once per mapping")
            seen[key_node.value] = line


def _child(node: Node | None, part: str | int) -> tuple[Node | None, Node | None]:
    """(key node, value node) of ``part`` inside ``node``; (None, None) if absent."""
    if isinstance(node, MappingNode) and isinstance(part, str):
        found: tuple[Node | None, Node | None] = (None, None)
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == part:
                found = (key_node, value_node)  # last wins, as in the built data (merge keys come first)
        return found
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None, None


def line_of(root: Node | None, loc: Loc, *, missing: bool = False, key: bool = False) -> int:
    """1-based line for ``loc``.

    ``missing``: the last element is a key that is not there; answer the line
    of the mapping that should hold it (the key that introduces it, or the
    list item's first line). ``key``: the line of the key itself rather than
    of its value. Parts that do not exist (union tags, defaults filled in by
    the model) are skipped, so the answer is the deepest thing that exists.
    """
    if root is None:
        return 1
    parts = [p for p in loc if not (isinstance(p, str) and p.startswith("@"))]
    if missing and parts:
        parts = parts[:-1]
    node: Node = root
    # The line that introduced the current node: its key, or its own start.
    intro = root.start_mark.line + 1
    for index, part in enumerate(parts):
        key_node, value_node = _child(node, part)
        if value_node is None:
            # Not in the file: a default, or a union tag; stay on the deepest existing node.
            break
        intro = (key_node or value_node).start_mark.line + 1
        node = value_node
        if key and index == len(parts) - 1:
            return intro
    if missing or key:
        return intro
    # A block mapping or list starts on the line after its key; the key reads best.
    if isinstance(node, (MappingNode, SequenceNode)) and not node.flow_style:
        return intro
    return node.start_mark.line + 1


def read_text(path: Path, shown: str) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError("answers file does not exist", path=shown, expected="the path of an answers YAML file "
                         "(digit-tui validate --example prints one)") from None
    except IsADirectoryError:
        raise InputError("is a directory", path=shown, expected="the path of an answers YAML file") from None
    except OSError as exc:
        raise InputError(f"cannot read the answers file: {exc.strerror}", path=shown,
                         expected="a readable answers YAML file") from None
    if len(raw) > MAX_BYTES:
        raise InputError("the file is larger than 1 MiB", path=shown, expected="an answers file (a few kilobytes)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError("the file is not UTF-8 text", path=shown, line=line, expected="a UTF-8 YAML text file") from None
