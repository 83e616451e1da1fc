"""The answers file: schema, line-accurate loader, settings for the engine.

Public API (imported lazily so ``digit-tui --help`` does not load pydantic)::

    load_answers(path, *, check_files=True) -> Answers      # InputError on any problem
    parse_answers(text, path, *, check_files=True) -> Answers
    answers_to_settings(answers, answers_file=None) -> dict  # JSON data for ctx.settings
    answers_to_yaml(answers) -> str                          # for the TUI to save choices
    network_endpoints(answers) -> list[Endpoint]             # what the network probe watches
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "Answers": "digit_tui.answers.model",
    "AnswersError": "digit_tui.answers.loader",
    "load_answers": "digit_tui.answers.loader",
    "parse_answers": "digit_tui.answers.loader",
    "answers_to_settings": "digit_tui.answers.settings",
    "answers_to_yaml": "digit_tui.answers.settings",
    "network_endpoints": "digit_tui.answers.settings",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'digit_tui.answers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
