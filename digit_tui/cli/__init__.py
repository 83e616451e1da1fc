"""Entry point: ``digit-tui [COMMAND] ...`` (``python -m digit_tui.cli`` runs it too).

The CLI layer: it owns argparse and the glue between the answers file, the
engine and the screens, so the domain packages below it know nothing of
command lines. Each command group is one module of this package exposing
``register(subparsers)``; the module adds its parsers and sets ``func`` to a
callable ``(args) -> int``. Heavy imports happen inside those callables so that
``--help`` and ``status`` stay fast on a slow jump host.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import typing

from digit_tui import __version__, exitcodes
from digit_tui.errors import InputError

# Modules that contribute sub-commands, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "digit_tui.cli.install",          # install, plan, status, pause/resume/retry/cancel
    "digit_tui.cli.validate",         # validate
    "digit_tui.cli.size",             # size
    "digit_tui.cli.render",           # render
    "digit_tui.cli.checksource",      # check-source
    "digit_tui.cli.preflight",        # preflight
    "digit_tui.cli.sandbox",          # sandbox up|down|status|fault
    "digit_tui.cli.tui",              # tui (default), demo
    "digit_tui.cli.health",           # health
)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, like every other bad input (exit 2); sub-commands inherit the class."""

    def error(self, message: str) -> "typing.NoReturn":
        self.exit(exitcodes.BAD_INPUT, f"{self.prog}: {message} (expected: see `{self.prog} --help`)\n")


# Commands run often on a slow jump host, and the module that registers each: `digit-tui validate`
# imports that module alone, not every command's (the others are imported for --help or any other
# command).
FAST_COMMANDS: dict[str, str] = {
    # An install's own commands: a converged rerun's whole run is a fraction of a second, the
    # other eight modules' parsers were a tenth of it; the detached engine starts with `engine`.
    **{command: "digit_tui.cli.install" for command in
       ("install", "plan", "status", "pause", "resume", "cancel", "retry", "skip", "engine")},
    "validate": "digit_tui.cli.validate",
    "size": "digit_tui.cli.size",
    "health": "digit_tui.cli.health",
    "tui": "digit_tui.cli.tui",
    "demo": "digit_tui.cli.tui",
}


def build_parser(modules: tuple[str, ...] = COMMAND_MODULES) -> argparse.ArgumentParser:
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
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # A capability not built yet must not break the others.
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def run() -> typing.NoReturn:
    """The program: ``main()``, then exit (the ``digit-tui`` script and ``python -m digit_tui.cli``)."""
    code = main()
    # Everything still alive is released by the exit itself; the collector's passes over it during
    # shutdown (pydantic's schemas, a plan, the journal's rows) cost validate a sixth of its CPU time
    # and find nothing to free. Frozen objects are skipped. atexit handlers still run.
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        # `digit-tui plan | head`: the reader has all it wanted. Quiet, like any Unix filter.
        return _stdout_gone()


def _parser_for(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for this command line: only the owner of a FAST_COMMANDS command, else all."""
    command = argv[0] if argv else "tui"    # no command at all opens the TUI
    module = FAST_COMMANDS.get(command)
    if module is not None:
        parser = build_parser((module,))
        if command in _commands(parser):
            return parser
    return build_parser()


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    """The sub-commands this parser was built with."""
    return {name for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name in action.choices}


def _run(argv: list[str] | None) -> int:
    parser = _parser_for(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        if "tui" in _commands(parser):
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
