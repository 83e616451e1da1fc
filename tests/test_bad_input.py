"""Bad input across every command, as an operator meets it: a real ``digit-tui`` process per case.

Each case must end with its exit code (2 bad input, 1 a failed check), exactly one
line on stderr naming the problem (``FILE:LINE:`` first when there is a file), no
traceback, and must leave its directory exactly as it was: no state directory
created, no journal touched (not even -wal/-shm files beside it).

Malformed answers files for ``validate`` have their own suite (tests/answers/bad/,
43 files, in tests/answers/test_answers_cli.py); the cases here are the ones
around it: nesting, encodings, sizes, journals, paths, numbers, pipes.

The processes run a few at a time (they are independent), so the file stays well
under a minute; no case starts a cluster.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support import MINIMAL_ANSWERS, REPO, write_journal

OK = "ok.yaml"
DEEP = "deep.yaml"  # flow nesting on line 3
AFILE = "afile"     # a regular file where a directory is expected
STATE = "state"


# --------------------------------------------------------------------------- what a case starts from

def _ok(d: Path) -> None:
    (d / OK).write_text(MINIMAL_ANSWERS)


def _deep(d: Path) -> None:
    (d / DEEP).write_text("version: 1\nenvironment: x\nextra: " + "[" * 900 + "]" * 900 + "\n")


def _block_tower(levels: int) -> str:
    # `top:` opens the second mapping; a0 the third, ...: level L starts on line L.
    return "top:\n" + "".join("  " * (i + 1) + f"a{i}:\n" for i in range(levels - 1)) + "  " * levels + "x: 1\n"


def _file(name: str, content: str | bytes) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return make


def _journal(d: Path, *, events: int = 0) -> Path:
    return write_journal(d / STATE, tasks=20, events=events)


def _garbage_journal(d: Path) -> None:
    (d / STATE).mkdir(mode=0o700)
    (d / STATE / "journal.db").write_bytes(hashlib.sha256(b"x").digest() * 200)


def _truncated_journal(d: Path) -> None:
    path = _journal(d, events=2000)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)  # header intact, later pages gone


def _empty_journal(d: Path) -> None:
    (d / STATE).mkdir(mode=0o700)
    (d / STATE / "journal.db").write_bytes(b"")


def _sql(path: Path, statement: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute(statement)
        db.commit()
    finally:
        db.close()


def _newer_journal(d: Path) -> None:
    _sql(_journal(d), "UPDATE meta SET value='7' WHERE key='schema_version'")


def _garbled_version(d: Path) -> None:
    _sql(_journal(d), "UPDATE meta SET value='seven' WHERE key='schema_version'")


def _foreign_db(d: Path) -> None:
    (d / STATE).mkdir(mode=0o700)
    _sql(d / STATE / "journal.db", "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")


def _journal_dir(d: Path) -> None:
    (d / STATE / "journal.db").mkdir(parents=True)


def _two_envs(d: Path) -> None:
    from digit_tui.engine.journal import Journal

    for env in ("dev", "prod"):
        state = d / "xdg" / "digit-tui" / env
        state.mkdir(parents=True)
        Journal.in_dir(state).close()


def _shared_dir(d: Path) -> None:
    (d / "shared").mkdir()
    os.chmod(d / "shared", 0o1777)


def _closed_port_kubeconfig(d: Path) -> None:
    with socket.socket() as s:  # bound, never listening, closed: nothing answers on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:{port}', insecure-skip-tls-verify: true}}}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n")


def _facts(count: int) -> Callable[[Path], None]:
    return _file("facts.json", json.dumps([{"name": f"vm{i}", "cpus": 8, "memory_bytes": 16 << 30}
                                           for i in range(count)]))


def _billion_laughs() -> str:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the cases

@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]                 # "{d}" stands for the case's own directory
    says: str                             # the one line contains this
    code: int = 2
    where: str | None = None              # the line starts "digit-tui: {where}:" ({d} expanded)
    setup: tuple[Callable[[Path], None], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    broken_stdout: bool = False           # stdout is a pipe whose reader has gone: EPIPE, silence


def C(id: str, *argv: str, says: str, **kw: Any) -> Case:
    return Case(id, argv, says, **kw)


S = "--state-dir"
SD = "{d}/state"

CASES: list[Case] = [
    # -- validate: around the answers schema (the schema's own cases live in tests/answers/bad/)
    C("validate-nested-900-flow", "validate", "--answers", "{d}/deep.yaml", says="nested deeper than 64 levels",
      where="{d}/deep.yaml:3", setup=(_deep,)),
    C("validate-nested-65-block", "validate", "--answers", "{d}/tower.yaml", says="nested deeper than 64 levels",
      where="{d}/tower.yaml:65", setup=(_file("tower.yaml", _block_tower(65)),)),
    C("validate-not-utf8", "validate", "--answers", "{d}/latin1.yaml", says="not UTF-8", where="{d}/latin1.yaml:3",
      setup=(_file("latin1.yaml", b"version: 1\nenvironment: dev\nname: S\xe3o Paulo\n"),)),
    C("validate-control-character", "validate", "--answers", "{d}/bell.yaml", says="unacceptable character #x0007",
      where="{d}/bell.yaml:2", setup=(_file("bell.yaml", "version: 1\nenvironment: d\x07ev\n"),)),
    C("validate-answers-is-a-directory", "validate", "--answers", "{d}", says="is a directory", where="{d}"),
    C("validate-answers-missing", "validate", "--answers", "{d}/nope.yaml", says="answers file does not exist",
      where="{d}/nope.yaml"),
    C("validate-top-level-list", "validate", "--answers", "{d}/list.yaml", says="not a mapping",
      where="{d}/list.yaml:1", setup=(_file("list.yaml", "- environment: dev\n- target: sandbox\n"),)),
    C("validate-top-level-scalar", "validate", "--answers", "{d}/word.yaml", says="not a mapping",
      where="{d}/word.yaml:1", setup=(_file("word.yaml", "install everything please\n"),)),
    C("validate-larger-than-1mib", "validate", "--answers", "{d}/big.yaml", says="larger than 1 MiB",
      where="{d}/big.yaml", setup=(_file("big.yaml", "# padding\n" * 120_000),)),
    C("validate-alias-bomb", "validate", "--answers", "{d}/laughs.yaml", says="too many values",
      where="{d}/laughs.yaml", setup=(_file("laughs.yaml", _billion_laughs()),)),
    C("validate-without-answers", "validate", says="validate needs --answers FILE"),
    C("validate-unknown-option", "validate", "--frobnicate", says="unrecognized arguments: --frobnicate"),
    C("validate-json-nested", "validate", "--json", "--answers", "{d}/deep.yaml", says="nested deeper",
      where="{d}/deep.yaml:3", setup=(_deep,)),
    C("validate-kubeconfig-nested-900", "validate", "--answers", "{d}/kc.yaml", says="is not a kubeconfig",
      where="{d}/kc.yaml:5",
      setup=(_file("kube/config", "clusters: " + "[" * 900 + "]" * 900 + "\n"),
             _file("kc.yaml", "version: 1\nenvironment: dev\ntarget:\n  provider: existing\n  kubeconfig: kube/config\n"
                              "digit:\n  domain: egov.example.test\n"))),
    C("validate-release-manifest-yaml-error", "validate", "--answers", "{d}/rel.yaml", says="is not a usable release manifest: release manifest: YAML syntax error at line 4",
      where="{d}/rel.yaml:8", setup=(_file("tree/charts/.keep", ""), _file("tree/rel/dependancy_chart-x-v1.yaml",
                                     "version: v1\nmodules:\n  - name: m_x\n   services: [a]\n"),
                                     _file("rel.yaml", "version: 1\nenvironment: dev\ntarget:\n  provider: sandbox\n"
                                           "digit:\n  domain: egov.example.test\n  source: {path: tree}\n"
                                           "  release: rel/dependancy_chart-x-v1.yaml\n"))),

    # -- plan
    C("plan-nested", "plan", "--answers", "{d}/deep.yaml", says="nested deeper than 64 levels",
      where="{d}/deep.yaml:3", setup=(_deep,)),
    C("plan-state-dir-is-a-file", "plan", "--answers", "{d}/ok.yaml", S, "{d}/afile",
      says="--state-dir names a file, not a directory", where="{d}/afile", setup=(_ok, _file(AFILE, "x"))),
    C("plan-state-dir-inside-a-file", "plan", "--answers", "{d}/ok.yaml", S, "{d}/afile/state",
      says="which is a file", where="{d}/afile/state", setup=(_ok, _file(AFILE, "x"))),
    C("plan-corrupt-journal", "plan", "--answers", "{d}/ok.yaml", S, SD, says="journal.db is corrupt",
      setup=(_ok, _garbage_journal)),
    C("plan-newer-journal", "plan", "--answers", "{d}/ok.yaml", S, SD, says="is from a newer digit-tui",
      setup=(_ok, _newer_journal)),
    C("plan-answers-missing", "plan", "--answers", "{d}/nope.yaml", says="does not exist", where="{d}/nope.yaml"),
    C("plan-without-answers", "plan", says="the following arguments are required: --answers"),

    # -- install: refused before an engine starts or a file is written
    C("install-nested", "install", "--headless", "--answers", "{d}/deep.yaml", says="nested deeper than 64 levels",
      where="{d}/deep.yaml:3", setup=(_deep,)),
    C("install-state-dir-is-a-file", "install", "--headless", "--answers", "{d}/ok.yaml", S, "{d}/afile",
      says="--state-dir names a file", where="{d}/afile", setup=(_ok, _file(AFILE, "x"))),
    C("install-state-dir-inside-a-file", "install", "--headless", "--answers", "{d}/ok.yaml", S, "{d}/afile/s",
      says="which is a file", where="{d}/afile/s", setup=(_ok, _file(AFILE, "x"))),
    C("install-xdg-state-home-is-a-file", "install", "--headless", "--answers", "{d}/ok.yaml",
      says="a parent of the state directory is a file", where="{d}/afile/digit-tui/enginetest",
      setup=(_ok, _file(AFILE, "x")), env={"XDG_STATE_HOME": "{d}/afile"}),
    C("install-shared-state-dir", "install", "--headless", "--answers", "{d}/ok.yaml", S, "{d}/shared",
      says="writable by everyone", where="{d}/shared", setup=(_ok, _shared_dir)),
    C("install-corrupt-journal", "install", "--headless", "--answers", "{d}/ok.yaml", S, SD,
      says="journal.db is corrupt (file is not a database); state directory: ", setup=(_ok, _garbage_journal)),
    C("install-truncated-journal", "install", "--headless", "--answers", "{d}/ok.yaml", S, SD,
      says="journal.db is corrupt", setup=(_ok, _truncated_journal)),
    C("install-newer-journal", "install", "--headless", "--answers", "{d}/ok.yaml", S, SD,
      says="is from a newer digit-tui (journal schema 7, this digit-tui reads 1)", setup=(_ok, _newer_journal)),
    C("install-foreign-sqlite-file", "install", "--headless", "--answers", "{d}/ok.yaml", S, SD,
      says="is not a digit-tui journal", setup=(_ok, _foreign_db)),
    C("install-journal-is-a-directory", "install", "--headless", "--answers", "{d}/ok.yaml", S, SD,
      says="journal.db is not a file", setup=(_ok, _journal_dir)),
    C("install-answers-missing", "install", "--answers", "{d}/nope.yaml", says="does not exist",
      where="{d}/nope.yaml"),
    C("install-answers-not-utf8", "install", "--headless", "--answers", "{d}/latin1.yaml", says="not UTF-8",
      where="{d}/latin1.yaml:2", setup=(_file("latin1.yaml", b"version: 1\nenvironment: d\xe9v\n"),)),

    # -- the TUI: a damaged journal is said before any screen opens
    C("tui-corrupt-journal", "tui", S, SD, says="journal.db is corrupt (file is not a database)",
      setup=(_garbage_journal,)),

    # -- status
    C("status-corrupt-journal", "status", S, SD, says="journal.db is corrupt (file is not a database)",
      setup=(_garbage_journal,)),
    C("status-truncated-journal", "status", S, SD, says="journal.db is corrupt (database disk image is malformed)",
      setup=(_truncated_journal,)),
    C("status-empty-journal", "status", S, SD, says="is empty: no install has written to it",
      setup=(_empty_journal,)),
    C("status-newer-journal", "status", "--json", S, SD, says="is from a newer digit-tui", setup=(_newer_journal,)),
    C("status-garbled-schema-version", "status", S, SD, says="is corrupt (schema version 'seven' is not a number)",
      setup=(_garbled_version,)),
    C("status-foreign-sqlite-file", "status", S, SD, says="is not a digit-tui journal", setup=(_foreign_db,)),
    C("status-journal-is-a-directory", "status", S, SD, says="journal.db is not a file", setup=(_journal_dir,)),
    C("status-state-dir-is-a-file", "status", S, "{d}/afile", says="--state-dir names a file",
      where="{d}/afile", setup=(_file(AFILE, "x"),)),
    C("status-answers-nested", "status", "--answers", "{d}/deep.yaml", says="nested deeper", where="{d}/deep.yaml:3",
      setup=(_deep,)),
    C("status-several-environments", "status", says="several environments found: dev, prod",
      where="{d}/xdg/digit-tui", setup=(_two_envs,)),
    C("status-events-not-a-number", "status", "--events", "all", says="invalid int value: 'all'"),

    # -- pause / resume / cancel / retry
    C("retry-without-task", "retry", S, SD, says="the following arguments are required: task"),
    C("retry-state-dir-is-a-file", "retry", "render", S, "{d}/afile", says="--state-dir names a file",
      where="{d}/afile", setup=(_file(AFILE, "x"),)),
    C("cancel-answers-nested", "cancel", "--answers", "{d}/deep.yaml", says="nested deeper",
      where="{d}/deep.yaml:3", setup=(_deep,)),
    C("resume-no-install-anywhere", "resume", says="no install found", where="{d}/xdg/digit-tui"),
    C("pause-no-engine-running", "pause", S, SD, code=1, says="no engine is running for",
      setup=(lambda d: _journal(d),)),

    # -- size: every number bounded, the bound in the message
    C("size-users-ten-billion", "size", "--users", "10000000000",
      says="--users 10000000000 is more than digit-tui plans for (at most 100000 peak concurrent users)"),
    C("size-users-negative", "size", "--users", "-7", says="--users must be 1 or more, got -7"),
    C("size-ulbs-too-many", "size", "--ulbs", "250000", says="(at most 10000 ULBs)"),
    C("size-retention-too-long", "size", "--retention-days", "100000", says="(at most 3650 days)"),
    C("size-es-retention-zero", "size", "--es-retention-days", "0", says="--es-retention-days must be 1 or more"),
    C("size-flavor-cpus", "size", "--flavor", "4096C/16G", says="4096C CPUs is more than any node"),
    C("size-flavor-memory", "size", "--flavor", "8C/100000G", says="100000G memory is more than any node"),
    C("size-flavor-overflow", "size", "--flavor", "9" * 400 + "C/16G", says="a number is far too large"),
    C("size-check-nodes-hundred-million", "size", "--check-nodes", "100000000x8C/16G",
      says="--check-nodes lists more than 1000 VMs"),
    C("size-check-nodes-overflow", "size", "--check-nodes", "2x8C/" + "9" * 400 + "G",
      says="a number is far too large"),
    C("size-check-facts-nested", "size", "--check-facts", "{d}/deep.yaml", says="nested deeper than 64 levels",
      where="{d}/deep.yaml:3", setup=(_deep,)),
    C("size-check-facts-missing", "size", "--check-facts", "{d}/facts.json", says="cannot read VM facts",
      where="{d}/facts.json"),
    C("size-check-facts-not-a-list", "size", "--check-facts", "{d}/facts.json", says="must be a list of VMs",
      where="{d}/facts.json", setup=(_file("facts.json", '"eight VMs"'),)),
    C("size-check-facts-binary", "size", "--check-facts", "{d}/facts.json", says="not UTF-8 text",
      where="{d}/facts.json", setup=(_file("facts.json", b"\x89PNG\r\n\x1a\n\xff\xfe"),)),
    C("size-check-facts-too-many", "size", "--check-facts", "{d}/facts.json", says="more than 1000",
      where="{d}/facts.json", setup=(_facts(1001),)),
    C("size-check-facts-yaml-error", "size", "--check-facts", "{d}/facts.yaml", says="not valid JSON/YAML",
      where="{d}/facts.yaml:2", setup=(_file("facts.yaml", "- name: vm1\n  cpus: 8: 9\n"),)),
    C("size-users-not-a-number", "size", "--users", "lots", says="invalid int value: 'lots'"),
    C("size-tier-contradicts-preset", "size", "--tier", "prod", "--preset", "sdc-dev", says="contradicts preset"),
    C("size-check-kubeconfig-closed-port", "size", "--check-kubeconfig", "{d}/kubeconfig", code=1,
      says="connection refused", setup=(_closed_port_kubeconfig,)),

    # -- render
    C("render-out-is-a-file", "render", "--answers", "{d}/ok.yaml", "--out", "{d}/afile",
      says="--out names a file, not a directory", where="{d}/afile", setup=(_ok, _file(AFILE, "x"))),
    C("render-out-inside-a-file", "render", "--answers", "{d}/ok.yaml", "--out", "{d}/afile/out",
      says="which is a file", where="{d}/afile/out", setup=(_ok, _file(AFILE, "x"))),
    C("render-without-inputs", "render", "--out", "{d}/out", says="render needs --answers FILE"),
    C("render-source-without-manifest", "render", "--source", "{d}", "--out", "{d}/out",
      says="--source needs --manifest and --env-file"),
    C("render-answers-nested", "render", "--answers", "{d}/deep.yaml", "--out", "{d}/out", says="nested deeper",
      where="{d}/deep.yaml:3", setup=(_deep,)),

    # -- sandbox: refused before the sandbox is even looked for
    *(C(f"sandbox-fault-{kind}-seconds-{sec}", "sandbox", S, SD, "fault", kind, *extra, "--seconds", sec,
        says=f"--seconds {sec} is not a duration")
      for kind, extra, sec in (("partition", (), "-5"), ("partition", (), "0"), ("partition", (), "nan"),
                               ("partition", (), "inf"), ("latency", ("--ms", "50"), "-2"),
                               ("errors", (), "-1"), ("node-not-ready", ("sandbox-node-1",), "-3"))),
    C("sandbox-fault-latency-negative-ms", "sandbox", S, SD, "fault", "latency", "--ms", "-1",
      says="--ms -1 is out of range"),
    C("sandbox-fault-errors-rate-nan", "sandbox", S, SD, "fault", "errors", "--rate", "nan",
      says="--rate nan is out of range"),
    C("sandbox-fault-errors-rate-above-one", "sandbox", S, SD, "fault", "errors", "--rate", "1.5",
      says="--rate 1.5 is out of range"),
    C("sandbox-fault-errors-code-404", "sandbox", S, SD, "fault", "errors", "--code", "404",
      says="unsupported --code 404"),
    C("sandbox-up-no-nodes", "sandbox", S, SD, "up", "--nodes", "0", says="--nodes 0 is out of range"),
    C("sandbox-up-too-many-nodes", "sandbox", S, SD, "up", "--nodes", "100000", says="at most 500"),
    C("sandbox-up-speed-nan", "sandbox", S, SD, "up", "--speed", "nan", says="--speed nan is out of range"),
    C("sandbox-up-port-70000", "sandbox", S, SD, "up", "--port", "70000", says="--port 70000 is out of range"),
    C("sandbox-up-node-cpu-word", "sandbox", S, SD, "up", "--node-cpu", "eight", says="is not a positive quantity"),
    C("sandbox-up-node-memory-zero", "sandbox", S, SD, "up", "--node-memory", "0Gi",
      says="is not a positive quantity"),
    C("sandbox-up-timeout-negative", "sandbox", S, SD, "up", "--timeout", "-1", says="--timeout -1 is out of range"),
    C("sandbox-state-dir-is-a-file", "sandbox", S, "{d}/afile", "status", says="--state-dir names a file",
      where="{d}/afile", setup=(_file(AFILE, "x"),)),

    # -- a reader that stops reading (`| head`): EPIPE is quiet
    C("epipe-validate-json", "validate", "--json", "--answers", "{d}/ok.yaml", code=1, says="", setup=(_ok,),
      broken_stdout=True),
    C("epipe-validate-example", "validate", "--example", code=1, says="", broken_stdout=True),
    C("epipe-plan", "plan", "--answers", "{d}/ok.yaml", code=1, says="", setup=(_ok,), broken_stdout=True),
    C("epipe-plan-json", "plan", "--json", "--answers", "{d}/ok.yaml", code=1, says="", setup=(_ok,),
      broken_stdout=True),

    C("unknown-command", "instal", "--answers", "x.yaml", says="invalid choice: 'instal'"),
]


def test_the_suite_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


# --------------------------------------------------------------------------- running them

@dataclass
class Outcome:
    code: int
    stderr: str
    before: dict[str, Any]
    after: dict[str, Any]
    dir: Path


def _snapshot(root: Path) -> dict[str, Any]:
    """Every path under ``root`` with its mode and content digest."""
    out: dict[str, Any] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            out[str(path.relative_to(root))] = (oct(st.st_mode), digest)
    return out


def _expand(text: str, d: Path) -> str:
    return text.replace("{d}", str(d))


def _run(case: Case, d: Path) -> Outcome:
    for step in case.setup:
        step(d)
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(d / "xdg"))
    env.pop("KUBECONFIG", None)
    env.update({k: _expand(v, d) for k, v in case.env.items()})
    argv = [sys.executable, "-m", "digit_tui.cli", *(_expand(a, d) for a in case.argv)]
    before = _snapshot(d)
    if case.broken_stdout:
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first byte
        try:
            proc = subprocess.run(argv, env=env, cwd=d, stdout=write_end, stderr=subprocess.PIPE, text=True,
                                  timeout=60, stdin=subprocess.DEVNULL)
        finally:
            os.close(write_end)
    else:
        proc = subprocess.run(argv, env=env, cwd=d, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    return Outcome(proc.returncode, proc.stderr, before, _snapshot(d), d)


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Run the selected cases concurrently, each in a directory of its own."""
    wanted = [item.callspec.params["case"] for item in request.session.items
              if getattr(item, "callspec", None) is not None and "case" in item.callspec.params
              and item.module is request.module]
    root = tmp_path_factory.mktemp("bad-input")

    def one(case: Case) -> tuple[str, Outcome]:
        d = root / case.id
        d.mkdir()
        return case.id, _run(case, d)

    with ThreadPoolExecutor(max_workers=4) as pool:
        yield dict(pool.map(one, wanted))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(case: Case, outcomes: dict[str, Outcome]) -> None:
    got = outcomes[case.id]
    assert "Traceback" not in got.stderr, got.stderr
    assert got.code == case.code, got.stderr
    if case.broken_stdout:
        assert got.stderr == "", "a closed pipe is not an error to report"
    else:
        lines = got.stderr.splitlines()
        assert len(lines) == 1, got.stderr
        line = lines[0]
        assert line.startswith("digit-tui"), line
        assert case.says in line, line
        if case.where is not None:
            assert line.startswith(f"digit-tui: {_expand(case.where, got.dir)}:"), line
        if case.code == 2 and "(expected: " not in line:
            pytest.fail(f"a bad-input line says what is expected: {line}")
    changed = sorted(k for k in set(got.before) | set(got.after) if got.before.get(k) != got.after.get(k))
    assert not changed, f"the command changed files (a state directory among them?): {changed}"


# --------------------------------------------------------------------------- the good side of the limits

def test_sixty_four_levels_of_nesting_are_read(tmp_path: Path) -> None:
    """The limit refuses towers, not real files: 64 levels still parse (to a schema error here)."""
    from digit_tui.answers.loader import AnswersError, parse_answers

    with pytest.raises(AnswersError) as err:
        parse_answers("version: 1\n" + _block_tower(63), tmp_path / "a.yaml")
    messages = [p.message for p in err.value.problems]
    assert not any("nested" in m for m in messages)
    assert "unknown key 'top'" in messages


def test_size_at_its_bounds_still_plans() -> None:
    proc = subprocess.run([sys.executable, "-m", "digit_tui.cli", "size", "--ulbs", "10000", "--users", "100000",
                           "--retention-days", "3650", "--json", "--no-services"], capture_output=True, text=True,
                          timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["ulbs"] == 10000 and plan["users"] == 100000
    assert plan["workers"]["count"] > 10
