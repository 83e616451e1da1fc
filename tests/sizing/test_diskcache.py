"""The on-disk cache of rendered workloads (sizing/diskcache.py) that makes a warm `digit-tui size` skip the render."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from digit_tui.sizing import release
from digit_tui.sizing.diskcache import DiskCache, inputs_digest


@pytest.fixture()
def sample(tmp_path: Path) -> release.ReleaseInputs:
    """A private copy of the bundled sample, so that the tests may edit its files."""
    tree = tmp_path / "sample"
    shutil.copytree(release.BUNDLE, tree)
    original = release.bundled_inputs(tmp_path / "env")
    rel = lambda p: tree / p.relative_to(release.BUNDLE)  # noqa: E731
    return release.ReleaseInputs(tree, rel(original.manifest), rel(original.env_file),
                                 rel(original.secrets_file) if original.secrets_file else None)


def digest(inputs: release.ReleaseInputs) -> str:
    return inputs_digest(inputs.source, inputs.manifest, inputs.env_file, inputs.secrets_file, frozenset())


def test_a_second_process_plans_from_the_stored_render(sample: release.ReleaseInputs, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    disk = DiskCache(tmp_path / "cache")
    rendered = release.WorkloadCache(disk=disk).get(sample)
    assert list((tmp_path / "cache").glob("*.json")), "the render was not stored"
    assert oct((tmp_path / "cache").stat().st_mode & 0o777) == "0o700"

    # A fresh WorkloadCache is what the next `digit-tui size` process has. The renderer is
    # replaced by one that fails (not a double of it: it must simply never be called).
    def no_render() -> None:
        raise AssertionError("rendered although the inputs did not change")

    monkeypatch.setattr(release, "_default_renderer", no_render)
    again = release.WorkloadCache(disk=disk).get(sample)
    assert again.workloads == rendered.workloads
    assert dict(again.module_deps) == dict(rendered.module_deps)
    assert again.selectable == rendered.selectable and again.version == rendered.version


def test_any_input_changed_is_another_digest(sample: release.ReleaseInputs) -> None:
    before = digest(sample)
    assert digest(sample) == before
    sample.env_file.write_text(sample.env_file.read_text() + "\n# edited\n")
    after_env = digest(sample)
    assert after_env != before
    chart = next(p for p in (sample.source / "deploy-as-code").rglob("values.yaml"))
    st = chart.stat()
    os.utime(chart, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))    # a chart edited in place
    assert digest(sample) != after_env
    assert inputs_digest(sample.source, sample.manifest, sample.env_file, sample.secrets_file,
                         frozenset({"egov-user"})) != digest(sample)


def test_an_unreadable_entry_is_a_miss(sample: release.ReleaseInputs, tmp_path: Path) -> None:
    disk = DiskCache(tmp_path / "cache")
    key = digest(sample)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{key}.json").write_text('{"format": 1, "workloads": [')
    assert disk.load(key) is None
    got = release.WorkloadCache(disk=disk).get(sample)       # renders, and replaces the entry
    assert got.workloads and disk.load(key) is not None
