"""The real DIGIT-DevOps snapshot, extracted once per test session, for any test that needs it.

``real_tree(tmp_path_factory)`` returns the extracted ``DIGIT-DevOps`` directory, or
skips the test with the path it looked for (``$DIGIT_REAL_TREE_TARBALL``, which
``make test`` sets, else ``../shared/real-digit/``). Tests must not write into it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.realtree import ENV_VAR, extract, tarball_path

_extracted: dict[Path, Path] = {}


def real_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tarball = tarball_path()
    if not tarball.is_file():
        pytest.skip(f"the real DIGIT-DevOps snapshot is not at {tarball} (set {ENV_VAR} to its path)")
    if tarball not in _extracted:
        dest = tmp_path_factory.mktemp("real-digit")
        extract(tarball, dest)
        _extracted[tarball] = dest / "DIGIT-DevOps"
    return _extracted[tarball]
