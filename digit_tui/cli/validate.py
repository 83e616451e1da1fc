"""``digit-tui validate``: check an answers file offline; print an example one.

Exit 0 with a one-line summary, or exit 2 with ``FILE:LINE: ... (expected: ...)``.
Nothing is written: not the state directory, not the answers file.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from digit_tui import exitcodes


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check an answers file offline (exit 0 valid, 2 invalid)",
        description=(
            "Validate an answers file without touching the cluster, the hosts or the state directory. "
            "Errors name the file, the line and what is expected there."
        ),
    )
    parser.add_argument("--answers", metavar="FILE", help="the answers YAML file to check")
    parser.add_argument("--example", action="store_true",
                        help="print a commented example answers file and exit")
    parser.add_argument("--json", action="store_true",
                        help="on success print the settings the engine would use, as JSON")
    parser.add_argument("--no-file-checks", dest="check_files", action="store_false",
                        help="do not require referenced files (keys, kubeconfig...) to exist on this machine")
    # Accepted for symmetry with install/plan; validate never creates or reads it.
    parser.add_argument("--state-dir", metavar="DIR", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


def summary(answers: Any, shown: str) -> str:
    modules = ", ".join(answers.digit.modules) or "core only"
    hosts = len(answers.hosts)
    return (f"{shown}: valid (environment {answers.environment}, {hosts} host{'s' if hosts != 1 else ''}, "
            f"modules {modules})")


def run(args: argparse.Namespace) -> int:
    # Each import only where it is used: --example needs no validation, a summary no settings.
    if args.example:
        from digit_tui.answers.example import EXAMPLE

        sys.stdout.write(EXAMPLE)
        return exitcodes.OK
    if not args.answers:
        from digit_tui.errors import InputError

        raise InputError("validate needs --answers FILE (or --example)", expected="digit-tui validate --answers FILE")
    from digit_tui.answers.loader import load_answers

    from digit_tui.sizing.install import install_plan

    answers = load_answers(args.answers, check_files=args.check_files)
    # The sizing plan is pure (milliseconds): a file the planner refuses fails here, not at install.
    plan = install_plan(answers, args.answers)
    if args.json:
        from digit_tui.answers.settings import answers_to_settings

        json.dump(answers_to_settings(answers, answers_file=args.answers, sizing=plan), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(summary(answers, args.answers))
    return exitcodes.OK


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m digit_tui.cli.validate``) with the CLI's error handling."""
    from digit_tui.errors import InputError

    parser = argparse.ArgumentParser(prog="digit-tui")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"digit-tui: {exc}", file=sys.stderr)
        return exitcodes.BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
