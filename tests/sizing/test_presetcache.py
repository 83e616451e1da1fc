"""The validated presets kept on disk (sizing/presetcache.py): a second process plans from them without
pydantic, and any change to a preset file is validated again, with the same FILE:LINE error."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from digit_tui.errors import InputError
from digit_tui.sizing import presetcache, presets
from tests.support import REPO


@pytest.fixture()
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of the preset files and a private cache directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tree = tmp_path / "profiles"
    shutil.copytree(presets.PROFILES_DIR, tree)
    presets.load_all.cache_clear()
    yield tree
    presets.load_all.cache_clear()


def fresh_load(directory: Path) -> dict[str, presets.Preset]:
    """What the next process sees: no in-memory memo, only the disk."""
    presets.load_all.cache_clear()
    return presets.load_all(directory)


def test_the_stored_presets_are_the_validated_ones(profiles: Path, tmp_path: Path) -> None:
    validated = fresh_load(profiles)
    stored = list((tmp_path / "cache" / "digit-tui" / "presets").glob("*.json"))
    assert len(stored) == 1 and oct(stored[0].stat().st_mode & 0o777) == "0o600"
    again = presetcache.load(presetcache.digest(profiles), presets.Preset)
    assert again == validated
    assert isinstance(again["sdc-prod"].reservation.cpu_steps[0], tuple)   # JSON lists back as the schema's types
    assert isinstance(again["dev"].headroom.value, float)


def test_a_second_process_reads_them_without_pydantic(profiles: Path, tmp_path: Path) -> None:
    probe = ("import sys; from pathlib import Path; from digit_tui.sizing import presets; "
             f"p = presets.load_all(Path({str(profiles)!r})); "
             "print(sorted(p), 'pydantic' in sys.modules, 'yaml' in sys.modules)")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    outs = [subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO,
                           env=env, check=True).stdout.split("] ") for _ in range(2)]
    assert outs[0][0] == outs[1][0] and "sdc-prod" in outs[0][0]
    assert outs[0][1].split() == ["True", "True"]        # the first validates
    assert outs[1][1].split() == ["False", "False"]      # the second reads what the first stored


def test_an_edited_preset_is_validated_again(profiles: Path) -> None:
    assert fresh_load(profiles)["sdc-dev"].ulbs.value == 10
    f = profiles / "sdc-dev.yaml"
    f.write_text(f.read_text().replace("ulbs: {value: 10,", "ulbs: {value: 12,", 1))
    assert fresh_load(profiles)["sdc-dev"].ulbs.value == 12
    f.write_text(f.read_text().replace("lb: {count: 1,", "lb: {count: -1,", 1))
    line = next(n for n, text in enumerate(f.read_text().splitlines(), 1) if "count: -1" in text)
    with pytest.raises(InputError) as err:
        fresh_load(profiles)
    assert str(err.value) == f"{f}:{line}: lb: Value error, count should be at least 0"


def test_a_damaged_cache_file_is_a_miss(profiles: Path, tmp_path: Path) -> None:
    validated = fresh_load(profiles)
    [stored] = (tmp_path / "cache" / "digit-tui" / "presets").glob("*.json")
    doc = json.loads(stored.read_text())
    doc["presets"]["dev"]["tier"] = "staging"            # not one of the schema's literals
    stored.write_text(json.dumps(doc))
    assert presetcache.load(presetcache.digest(profiles), presets.Preset) is None
    assert fresh_load(profiles) == validated
    stored.write_text("{truncated")
    assert fresh_load(profiles) == validated
