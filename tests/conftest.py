"""Suite-wide isolation and placement, so that `make test` can run the suite in several
pytest-xdist workers.

Isolation: every test already names its own state directory, sockets and ports (port 0,
tmp_path); ``private_state_root`` is the net under them: anything that falls back to digit-tui's
default state root ($XDG_STATE_HOME/digit-tui, e.g. the sandbox's kubeconfig that release.py
looks for) finds one private to this worker, never the operator's ~/.local/state nor another
worker's.

Placement, with ``--dist loadfile`` (as `make test` runs): the tests of one file go to one worker,
because most files share module fixtures that are costly to build once per worker (a VmLab, a
sandbox, test_bad_input's ``outcomes`` that runs every case of the file at once). The files in
``SPREAD`` are the exception (``FileScheduling``): a few long tests that share nothing costly,
each on whichever worker is free, so that one file is not the run's long pole. Workers hand their
collection over ``LONG_FIRST`` first; `make test` passes --no-loadscope-reorder so that xdist keeps
that order instead of its largest-file-first one.

Not xdist_group marks and --dist loadgroup: with pytest 9.2, pytest-xdist 3.8 silently ignores
them (it groups by rewriting the node id, which pytest 9.2 no longer lets it do;
pytest-dev/pytest-xdist#1386). Tests that must never run beside each other would go in one scope
here (``FileScheduling._split_scope``); none needs it today.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# Long tests with function-scoped clusters (the module-scoped real tree is only extracted, a few
# seconds, on each worker that gets one of them).
SPREAD = frozenset({
    "tests/release/test_real_release.py",
    "tests/release/test_release_sandbox.py",
    "tests/sizing/test_sandbox_agreement.py",
})
# Handed out first, longest first (minutes each beside other workers; `make test
# PYTEST_ARGS=--durations=15` shows them), so that the run does not end with one worker still on
# one of them while the others are idle. Files not named here follow in collection order.
LONG_FIRST = (
    "tests/release/test_real_release.py",
    "tests/test_bad_input.py",                  # its module fixture runs every case of the file
    "tests/release/test_release_sandbox.py",
    "tests/sizing/test_sandbox_agreement.py",
    "tests/digit/test_helm_equivalence.py",
    "tests/sandbox/test_ctrl_scale.py",
    "tests/test_lowest_kubernetes.py",          # installs the lowest client, then runs 17 tests with it
    "tests/monitoring/test_monitoring_sandbox.py",
    "tests/kubeadm/test_kubeadm_lab.py",
    "tests/answers/test_answers_cli.py",
    "tests/release/test_git_source.py",
    "tests/answers/test_answers_model.py",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-snapshots", action="store_true",
                     help="write the TUI's snapshot goldens (tests/tui/snapshots.py) instead of comparing")


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


@pytest.hookimpl(tryfirst=True, optionalhook=True)     # before xdist's own; absent without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class FileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = _file_of(nodeid)
            return nodeid if path in SPREAD else path

    return FileScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):      # an xdist worker: the controller hands out in this order
        rank = {path: i for i, path in enumerate(LONG_FIRST)}
        items.sort(key=lambda item: rank.get(_file_of(item.nodeid), len(rank)))


@pytest.fixture(scope="session", autouse=True)
def private_state_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        yield


@pytest.fixture(scope="session", autouse=True)
def no_sandbox_outlives_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Installs with ``provider: sandbox`` and no kubeconfig start a detached sandbox (the cluster
    phase's sandbox provider), which outlives the engine by design. A test that does not stop its
    own leaves it here: stop every sandbox whose state directory is under this session's temp dir."""
    yield
    import os
    import signal
    from pathlib import Path

    base = str(tmp_path_factory.getbasetemp())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"digit_tui.sandbox.runtime" not in argv or b"--state-dir" not in argv:
            continue
        where = argv[argv.index(b"--state-dir") + 1].decode(errors="replace")
        if where.startswith(base):
            try:
                os.kill(int(proc.name), signal.SIGTERM)
            except ProcessLookupError:
                pass
