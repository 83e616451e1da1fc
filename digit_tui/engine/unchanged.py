"""A converged rerun decided in one pass: nothing the last full check read has changed.

When a run ends with every task converged by its check (nothing applied, nothing skipped) and
every task is ``witnessed`` (its check reads only what ``infra.reads`` records: API answers,
files, endpoints), the engine writes ``converged.json`` beside the journal: the run, the answers
file's digest, the engine options, digit-tui's own files and everything the checks read. A
later ``install`` of the same answers reads that record before validating anything: when the
answers, digit-tui and every file are as recorded, every endpoint still answers and every API
request gives the same answer (the same objects, whatever their resourceVersion), each check
would decide as it did, so the run is recorded as done in one transaction ("unchanged since run
X") without the graph, a task, pydantic or the kubernetes client. Anything different, or a
record older than ``FRESH`` seconds after its full check (some checks trust something for a
time: a database check Job for ten minutes, a credential until it expires), and the rerun checks
every task as before, which writes a new record when all is still converged.

After an install that applied, its checks read the cluster before the applies: the engine then
checks every task once more once the run is journaled done (``Engine._confirm``, ``CONFIRMING``
naming it meanwhile) and records what those checks read; a rerun started meanwhile waits for it.

Any run that starts removes the record first: whatever it does afterwards, the record no
longer describes the cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digit_tui.atomic import atomic_write
from digit_tui.infra.reads import ReadLog, file_stamp, fingerprint

RECORD = "converged.json"
VERSION = 1
FRESH = 600.0               # seconds after its full check that a record may stand for one
PROBE_TIMEOUT = 3.0         # seconds for an endpoint's TCP connect and for each API read
PARALLEL = 8                # API reads at once
TURN_WAIT = 30.0            # seconds to wait for another `install` client's turn (engine/launch.py)
CONFIRMING = "converged.pending"    # the pid of an engine checking every task after an install
CONFIRM_WAIT = 35.0         # seconds a rerun waits for those checks (the engine's CONFIRM_TIMEOUT and its exit)
PACKAGE = Path(__file__).resolve().parents[1]


def answers_digest(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def code_stamps() -> dict[str, list[int] | None]:
    """digit-tui's own files (code, bundled charts, presets): another version decides otherwise."""
    out: dict[str, list[int] | None] = {}
    for dirpath, dirnames, filenames in os.walk(PACKAGE):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in filenames:
            if not name.endswith((".pyc", ".pyo")):
                path = os.path.join(dirpath, name)
                out[path] = file_stamp(path)
    return out


def why_not_recordable(log: ReadLog) -> str | None:
    """None when what the run read can stand for its checks."""
    if log.unwitnessed:
        return log.unwitnessed[0]
    return None


def write(state_dir: Path, *, run_id: str, graph: str, answers_path: str | None, options: Mapping[str, Any],
          log: ReadLog, checked: float) -> Path | None:
    """Record a run every task of which converged by its check (``checked``: when its checks began)."""
    if not answers_path or not Path(answers_path).is_file():
        return None
    expires = checked + FRESH if log.expires is None else min(checked + FRESH, log.expires)
    doc = {"version": VERSION, "run": run_id, "checked_run": run_id, "graph": graph, "answers": answers_path,
           "answers_sha256": answers_digest(answers_path), "options": dict(sorted(options.items())),
           "checked": checked, "expires": expires, "code": code_stamps(), **log.to_json()}
    return atomic_write(state_dir / RECORD, json.dumps(doc, sort_keys=True), 0o600)


def confirming(state_dir: Path) -> bool:
    """An engine is checking every task once more after an install that applied (``Engine._confirm``):
    the record it may write is worth waiting for."""
    from digit_tui.engine.lock import read_pid
    from digit_tui.procs import pid_alive

    pid = read_pid(state_dir / CONFIRMING)
    return pid is not None and pid_alive(pid)


def forget(state_dir: Path) -> None:
    try:
        os.unlink(state_dir / RECORD)
    except FileNotFoundError:
        pass


@dataclass(frozen=True)
class Unchanged:
    record: dict[str, Any]

    @property
    def run(self) -> str:
        """The journal's latest run when the record was written (the checks' run, or a repeat of it)."""
        return str(self.record["run"])

    @property
    def checked_run(self) -> str:
        return str(self.record["checked_run"])

    def summary(self) -> str:
        reads = sum(len(c["answers"]) for c in self.record["clusters"])
        files = len(self.record["files"])
        endpoints = len(self.record["endpoints"])
        return (f"{reads} API answers, {files} files and {endpoints} endpoints as the checks of run "
                f"{self.checked_run} saw them {time.time() - float(self.record['checked']):.0f} s ago")


def load(state_dir: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((state_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("version") == VERSION else None


def still(state_dir: Path, *, answers_path: str, graph: str, options: Mapping[str, Any],
          now: float | None = None) -> Unchanged | str:
    """The record, when nothing it names has changed; else why not (one line, for the log)."""
    record = load(state_dir)
    if record is None:
        return "no record of a converged run"
    now = time.time() if now is None else now
    try:
        if not now < float(record["expires"]):
            return "the record of the last full check is too old"
        if record["graph"] != graph or record["answers"] != answers_path:
            return "another graph or answers file"
        if dict(record["options"]) != dict(options):
            return "other options"
        if answers_digest(answers_path) != record["answers_sha256"]:
            return "the answers file changed"
        if code_stamps() != record["code"]:
            return "digit-tui changed (another version, or its files edited)"
        for name, value in record["environ"].items():
            if os.environ.get(name) != value:
                return f"${name} changed"
        for path, stamp in record["files"].items():
            if file_stamp(path) != stamp:
                return f"{path} changed"
        unreachable = _unreachable([(str(h), int(p)) for h, p, _ in record["endpoints"]])
        if unreachable:
            return f"{unreachable} does not answer"
        for cluster in record["clusters"]:
            changed = first_change(str(cluster["kubeconfig"]), cluster.get("context"), dict(cluster["answers"]))
            if changed:
                return changed
    except (KeyError, TypeError, ValueError) as exc:
        return f"an unreadable record ({exc.__class__.__name__})"
    return Unchanged(record)


def _unreachable(endpoints: list[tuple[str, int]]) -> str | None:
    def one(hp: tuple[str, int]) -> str | None:
        try:
            socket.create_connection(hp, timeout=PROBE_TIMEOUT).close()
            return None
        except OSError:
            return f"{hp[0]}:{hp[1]}"

    if not endpoints:
        return None
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(endpoints))) as pool:
        return next((r for r in pool.map(one, endpoints) if r), None)


def first_change(kubeconfig: str, context: str | None, answers: dict[str, str]) -> str | None:
    """The first request whose answer is not the recorded one, as a line; None when all match."""
    from digit_tui.infra.kube import ClientPolicy
    from digit_tui.infra.kubelite import ApiError, LiteKube, lite_config

    cfg = lite_config(kubeconfig, context)
    if cfg is None:
        return f"the kubeconfig {kubeconfig} needs the kubernetes library"
    client = LiteKube(cfg, ClientPolicy(connect=PROBE_TIMEOUT, read=PROBE_TIMEOUT))

    def answer(key: str) -> Any:
        how, path, params = json.loads(key)
        query = dict(params)
        try:
            if how == "text":
                return client.get_raw(path, query).decode(errors="replace").strip()
            if how == "get":
                raw = client.get_raw(path, query)
                return json.loads(raw) if raw else None
            return list(_pages(client, path, query))
        except ApiError as exc:
            return {"error": exc.status}

    def differs(item: tuple[str, str]) -> str | None:
        key, digest = item
        try:
            return None if fingerprint(answer(key)) == digest else f"{json.loads(key)[1]} changed"
        except Exception as exc:   # no answer: the full check says what is wrong
            return f"{json.loads(key)[1]} did not answer ({exc.__class__.__name__})"

    try:
        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            return next((r for r in pool.map(differs, sorted(answers.items())) if r), None)
    finally:
        client.close()


def _pages(client: Any, path: str, query: dict[str, Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        doc = json.loads(client.get_raw(path, {**query, "limit": 500, "continue": token}) or b"{}")
        yield from doc.get("items") or []
        token = (doc.get("metadata") or {}).get("continue") or None
        if not token:
            return


@dataclass(frozen=True)
class Repeated:
    run: str            # the run recorded now
    since: str          # the run whose checks it stands on
    summary: str


def repeat(state_dir: Path, *, answers_path: str, graph: str, options: Mapping[str, Any]) -> Repeated | str:
    """Record a new run, done, when nothing the last converged run's checks read has changed and
    that run is still the latest; else why not (the caller then starts the engine as usual). The
    engine's lock is held meanwhile, so no engine starts a run beside it."""
    from digit_tui.engine.launch import spawn_turn
    from digit_tui.engine.lock import LockHeld, StateLock

    if not (state_dir / RECORD).is_file() and not confirming(state_dir):
        return "no record of a converged run"
    with spawn_turn(state_dir, TURN_WAIT):     # an `install` started beside it waits, then finds this run
        lock = StateLock(state_dir)
        deadline = time.monotonic() + CONFIRM_WAIT
        while True:
            try:
                lock.acquire()
                break
            except LockHeld:
                # The engine of an install that just finished checks every task once more: its record
                # (or none) comes within a second or two, and deciding from it is cheaper than checking.
                if not confirming(state_dir) or time.monotonic() > deadline:
                    return "an engine runs here"
                time.sleep(0.02)
        try:
            return _repeat_locked(state_dir, answers_path=answers_path, graph=graph, options=options)
        finally:
            lock.release()


def _repeat_locked(state_dir: Path, *, answers_path: str, graph: str, options: Mapping[str, Any]) -> Repeated | str:
    """``repeat`` with the engine's lock held."""
    from digit_tui.engine.journal import Journal, JournalError, RunState

    found = still(state_dir, answers_path=answers_path, graph=graph, options=options)
    if isinstance(found, str):
        return found
    try:
        journal = Journal.in_dir(state_dir)
    except JournalError as exc:
        return f"the journal cannot be used ({exc})"
    try:
        latest = journal.latest_run()
        if latest is None or latest.id != found.run or latest.state != RunState.DONE:
            return "the journal's latest run is not the one recorded"
        run_id = journal.repeat_run(found.run, f"unchanged since the last full check: {found.summary()}",
                                    f"unchanged since the checks of run {found.checked_run}")
    finally:
        journal.close()
    atomic_write(state_dir / RECORD, json.dumps({**found.record, "run": run_id}, sort_keys=True), 0o600)
    return Repeated(run_id, found.checked_run, found.summary())
