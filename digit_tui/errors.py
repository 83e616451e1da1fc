"""Errors that cross module boundaries and reach the operator as one line."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import ClassVar, Generic, TypeVar


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


class ErrorKind(str, Enum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class TaskError(Exception):
    """Base for errors raised deliberately by tasks and the code they call (``remedy``: what to do)."""

    kind: ErrorKind = ErrorKind.PERMANENT

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        return self.message


class TransientError(TaskError):
    """Worth retrying: the same call may succeed once the network is back."""

    kind = ErrorKind.TRANSIENT


class PermanentError(TaskError):
    """Retrying cannot help; the operator has to change something (``remedy``)."""

    kind = ErrorKind.PERMANENT


class AdapterError(Exception):
    """An adapter's own failure (SSH, PostgreSQL, terraform, a VM step): the one-line message, the
    remedy, and the adapter's word on whether trying again can help (``transient``), which the
    engine takes without importing the adapter (engine/errors.py classify)."""

    def __init__(self, message: str, remedy: str | None = None, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy
        self.transient = transient

    def __str__(self) -> str:
        return self.message


K = TypeVar("K", bound=Enum)


class KindedError(AdapterError, Generic[K]):
    """An AdapterError that names its failure as one of its adapter's kinds; the kinds in
    ``transient_kinds`` are the ones worth retrying."""

    transient_kinds: ClassVar[frozenset[Enum]] = frozenset()

    def __init__(self, kind: K, message: str, remedy: str | None = None) -> None:
        super().__init__(message, remedy, kind in self.transient_kinds)
        self.kind = kind
