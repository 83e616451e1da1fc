"""The real DIGIT-DevOps snapshot (../shared/real-digit) for tests: where it is, and its charts
rendered straight through helm-python-sdk, the way DIGIT's deployer feeds `helm template`
(env file + secrets file + the service's own values file + --set name/image.tag).

Values files are parsed by Helm (``helm_python.values_from_yaml``), never by PyYAML:
nginx-ingress's values.yaml has trailing tabs that only Helm accepts.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from digit_tui.deepmerge import deep_merge

REPO = Path(__file__).resolve().parents[2]
ENV_VAR = "DIGIT_REAL_TREE_TARBALL"
TARBALL_NAME = "digit-devops-45790f3f3f5c.tar.gz"
HELM_ROOT = Path("DIGIT-DevOps/deploy-as-code/helm")
ENV_FILES = ("environments/single-instance.yaml", "environments/single-instance-secrets.yaml")

Obj = dict[str, Any]


def tarball_path() -> Path:
    """Where the snapshot is looked for: $DIGIT_REAL_TREE_TARBALL (set by `make test`), else ../shared."""
    given = os.environ.get(ENV_VAR)
    return Path(given) if given else REPO.parent / "shared" / "real-digit" / TARBALL_NAME


def extract(tarball: Path, dest: Path) -> Path:
    """Unpack the snapshot under ``dest``; return its deploy-as-code/helm directory."""
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="data")
    return dest / HELM_ROOT


@dataclass
class Rendered:
    objects: list[Obj]     # templates/, in template-path order
    crds: list[Obj]        # crds/

    def all(self) -> list[Obj]:
        return self.crds + self.objects

    def find(self, kind: str, api_version: str | None = None, name: str | None = None) -> list[Obj]:
        return [copy.deepcopy(o) for o in self.all() if o.get("kind") == kind
                and (api_version is None or o.get("apiVersion") == api_version)
                and (name is None or (o.get("metadata") or {}).get("name") == name)]

    def one(self, kind: str, api_version: str | None = None, name: str | None = None) -> Obj:
        found = self.find(kind, api_version, name)
        assert len(found) == 1, f"expected one {kind} {api_version or ''} {name or ''}, found {len(found)}"
        return found[0]


class RealCharts:
    """Renders charts of the extracted tree; each (chart, values) once per session."""

    def __init__(self, helm_root: Path, work: Path) -> None:
        self.root = helm_root
        self.work = work
        self._cache: dict[str, Rendered] = {}

    def _values(self, chart_dir: Path, name: str, sets: dict[str, Any]) -> dict[str, Any]:
        import helm_python

        files = [self.root / f for f in ENV_FILES]
        own = chart_dir / f"{name}-values.yaml"
        if own.is_file():
            files.append(own)
        values: dict[str, Any] = {}
        for f in files:
            values = deep_merge(values, helm_python.values_from_yaml(f.read_text(encoding="utf-8")))
        return deep_merge(values, deep_merge({"name": name, "image": {"tag": "test"}}, sets))

    def _stage(self, chart_dir: Path, dest: Path) -> None:
        """A private copy with file:// dependencies (DIGIT's common chart) vendored under charts/."""
        shutil.copytree(chart_dir, dest)
        meta = yaml.safe_load((dest / "Chart.yaml").read_text(encoding="utf-8")) or {}
        for dep in meta.get("dependencies") or []:
            repo = str(dep.get("repository") or "")
            if repo.startswith("file://"):
                (dest / "charts").mkdir(exist_ok=True)
                shutil.copytree((chart_dir / repo[len("file://"):]).resolve(), dest / "charts" / dep["name"])

    def render(self, chart: str, sets: dict[str, Any] | None = None) -> Rendered:
        """Render ``charts/<chart>`` (e.g. "core-services/egov-user") as release <chart's last part>."""
        import helm_python

        sets = sets or {}
        key = chart + json.dumps(sets, sort_keys=True)
        if key in self._cache:
            return self._cache[key]
        chart_dir = self.root / "charts" / chart
        name = chart.rsplit("/", 1)[-1]
        dest = self.work / str(len(self._cache)) / name
        self._stage(chart_dir, dest)
        with helm_python.Chart.load(dest) as loaded:
            manifests = loaded.render(self._values(chart_dir, name, sets), name=name, namespace="default",
                                      is_install=True)
            crd_texts = [str(c.get("data") or "") for c in loaded.crds]
        objects = [doc for path in sorted(manifests) if not path.endswith("NOTES.txt")
                   for doc in yaml.safe_load_all(manifests[path]) if doc]
        crds = [doc for text in crd_texts for doc in yaml.safe_load_all(text) if doc]
        self._cache[key] = Rendered(objects, crds)
        return self._cache[key]
