"""The real DIGIT-DevOps snapshot (commit 45790f3f3f5c, 20 release manifests, 185 charts) through
digit-tui: `check-source` reports every release as deployable or with its complete list of problems,
and v2.8 with all 13 m_ modules renders its 84 services.

The expected problems below were checked against the files by hand: v2.6 really has an indentation
error at line 60, quickstart-v2.4 really names `zookeeper` and `kafka` (the tree has `zookeeper-v2`
and `kafka-v2`), and the releases whose `zuul` (and, in three of them, BPA and fire-NOC services)
carry no tag really depend on the common chart's "Tag is mandatory".
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from digit_tui import cli, exitcodes
from digit_tui.digit.envfile import write_env_file
from digit_tui.digit.envinputs import EnvInputs
from digit_tui.digit.manifest import load_manifest
from digit_tui.digit.pipeline import CLUSTER_CONFIGS, render_release
from digit_tui.digit.render import make_renderer
from digit_tui.digit.secretsfile import write_secrets_file
from digit_tui.digit.selection import IN_CLUSTER_DB_HOST
from tests.realtree import real_tree

RELEASES = "deploy-as-code/helm/product-release-charts"
ZUUL = ("zuul",)
BPA_FIRENOC = ("zuul", "bpa-calculator", "bpa-services", "firenoc-calculator", "firenoc-services")
WS = ("ws-calculator", "ws-services")

# manifest -> (errors as (kind, line, services), services listed more than once)
EXPECTED: dict[str, tuple[set[tuple[str, int, tuple[str, ...]]], tuple[str, ...]]] = {
    "DIGIT/dependancy_chart-digit-v2.0.yaml": (set(), WS),
    "DIGIT/dependancy_chart-digit-v2.1.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "DIGIT/dependancy_chart-digit-v2.2.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "DIGIT/dependancy_chart-digit-v2.6.yaml": ({("yaml", 60, ())}, ()),
    "DIGIT/dependancy_chart-digit-v2.7.yaml": (set(), ()),
    "DIGIT/dependancy_chart-digit-v2.8.yaml": (set(), ("zuul",)),
    "Urban/dependancy_chart-fsm-v2.3.yaml": ({("missing-tag", 17, BPA_FIRENOC)}, WS),
    "Urban/dependancy_chart-quickstart-v2.4.yaml": ({("missing-chart", 5, ("zookeeper",)),
                                                     ("missing-chart", 6, ("kafka",))}, ()),
    "Urban/dependancy_chart-urban-v2.0.yaml": (set(), WS),
    "Urban/dependancy_chart-urban-v2.1.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "Urban/dependancy_chart-urban-v2.2.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "Urban/dependancy_chart-urban-v2.3.yaml": ({("missing-tag", 17, BPA_FIRENOC)}, WS),
    "Urban/dependancy_chart-urban-v2.4.yaml": (set(), WS),
    "iFix/dependancy_chart-ifix-v2.0.yaml": (set(), WS),
    "iFix/dependancy_chart-ifix-v2.1.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "iFix/dependancy_chart-ifix-v2.2.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "mgramseva/dependancy_chart-mgramseva-v1.0.yaml": ({("missing-tag", 17, BPA_FIRENOC)}, WS),
    "mgramseva/dependancy_chart-mgramseva-v2.0.yaml": (set(), WS),
    "mgramseva/dependancy_chart-mgramseva-v2.1.yaml": ({("missing-tag", 17, ZUUL)}, WS),
    "mgramseva/dependancy_chart-mgramseva-v2.2.yaml": ({("missing-tag", 17, ZUUL)}, WS),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_tree(tmp_path_factory)


def run_cli(args: list[str]) -> tuple[int, str]:
    """``digit-tui ARGS`` in-process: (exit code, stdout)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(args)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def report(tree: Path) -> dict:
    """The whole tree checked once: the JSON report, plus the exit code as ``_exit``."""
    code, out = run_cli(["check-source", "--source", str(tree), "--json"])
    data = json.loads(out)
    data["_exit"] = code
    return data


def by_manifest(report: dict) -> dict[str, dict]:
    return {r["manifest"].removeprefix(RELEASES + "/"): r for r in report["releases"]}


def test_check_source_reports_every_release_with_its_complete_list_of_problems(report: dict) -> None:
    releases = by_manifest(report)
    assert sorted(releases) == sorted(EXPECTED)
    assert report["_exit"] == exitcodes.FAILED and report["deployable"] is False
    for name, (errors, duplicated) in EXPECTED.items():
        r = releases[name]
        got = {(p["kind"], p["line"], tuple(p["services"]) or ((p["service"],) if p["service"] else ()))
               for p in r["problems"] if p["severity"] == "error"}
        assert got == errors, name
        assert r["deployable"] is (not errors), name
        dups = tuple(p["service"] for p in r["problems"] if p["kind"] == "duplicate-service")
        assert dups == duplicated, name
        assert all(p["severity"] == "warning" for p in r["problems"] if p["kind"] == "duplicate-service")
        if not errors:
            assert r["rendered"] == r["services"], name


def test_the_reported_problems_say_what_an_operator_needs(report: dict) -> None:
    releases = by_manifest(report)
    [yaml_error] = releases["DIGIT/dependancy_chart-digit-v2.6.yaml"]["problems"]
    assert "YAML syntax error at line 60: did not find expected '-' indicator" in yaml_error["message"]

    quick = {p["service"]: p["message"] for p in releases["Urban/dependancy_chart-quickstart-v2.4.yaml"]["problems"]
             if p["kind"] == "missing-chart"}
    assert "near matches: zookeeper-v2" in quick["zookeeper"] and "near matches: kafka-v2" in quick["kafka"]

    v28 = releases["DIGIT/dependancy_chart-digit-v2.8.yaml"]
    [zuul] = [p for p in v28["problems"] if p["kind"] == "duplicate-service"]
    assert zuul["severity"] == "warning"
    assert "line 17 (authn-authz, v1.3.1-96b24b0d72-39), line 29 (core, v1.3.2-6cfa52c1f9-1)" in zuul["message"]
    [untagged] = [p for p in v28["problems"] if p["kind"] == "untagged"]
    assert {"kafka-v2", "redis", "nginx-ingress"} <= set(untagged["services"])
    [converted] = [p for p in v28["problems"] if p["kind"] == "conversion"]
    assert "Ingress extensions/v1beta1 -> networking.k8s.io/v1" in converted["message"]
    assert "Kubernetes 1.30" in converted["message"]

    [ws] = [p for p in releases["DIGIT/dependancy_chart-digit-v2.2.yaml"]["problems"]
            if p["service"] == "ws-calculator"]
    assert "listed 5 times: line 108 (m_water-service" in ws["message"] and "line 132 (m_dss" in ws["message"]

    [tags] = [p for p in releases["Urban/dependancy_chart-urban-v2.3.yaml"]["problems"] if p["kind"] == "missing-tag"]
    assert "Tag is mandatory" in tags["message"]
    assert "digit.tags: {zuul: <tag>, bpa-calculator: <tag>, bpa-services: <tag>}" in tags["message"]


def test_check_source_of_one_release_prints_its_problems(tree: Path) -> None:
    code, out = run_cli(["check-source", "--source", str(tree), "--release",
                         "product-release-charts/DIGIT/dependancy_chart-digit-v2.6.yaml"])
    assert code == exitcodes.FAILED
    assert f"{RELEASES}/DIGIT/dependancy_chart-digit-v2.6.yaml: NOT deployable (1 error)" in out
    assert "error   line 60: release manifest: YAML syntax error at line 60" in out
    assert out.rstrip().endswith("0 of 1 release deployable")


def test_v28_with_all_13_modules_renders_84_services(tree: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tree / RELEASES / "DIGIT" / "dependancy_chart-digit-v2.8.yaml")
    assert len(manifest.selectable()) == 13
    inputs = EnvInputs(environment="real-tree", domain="digit.example.com", db_host=IN_CLUSTER_DB_HOST)
    env, secrets = write_env_file(inputs, tmp_path), write_secrets_file(inputs, tmp_path)
    with make_renderer("sdk") as renderer:
        rendered = render_release(tree, manifest, manifest.selectable(), env, secrets, renderer)
    assert len(rendered) == 84 and rendered[0].name == CLUSTER_CONFIGS
    names = [s.name for s in rendered]
    assert len(set(names)) == 84 and "nginx-ingress" in names          # the values file with trailing tabs
    zuul = next(s for s in rendered if s.name == "zuul")
    images = [c["image"] for o in zuul.objects if o["kind"] == "Deployment"
              for c in o["spec"]["template"]["spec"]["containers"]]
    assert any(i.endswith(":v1.3.2-6cfa52c1f9-1") for i in images)     # the later entry's tag
    assert zuul.module == "authn-authz"                                # at the first entry's place


def test_an_external_database_by_ip_renders_digits_db_service_and_endpoints(tree: Path, tmp_path: Path) -> None:
    """DIGIT's cluster-configs renders ``toYaml db-ips`` under the Endpoints' addresses: each entry
    an EndpointAddress; the generated env file gives it that shape (and the port it targets)."""
    manifest = load_manifest(tree / RELEASES / "DIGIT" / "dependancy_chart-digit-v2.8.yaml")
    inputs = EnvInputs(environment="real-tree", domain="digit.example.com", db_host="", db_ips=("10.20.0.31",),
                       db_port=5433)
    env, secrets = write_env_file(inputs, tmp_path), write_secrets_file(inputs, tmp_path)
    from digit_tui.digit.pipeline import release_order

    others = set(release_order(manifest, [])) - {CLUSTER_CONFIGS}     # only cluster-configs is rendered
    with make_renderer("sdk") as renderer:
        [configs] = render_release(tree, manifest, [], env, secrets, renderer, skip=others)
    by_kind = {(o["kind"], o["metadata"]["name"]): o for o in configs.objects}
    endpoints = by_kind[("Endpoints", "db-service")]
    assert endpoints["metadata"]["namespace"] == "egov"
    assert endpoints["subsets"][0]["addresses"] == [{"ip": "10.20.0.31"}]
    assert endpoints["subsets"][0]["ports"] == [{"port": 5433}]
    assert by_kind[("Service", "db-service")]["spec"]["ports"][0]["targetPort"] == 5433
