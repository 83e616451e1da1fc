"""Services the operator leaves out on purpose (the answers' ``digit.skip_services``).

A skipped service is not rendered, gets no install task, is not deployed and is
not pruned as "removed from the release": it is recorded as skipped on purpose.
The manifest does the filtering (``ReleaseManifest.services(..., skip=...)``,
``service_dependencies(..., skip=...)``) and the pipeline renders around it
(``render_release(..., skip_services=...)``); this module checks the list
against the release, so every caller (the install graph, the render task,
``digit-tui render``, the release record) agrees.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from digit_tui.digit.pipeline import CLUSTER_CONFIGS
from digit_tui.errors import InputError


def check_skipped(manifest: Any, modules: Iterable[str] | None, skip: Sequence[str],
                  answers_file: str | None = None) -> tuple[str, ...]:
    """The skipped services, after checking each is a service of these (resolved) modules of
    ``manifest`` (a ``ReleaseManifest``); InputError naming the answers file otherwise."""
    problems = manifest.skip_problems(modules, tuple(skip), always=(CLUSTER_CONFIGS,)) if skip else []
    if problems:
        first = problems[0]
        raise InputError(f"digit.skip_services[{first.index}]: {first.message}",
                         path=answers_file, expected=first.expected)
    return tuple(skip)
