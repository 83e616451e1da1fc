"""The render task's chart-tree digest with its file stamps (tasks/render.py ``_tree_digest``): a rerun's
check reads only the files that changed, and the digest is the one a full read gives."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from digit_tui.tasks.render import RACY, _tree_digest
from digit_tui.sizing.release import BUNDLE


def charts(tmp_path: Path) -> Path:
    root = tmp_path / "charts"
    shutil.copytree(BUNDLE / "deploy-as-code" / "helm" / "charts", root)
    return root


def age(stamps: Path) -> None:
    """Record the last hashing as well past RACY after the files last changed (as when the last
    check ran a while after the tree was written): from then on unchanged stamps are trusted."""
    doc = json.loads(stamps.read_text())
    doc["hashed_at"] = time.time() + RACY + 5
    stamps.write_text(json.dumps(doc))


def test_the_digest_is_the_full_reads_whatever_the_stamps(tmp_path: Path) -> None:
    root = charts(tmp_path)
    stamps = tmp_path / "stamps.json"
    full = _tree_digest(root)
    assert _tree_digest(root, stamps) == full                 # first: every file read, stamps written
    assert stamps.is_file() and len(json.loads(stamps.read_text())["files"]) > 10
    age(stamps)
    assert _tree_digest(root, stamps) == full
    # The stamps are what is used for unchanged files: a digest recorded wrongly shows through.
    doc = json.loads(stamps.read_text())
    rel = next(iter(doc["files"]))
    doc["files"][rel][4] = "0" * 64
    stamps.write_text(json.dumps(doc))
    assert _tree_digest(root, stamps) != full
    stamps.write_text("{not json")                            # a damaged stamps file: all read again
    assert _tree_digest(root, stamps) == full


def test_an_edited_file_is_read_again_even_with_its_mtime_restored(tmp_path: Path) -> None:
    root = charts(tmp_path)
    stamps = tmp_path / "stamps.json"
    _tree_digest(root, stamps)
    age(stamps)
    before = _tree_digest(root, stamps)
    victim = next(root.rglob("values.yaml"))
    st = victim.stat()
    text = victim.read_text()
    victim.write_text(text.replace("a", "b", 1) if "a" in text else text + "#")  # same size when it can
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))   # the mtime put back; the ctime moves anyway
    after = _tree_digest(root, stamps)
    assert after != before
    assert after == _tree_digest(root)


def test_a_file_changed_right_after_it_was_hashed_is_not_trusted(tmp_path: Path) -> None:
    root = charts(tmp_path)
    stamps = tmp_path / "stamps.json"
    _tree_digest(root, stamps)                 # hashed just now: within RACY of the stamps
    doc = json.loads(stamps.read_text())
    assert doc["hashed_at"] > time.time() - 60
    victim = next(root.rglob("Chart.yaml"))
    rel = str(victim.relative_to(root))
    doc["files"][rel][4] = "0" * 64            # a stale digest the stamps still match
    stamps.write_text(json.dumps(doc))
    assert _tree_digest(root, stamps) == _tree_digest(root)
