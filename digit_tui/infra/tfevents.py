"""Terraform's machine-readable UI (``-json``), as typed events and diagnostics.

``plan -json`` and ``apply -json`` print one JSON object per line as they work
(the "terraform.ui" stream, ui version 1.x). ``parse_event`` turns one line into
one of the event classes below; kinds we have no class for become ``LogMessage``
so nothing terraform says is lost. ``classify`` decides what an error
diagnostic means for a retry: a lock held by another run, a registry or cloud
API that cannot be reached, or a configuration the operator has to fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class SourceRange:
    filename: str
    line: int
    column: int = 0

    def __str__(self) -> str:
        return f"{self.filename}:{self.line}"


@dataclass(frozen=True)
class Diagnostic:
    severity: str                       # "error" or "warning"
    summary: str
    detail: str = ""
    range: SourceRange | None = None    # where in the configuration, when terraform knows
    address: str = ""                   # the resource it is about, when terraform says

    @property
    def where(self) -> str:
        return str(self.range) if self.range else ""

    def one_line(self) -> str:
        first = next((ln.strip() for ln in self.detail.splitlines() if ln.strip()), "")
        text = f"{self.summary}: {first}" if first and first != self.summary else self.summary
        if self.address:
            text = f"{self.address}: {text}"
        return f"{text} ({self.where})" if self.where else text


# -- events ------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedChange:
    address: str
    action: str         # create, update, replace, delete, read, move, remove, import
    message: str = ""
    reason: str = ""    # why a replace or delete is planned, when terraform says


@dataclass(frozen=True)
class ResourceDrift:
    """A resource changed outside terraform since the last apply."""

    address: str
    action: str
    message: str = ""


@dataclass(frozen=True)
class ApplyStart:
    address: str
    action: str
    message: str = ""


@dataclass(frozen=True)
class ApplyProgress:
    """Terraform repeats this every ~10 s while one resource is still being changed."""

    address: str
    action: str
    elapsed: float
    message: str = ""


@dataclass(frozen=True)
class ApplyComplete:
    address: str
    action: str
    elapsed: float
    message: str = ""
    id_value: str = ""


@dataclass(frozen=True)
class ApplyErrored:
    address: str
    action: str
    elapsed: float
    message: str = ""


@dataclass(frozen=True)
class ProvisionOutput:
    address: str
    provisioner: str
    output: str
    message: str = ""


@dataclass(frozen=True)
class ChangeSummary:
    operation: str      # plan, apply or destroy
    add: int
    change: int
    remove: int
    import_: int = 0
    message: str = ""

    @property
    def total(self) -> int:
        return self.add + self.change + self.remove + self.import_


@dataclass(frozen=True)
class DiagnosticEvent:
    diagnostic: Diagnostic
    message: str = ""


@dataclass(frozen=True)
class LogMessage:
    """Anything else terraform reports (version, refresh, outputs, init progress)."""

    kind: str
    level: str
    message: str


Event = (PlannedChange | ResourceDrift | ApplyStart | ApplyProgress | ApplyComplete | ApplyErrored
         | ProvisionOutput | ChangeSummary | DiagnosticEvent | LogMessage)


def _address(hook: dict[str, Any]) -> str:
    res = hook.get("resource") or {}
    return str(res.get("addr") or "")


def _elapsed(hook: dict[str, Any]) -> float:
    value = hook.get("elapsed_seconds")
    return float(value) if isinstance(value, int | float) else 0.0


def diagnostic_from_json(data: dict[str, Any]) -> Diagnostic:
    rng = data.get("range") or {}
    start = rng.get("start") or {}
    where = None
    if rng.get("filename") and isinstance(start.get("line"), int):
        where = SourceRange(str(rng["filename"]), int(start["line"]), int(start.get("column") or 0))
    return Diagnostic(severity=str(data.get("severity") or "error"), summary=str(data.get("summary") or ""),
                      detail=str(data.get("detail") or ""), range=where, address=str(data.get("address") or ""))


def parse_event(line: str | bytes) -> Event | None:
    """One line of ``-json`` output as an event; None for a blank line or one that is not JSON
    (a provider that prints to stdout by mistake must not break the stream)."""
    try:
        data = json.loads(line)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    kind = str(data.get("type") or "")
    message = str(data.get("@message") or "")
    hook: dict[str, Any] = data["hook"] if isinstance(data.get("hook"), dict) else {}
    change: dict[str, Any] = data["change"] if isinstance(data.get("change"), dict) else {}
    if kind == "planned_change":
        return PlannedChange(_address(change), str(change.get("action") or ""), message,
                             str(change.get("reason") or ""))
    if kind == "resource_drift":
        return ResourceDrift(_address(change), str(change.get("action") or ""), message)
    if kind == "apply_start":
        return ApplyStart(_address(hook), str(hook.get("action") or ""), message)
    if kind == "apply_progress":
        return ApplyProgress(_address(hook), str(hook.get("action") or ""), _elapsed(hook), message)
    if kind == "apply_complete":
        return ApplyComplete(_address(hook), str(hook.get("action") or ""), _elapsed(hook), message,
                             str(hook.get("id_value") or ""))
    if kind == "apply_errored":
        return ApplyErrored(_address(hook), str(hook.get("action") or ""), _elapsed(hook), message)
    if kind == "provision_progress":
        return ProvisionOutput(_address(hook), str(hook.get("provisioner") or ""), str(hook.get("output") or ""),
                               message)
    if kind == "change_summary":
        c = data.get("changes") or {}
        return ChangeSummary(str(c.get("operation") or ""), int(c.get("add") or 0), int(c.get("change") or 0),
                             int(c.get("remove") or 0), int(c.get("import") or 0), message)
    if kind == "diagnostic" and isinstance(data.get("diagnostic"), dict):
        return DiagnosticEvent(diagnostic_from_json(data["diagnostic"]), message)
    return LogMessage(kind or "log", str(data.get("@level") or "info"), message)


# -- diagnostics printed as text (``init`` before terraform 1.9 has no -json) --------------
_ERROR_HEAD = re.compile(r"^(?:│\s*)?(Error|Warning): (.+)$")
_ON_LINE = re.compile(r"^(?:│\s*)?\s*on (\S+) line (\d+)")
_PREAMBLE = ("Terraform encountered problems during initialisation", "Terraform encountered problems during initialization")


def diagnostics_from_text(text: str) -> list[Diagnostic]:
    """The ``Error: summary`` blocks of terraform's human output, each with its detail paragraph
    and ``on FILE line N`` position."""
    out: list[Diagnostic] = []
    current: dict[str, Any] | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        head = _ERROR_HEAD.match(line.strip())
        if head:
            if current:
                out.append(_text_diag(current))
            current = {"severity": head.group(1).lower(), "summary": head.group(2).strip(), "lines": [],
                       "range": None}
            continue
        if current is None:
            continue
        on = _ON_LINE.match(line)
        if on and current["range"] is None:
            current["range"] = SourceRange(on.group(1).rstrip(","), int(on.group(2)))
            continue
        current["lines"].append(line.lstrip("│╵╷ ").strip())
    if current:
        out.append(_text_diag(current))
    # init announces "the configuration has problems, described below" as an error of its own
    out = [d for d in out if not d.summary.startswith(_PREAMBLE)]
    return [d for d in out if d.severity == "error"] + [d for d in out if d.severity != "error"]


def _text_diag(cur: dict[str, Any]) -> Diagnostic:
    # Terraform wraps paragraphs at 78 columns: join them back so phrases match across the wrap.
    paragraphs = " ".join(cur["lines"]).split("  ")
    detail = "\n".join(p.strip() for p in paragraphs if p.strip())
    return Diagnostic(cur["severity"], cur["summary"], detail, cur["range"])


# -- what an error means for a retry ----------------------------------------
class Cause(str, Enum):
    LOCKED = "locked"               # another run holds the state lock
    UNREACHABLE = "unreachable"     # registry, module source, backend or cloud API not reachable
    BUSY = "busy"                   # the cloud API throttles or fails (429, 5xx)
    STALE_PLAN = "stale-plan"       # the state changed since the plan was made: plan again
    TIMEOUT = "timeout"             # our deadline ran out
    KILLED = "killed"               # terraform died by a signal
    CONFIG = "config"               # the configuration or the variables are wrong
    FAILED = "failed"               # any other error terraform or a provider reports
    MISSING = "missing"             # no terraform binary

    @property
    def transient(self) -> bool:
        return self in _TRANSIENT


_TRANSIENT = frozenset({Cause.LOCKED, Cause.UNREACHABLE, Cause.BUSY, Cause.STALE_PLAN, Cause.TIMEOUT, Cause.KILLED})

_LOCK = ("error acquiring the state lock", "error locking state", "state lock", "failed to lock state")
_STALE = ("saved plan is stale",)
_NETWORK = ("could not connect to", "dial tcp", "i/o timeout", "connection refused", "connection reset",
            "no such host", "temporary failure in name resolution", "network is unreachable", "no route to host",
            "tls handshake timeout", "context deadline exceeded", "timeout awaiting response headers",
            "failed to request discovery document", "client.timeout exceeded",
            "proxyconnect", "server misbehaving")
_BUSY = ("too many requests", "rate exceeded", "throttling", "throttled", "requestlimitexceeded",
         "service unavailable", "bad gateway", "gateway timeout", "internal server error",
         "status code: 500", "status code: 502", "status code: 503", "status code: 504", "status code: 429",
         "statuscode=429", "statuscode=503")


def classify(diag: Diagnostic) -> Cause:
    text = f"{diag.summary}\n{diag.detail}".lower()
    if any(p in text for p in _LOCK):
        return Cause.LOCKED
    if any(p in text for p in _STALE):
        return Cause.STALE_PLAN
    if any(p in text for p in _NETWORK):
        return Cause.UNREACHABLE
    if any(p in text for p in _BUSY):
        return Cause.BUSY
    # A position in a .tf file (or a variable's value) means the configuration is what is wrong.
    if diag.range is not None or "variable" in diag.summary.lower():
        return Cause.CONFIG
    return Cause.FAILED


_LOCK_ID = re.compile(r"^\s*ID:\s*(\S+)", re.M)
_LOCK_WHO = re.compile(r"^\s*Who:\s*(.+)$", re.M)


def lock_holder(diag: Diagnostic) -> tuple[str, str]:
    """(lock ID, who holds it) from a state-lock diagnostic; empty strings when not given."""
    lock_id = _LOCK_ID.search(diag.detail)
    who = _LOCK_WHO.search(diag.detail)
    return (lock_id.group(1) if lock_id else "", who.group(1).strip() if who else "")
