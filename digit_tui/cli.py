"""Entry point: ``digit-tui [COMMAND] ...``.

Each sub-command lives in the module that owns its job and exposes
``register(subparsers)``; the module adds its parser and sets ``func`` to a
callable ``(args) -> int``. Heavy imports happen inside those callables so that
``--help`` and ``status`` stay fast on a slow jump host.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import typing

from digit_tui import __version__, exitcodes
from digit_tui.errors import InputError

# Modules that contribute sub-commands, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "digit_tui.engine.commands",      # install, plan, status, pause/resume/retry/cancel
    "digit_tui.answers.command",      # validate
    "digit_tui.sizing.command",       # size
    "digit_tui.digit.command",        # render
    "digit_tui.digit.checksource_command",  # check-source
    "digit_tui.tasks.preflight_command",    # preflight
    "digit_tui.sandbox.command",      # sandbox up|down|status|fault
    "digit_tui.screens.command",      # tui (default), demo
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other bad input (exit 2); sub-commands inherit the class."""

    def error(self, message: str) -> "typing.NoReturn":
        self.exit(exitcodes.BAD_INPUT, f"{self.prog}: {message} (expected: see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="digit-tui",
        description=(
            "Guided, resumable installer and health viewer for DIGIT on Kubernetes. "
            "Without a command, opens the TUI (attaching to a running install if there is one)."
        ),
        epilog="Exit codes: 0 success, 1 install or check failed, 2 bad input, 3 interrupted but resumable.",
    )
    parser.add_argument("--version", action="version", version=f"digit-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A capability not built yet must not break the others.
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `digit-tui plan | head`: the reader has all it wanted. Quiet, like any Unix filter.
        return _stdout_gone()


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        if "tui" in parser._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
            args = parser.parse_args(["tui", *(argv or [])])
            func = args.func
        else:
            parser.print_help()
            return exitcodes.BAD_INPUT
    try:
        return int(func(args) or 0)
    except InputError as exc:
        print(f"digit-tui: {exc}", file=sys.stderr)
        return exitcodes.BAD_INPUT
    except KeyboardInterrupt:
        print("digit-tui: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED


def _stdout_gone() -> int:
    """Point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return exitcodes.FAILED


if __name__ == "__main__":
    sys.exit(main())
