"""Redaction of secret values before anything is written or shown.

Two layers: exact values that tasks register (a generated DB password, a
token read from a file), and patterns that catch ``password=...`` style text
from libraries we do not control. The journal, the engine log and every error
message pass through one ``Redactor``.
"""

from __future__ import annotations

import re
import threading

MASK = "••••••"

# key=value / key: value / "key": "value" where the key looks secret
_PATTERN = re.compile(
    r"""(?ix)
    (?P<key>["']?[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|salt|initialvector)["']?
       \s*[:=]\s*)
    (?P<q>["']?)
    (?P<val>[^\s"',;}]+)
    """
)
# What every match of _PATTERN contains, found in one linear scan: _PATTERN itself backtracks over
# each run of word characters (a 64-hex digest costs thousands of steps), and almost no text the
# journal writes (task outputs full of digests) holds a secret-looking key at all.
_KEYWORD = re.compile(r"(?i)password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key|salt|initialvector")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


class Redactor:
    """Thread-safe: tasks register secrets from worker threads."""

    MIN_LEN = 4  # shorter values would mask ordinary words

    def __init__(self, values: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        for v in values or []:
            self.add(v)

    def add(self, value: str | None) -> None:
        if not value or len(value) < self.MIN_LEN:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                # Longest first, so a secret containing another is masked whole. Each value is
                # looked for with str's own search rather than one regex of them all: compiling an
                # alternation of forty escaped secrets (a secrets file's) cost a converged rerun
                # some 40 ms, while forty substring searches of a journal line take microseconds.
                self._ordered = tuple(sorted(self._values, key=len, reverse=True))

    def __call__(self, text: str | None) -> str:
        if not text:
            return text or ""
        for value in self._ordered:     # a tuple replaced whole by add(): safe to read unlocked
            if value in text:
                text = text.replace(value, MASK)
        if "PRIVATE KEY-----" in text:
            text = _PEM.sub(MASK, text)
        if "bearer" in text.lower():
            text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        if _KEYWORD.search(text) is None:
            return text
        return _PATTERN.sub(lambda m: m.group("key") + m.group("q") + MASK, text)
