"""PyYAML's SafeLoader with a nesting limit.

PyYAML composes nodes recursively, so a file nested a few hundred levels deep
(``[[[[...`` or a tower of indented keys) ends in a ``RecursionError`` with a
traceback instead of a message. No file digit-tui reads (answers, kubeconfig,
environment and secrets files, VM facts) comes near the limit; a deeper one is
refused as a YAML error that carries the line where it became too deep, so
every caller that already turns ``yaml.YAMLError`` into ``FILE:LINE`` handles it.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, ScalarEvent
from yaml.nodes import Node

MAX_DEPTH = 64


class TooDeep(yaml.MarkedYAMLError):
    """A YAML document nested deeper than ``MAX_DEPTH``; ``problem_mark`` is where."""

    def __init__(self, mark: Any, depth: int) -> None:
        super().__init__(problem=f"nested deeper than {depth} levels", problem_mark=mark)
        self.depth = depth

    def __str__(self) -> str:
        # The default rendering quotes the offending line, which may hold a secret.
        line = self.problem_mark.line + 1 if self.problem_mark is not None else "?"
        return f"{self.problem} (line {line})"


class LimitedSafeLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents nesting more than ``max_depth`` mappings and lists."""

    max_depth = MAX_DEPTH

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(ScalarEvent, AliasEvent):  # leaves add no level
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                raise TooDeep(self.peek_event().start_mark, self.max_depth)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# libyaml's composer recurses in C, unchecked: it reads only text whose nesting cannot come near the
# C stack's limit (every level needs an indent or a bracket).
C_NESTING_BOUND = 2000


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with the nesting limit (raises ``TooDeep``, a ``yaml.YAMLError``).

    Read by libyaml (PyYAML's C loader, several times faster: a converged rerun reads the
    kubeconfig six times) when it is there and the text cannot nest deep enough to matter to
    C's stack. Whatever libyaml refuses, and a document nested deeper than the limit, is read
    again by the pure-Python loader, so errors and their lines are that loader's, as before."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None and nesting_bound(text) < C_NESTING_BOUND:
        try:
            data = yaml.load(text, Loader=fast)  # noqa: S506 - libyaml's SafeLoader
        except yaml.YAMLError:
            pass
        else:
            if not too_deep(data, MAX_DEPTH):
                return data
    return yaml.load(text, Loader=LimitedSafeLoader)  # noqa: S506 - a SafeLoader subclass


def nesting_bound(text: str | bytes) -> int:
    """More than the levels ``text`` can nest: its brackets plus its deepest indent."""
    raw = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
    indent = max((len(line) - len(line.lstrip(" ")) for line in raw.splitlines()), default=0)
    return raw.count("[") + raw.count("{") + indent


def too_deep(data: Any, limit: int) -> bool:
    """Whether ``data`` nests more than ``limit`` mappings and lists (an alias loop does: it is
    read again by the loader that counts, as before)."""
    todo: list[tuple[Any, int]] = [(data, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        todo.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def safe_load_all(text: str | bytes) -> list[Any]:
    """``yaml.safe_load_all`` with the nesting limit, as a list."""
    return list(yaml.load_all(text, Loader=LimitedSafeLoader))  # noqa: S506


__all__ = ["C_NESTING_BOUND", "MAX_DEPTH", "LimitedSafeLoader", "TooDeep", "nesting_bound", "safe_load", "safe_load_all",
           "too_deep"]
