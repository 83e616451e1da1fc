"""The journal: a SQLite database (WAL) that is the single source of truth.

Every task transition, attempt, output and event is committed here before the
engine acts on it or any screen shows it. Readers (the TUI, ``status``,
``--headless`` streaming) open the same file read-only and poll by sequence
number; WAL lets them read while the engine writes.

Schema changes bump ``SCHEMA_VERSION`` and add a step to ``_MIGRATIONS``.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from digit_tui import paths
from digit_tui.engine.redact import Redactor
from digit_tui.engine.task import TaskState
from digit_tui.errors import InputError

SCHEMA_VERSION = 1

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        state TEXT NOT NULL,              -- running | done | failed | cancelled | interrupted
        environment TEXT NOT NULL,
        graph TEXT NOT NULL,              -- import path of the graph factory
        settings TEXT NOT NULL,           -- JSON, secrets never included
        answers_path TEXT,
        engine_pid INTEGER,
        paused INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE tasks (
        run_id TEXT NOT NULL REFERENCES runs(id),
        id TEXT NOT NULL,
        ord INTEGER NOT NULL,
        title TEXT NOT NULL,
        phase TEXT NOT NULL,
        deps TEXT NOT NULL,               -- JSON list
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started REAL,
        finished REAL,
        error TEXT,
        remedy TEXT,
        outputs TEXT NOT NULL DEFAULT '{}',
        progress_done INTEGER,
        progress_total INTEGER,
        message TEXT,
        PRIMARY KEY (run_id, id)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        time REAL NOT NULL,
        task TEXT,
        level TEXT NOT NULL,              -- debug | info | warning | error
        kind TEXT NOT NULL,               -- state | log | check | ensure | progress | engine
        message TEXT NOT NULL
    );
    CREATE INDEX events_run ON events(run_id, seq);
    """,
}

class RunState(str, Enum):
    """A run's state (the runs table's ``state``); a str, so it is stored and shown as its value."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"     # the engine stopped (a signal); a later install resumes it

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


FINISHED_RUN_STATES = (RunState.DONE, RunState.FAILED, RunState.CANCELLED)


def _run_state(value: str) -> RunState:
    try:
        return RunState(value)
    except ValueError:
        raise JournalError(f"the journal records an unknown run state {value!r}") from None


@dataclass
class TaskRow:
    id: str
    title: str
    phase: str
    deps: list[str]
    state: TaskState
    attempts: int = 0
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    remedy: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    progress_done: int | None = None
    progress_total: int | None = None
    message: str | None = None
    ord: int = 0

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["state"] = self.state.value
        return d


@dataclass
class RunRow:
    id: str
    created: float
    updated: float
    state: RunState
    environment: str
    graph: str
    settings: dict[str, Any]
    answers_path: str | None
    engine_pid: int | None
    paused: bool


@dataclass
class Event:
    seq: int
    run_id: str
    time: float
    task: str | None
    level: str
    kind: str
    message: str


class JournalError(Exception):
    """The journal cannot be read yet: missing, or being created by an engine right now."""


class JournalUnusable(InputError, JournalError):
    """Corrupt, truncated, empty, foreign or newer: the operator has to act (exit 2).

    Still a JournalError, so a reader polling for a journal being created keeps waiting."""


class JournalEmpty(JournalUnusable):
    """A journal file with nothing in it: no install has recorded anything (an engine may be creating it)."""


# SQLite primary result codes that mean the file, not the query, is the problem.
_CORRUPT_CODES = {11, 26}            # SQLITE_CORRUPT, SQLITE_NOTADB
_UNREADABLE_CODES = {3, 8, 10, 13, 14}  # PERM, READONLY, IOERR, FULL, CANTOPEN

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _unusable(path: Path, what: str, expected: str) -> JournalUnusable:
    return JournalUnusable(f"the journal {path} {what}; state directory: {path.parent}", expected=expected)


def _corrupt(path: Path, detail: str) -> JournalUnusable:
    return _unusable(path, f"is corrupt ({detail})",
                     f"restore {path.name} from a backup, or move the state directory aside and install "
                     "again (finished steps are re-checked, not redone)")


def _translate(path: Path, exc: sqlite3.DatabaseError) -> JournalUnusable | None:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _CORRUPT_CODES:
        return _corrupt(path, str(exc))
    if code in _UNREADABLE_CODES:
        return _unusable(path, f"cannot be used: {exc}", "a readable and writable journal.db on a disk with space")
    return None  # busy, locked, a bug in a query: not the operator's file


def _guarded(method: Callable[Concatenate[Journal, _P], _R]) -> Callable[Concatenate[Journal, _P], _R]:
    """A damaged file shows up as a JournalUnusable naming it, whichever query meets the damage first."""
    @functools.wraps(method)
    def wrapper(self: Journal, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            unusable = _translate(self.path, exc)
            if unusable is None:
                raise
            raise unusable from None
    return wrapper


class Journal:
    """One connection to the journal. Not shared between threads."""

    FILENAME = "journal.db"
    _db: sqlite3.Connection

    def __init__(self, path: Path, *, readonly: bool = False, redactor: Redactor | None = None,
                 snapshot: bool = False) -> None:
        """``snapshot`` (read-only, for a one-off check): when no engine has the journal open
        (no -wal file), read the file as it is without creating -wal and -shm beside it."""
        self.path = Path(path)
        self.readonly = readonly or snapshot
        self._snapshot = snapshot
        self.redact = redactor or Redactor()
        try:
            self._open()
        except BaseException:
            db = getattr(self, "_db", None)
            if db is not None:
                db.close()
            raise

    @_guarded
    def _open(self) -> None:
        if self.readonly:
            if not self.path.exists():
                raise JournalError(f"no journal at {self.path}")
            if not self.path.is_file():
                raise _unusable(self.path, "is not a file", "journal.db: a file written by the digit-tui engine")
            uri = f"file:{self.path}?mode=ro"
            if self._snapshot and not self.path.with_name(self.path.name + "-wal").exists():
                # Idle: an engine starting now writes the WAL, not this file, so reading it unlocked is safe.
                uri += "&immutable=1"
            self._db = sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)
        else:
            self._create_private()
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL survives a killed process (not a power cut) and keeps writes cheap.
            self._db.execute("PRAGMA synchronous=NORMAL")
            # Resuming on a damaged journal would act on half-read state: check it once per engine.
            self.verify()
            self._migrate()
        self._db.row_factory = sqlite3.Row
        self._check_version()

    def _create_private(self) -> None:
        """The journal holds hosts, paths and errors of the install: 0600 from its first byte.

        SQLite gives the -wal and -shm files the main file's mode; files an older
        digit-tui left 0644 are tightened."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, paths.PRIVATE_FILE)
        except IsADirectoryError:
            raise _unusable(self.path, "is not a file", "journal.db: a file written by the digit-tui engine") from None
        except OSError as exc:
            raise _unusable(self.path, f"cannot be opened: {exc.strerror}",
                            "a writable state directory") from None
        try:
            os.fchmod(fd, paths.PRIVATE_FILE)
        finally:
            os.close(fd)
        for suffix in ("-wal", "-shm"):
            paths.tighten(self.path.with_name(self.path.name + suffix))

    @_guarded
    def verify(self) -> None:
        """Raise JournalUnusable unless SQLite's structural check passes (missing pages, bad b-trees)."""
        row = self._db.execute("PRAGMA quick_check(1)").fetchone()
        if row is None or row[0] != "ok":
            raise _corrupt(self.path, str(row[0]) if row else "no answer from the integrity check")

    @classmethod
    def in_dir(cls, state_dir: Path, **kw: Any) -> "Journal":
        return cls(Path(state_dir) / cls.FILENAME, **kw)

    def close(self) -> None:
        self._db.close()

    # -- schema -----------------------------------------------------------
    def _version(self) -> int:
        try:
            row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise
        try:
            return int(row[0]) if row else 0
        except ValueError:
            raise _corrupt(self.path, f"schema version {row[0]!r} is not a number") from None

    def _has_tables(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' LIMIT 1").fetchone() is not None

    def _newer(self, version: int) -> JournalUnusable:
        return _unusable(self.path, f"is from a newer digit-tui (journal schema {version}, this digit-tui "
                                    f"reads {SCHEMA_VERSION})",
                         "the digit-tui that wrote it (upgrade this one), or another --state-dir")

    def _migrate(self) -> None:
        with self._tx():
            current = self._version()
            if current > SCHEMA_VERSION:
                raise self._newer(current)
            if current == 0 and self._has_tables():
                raise _unusable(self.path, "is not a digit-tui journal (an SQLite file with other tables)",
                                "journal.db written by the digit-tui engine, or another --state-dir")
            for v in range(current + 1, SCHEMA_VERSION + 1):
                for stmt in _MIGRATIONS[v].split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(v),))

    def _check_version(self) -> None:
        v = self._version()
        if v > SCHEMA_VERSION:
            raise self._newer(v)
        if v == 0 and not self._has_tables():
            # Also what a reader sees for a moment while an engine creates the journal.
            raise JournalEmpty(f"the journal {self.path} is empty: no install has written to it; "
                               f"state directory: {self.path.parent}",
                               expected="`digit-tui install --answers FILE` to start one")
        if v == 0:
            raise _unusable(self.path, "is not a digit-tui journal (an SQLite file with other tables)",
                            "journal.db written by the digit-tui engine, or another --state-dir")
        if v != SCHEMA_VERSION:
            raise _unusable(self.path, f"has journal schema {v}, this digit-tui reads {SCHEMA_VERSION}",
                            "a journal written by this digit-tui")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # -- runs -------------------------------------------------------------
    @_guarded
    def create_run(self, environment: str, graph: str, document: Mapping[str, Any],
                   answers_path: str | None) -> str:
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, created, updated, state, environment, graph, settings, answers_path)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (run_id, now, now, "running", environment, graph, json.dumps(document, sort_keys=True),
                 answers_path))
        return run_id

    @_guarded
    def repeat_run(self, previous: str, message: str, task_message: str) -> str:
        """A new run that finds ``previous`` (done) still converged without checking a task again:
        its tasks copied as done with their outputs, in one commit (engine/unchanged.py)."""
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT INTO runs (id, created, updated, state, environment, graph, settings, answers_path)"
                       " SELECT ?, ?, ?, 'done', environment, graph, settings, answers_path FROM runs WHERE id=?",
                       (run_id, now, now, previous))
            db.execute("INSERT INTO tasks (run_id, id, ord, title, phase, deps, state, attempts, started, finished,"
                       " outputs, message) SELECT ?, id, ord, title, phase, deps, 'done', 0, ?, ?, outputs, ?"
                       " FROM tasks WHERE run_id=? AND state='done'", (run_id, now, now, task_message, previous))
            self._event(db, run_id, None, "info", "engine", message)
            for (tid,) in db.execute("SELECT id FROM tasks WHERE run_id=? ORDER BY ord", (run_id,)).fetchall():
                self._event(db, run_id, tid, "info", "state", f"done: {task_message}")
            self._event(db, run_id, None, "info", "engine", "install done")
        return run_id

    @_guarded
    def data_version(self) -> int:
        """A number that changes when another connection commits (SQLite's data_version): a
        follower asks it often and reads the journal only when it moved."""
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    @_guarded
    def latest_run(self) -> RunRow | None:
        row = self._db.execute("SELECT * FROM runs ORDER BY created DESC, rowid DESC LIMIT 1").fetchone()
        return self._run(row) if row else None

    @_guarded
    def run(self, run_id: str) -> RunRow | None:
        row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return self._run(row) if row else None

    @staticmethod
    def _run(row: sqlite3.Row) -> RunRow:
        return RunRow(id=row["id"], created=row["created"], updated=row["updated"], state=_run_state(row["state"]),
                      environment=row["environment"], graph=row["graph"],
                      settings=json.loads(row["settings"]), answers_path=row["answers_path"],
                      engine_pid=row["engine_pid"], paused=bool(row["paused"]))

    @_guarded
    def set_run_state(self, run_id: str, state: RunState, *, engine_pid: int | None = None,
                      message: str | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET state=?, updated=?, engine_pid=COALESCE(?, engine_pid) WHERE id=?",
                       (RunState(state).value, time.time(), engine_pid, run_id))
            if message:
                self._event(db, run_id, None, "info", "engine", message)

    @_guarded
    def set_paused(self, run_id: str, paused: bool) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET paused=?, updated=? WHERE id=?", (int(paused), time.time(), run_id))
            self._event(db, run_id, None, "info", "engine", "paused" if paused else "resumed")

    # -- tasks ------------------------------------------------------------
    @_guarded
    def sync_tasks(self, run_id: str, tasks: list[tuple[str, str, str, list[str]]]) -> None:
        """Make the task table match the graph: add new tasks, drop vanished ones, keep state of the rest."""
        with self._tx() as db:
            existing = {r["id"] for r in db.execute("SELECT id FROM tasks WHERE run_id=?", (run_id,))}
            wanted = {t[0] for t in tasks}
            for gone in existing - wanted:
                db.execute("DELETE FROM tasks WHERE run_id=? AND id=?", (run_id, gone))
            for ord_, (tid, title, phase, deps) in enumerate(tasks):
                if tid in existing:
                    db.execute("UPDATE tasks SET ord=?, title=?, phase=?, deps=? WHERE run_id=? AND id=?",
                               (ord_, title, phase, json.dumps(deps), run_id, tid))
                else:
                    db.execute(
                        "INSERT INTO tasks (run_id, id, ord, title, phase, deps, state) VALUES (?,?,?,?,?,?,?)",
                        (run_id, tid, ord_, title, phase, json.dumps(deps), TaskState.PENDING.value))

    @_guarded
    def tasks(self, run_id: str) -> list[TaskRow]:
        rows = self._db.execute("SELECT * FROM tasks WHERE run_id=? ORDER BY ord", (run_id,)).fetchall()
        return [self._task(r) for r in rows]

    @_guarded
    def task(self, run_id: str, task_id: str) -> TaskRow | None:
        r = self._db.execute("SELECT * FROM tasks WHERE run_id=? AND id=?", (run_id, task_id)).fetchone()
        return self._task(r) if r else None

    @staticmethod
    def _task(r: sqlite3.Row) -> TaskRow:
        return TaskRow(id=r["id"], title=r["title"], phase=r["phase"], deps=json.loads(r["deps"]),
                       state=TaskState(r["state"]), attempts=r["attempts"], started=r["started"],
                       finished=r["finished"], error=r["error"], remedy=r["remedy"],
                       outputs=json.loads(r["outputs"]), progress_done=r["progress_done"],
                       progress_total=r["progress_total"], message=r["message"], ord=r["ord"])

    @_guarded
    def transition(self, run_id: str, task_id: str, state: TaskState, message: str, *,
                   level: str = "info", attempt: bool = False, error: str | None = None,
                   remedy: str | None = None, outputs: Mapping[str, Any] | None = None) -> None:
        """Record a task's new state and the event that explains it, in one commit."""
        now = time.time()
        sets = ["state=?", "message=?"]
        args: list[Any] = [state.value, self.redact(message)]
        if attempt:
            sets.append("attempts=attempts+1")
        if state == TaskState.RUNNING:
            sets.append("started=COALESCE(started, ?)")
            args.append(now)
            sets.append("finished=NULL")
        if state.finished:
            sets.append("finished=?")
            args.append(now)
        if state in (TaskState.DONE, TaskState.PENDING, TaskState.RUNNING):
            sets += ["error=NULL", "remedy=NULL"]
        if error is not None:
            sets += ["error=?", "remedy=?"]
            args += [self.redact(error), self.redact(remedy) if remedy else None]
        if outputs is not None:
            sets.append("outputs=?")
            args.append(self.redact(json.dumps(outputs, sort_keys=True)))
        if state == TaskState.PENDING:
            # attempts are kept: they are the task's history across resumes and retries
            sets += ["started=NULL", "finished=NULL", "progress_done=NULL", "progress_total=NULL"]
        with self._tx() as db:
            db.execute(f"UPDATE tasks SET {', '.join(sets)} WHERE run_id=? AND id=?", (*args, run_id, task_id))
            self._event(db, run_id, task_id, level, "state", f"{state.value}: {message}")
            db.execute("UPDATE runs SET updated=? WHERE id=?", (now, run_id))

    @_guarded
    def progress(self, run_id: str, task_id: str, done: int, total: int, message: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE tasks SET progress_done=?, progress_total=?, message=? WHERE run_id=? AND id=?",
                       (done, total, self.redact(message), run_id, task_id))
            if message:
                self._event(db, run_id, task_id, "info", "progress", f"[{done}/{total}] {message}")

    # -- events -----------------------------------------------------------
    @_guarded
    def log(self, run_id: str, task_id: str | None, message: str, *, level: str = "info",
            kind: str = "log") -> None:
        with self._tx() as db:
            self._event(db, run_id, task_id, level, kind, message)

    def _event(self, db: sqlite3.Connection, run_id: str, task: str | None, level: str, kind: str,
               message: str) -> None:
        db.execute("INSERT INTO events (run_id, time, task, level, kind, message) VALUES (?,?,?,?,?,?)",
                   (run_id, time.time(), task, level, kind, self.redact(message)))

    @_guarded
    def last_events(self, run_id: str, count: int) -> list[Event]:
        """The newest ``count`` events, oldest first."""
        rows = self._db.execute("SELECT * FROM events WHERE run_id=? ORDER BY seq DESC LIMIT ?",
                                (run_id, count)).fetchall()
        return [self._event_row(r) for r in reversed(rows)]

    @staticmethod
    def _event_row(r: sqlite3.Row) -> Event:
        return Event(seq=r["seq"], run_id=r["run_id"], time=r["time"], task=r["task"], level=r["level"],
                     kind=r["kind"], message=r["message"])

    @_guarded
    def events(self, run_id: str, after: int = 0, *, task: str | None = None, limit: int = 1000) -> list[Event]:
        q = "SELECT * FROM events WHERE run_id=? AND seq>?"
        args: list[Any] = [run_id, after]
        if task is not None:
            q += " AND task=?"
            args.append(task)
        q += " ORDER BY seq LIMIT ?"
        args.append(limit)
        return [self._event_row(r) for r in self._db.execute(q, args)]
