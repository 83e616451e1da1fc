"""Suite-wide isolation, so that `make test` can run the suite in several pytest-xdist workers.

Every test already names its own state directory, sockets and ports (port 0, tmp_path); this is
the net under them: anything that falls back to digit-tui's default state root
($XDG_STATE_HOME/digit-tui, e.g. the sandbox's kubeconfig that release.py looks for) finds one
private to this worker, never the operator's ~/.local/state nor another worker's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def private_state_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        yield
