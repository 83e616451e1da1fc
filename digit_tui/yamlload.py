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


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with the nesting limit (raises ``TooDeep``, a ``yaml.YAMLError``)."""
    return yaml.load(text, Loader=LimitedSafeLoader)  # noqa: S506 - a SafeLoader subclass


def safe_load_all(text: str | bytes) -> list[Any]:
    """``yaml.safe_load_all`` with the nesting limit, as a list."""
    return list(yaml.load_all(text, Loader=LimitedSafeLoader))  # noqa: S506


__all__ = ["MAX_DEPTH", "LimitedSafeLoader", "TooDeep", "safe_load", "safe_load_all"]
