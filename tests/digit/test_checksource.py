"""`digit-tui check-source` on a small DIGIT-shaped tree: every problem at once, exit codes, the JSON
report, and the release layouts (deploy-as-code/helm and config-as-code product-release-charts)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil

import pytest

from digit_tui import cli, exitcodes
from digit_tui.digit.source import locate

from .conftest import Tree, write


def check(*args: str) -> tuple[int, str, str]:
    """``digit-tui check-source ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["check-source", *args])
    return code, out.getvalue(), err.getvalue()


def with_env(tree: Tree) -> list[str]:
    return ["--env-file", str(tree.env_file), "--secrets-file", str(tree.secrets_file)]


def test_a_deployable_tree_exits_0(digit_tree: Tree) -> None:
    code, out, _ = check("--source", str(digit_tree.root), *with_env(digit_tree))
    assert code == exitcodes.OK, out
    assert "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v0.1.yaml " \
           "(v0.1, 6 of 6 services rendered): deployable" in out
    assert "warning line 5: 2 services without a tag: elasticsearch-data-v1 (line 5)" in out
    assert out.rstrip().endswith("1 of 1 release deployable")


def test_every_problem_of_a_release_is_listed_at_once(digit_tree: Tree) -> None:
    text = digit_tree.manifest.read_text()
    text = text.replace('"egovio/egov-mdms-service:v1.3.2-abc1234-7"', "egov-mdms-servise:v1")     # typo
    text = text.replace('"pgr-services:v1.1.0-0a1b2c3-1"', "pgr-services")                          # no tag
    text = text.replace("dependencies: [core]\n", "dependencies: [core, m_pgr, kore]\n")               # cycle, unknown
    text += '      - "egovio/egov-user:v1.2.1-aaa-1"\n'                                                  # duplicate
    digit_tree.manifest.write_text(text)
    write(digit_tree.charts / "core" / "egov-user" / "templates" / "hpa.yaml", "a: {{ if }}\n")       # render error
    code, out, _ = check("--source", str(digit_tree.root), *with_env(digit_tree), "--json")
    assert code == exitcodes.FAILED
    [release] = json.loads(out)["releases"]
    assert release["deployable"] is False
    problems = {(p["severity"], p["kind"], p["line"]): p for p in release["problems"]}
    assert set(problems) == {
        ("error", "missing-chart", 10), ("error", "render", 19), ("error", "missing-tag", 18),
        ("warning", "unknown-dependency", 14), ("warning", "cycle", 16), ("warning", "duplicate-service", 19),
        ("warning", "untagged", 5),
    }
    assert "egov-mdms-servise" in problems[("error", "missing-chart", 10)]["message"]
    assert "near matches: egov-mdms-service" in problems[("error", "missing-chart", 10)]["message"]
    assert "template templates/hpa.yaml line 1" in problems[("error", "render", 19)]["message"]
    assert problems[("error", "missing-tag", 18)]["services"] == ["pgr-services"]
    assert "digit.tags: {pgr-services: <tag>}" in problems[("error", "missing-tag", 18)]["message"]
    # walked in file order: business -> m_pgr, then m_pgr -> business (line 16) closes the cycle
    assert "business -> m_pgr -> business" in problems[("warning", "cycle", 16)]["message"]


def test_with_no_env_file_a_preview_environment_is_generated(digit_tree: Tree) -> None:
    before = sorted(p.name for p in digit_tree.env_file.parent.iterdir())
    code, out, _ = check("--source", str(digit_tree.root), "--json")
    report = json.loads(out)
    assert report["environment"] == "a preview environment"
    assert code == exitcodes.OK, out
    assert sorted(p.name for p in digit_tree.env_file.parent.iterdir()) == before   # nothing written into the tree


def test_objects_needing_conversion_are_listed_for_the_kube_version(digit_tree: Tree) -> None:
    write(digit_tree.charts / "core" / "egov-user" / "templates" / "ingress.yaml", """
        apiVersion: extensions/v1beta1
        kind: Ingress
        metadata: {name: egov-user, namespace: egov}
        spec:
          rules:
          - http:
              paths:
              - path: /user
                backend: {serviceName: egov-user, servicePort: 8080}
        """)
    code, out, _ = check("--source", str(digit_tree.root), *with_env(digit_tree), "--kube-version", "1.30")
    assert code == exitcodes.OK
    assert ("note    converted 1 object: 1 Ingress extensions/v1beta1 -> networking.k8s.io/v1 "
            "for Kubernetes 1.30") in out
    code, out, _ = check("--source", str(digit_tree.root), *with_env(digit_tree), "--kube-version", "1.18")
    assert "converted" not in out


@pytest.mark.parametrize("args,message", [
    (["--source", "{root}/nowhere"], "DIGIT-DevOps source directory not found"),
    (["--source", "{root}", "--release", "dependancy_chart-digit-v9.yaml"], "release manifest "
                                                                             "dependancy_chart-digit-v9.yaml not found"),
    (["--source", "{root}", "--kube-version", "2.0"], "not a Kubernetes version: '2.0'"),
    (["--source", "{root}", "--secrets-file", "x.yaml"], "--secrets-file needs --env-file"),
    (["--source", "https://example.org/DIGIT-DevOps.git"], "check-source reads a local tree"),
])
def test_bad_arguments_exit_2_with_one_line(digit_tree: Tree, args: list[str], message: str) -> None:
    code, out, err = check(*(a.format(root=digit_tree.root) for a in args))
    assert code == exitcodes.BAD_INPUT and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_release_manifests_in_config_as_code_are_found(digit_tree: Tree) -> None:
    moved = digit_tree.root / "config-as-code" / "product-release-charts" / "DIGIT" / digit_tree.manifest.name
    moved.parent.mkdir(parents=True)
    shutil.move(digit_tree.manifest, moved)
    (digit_tree.root / "deploy-as-code" / "helm" / "product-release-charts" / "DIGIT").rmdir()
    (digit_tree.root / "deploy-as-code" / "helm" / "product-release-charts").rmdir()
    for pointed in (digit_tree.root, digit_tree.root / "deploy-as-code" / "helm"):
        source = locate(pointed)
        assert source.release_manifests() == [moved]
        assert source.find_release("DIGIT/dependancy_chart-digit-v0.1.yaml") == moved
        assert source.find_release("product-release-charts/DIGIT/dependancy_chart-digit-v0.1.yaml") == moved
    code, out, _ = check("--source", str(digit_tree.root), *with_env(digit_tree))
    assert code == exitcodes.OK
    assert "config-as-code/product-release-charts/DIGIT/dependancy_chart-digit-v0.1.yaml (v0.1" in out


def test_both_release_folders_are_listed(digit_tree: Tree) -> None:
    other = digit_tree.root / "config-as-code" / "product-release-charts" / "Health" / "dependancy_chart-health-v1.0.yaml"
    write(other, digit_tree.manifest.read_text())
    source = locate(digit_tree.root)
    assert source.release_manifests() == sorted([digit_tree.manifest.resolve(), other.resolve()])
    # relative to the tree's root and to deploy-as-code/helm
    assert source.find_release("deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v0.1.yaml") \
        == digit_tree.manifest.resolve()
    assert source.find_release("product-release-charts/DIGIT/dependancy_chart-digit-v0.1.yaml") \
        == digit_tree.manifest.resolve()
