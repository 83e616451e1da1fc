"""Fixtures for infra tests that need the real DIGIT-DevOps snapshot: skipped, naming the path
looked for, when it is absent (a clone outside this workspace has no ../shared/)."""

from __future__ import annotations

import pytest

from tests.infra.realtree import ENV_VAR, RealCharts, extract, tarball_path


@pytest.fixture(scope="session")
def real_charts(tmp_path_factory: pytest.TempPathFactory) -> RealCharts:
    tarball = tarball_path()
    if not tarball.is_file():
        pytest.skip(f"the real DIGIT-DevOps snapshot is not at {tarball} (set {ENV_VAR}, as `make test` does "
                    "when ../shared/real-digit/ exists)")
    helm_root = extract(tarball, tmp_path_factory.mktemp("real-digit"))
    return RealCharts(helm_root, tmp_path_factory.mktemp("real-charts"))
