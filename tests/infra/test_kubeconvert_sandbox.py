"""Converted real objects are accepted by a Kubernetes 1.30-shaped API server (the project's sandbox),
through the real kubectl with server-side apply; the unconverted ones are refused.

What the cluster serves is read from its discovery (``ServedAPIs.from_kube``), as an install does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.infra.kube import Kube
from digit_tui.infra.kubeconvert import ServedAPIs, convert_objects, needs_conversion
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.infra.realtree import RealCharts
from tests.infra.test_kubeconvert import _as_old_common_deployment, _release_objects
from tests.sandbox.conftest import Kubectl

Obj = dict[str, Any]
# Kinds the sandbox does not serve at all (a real 1.30 cluster does): these stay unconverted here.
NOT_IN_SANDBOX = {"PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox"), nodes=2, speed=50.0) as handle:
        yield handle


def _old_objects(real_charts: RealCharts) -> list[Obj]:
    """Real objects of every removed API the tree has, plus the ones its charts emit on older clusters."""
    objs = _release_objects(real_charts)
    objs += real_charts.render("backbone-services/prometheus-operator").crds
    objs.append(_as_old_common_deployment(real_charts))
    agent = real_charts.render("backbone-services/jaeger").one("DaemonSet", name="jaeger-agent")
    objs.append({**agent, "apiVersion": "extensions/v1beta1"})
    zk = real_charts.render("backbone-services/zookeeper-v2").one("StatefulSet")
    objs.append({**zk, "apiVersion": "apps/v1beta1"})
    objs += real_charts.render("backbone-services/jaeger", {"collector": {"autoscaling": {
        "enabled": True, "targetMemoryUtilizationPercentage": 70}}}).find("HorizontalPodAutoscaler")
    objs += real_charts.render("backbone-services/airflow", {"workers": {"autoscaling": {"enabled": True, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]}}}).find("HorizontalPodAutoscaler")
    sc = real_charts.render("backbone-services/efs").one("StorageClass")
    objs.append({**sc, "apiVersion": "storage.k8s.io/v1beta1"})
    pc = real_charts.render("backbone-services/cost-analyzer", {"priority": {"enabled": True}}).one("PriorityClass")
    objs.append({**pc, "apiVersion": "scheduling.k8s.io/v1beta1"})
    return objs


def _write(path: Path, objs: list[Obj]) -> Path:
    path.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    return path


def test_converted_real_objects_apply_to_a_1_30_cluster(real_charts: RealCharts, sandbox: SandboxHandle,
                                                        tmp_path: Path) -> None:
    kubectl = Kubectl(sandbox, tmp_path / "kubecache")
    with Kube(sandbox.kubeconfig_path) as kube:
        served = ServedAPIs.from_kube(kube)
    assert served.serves("networking.k8s.io/v1", "Ingress") and not served.serves("extensions/v1beta1", "Ingress")
    assert served.serves("policy/v1", "PodDisruptionBudget") and not served.serves("batch/v1beta1", "CronJob")

    everything = _old_objects(real_charts)
    assert {u.ref.kind for u in convert_objects(everything, served).unserved} <= NOT_IN_SANDBOX
    old = [o for o in everything if needs_conversion(o, served)]
    result = convert_objects(old, served)
    assert {d.ref.kind for d in result.dropped} == {"PodSecurityPolicy"} and result.unserved == []
    applied = result.objects
    # The release slice's 37, prometheus-operator's 6 CRDs, 3 workloads, 2 HPAs and a StorageClass.
    assert len(applied) == len(result.converted) == 49
    assert {o["kind"] for o in applied} >= {"Ingress", "Deployment", "DaemonSet", "StatefulSet", "PodDisruptionBudget",
                                           "CronJob", "HorizontalPodAutoscaler", "ClusterRole", "ClusterRoleBinding",
                                           "Role", "RoleBinding", "CustomResourceDefinition", "StorageClass"}

    # An unconverted object is refused, as a real 1.30 cluster refuses it.
    root = next(o for o in old if o["kind"] == "Ingress" and o["metadata"]["name"] == "root-ingress")
    old_file = _write(tmp_path / "old.yaml", [root])
    assert kubectl("apply", "--server-side", "-f", str(old_file), check=False).returncode != 0
    # Without client-side validation kubectl gets as far as mapping the type, and says why.
    refused = kubectl("apply", "--server-side", "--validate=false", "-f", str(old_file), check=False)
    assert refused.returncode != 0 and 'no matches for kind "Ingress" in version "extensions/v1beta1"' in refused.stderr

    for ns in sorted({o["metadata"]["namespace"] for o in applied if o["metadata"].get("namespace")}):
        kubectl("create", "namespace", ns)
    crds = [o for o in applied if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in applied if o["kind"] != "CustomResourceDefinition"]
    kubectl("apply", "--server-side", "-f", str(_write(tmp_path / "crds.yaml", crds)))
    out = kubectl("apply", "--server-side", "-f", str(_write(tmp_path / "converted.yaml", rest))).stdout
    assert out.count("serverside-applied") == len(rest), out

    stored = json.loads(kubectl("get", "-f", str(tmp_path / "crds.yaml"), "-f", str(tmp_path / "converted.yaml"),
                                "-o", "json").stdout)["items"]
    assert sorted((o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in stored) == sorted(
        (o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in applied)
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in stored}
    assert by_name[("Ingress", "root-ingress")]["spec"]["rules"][0]["http"]["paths"][0] == {
        "backend": {"service": {"name": "citizen", "port": {"number": 80}}}, "path": "/",
        "pathType": "ImplementationSpecific"}
    assert by_name[("Deployment", "egov-user")]["spec"]["selector"] == {"matchLabels": {"app": "egov-user",
                                                                                      "group": "core"}}
    assert by_name[("DaemonSet", "jaeger-agent")]["spec"]["updateStrategy"] == {"type": "OnDelete"}

    # The converted CRDs serve their types: cert-manager's own ClusterIssuers apply.
    issuers = real_charts.render("backbone-services/cert-manager").find("ClusterIssuer", "certmanager.k8s.io/v1alpha1")
    assert issuers
    applied_issuers = kubectl("apply", "--server-side", "-f", str(_write(tmp_path / "issuers.yaml", issuers))).stdout
    assert applied_issuers.count("serverside-applied") == len(issuers)
    names = kubectl("get", "clusterissuers.certmanager.k8s.io", "-o", "name").stdout.split()
    assert sorted(names) == sorted(f"clusterissuer.certmanager.k8s.io/{i['metadata']['name']}" for i in issuers)
