"""Which chart renders which service, following DIGIT-DevOps' naming rule.

Every ``values.yaml`` names a service after its chart directory; every
``<service>-values.yaml`` names ``<service>``. One chart directory may therefore
serve several services (the ``elasticsearch`` chart serves
``elasticsearch-data-v1`` and ``elasticsearch-master-v1``). Library charts
(``type: library``, e.g. ``common``) render nothing and name no service.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digit_tui.digit.helmyaml import parse_plain_mapping, read_text
from digit_tui.errors import InputError

VALUES = "values.yaml"
VALUES_SUFFIX = "-values.yaml"
# Directories inside a chart that hold vendored subcharts or templates, never service charts.
_SKIP_DIRS = {"templates", "charts", "crds", ".git"}


@dataclass(frozen=True)
class ChartRef:
    """The chart and values file that render one service."""

    service: str
    chart_dir: Path
    values_file: Path

    @property
    def shared_chart(self) -> bool:
        """True when the values file is ``<service>-values.yaml`` rather than the chart's own."""
        return self.values_file.name != VALUES


@dataclass
class ChartIndex:
    charts_root: Path
    entries: dict[str, ChartRef] = field(default_factory=dict)
    duplicates: dict[str, list[Path]] = field(default_factory=dict)
    chart_dirs: list[Path] = field(default_factory=list)        # every service chart found
    library_dirs: dict[str, Path] = field(default_factory=dict) # chart name -> dir

    @classmethod
    def build(cls, charts_root: str | os.PathLike[str]) -> ChartIndex:
        root = Path(charts_root).resolve()
        if not root.is_dir():
            raise InputError("charts folder not found", path=root, expected="a directory of Helm charts")
        index = cls(charts_root=root)
        for chart_dir in _chart_dirs(root):
            meta = _chart_meta(chart_dir)
            # DIGIT's common chart is a helper library even where its Chart.yaml omits the type.
            if meta.get("type") == "library" or chart_dir.name == "common":
                index.library_dirs[str(meta.get("name") or chart_dir.name)] = chart_dir
                continue
            index.chart_dirs.append(chart_dir)
            for values in sorted(chart_dir.iterdir()):
                if not values.is_file():
                    continue
                if values.name == VALUES:
                    index._add(chart_dir.name, chart_dir, values)
                elif values.name.endswith(VALUES_SUFFIX) and len(values.name) > len(VALUES_SUFFIX):
                    index._add(values.name[: -len(VALUES_SUFFIX)], chart_dir, values)
        return index

    def _add(self, service: str, chart_dir: Path, values: Path) -> None:
        if service in self.entries:
            self.duplicates.setdefault(service, [self.entries[service].values_file]).append(values)
            return
        self.entries[service] = ChartRef(service=service, chart_dir=chart_dir, values_file=values)

    def services(self) -> list[str]:
        return sorted(self.entries)

    def chart_folders(self) -> list[str]:
        """The folders searched, relative to the charts root (what an error message shows)."""
        top = self.charts_root.name
        groups = sorted({d.parent.relative_to(self.charts_root).as_posix() for d in self.chart_dirs})
        return [top if g == "." else f"{top}/{g}" for g in groups]

    def near_matches(self, service: str, n: int = 3) -> list[str]:
        """Service names this tree has charts for that look like ``service`` (a typo, a renamed chart)."""
        close = difflib.get_close_matches(service, list(self.entries), n=n)
        # "kafka" is not close enough to "kafka-v2" for difflib; a shared stem is a good hint too.
        stem = [s for s in sorted(self.entries) if s not in close and
                (s.startswith(service + "-") or service.startswith(s + "-"))]
        return (close + stem)[:n]

    def lookup(self, service: str) -> ChartRef:
        if service in self.duplicates:
            where = ", ".join(str(p.relative_to(self.charts_root)) for p in self.duplicates[service])
            raise InputError(f"service {service!r} is named by more than one values file: {where}",
                             path=self.charts_root, expected="one values file per service name")
        ref = self.entries.get(service)
        if ref is not None:
            return ref
        folders = ", ".join(self.chart_folders()) or "(no charts)"
        close = self.near_matches(service)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(
            f"no chart for service {service!r}: no chart directory named {service} with a values.yaml "
            f"and no {service}{VALUES_SUFFIX} in the chart folders searched ({folders}, "
            f"under {self.charts_root.parent}){hint}",
            expected=f"charts/<group>/{service}/values.yaml or <chart>/{service}{VALUES_SUFFIX}",
        )


def _chart_dirs(root: Path) -> list[Path]:
    """Directories holding a Chart.yaml; a chart's own subfolders are not searched further."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if "Chart.yaml" in filenames:
            found.append(here)
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
    return sorted(found)


def _chart_meta(chart_dir: Path) -> dict[str, Any]:
    # Helm's own parser for what libyaml refuses: a Chart.yaml Helm loads must not stop the index.
    path = chart_dir / "Chart.yaml"
    return parse_plain_mapping(read_text(path, role="Chart.yaml"), path=path, role="Chart.yaml")[0]
