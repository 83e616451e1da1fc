"""``digit-tui health``: the pod dashboard of a cluster, or one report with ``--once [--json | --markdown]``.

The viewer only reads the cluster; ``--once`` reads raw JSON and never imports the client's typed
API modules (a second of start-up on a slow jump host). Exit codes: docs/health.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from digit_tui import exitcodes
from digit_tui.cli.tui import need_terminal, say
from digit_tui.errors import InputError

if TYPE_CHECKING:
    from digit_tui.health.report import Format


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
    once = args.once or args.json or args.markdown
    if args.json and args.markdown:
        raise InputError("--json and --markdown both asked for", expected="one of --json or --markdown")
    if args.ingress_url and not once:
        raise InputError("--ingress-url is probed by the one-off report only", expected="--once --ingress-url URL")
    if args.ingress_url and not args.ingress_url.startswith(("http://", "https://")):
        raise InputError(f"--ingress-url {args.ingress_url}: not an http(s) URL", expected="https://HOST/")
    kubeconfig, origin = health_kubeconfig(args.kubeconfig)
    if origin != "--kubeconfig":
        say(f"using the kubeconfig {kubeconfig} (from {origin})")
    if once:
        return _health_once(kubeconfig, args.context, fmt="json" if args.json else "markdown" if args.markdown
                            else "text", ingress_url=args.ingress_url)
    bad = need_terminal()
    if bad is not None:
        return bad
    from digit_tui.app import DigitApp

    DigitApp(start="dashboard", kubeconfig=kubeconfig, context=args.context).run()
    return exitcodes.OK


def _health_once(kubeconfig: str, context: str | None, *, fmt: Format, ingress_url: str | None) -> int:
    from digit_tui.health.report import read_report
    from digit_tui.health.watcher import describe_error
    from digit_tui.infra.failures import FailureKind, failure_of

    NETWORK_KINDS = {FailureKind.UNREACHABLE, FailureKind.REFUSED, FailureKind.NO_SUCH_HOST}

    try:
        report = read_report(kubeconfig, context, ingress_url=ingress_url)
    except Exception as exc:
        # Only the library's loader raises ConfigException: it is imported when it was used.
        config = sys.modules.get("kubernetes.config")
        if config is not None and isinstance(exc, config.ConfigException):
            raise InputError(f"unusable kubeconfig: {exc}", path=kubeconfig,
                             expected="a kubeconfig with a current context (or --context NAME)") from None
        message = describe_error(exc)
        failure = failure_of(exc)
        reachable = failure is None or failure.kind not in NETWORK_KINDS
        if fmt == "json":
            json.dump({"reachable": reachable, "healthy": None, "error": message, "checks": []}, sys.stdout)
            print()
        what = "cluster unreachable" if not reachable else "the cluster refused the request"
        print(f"digit-tui: {what}: {message}", file=sys.stderr)
        return exitcodes.UNREACHABLE
    # The TUI's health view exports the same text (HealthReport.render).
    sys.stdout.write(report.render(fmt))
    return exitcodes.OK if report.healthy else exitcodes.FAILED


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("health", help="pod dashboard of a cluster, or one DIGIT health report with --once",
                       description="Live pod dashboard: workloads, PVCs, nodes and faulty pods "
                                   "(ImagePullBackOff, CrashLoopBackOff, unschedulable, config errors, not "
                                   "ready). --once prints one report of DIGIT's checks (backbone, core services, "
                                   "ingress, database, the release against its record, pods) and exits 0 when "
                                   "healthy, 1 when a check fails, 4 when the cluster cannot be read "
                                   "(docs/health.md).")
    p.add_argument("--kubeconfig", metavar="FILE",
                   help="kubeconfig to read (default: the first file of $KUBECONFIG, else ~/.kube/config; "
                        "the one used is named on stderr)")
    p.add_argument("--context", metavar="NAME", help="kubeconfig context (default: its current-context)")
    p.add_argument("--once", action="store_true", help="print one report and exit")
    p.add_argument("--json", action="store_true", help="the report as JSON (implies --once)")
    p.add_argument("--markdown", action="store_true", help="the report as Markdown, to paste into a ticket "
                   "(implies --once)")
    p.add_argument("--ingress-url", metavar="URL", help="with --once: also GET this URL (the DIGIT domain) and "
                   "report whether the ingress answers (5 s timeout)")
    p.set_defaults(func=cmd_health)
