"""digit-tui renders what Helm renders with DIGIT's deployer's inputs, object for object.

The reference is helm-python-sdk called directly, the way ``egov-deployer`` calls
``helm template`` for each service entry of the real v2.8 release (all 13 ``m_``
modules): ``-f <env> -f <secrets> [-f <service>-values.yaml]`` merged as Helm's
``mergeMaps`` does, ``--set name=S,image.tag=T,initContainers.dbMigration.image.tag=T``
through Helm's own ``--set`` parser, the chart's ``file://`` dependency built by Helm
(``helm dependency update``) in a copy of the charts, release name S, namespace
``default``. It shares no code with digit-tui's pipeline. ``render_release`` output is
compared before any API conversion (it converts nothing).

The common chart stamps ``deployment-timestamp`` with the render time; that one
annotation is masked.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.realtree import real_tree

ENV = "deploy-as-code/helm/environments/single-instance.yaml"
RELEASE = "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"
TIMESTAMP = "deployment-timestamp"
Obj = dict[str, Any]


def helm_merge(dst: Obj, src: Obj) -> Obj:
    """Helm's ``mergeMaps`` (pkg/cli/values/options.go): maps merge key by key, the rest replaces."""
    out = dict(dst)
    for key, value in src.items():
        out[key] = helm_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def deployer_entries(manifest: Path) -> list[tuple[str, str | None]]:
    """The service entries DIGIT's deployer deploys, in its order: every ``m_`` module and,
    depth first with a visited set, its dependencies (unknown ones ignored)."""
    import helm_python

    doc = helm_python.values_from_yaml(manifest.read_text(encoding="utf-8"))
    modules = {m["name"]: m for m in doc["modules"]}
    seen: set[str] = set()
    order: list[str] = []

    def visit(name: str) -> None:
        if name in seen or name not in modules:
            return
        seen.add(name)
        for dep in modules[name].get("dependencies") or []:
            visit(dep)
        order.append(name)

    for name in modules:
        if "m_" in name:
            visit(name)
    entries = []
    for module in order:
        for text in modules[module].get("services") or []:
            name, _, tag = text.rsplit("/", 1)[-1].partition(":")
            entries.append((name, tag or None))
    return entries


def masked(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: "<render time>" if k == TIMESTAMP else masked(v) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v) for v in data]
    return data


def canonical(objects: list[Obj]) -> list[str]:
    return sorted(yaml.safe_dump(masked(o), sort_keys=True) for o in objects)


class HelmReference:
    """``helm template`` per service through helm-python-sdk, on a private copy of the charts."""

    def __init__(self, charts: Path, work: Path, env: Path, secrets: Path) -> None:
        import helm_python

        self.helm = helm_python
        self.charts = work / "charts"
        shutil.copytree(charts, self.charts)
        self.chart_of: dict[str, Path] = {}
        for values in sorted(self.charts.rglob("*values.yaml")):
            if values.name == "values.yaml":
                self.chart_of.setdefault(values.parent.name, values.parent)
            else:
                self.chart_of[values.name[: -len("-values.yaml")]] = values.parent
        self.base = helm_merge(self._file(env), self._file(secrets))
        self.built: set[Path] = set()

    def _file(self, path: Path) -> Obj:
        return self.helm.values_from_yaml(path.read_text(encoding="utf-8"))

    def render(self, name: str, tag: str | None) -> list[Obj]:
        chart = self.chart_of[name]
        if chart not in self.built:
            self.helm.dependency_update(chart, skip_refresh=True)   # packages file://../../common
            self.built.add(chart)
        values = copy.deepcopy(self.base)
        own = chart / f"{name}-values.yaml"
        if own.is_file():
            values = helm_merge(values, self._file(own))
        sets = f"name={name}" + (f",image.tag={tag},initContainers.dbMigration.image.tag={tag}" if tag else "")
        values = helm_merge(values, self.helm.parse_set_string(sets))
        with self.helm.Chart.load(chart) as loaded:
            manifests = loaded.render(values, name=name, namespace="default", is_install=True)
            crds = [d for c in loaded.crds for d in yaml.safe_load_all(str(c.get("data") or "")) if d]
        return crds + [d for path in sorted(manifests) if not path.endswith("NOTES.txt")
                       for d in yaml.safe_load_all(manifests[path]) if d]


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Obj]], dict[str, list[Obj]], Path]:
    from digit_tui.digit.envinputs import EnvInputs
    from digit_tui.digit.manifest import load_manifest
    from digit_tui.digit.pipeline import render_release
    from digit_tui.digit.render import make_renderer
    from digit_tui.digit.secretsfile import write_secrets_file

    tree = real_tree(tmp_path_factory)
    work = tmp_path_factory.mktemp("helm-equivalence")
    env = tree / ENV
    secrets = write_secrets_file(EnvInputs(environment="single-instance", domain="digit.digit.org",
                                           db_host="postgres.egov"), work / "generated")
    manifest = tree / RELEASE

    reference = HelmReference(tree / "deploy-as-code" / "helm" / "charts", work, env, secrets)
    helm: dict[str, list[Obj]] = {"cluster-configs": reference.render("cluster-configs", None)}
    for name, tag in deployer_entries(manifest):
        helm[name] = reference.render(name, tag)      # a later entry of the same service wins

    release = load_manifest(manifest)
    with make_renderer("sdk") as renderer:
        ours = {s.name: s.crds + s.objects
                for s in render_release(tree, release, release.selectable(), env, secrets, renderer)}
    return helm, ours, manifest


def test_every_service_renders_exactly_what_helm_renders_with_the_deployers_inputs(renders) -> None:
    helm, ours, _ = renders
    assert set(helm) <= set(ours)
    differ = [name for name in helm if canonical(helm[name]) != canonical(ours[name])]
    assert differ == []
    # Not vacuous: cluster-configs, a backbone chart, a service of a shared chart through its
    # <service>-values.yaml, and core services were compared, with all their objects.
    assert {"cluster-configs", "nginx-ingress", "kafka-v2", "elasticsearch-data-v1", "elasticsearch-master-v1",
            "egov-user", "egov-mdms-service", "zuul"} <= set(helm)
    assert len(helm) >= 79 and sum(len(v) for v in helm.values()) >= 250
    kinds = {o["kind"] for name in ("elasticsearch-data-v1", "cluster-configs") for o in ours[name]}
    assert {"StatefulSet", "ConfigMap", "Secret", "Namespace"} <= kinds


def test_digit_tui_deploys_the_platform_modules_the_deployer_reaches_no_m_module_from(renders) -> None:
    """The one difference in *what* is rendered: digit-tui always deploys every platform module
    (no ``m_`` in its name); the deployer only those an ``m_`` module depends on. In v2.8 that is
    ``utilities`` and ``Other``: their five services are rendered by digit-tui only."""
    helm, ours, _ = renders
    assert set(ours) - set(helm) == {"egov-custom-consumer", "egov-pdf", "egov-user-event", "inbox",
                                     "turn-io-adapter"}
