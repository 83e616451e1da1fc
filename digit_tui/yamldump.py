"""YAML text written by libyaml's emitter when PyYAML has it.

PyYAML's pure-Python emitter is most of the CPU of writing YAML: a converged rerun regenerates the
environment file to compare it (some 100 ms in Python, a fifth of that in libyaml), and the TUI's
previews and the render write more. ``CSafeDumper`` is PyYAML's own SafeDumper with libyaml's
emitter: the same representers, the same text for the documents digit-tui writes (tests compare
the two); without libyaml the pure-Python dumper writes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:      # a base class to the type checker; at run time libyaml's when it is there
    SafeDumper = yaml.SafeDumper
else:
    SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def safe_dump(data: Any, **kwargs: Any) -> str:
    """``yaml.safe_dump(data, **kwargs)``, through libyaml when it is there."""
    text: str = yaml.dump(data, Dumper=SafeDumper, **kwargs)
    return text


def safe_dump_all(documents: Any, **kwargs: Any) -> str:
    """``yaml.safe_dump_all(documents, **kwargs)``, through libyaml when it is there."""
    text: str = yaml.dump_all(documents, Dumper=SafeDumper, **kwargs)
    return text
