"""``digit-tui health``: the pod dashboard of a cluster, or one report with ``--once [--json]``.

The viewer only reads the cluster; ``--once`` reads raw JSON and never imports the client's typed
API modules (a second of start-up on a slow jump host).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from digit_tui import exitcodes
from digit_tui.cli.tui import need_terminal, say
from digit_tui.errors import InputError


def health_kubeconfig(given: str | None) -> tuple[str, str]:
    """(kubeconfig, where it came from) for the health viewer: ``--kubeconfig``, else the first
    file of ``$KUBECONFIG``, else ``~/.kube/config``, as kubectl picks it. The viewer only reads,
    and it says which file it uses; the installer never picks a kubeconfig this way."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise InputError("kubeconfig not found", path=given, expected="the path of a kubeconfig file")
        return str(path), "--kubeconfig"
    for entry in filter(None, os.environ.get("KUBECONFIG", "").split(os.pathsep)):
        if Path(entry).expanduser().is_file():
            return str(Path(entry).expanduser()), "$KUBECONFIG"
    home = Path("~/.kube/config").expanduser()
    if home.is_file():
        return str(home), "~/.kube/config"
    raise InputError("no kubeconfig to read: none given, $KUBECONFIG names no file and ~/.kube/config "
                     "does not exist", expected="--kubeconfig FILE")


def cmd_health(args: argparse.Namespace) -> int:
    kubeconfig, origin = health_kubeconfig(args.kubeconfig)
    if origin != "--kubeconfig":
        say(f"using the kubeconfig {kubeconfig} (from {origin})")
    if args.once or args.json:
        return _health_once(kubeconfig, args.context, as_json=args.json)
    bad = need_terminal()
    if bad is not None:
        return bad
    from digit_tui.app import DigitApp

    DigitApp(start="dashboard", kubeconfig=kubeconfig, context=args.context).run()
    return exitcodes.OK


def _health_once(kubeconfig: str, context: str | None, *, as_json: bool) -> int:
    from digit_tui.health.model import build_model
    from digit_tui.health.watcher import describe_error, fetch_once
    from digit_tui.infra.failures import FailureKind, failure_of

    NETWORK_KINDS = {FailureKind.UNREACHABLE, FailureKind.REFUSED, FailureKind.NO_SUCH_HOST}

    try:
        objects = fetch_once(kubeconfig, context)
    except Exception as exc:
        from kubernetes.config import ConfigException

        if isinstance(exc, ConfigException):
            raise InputError(f"unusable kubeconfig: {exc}", path=kubeconfig,
                             expected="a kubeconfig with a current context (or --context NAME)") from None
        message = describe_error(exc)
        failure = failure_of(exc)
        reachable = failure is None or failure.kind not in NETWORK_KINDS
        if as_json:
            json.dump({"reachable": reachable, "error": message}, sys.stdout)
            print()
        what = "cluster unreachable" if not reachable else "the cluster refused the request"
        print(f"digit-tui: {what}: {message}", file=sys.stderr)
        return exitcodes.FAILED
    from digit_tui.digit.releaserecord import ReleaseRecord
    from digit_tui.health.watcher import RELEASE_RECORD

    model = build_model(objects)
    data = model.to_json()
    records = objects.get(RELEASE_RECORD) or []
    record = ReleaseRecord.from_configmap(records[0]) if records else None
    if as_json:
        json.dump({"reachable": True, **data, "release": record.to_json() if record else None}, sys.stdout, indent=2)
        print()
    else:
        s = model.summary
        if record is not None:
            print(record.line())
        print(f"Deploy {s.deployments}  StatefulSet {s.statefulsets}  Job {s.jobs}  PVC {s.pvcs}  Nodes {s.nodes}"
              f"  · {s.pods} pods · {s.faulty} faulty")
        for p in model.faults:
            print(f"✗ {p.namespace}/{p.name}  {p.status}  restarts {p.restarts}  node {p.node}")
            if p.reason:
                print(f"    └ {p.reason}")
    return exitcodes.OK if data["healthy"] else exitcodes.FAILED


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("health", help="pod dashboard of a cluster (or one JSON report with --once --json)",
                       description="Live pod dashboard: workloads, PVCs, nodes and faulty pods "
                                   "(ImagePullBackOff, CrashLoopBackOff, unschedulable, config errors, not "
                                   "ready). --once prints one report and exits 0 when healthy, 1 otherwise.")
    p.add_argument("--kubeconfig", metavar="FILE",
                   help="kubeconfig to read (default: the first file of $KUBECONFIG, else ~/.kube/config; "
                        "the one used is named on stderr)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context (default: its current-context)")
    p.add_argument("--once", action="store_true", help="print one report and exit")
    p.add_argument("--json", action="store_true", help="with --once: the report as JSON")
    p.set_defaults(func=cmd_health)
