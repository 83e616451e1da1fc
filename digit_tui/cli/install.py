"""Sub-commands that drive the engine: install, plan, status, pause/resume/retry/cancel,
and the internal ``engine`` command the detached process runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from digit_tui import exitcodes, paths
from digit_tui.errors import InputError

STATE_HELP = "state directory (default: $XDG_STATE_HOME/digit-tui/<environment>)"
# The install's task graph. The engine runs whatever graph it is handed and knows no task of its own;
# --graph (tests, extensions) hands it another.
DEFAULT_GRAPH = "digit_tui.tasks.graph:build_graph"


def load_spec(answers: str, graph: str | None = None) -> "Any":
    """Validate the answers file (InputError on any problem) and build the install spec."""
    from digit_tui.answers import answers_to_settings, load_answers
    from digit_tui.engine.daemon import InstallSpec
    from digit_tui.sizing.install import install_plan

    path = Path(answers).expanduser().resolve()
    model = load_answers(path)
    # Planned once here and recorded in the run's document: the engine never plans again.
    settings = answers_to_settings(model, path, sizing=install_plan(model, path))
    return InstallSpec(environment=model.environment, settings=settings, answers_path=str(path),
                       graph=graph or DEFAULT_GRAPH)


def resolve_state_dir(args: argparse.Namespace) -> Path:
    """--state-dir, else the environment of --answers, else the only environment there is."""
    if getattr(args, "state_dir", None):
        return paths.state_dir("", args.state_dir)
    if getattr(args, "answers", None):
        return paths.state_dir(load_spec(args.answers).environment)
    root = paths.state_root()
    envs = sorted(p for p in root.iterdir() if (p / "journal.db").exists()) if root.is_dir() else []
    if len(envs) == 1:
        return envs[0]
    if not envs:
        raise InputError("no install found", path=root, expected="--state-dir DIR or --answers FILE")
    raise InputError("several environments found: " + ", ".join(p.name for p in envs), path=root,
                     expected="--state-dir DIR")


# -- install ------------------------------------------------------------------
def check_journal(state_dir: Path, *, empty_ok: bool = False) -> None:
    """Exit 2 (JournalUnusable) on a corrupt, truncated, foreign or newer journal, before
    anything acts on it; ``empty_ok``: an empty one is fine (the engine fills it)."""
    from digit_tui.engine.journal import Journal, JournalEmpty

    if not (state_dir / Journal.FILENAME).exists():
        return
    try:
        j = Journal.in_dir(state_dir, snapshot=True)  # a refused journal is left exactly as it was
    except JournalEmpty:
        if empty_ok:
            return
        raise
    try:
        j.verify()
    finally:
        j.close()


def _start_or_attach(state_dir: Path, spec: Any, timeout: float = 30.0) -> Any:
    """engine/launch.py's ``start_or_attach`` (the TUI's guided flow calls it too), failing as a command.
    A finished install is checked here first: the engine starts only when a task has work to do."""
    from digit_tui.engine.launch import EngineDidNotStart, start_or_attach

    try:
        return start_or_attach(state_dir, spec.answers_path, spec.graph, timeout, spec=spec)
    except EngineDidNotStart as exc:
        raise SystemExit(_fail(str(exc), exc.code)) from None


def _latest_run(state_dir: Path, *, snapshot: bool = False) -> Any:
    from digit_tui.engine.launch import latest_run

    return latest_run(state_dir, snapshot=snapshot)


def _fail(message: str, code: int) -> int:
    print(f"digit-tui: {message}", file=sys.stderr)
    return code


def _acknowledge(spec: Any, options: dict[str, Any]) -> None:
    """Record in the run's document what the client asked of the prerequisites (--skip-checks)."""
    from digit_tui.answers.config import PreflightOptions, set_preflight

    set_preflight(spec.settings, PreflightOptions(skip_checks=bool(options.get("skip_checks"))))


def _trust_requests(spec: Any, values: list[str]) -> dict[str, str]:
    if not values:
        return {}
    from digit_tui.preflight.trust import parse_trust_options

    from digit_tui.answers.config import InstallConfig

    config = InstallConfig.from_document(spec.settings)
    return parse_trust_options(values, [h.name for h in config.answers.hosts])


def _trust_host_keys(spec: Any, state_dir: Path, trust: dict[str, str]) -> bool:
    """--trust-host-key, done by the client before the engine starts (the keys the prerequisites use)."""
    from digit_tui.preflight.model import KNOWN_HOSTS, PreflightPlan, Status
    from digit_tui.preflight.trust import trust_hosts

    from digit_tui.answers.config import InstallConfig

    config = InstallConfig.from_document(spec.settings, state_dir)
    results = trust_hosts(PreflightPlan.from_config(config), trust, state_dir / KNOWN_HOSTS)
    for r in results:
        print(f"{r.status.mark} {r.message}" + (f"\n  remedy: {r.remedy}" if r.remedy else ""), file=sys.stderr)
    return all(r.status is not Status.FAIL for r in results)


def _unchanged_rerun(args: argparse.Namespace) -> tuple[Path, str] | None:
    """(state dir, run) when the last full check's record shows nothing changed since (the answers
    file byte for byte, digit-tui, every file, endpoint and API answer its checks read): the run is
    recorded done without validating the answers or building the graph (engine/unchanged.py).
    None otherwise, and for anything this cannot tell: the full path says what is wrong."""
    from digit_tui.engine import unchanged

    path = Path(args.answers).expanduser().resolve()
    try:
        if args.state_dir:
            state_dir = paths.state_dir("", args.state_dir)
        else:
            from digit_tui.yamlload import safe_load

            doc = safe_load(path.read_text(encoding="utf-8"))
            environment = doc.get("environment") if isinstance(doc, dict) else None
            if not isinstance(environment, str) or not environment:
                return None
            state_dir = paths.state_dir(environment)
    except Exception:   # unreadable, not YAML, a bad --state-dir: load_spec below says it in full
        return None
    done = unchanged.repeat(state_dir, answers_path=str(path), graph=args.graph or DEFAULT_GRAPH,
                            options={"skip_checks": bool(args.skip_checks)})
    if isinstance(done, str):
        return None
    print(f"checked the finished install in one pass: nothing changed since the checks of run {done.since} "
          f"({done.summary}); state: {state_dir}", file=sys.stderr)
    return state_dir, done.run


def cmd_install(args: argparse.Namespace) -> int:
    from digit_tui.engine.follow import follow
    from digit_tui.engine.journal import Journal

    quick = None if args.foreground or args.trust_host_key else _unchanged_rerun(args)
    if quick is not None:
        state_dir, run_id = quick
        if not args.headless and sys.stdout.isatty():
            from digit_tui.cli.tui import attach_tui

            return attach_tui(state_dir)
        return _report_end(follow(state_dir, run_id, sys.stdout), [], state_dir)

    spec = load_spec(args.answers, args.graph)  # bad input: exit 2 before anything is written
    trust = _trust_requests(spec, args.trust_host_key)
    state_dir = paths.state_dir(spec.environment, args.state_dir)
    check_journal(state_dir, empty_ok=True)     # a damaged journal: exit 2, still nothing written
    paths.ensure_private_dir(state_dir)
    if trust and not _trust_host_keys(spec, state_dir, trust):
        return exitcodes.FAILED
    options = {"skip_checks": bool(args.skip_checks)}
    _acknowledge(spec, options)

    if args.foreground:
        return _install_foreground(state_dir, spec, args)

    from digit_tui.engine.launch import engine_options

    with engine_options(skip_checks=options["skip_checks"]):
        started = _start_or_attach(state_dir, spec)
    run_id = started.run_id
    if started.checked_here:
        print(f"checked the finished install: nothing to change; state: {state_dir}", file=sys.stderr)
    elif started.attached:
        print(f"attaching to the running install (engine pid {started.pid})", file=sys.stderr)
    else:
        print(f"install running in the background (engine pid {started.pid}); state: {state_dir}",
              file=sys.stderr)

    if not args.headless and sys.stdout.isatty():
        from digit_tui.cli.tui import attach_tui

        return attach_tui(state_dir)

    try:
        final = follow(state_dir, run_id, sys.stdout)
    except KeyboardInterrupt:
        print("\ndetached: the install continues in the background; "
              f"`digit-tui status --state-dir {state_dir}` shows it, `digit-tui install` re-attaches",
              file=sys.stderr)
        return exitcodes.INTERRUPTED
    j = Journal.in_dir(state_dir, readonly=True)
    try:
        failed = [t for t in j.tasks(run_id) if t.state.value in ("failed", "blocked")]
    finally:
        j.close()
    return _report_end(final, failed, state_dir)


def _report_end(final: str, failed: list[Any], state_dir: Path) -> int:
    if final == "done":
        print("install complete", file=sys.stderr)
        return exitcodes.OK
    if final == "failed":
        for t in failed:
            if t.state.value == "failed":
                print(f"FAILED {t.id}: {t.error}" + (f"\n  remedy: {t.remedy}" if t.remedy else ""), file=sys.stderr)
        print(f"install failed; log: {state_dir}/logs/engine.log; fix and run `digit-tui install` again to resume",
              file=sys.stderr)
        return exitcodes.FAILED
    print(f"install {final}; run `digit-tui install` again to resume", file=sys.stderr)
    return exitcodes.INTERRUPTED


def _install_foreground(state_dir: Path, spec: Any, args: argparse.Namespace) -> int:
    """Run the engine in this process; Ctrl-C stops the install (resumable)."""
    import asyncio
    import threading

    from digit_tui.engine.daemon import Engine
    from digit_tui.engine.follow import follow
    from digit_tui.engine.journal import Journal
    from digit_tui.engine.lock import LockHeld

    engine = Engine(state_dir, spec)
    result: dict[str, Any] = {}

    def runner() -> None:
        try:
            result["code"] = asyncio.run(engine.run())
        except BaseException as exc:  # reported below, on the main thread
            result["error"] = exc

    t = threading.Thread(target=runner, name="engine", daemon=True)
    t.start()
    # Ctrl-C can come while the engine is still starting: the whole wait is covered, and the
    # engine honours an interruption that arrives before its scheduler exists.
    try:
        while engine.run_id is None and t.is_alive():
            time.sleep(0.02)
        if "error" in result:
            if isinstance(result["error"], LockHeld):
                return _fail(str(result["error"]), exitcodes.BAD_INPUT)
            raise result["error"]
        follow(state_dir, engine.run_id or "", sys.stdout, should_stop=lambda: not t.is_alive())
    except KeyboardInterrupt:
        print("\nstopping the install (resumable)...", file=sys.stderr)
        engine.interrupt()
    t.join()
    if "error" in result:
        raise result["error"]
    j = Journal.in_dir(state_dir, readonly=True)
    try:
        run = j.run(engine.run_id or "")
        failed = [x for x in j.tasks(engine.run_id or "") if x.state.value in ("failed", "blocked")]
    finally:
        j.close()
    return _report_end(run.state if run else "interrupted", failed, state_dir)


# -- plan ---------------------------------------------------------------------
def cmd_plan(args: argparse.Namespace) -> int:
    import asyncio

    from digit_tui.engine.daemon import load_graph_factory
    from digit_tui.engine.journal import Journal
    from digit_tui.engine.plan import dry_run_all
    from digit_tui.engine.rundoc import GraphInput
    from digit_tui.engine.scheduler import GraphError, validate_graph

    spec = load_spec(args.answers, args.graph)
    state_dir = paths.state_dir(spec.environment, args.state_dir)
    try:
        tasks = load_graph_factory(spec.graph)(GraphInput(spec.settings, state_dir))
        order = validate_graph(tasks)
    except GraphError as exc:
        raise InputError(str(exc), path=spec.answers_path) from None
    known: dict[str, str] = {}
    check_journal(state_dir, empty_ok=True)
    run = _latest_run(state_dir, snapshot=True)  # plan changes nothing, not even -wal/-shm files
    if run is not None:
        j = Journal.in_dir(state_dir, snapshot=True)
        try:
            known = {t.id: t.state.value for t in j.tasks(run.id)}
        finally:
            j.close()
    lines = asyncio.run(dry_run_all(tasks))
    by_id = {t.id: t for t in tasks}
    plan: list[dict[str, Any]] = [
        {"id": tid, "title": by_id[tid].title, "phase": by_id[tid].phase, "deps": list(by_id[tid].deps),
         "journal_state": known.get(tid), "would": lines.get(tid, [])} for tid in order]
    if args.json:
        json.dump({"environment": spec.environment, "tasks": plan}, sys.stdout, indent=2)
        print()
        return exitcodes.OK
    print(f"Plan for {spec.environment}: {len(plan)} tasks (nothing is changed by this command)")
    for p in plan:
        mark = {"done": "✓", "failed": "✗"}.get(p["journal_state"] or "", "◌")
        deps = f"  after {', '.join(p['deps'])}" if p["deps"] else ""
        print(f"{mark} {p['phase']:<12} {p['id']}{deps}")
        for line in p["would"]:
            print(f"      {line}")
    return exitcodes.OK


# -- status -------------------------------------------------------------------
# How long `status` waits for a starting engine to record its run before saying it is starting.
ENGINE_START_WAIT = 5.0


def _engine_starting(state_dir: Path, wait: float = ENGINE_START_WAIT) -> int | None:
    """The pid of an engine that holds the state lock and has recorded no run yet, after waiting up
    to ``wait`` seconds for the run (an engine's first moment: it takes the lock, then makes the
    journal, then loads the graph and records the run); None once there is a run or no engine."""
    from digit_tui.engine.lock import StateLock

    lock = StateLock(state_dir)
    deadline = time.monotonic() + wait
    while True:
        pid = lock.holder()
        if pid is None or _latest_run(state_dir) is not None:
            return None
        if time.monotonic() >= deadline:
            return pid
        time.sleep(0.05)


def cmd_status(args: argparse.Namespace) -> int:
    from digit_tui.engine import control
    from digit_tui.engine.follow import status_json

    state_dir = resolve_state_dir(args)
    starting = _engine_starting(state_dir) if state_dir.is_dir() else None
    if starting is not None:
        if args.json:
            json.dump({"state_dir": str(state_dir), "run": None, "engine_starting": starting}, sys.stdout, indent=2)
            print()
        else:
            print(f"{state_dir}: the engine (pid {starting}) is starting the install; no run recorded yet")
        return exitcodes.OK
    if not (state_dir / "journal.db").exists():
        raise InputError("no install has run here", path=state_dir, expected="a state directory with journal.db")
    check_journal(state_dir)
    st = status_json(state_dir, events=args.events)
    if args.json:
        json.dump(st, sys.stdout, indent=2)
        print()
        return exitcodes.OK
    run = st["run"]
    if run is None:
        print(f"{state_dir}: no run yet")
        return exitcodes.OK
    c = st["counts"]
    alive = f"engine pid {run['engine_pid']} running" if run["engine_alive"] else "engine not running"
    if run["engine_alive"] and run["state"] == "done":
        from digit_tui.engine import unchanged

        if unchanged.confirming(state_dir):
            alive = f"engine pid {run['engine_pid']} checking every task once more, for the next rerun"
    print(f"{run['environment']} · run {run['id']} · {run['state']}{' (paused)' if run['paused'] else ''} · {alive}")
    print(f"tasks: {c['done']}/{st['total']} done, {c['running'] + c['retrying']} running, "
          f"{c['waiting-for-network']} waiting for network, {c['failed']} failed, {c['blocked']} blocked")
    for t in st["tasks"]:
        if control.is_skipped(t["state"], t["message"]):
            print(f"  {'skipped':<20} {t['id']}: {control.SKIPPED}, not checked")
        elif t["state"] in ("failed", "waiting-for-network", "running", "retrying"):
            print(f"  {t['state']:<20} {t['id']}: {t['error'] or t['message'] or ''}")
            if t["remedy"]:
                print(f"  {'':<20} remedy: {t['remedy']}")
    return exitcodes.OK


# -- control ------------------------------------------------------------------
def cmd_control(args: argparse.Namespace) -> int:
    from digit_tui.engine import control

    state_dir = resolve_state_dir(args)
    req = control.Request(args.command, getattr(args, "task", None))
    try:
        reply = control.send(state_dir, req)
    except ConnectionError as exc:
        return _fail(f"{exc}; `digit-tui install --answers FILE` resumes the install", exitcodes.FAILED)
    if not reply.ok:
        return _fail(reply.error or "refused", exitcodes.FAILED)
    print(f"{args.command}: ok")
    return exitcodes.OK


def cmd_engine(args: argparse.Namespace) -> int:
    from digit_tui.engine.daemon import engine_main, read_spec

    from digit_tui.engine.launch import take_engine_options

    options = take_engine_options()
    spec = None
    if args.spec:  # what the starting client validated (its --skip-checks already in the settings)
        try:
            spec = read_spec(Path(args.spec))
        except (OSError, ValueError, KeyError):
            spec = None  # gone or damaged: read the answers, as an engine the TUI starts does
    if spec is None:
        spec = load_spec(args.answers, args.graph)
        _acknowledge(spec, options)
    return engine_main(Path(args.state_dir), spec)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("install", help="run (or resume) the install described by an answers file",
                       description="Start or resume the install in a background engine that survives "
                                   "terminal and network loss, then show its progress. Running it again "
                                   "re-attaches or resumes; finished work is re-checked, never redone.")
    p.add_argument("--answers", required=True, metavar="FILE", help="answers file (YAML)")
    p.add_argument("--headless", action="store_true",
                   help="no TUI: print one line per event until the install ends; Ctrl-C detaches")
    p.add_argument("--foreground", action="store_true",
                   help="run the engine in this process: Ctrl-C stops the install (resumable)")
    p.add_argument("--skip-checks", action="store_true",
                   help="acknowledge the prerequisite checks' warnings (they are still logged); failures still stop")
    p.add_argument("--trust-host-key", action="append", default=[], metavar="NAME=SHA256:...",
                   help="trust this host key of host NAME before starting (as `digit-tui preflight` shows it); "
                        "repeatable")
    p.add_argument("--state-dir", metavar="DIR", help=STATE_HELP)
    p.add_argument("--graph", help=argparse.SUPPRESS)  # module:function, for tests and extensions
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("plan", help="show the task graph and what would run; changes nothing")
    p.add_argument("--answers", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--state-dir", metavar="DIR", help=STATE_HELP)
    p.add_argument("--graph", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("status", help="show the state of the install (from the journal)")
    p.add_argument("--state-dir", metavar="DIR", help=STATE_HELP)
    p.add_argument("--answers", metavar="FILE", help="find the state directory from this answers file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--events", type=int, default=20, help="recent events to include (default 20)")
    p.set_defaults(func=cmd_status)

    for name, text in (("pause", "start no new tasks (running ones finish)"),
                       ("resume", "continue a paused install"),
                       ("cancel", "stop the install now (resumable with `install`)"),
                       ("retry", "retry a failed task and the tasks it blocked, or a waiting one at once"),
                       ("skip", "take a failed, blocked or pending task as done: its dependants run "
                                "(a later run checks it again)")):
        p = sub.add_parser(name, help=text)
        if name in ("retry", "skip"):
            p.add_argument("task", help="task id (see `digit-tui status`)")
        p.add_argument("--state-dir", metavar="DIR", help=STATE_HELP)
        p.add_argument("--answers", metavar="FILE", help="find the state directory from this answers file")
        p.set_defaults(func=cmd_control)

    p = sub.add_parser("engine")  # internal: the detached engine process
    p.add_argument("--state-dir", required=True)
    p.add_argument("--answers", required=True)
    p.add_argument("--graph")
    p.add_argument("--spec")  # the client's validated spec (engine/daemon.py write_spec)
    p.set_defaults(func=cmd_engine)
