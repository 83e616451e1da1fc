"""Errors that cross module boundaries and reach the operator as one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class InputError(Exception):
    """Bad input from a file or the command line: exit code 2.

    Rendered as ``FILE:LINE: MESSAGE (expected: EXPECTED)`` so an operator can
    jump straight to the spot and knows what to write there.
    """

    message: str
    path: str | Path | None = None
    line: int | None = None
    expected: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = f"{self.path}:{self.line}: " if self.line else f"{self.path}: "
        tail = f" (expected: {self.expected})" if self.expected else ""
        return f"{where}{self.message}{tail}"
