"""A rendered file's documents are kept beside it as JSON for the next check to read (a rerun reads
every service's file), and never outlive the file: a file rewritten since, by a render or in place,
is read again; documents JSON cannot give back unchanged are not kept."""

from __future__ import annotations

import os
import time
from pathlib import Path

from digit_tui.atomic import atomic_write
from digit_tui.tasks.render import PARSED_SUFFIX, read_rendered

CRD = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: a.b.c}\n"


def deployment(image: str) -> str:
    return (f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: egov-user, namespace: egov}}\n"
            f"spec: {{replicas: 2, template: {{spec: {{containers: [{{name: c, image: '{image}'}}]}}}}}}\n")


def settle(path: Path) -> None:
    """As a file written a while ago (one modified within RACY seconds is never kept)."""
    old = time.time() - 60
    os.utime(path, (old, old))


def image_of(path: Path) -> str:
    crds, objects = read_rendered(path, "the test")
    assert [c["kind"] for c in crds] == ["CustomResourceDefinition"]
    return str(objects[0]["spec"]["template"]["spec"]["containers"][0]["image"])


def test_the_documents_are_read_from_json_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "egov-user.yaml"
    parsed = tmp_path / f"egov-user{PARSED_SUFFIX}"
    atomic_write(path, CRD + deployment("egovio/egov-user:v1"), mode=0o600)
    assert image_of(path) == "egovio/egov-user:v1"
    assert not parsed.exists()                                   # just written: not settled
    settle(path)
    assert image_of(path) == "egovio/egov-user:v1"
    assert parsed.is_file() and parsed.stat().st_mode & 0o777 == 0o600
    assert image_of(path) == "egovio/egov-user:v1"               # from the JSON

    atomic_write(path, CRD + deployment("egovio/egov-user:v2"), mode=0o600)   # as a render writes it
    settle(path)
    assert image_of(path) == "egovio/egov-user:v2"

    before = path.stat()
    path.write_text(CRD + deployment("egovio/egov-user:v3-edited"))           # edited in place, its mtime put back
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert image_of(path) == "egovio/egov-user:v3-edited"

    parsed.write_text("{not json")                               # a damaged copy is parsed past
    assert image_of(path) == "egovio/egov-user:v3-edited"


def test_documents_json_would_change_are_read_from_the_yaml_every_time(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    atomic_write(path, CRD + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\ndata: {8080: x}\n", mode=0o600)
    settle(path)
    for _ in range(2):
        _, [cm] = read_rendered(path, "the test")
        assert cm["data"] == {8080: "x"}                          # the number stays a number
    assert not (tmp_path / f"odd{PARSED_SUFFIX}").exists()
