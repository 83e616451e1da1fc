"""The real DIGIT-DevOps releases installed headless on the sandbox (Kubernetes 1.30), with every
`m_` module, through the real CLI and the generated environment, and checked with the real kubectl:
every Deployment, StatefulSet, DaemonSet and Job ready, the removed APIs converted, and a rerun that
applies nothing. v2.8 (zuul listed twice), v2.7, and v2.2 (ws-calculator and ws-services listed
five times, zuul untagged: its tag comes from digit.tags, and redis takes the tag of a Deployment
another deployer left running).

The snapshot is ../shared/real-digit (``$DIGIT_REAL_TREE_TARBALL``, set by `make test`); without it
these tests skip, naming the path they looked for.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.realtree import real_tree

from .conftest import Install

KUBECTL = "/usr/bin/kubectl"
# Relative to the tree's root: find_release also takes it relative to deploy-as-code/helm, but answers
# validation looks for the file under the root only.
RELEASES = "deploy-as-code/helm/product-release-charts/DIGIT"
# v2.8 with every module asks for 53 Gi of memory (and v2.2 with its 3-replica backbone about as much):
# more than the 3 nodes of 16 Gi of the usual fixture.
NODES = 5
INSTALL_TIMEOUT = 400.0
ZUUL_TAG = "v1.3.1-96b24b0d72-39"
LEGACY_REDIS_TAG = "3.2.99"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_tree(tmp_path_factory)


@pytest.fixture
def big_cluster(tmp_path: Path) -> Iterator[Any]:
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "sandbox", nodes=NODES, speed=50.0) as handle:
        yield handle


def m_modules(tree: Path, manifest: str) -> list[str]:
    from digit_tui.digit.manifest import load_manifest

    path = tree / RELEASES / manifest
    return [m for m in load_manifest(path).selectable() if m.startswith("m_")]


def write_answers(inst: Install, tree: Path, manifest: str, tags: dict[str, str] | None = None, *,
                  cluster: bool = True) -> list[str]:
    modules = m_modules(tree, manifest)
    digit: dict[str, Any] = {"domain": "digit.local", "source": {"path": str(tree)},
                             "release": f"{RELEASES}/{manifest}", "modules": modules}
    if tags:
        digit["tags"] = tags
    target = {"provider": "sandbox", **({"kubeconfig": str(inst.kubeconfig)} if cluster else {})}
    doc = {"environment": "dev", "target": target, "digit": digit}
    inst.answers.write_text(yaml.safe_dump(doc, sort_keys=False))
    return modules


def kubectl(inst: Install, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(inst.kubeconfig), "--cache-dir", str(inst.tmp / "kcache"),
                           "--request-timeout", "20s", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def kget(inst: Install, *args: str) -> dict[str, Any]:
    r = kubectl(inst, "get", *args, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)  # type: ignore[no-any-return]


def ready(item: dict[str, Any]) -> bool:
    status, spec = item.get("status") or {}, item.get("spec") or {}
    if item["kind"] == "Job":
        return bool(status.get("succeeded"))
    if item["kind"] == "DaemonSet":
        return status.get("numberReady", 0) == status.get("desiredNumberScheduled", -1)
    return status.get("readyReplicas", 0) == spec.get("replicas", 1)


def workloads(inst: Install) -> tuple[list[dict[str, Any]], list[str]]:
    """Every Deployment, StatefulSet, DaemonSet and Job in the cluster, and the ones not ready."""
    items = kget(inst, "deployments,statefulsets,daemonsets,jobs", "-A")["items"]
    return items, [f"{i['kind']} {i['metadata']['namespace']}/{i['metadata']['name']}" for i in items if not ready(i)]


def image_of(inst: Install, namespace: str, name: str) -> str:
    dep = kget(inst, "deployment", name, "-n", namespace)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def rendered_services(inst: Install) -> list[str]:
    index = json.loads((inst.state / "rendered" / "index.json").read_text())
    return [s["name"] for s in index["services"]]


def install_and_check(inst: Install) -> list[dict[str, Any]]:
    """Install, check every workload with kubectl, rerun: nothing applied."""
    proc, took = inst.install(timeout=INSTALL_TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "install complete" in proc.stderr
    items, not_ready = workloads(inst)
    assert not_ready == []
    again, _ = inst.install(timeout=INSTALL_TIMEOUT)
    assert again.returncode == 0, again.stderr[-4000:]
    assert inst.applied() == set()
    return items


def converted_in_journal(inst: Install, task: str) -> list[str]:
    return [m for t, m in inst.events() if t == task and m.startswith("converted ")]


def test_v2_8_with_every_module_installs_on_1_30_and_a_rerun_applies_nothing(tmp_path: Path, tree: Path,
                                                                           big_cluster: Any) -> None:
    inst = Install(tmp_path, big_cluster.kubeconfig_path)
    modules = write_answers(inst, tree, "dependancy_chart-digit-v2.8.yaml")
    assert len(modules) == 13
    try:
        proc, _ = inst.install(timeout=INSTALL_TIMEOUT)
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert len(rendered_services(inst)) == 84
        items, not_ready = workloads(inst)
        assert not_ready == []
        assert sum(i["kind"] == "Deployment" for i in items) >= 75
        # the duplicate zuul: the later entry (core) wins, as with DIGIT's deployer
        assert image_of(inst, "egov", "zuul") == "egovio/zuul:v1.3.2-6cfa52c1f9-1"

        # the charts' extensions/v1beta1 Ingresses are in the cluster as networking.k8s.io/v1
        ingresses = kget(inst, "ingresses.networking.k8s.io", "-A")["items"]
        assert len(ingresses) == 66
        root = next(i for i in ingresses if i["metadata"]["name"] == "root-ingress")
        backends = [p["backend"] for r in root["spec"]["rules"] for p in r["http"]["paths"]]
        assert backends and all(b["service"]["name"] for b in backends)
        crd = kget(inst, "crd", "certificates.certmanager.k8s.io")
        assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
        assert kget(inst, "clusterissuers.certmanager.k8s.io")["items"]
        assert converted_in_journal(inst, "cluster-configs") == [
            "converted 1 object: 1 Ingress extensions/v1beta1 -> networking.k8s.io/v1 "
            "(for the API versions the cluster serves)"]
        assert any("6 CustomResourceDefinition apiextensions.k8s.io/v1beta1 -> apiextensions.k8s.io/v1" in m
                   for m in converted_in_journal(inst, "cert-manager"))

        again, _ = inst.install(timeout=INSTALL_TIMEOUT)
        assert again.returncode == 0, again.stderr[-4000:]
        assert inst.applied() == set()
        assert workloads(inst)[1] == []

        plan = inst.cli("plan", "--answers", str(inst.answers), "--state-dir", str(inst.state))
        assert plan.returncode == 0, plan.stderr
        assert "converted 94 objects: 66 Ingress extensions/v1beta1 -> networking.k8s.io/v1" in plan.stdout
    finally:
        inst.kill_engine()


def test_v2_7_with_every_module_installs_and_a_rerun_applies_nothing(tmp_path: Path, tree: Path,
                                                                    big_cluster: Any) -> None:
    inst = Install(tmp_path, big_cluster.kubeconfig_path)
    assert len(write_answers(inst, tree, "dependancy_chart-digit-v2.7.yaml")) == 13
    try:
        items = install_and_check(inst)
        assert len(rendered_services(inst)) == 84
        assert sum(i["kind"] == "StatefulSet" for i in items) == 4
    finally:
        inst.kill_engine()


LEGACY_REDIS = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: legacy}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: redis, namespace: legacy, labels: {{app: redis}}}}
spec:
  selector: {{matchLabels: {{app: redis}}}}
  template:
    metadata: {{labels: {{app: redis}}}}
    spec:
      containers: [{{name: redis, image: "egovio/redis:{LEGACY_REDIS_TAG}"}}]
"""


def test_v2_2_with_duplicates_a_tag_from_the_answers_and_one_running_installs(tmp_path: Path, tree: Path,
                                                                             big_cluster: Any) -> None:
    inst = Install(tmp_path, big_cluster.kubeconfig_path)
    # zuul has no tag in v2.2 and the common chart refuses it without one: the answers give it
    modules = write_answers(inst, tree, "dependancy_chart-digit-v2.2.yaml", tags={"zuul": ZUUL_TAG})
    assert len(modules) == 12
    # a redis another deployer left running: untagged in the manifest, it keeps that tag
    applied = kubectl(inst, "apply", "-f", "-", stdin=LEGACY_REDIS)
    assert applied.returncode == 0, applied.stderr
    try:
        install_and_check(inst)
        names = rendered_services(inst)
        assert len(names) == 64 and names.count("ws-calculator") == 1 and names.count("ws-services") == 1
        assert image_of(inst, "egov", "zuul") == f"egovio/zuul:{ZUUL_TAG}"
        assert image_of(inst, "backbone", "redis") == f"egovio/redis:{LEGACY_REDIS_TAG}"
        record = json.loads(kget(inst, "configmap", "digit-tui-release", "-n", "egov")["data"]["services.json"])
        assert record["redis"]["tag"] == LEGACY_REDIS_TAG and record["zuul"]["tag"] == ZUUL_TAG
        notes = [m for t, m in inst.events(every_run=True) if t == "render" and m.startswith("untagged services:")]
        assert notes and f"redis:{LEGACY_REDIS_TAG}" in notes[-1]
    finally:
        inst.kill_engine()


# -- `digit-tui render`: converted offline for --kube-version, or left as Helm wrote it -----------------

def render(inst: Install, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return inst.cli("render", "--answers", str(inst.answers), "--out", str(out), "--state-dir", str(inst.state),
                    *extra)


def api_versions(out: Path, kind: str) -> set[str]:
    return {d["apiVersion"] for f in out.glob("*.yaml") if f.name != "index.yaml"
            for d in yaml.safe_load_all(f.read_text()) if d and d.get("kind") == kind}


def test_render_converts_for_the_kube_version_and_no_convert_keeps_helms_output(tmp_path: Path, tree: Path) -> None:
    inst = Install(tmp_path, tmp_path / "no-kubeconfig")     # render never contacts a cluster
    write_answers(inst, tree, "dependancy_chart-digit-v2.8.yaml", cluster=False)

    default = render(inst, tmp_path / "out-1.30")
    assert default.returncode == 0, default.stderr
    assert ("digit-tui: converted 94 objects: 66 Ingress extensions/v1beta1 -> networking.k8s.io/v1, "
            "8 ClusterRole rbac.authorization.k8s.io/v1beta1 -> rbac.authorization.k8s.io/v1") in default.stderr
    assert "(for Kubernetes 1.30)" in default.stderr
    assert api_versions(tmp_path / "out-1.30", "Ingress") == {"networking.k8s.io/v1"}
    assert api_versions(tmp_path / "out-1.30", "CustomResourceDefinition") == {"apiextensions.k8s.io/v1"}
    index = yaml.safe_load((tmp_path / "out-1.30" / "index.yaml").read_text())
    assert len(index["services"]) == 84

    # a cluster of 1.21 still serves every API these charts use
    old = render(inst, tmp_path / "out-1.21", "--kube-version", "1.21", "--modules", "m_pgr")
    assert old.returncode == 0, old.stderr
    assert "digit-tui: converted 0 objects (for Kubernetes 1.21)" in old.stderr
    assert api_versions(tmp_path / "out-1.21", "Ingress") == {"extensions/v1beta1"}

    raw = render(inst, tmp_path / "out-raw", "--no-convert", "--modules", "m_pgr")
    assert raw.returncode == 0, raw.stderr
    assert "converted" not in raw.stderr
    assert api_versions(tmp_path / "out-raw", "PodDisruptionBudget") == {"policy/v1beta1"}

    bad = render(inst, tmp_path / "out-bad", "--kube-version", "2.0")
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "--kube-version" in bad.stderr
    assert not (tmp_path / "out-bad").exists()
