"""``digit-tui check-source``: every problem of every release of a DIGIT-DevOps tree, in one report.

Exit 0 when every selected release is deployable, 1 when one is not, 2 for bad
arguments (a missing tree, a release file not found, a bad Kubernetes version).
Renders offline with a preview environment digit-tui generates (as an install
would), or with the operator's own ``--env-file`` / ``--secrets-file``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from digit_tui import exitcodes


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "check-source",
        help="report every problem of a DIGIT-DevOps tree's releases at once (changes nothing)",
        description=(
            "Check each release manifest of a DIGIT-DevOps tree (or those given with --release): YAML errors, "
            "missing charts with near matches, duplicate services, dependency cycles, unknown dependencies, "
            "untagged services, render errors per service, and the objects that need converting for "
            "--kube-version. Exit 0 when every release checked is deployable, 1 otherwise, 2 for bad arguments."
        ),
    )
    parser.add_argument("--source", metavar="DIR", required=True, help="a DIGIT-DevOps tree (a directory)")
    parser.add_argument("--release", metavar="FILE", action="append",
                        help="a release manifest (dependancy_chart-*.yaml), relative to the tree, its "
                             "deploy-as-code/helm or its release folder; repeatable (default: every one the tree holds)")
    parser.add_argument("--kube-version", metavar="X.Y", default="1.30",
                        help="Kubernetes version whose served APIs the rendered objects are checked against (default 1.30)")
    parser.add_argument("--env-file", metavar="FILE", help="render with this environments/<env>.yaml "
                                                            "(default: a preview environment digit-tui generates)")
    parser.add_argument("--secrets-file", metavar="FILE",
                        help="with --env-file: its secrets file (sops files are decrypted; default: generated)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--engine", choices=("auto", "sdk", "helm"), default="sdk",
                        help="render engine (default sdk, the embedded Helm SDK)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="deadline for rendering one chart (default 60)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from digit_tui.digit.checksource import check_source, format_report
    from digit_tui.digit.pipeline import base_values
    from digit_tui.digit.render import make_renderer
    from digit_tui.digit.source import is_git_url, locate
    from digit_tui.errors import InputError
    from digit_tui.infra.kubeconvert import parse_minor

    if is_git_url(str(args.source)):
        raise InputError("check-source reads a local tree", path=args.source,
                         expected="a directory (clone the repository first)")
    if args.secrets_file and not args.env_file:
        raise InputError("--secrets-file needs --env-file", expected="--env-file F --secrets-file F")
    kube = args.kube_version
    parse_minor(kube)
    source = locate(args.source)
    manifests = _manifests(source, args.release or [])
    if not manifests:
        raise InputError("the tree holds no release manifest", path=source.root,
                         expected="product-release-charts/<Product>/dependancy_chart-*.yaml")
    work = Path(tempfile.mkdtemp(prefix="digit-tui-check-"))
    try:
        env_file, secrets_file, shown = _environment(args, work)
        base = base_values(env_file, secrets_file)
        with make_renderer(args.engine, timeout=args.timeout) as renderer:
            report = check_source(source, manifests, base, renderer, kube_version=kube, environment=shown,
                                  progress=None if args.json else _progress)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print(format_report(report))
    return exitcodes.OK if report.deployable else exitcodes.FAILED


def _progress(line: str) -> None:
    print(f"  {line}", file=sys.stderr)


def _manifests(source: Any, given: list[str]) -> list[Path]:
    if not given:
        return source.release_manifests()
    return list(dict.fromkeys(source.find_release(g).resolve() for g in given))


def _environment(args: argparse.Namespace, work: Path) -> tuple[Path, Path | None, str]:
    """The env and secrets files to render with, and how the report names them."""
    from digit_tui.digit.checksource import preview_environment

    env_file, secrets_file = preview_environment(work)
    if args.env_file:
        env = Path(args.env_file)
        secrets = Path(args.secrets_file) if args.secrets_file else secrets_file
        return env, secrets, str(env) + ("" if args.secrets_file else " (secrets generated)")
    return env_file, secrets_file, "a preview environment"
