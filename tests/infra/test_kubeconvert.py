"""Converting removed Kubernetes APIs (issue 10 item 3), on real objects from the DIGIT-DevOps snapshot.

Every object comes out of a real chart rendered by helm-python-sdk. Where the
tree has no object of an old API only because its chart picks the apiVersion
from Helm's capabilities (``.Capabilities.APIVersions.Has "apps/v1"``, a
``semverCompare`` on the Kubernetes version), the test takes the object the
chart renders today and gives it the apiVersion (and shape) that the chart's
other branch emits; each such test names the template. Admission webhooks are
the one kind no chart in the tree ships; that test's object is written here.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from digit_tui.errors import InputError
from digit_tui.infra import kubeconvert_rules as rules
from digit_tui.infra.crdschema import structural_problems
from digit_tui.infra.kubeconvert import (
    API_LIFETIMES,
    RULES,
    ServedAPIs,
    convert_objects,
    needs_conversion,
    served_for_version,
)
from tests.infra.realtree import RealCharts

Obj = dict[str, Any]
K130 = ServedAPIs.for_kube_version("1.30")


def _convert(fn: Any, obj: Obj) -> rules.Conversion:
    """Run a conversion and check the one promise every conversion makes: the input is untouched."""
    before = copy.deepcopy(obj)
    out = fn(obj)
    assert obj == before, "the conversion changed its input"
    return out


def _without(obj: Obj, *keys: str) -> Obj:
    return {k: v for k, v in obj.items() if k not in keys}


# -- Ingress -------------------------------------------------------------------------

def test_common_chart_ingress_becomes_networking_v1(real_charts: RealCharts) -> None:
    # Every DIGIT service's ingress comes from common/templates/_ingress.yaml (extensions/v1beta1).
    old = real_charts.render("core-services/egov-user").one("Ingress")
    assert old["apiVersion"] == "extensions/v1beta1"
    new = _convert(rules.ingress_to_v1, old).object
    assert new["apiVersion"] == "networking.k8s.io/v1"
    assert new["metadata"] == old["metadata"]
    assert new["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "nginx"
    assert new["spec"]["tls"] == old["spec"]["tls"]
    assert new["spec"]["rules"] == [{"host": "digit.digit.org", "http": {"paths": [{
        "backend": {"service": {"name": "zuul", "port": {"number": 8080}}},
        "path": "/user", "pathType": "ImplementationSpecific"}]}}]


def test_cluster_configs_root_ingress_becomes_networking_v1(real_charts: RealCharts) -> None:
    old = real_charts.render("cluster-configs").one("Ingress", "extensions/v1beta1", "root-ingress")
    new = _convert(rules.ingress_to_v1, old).object
    path = new["spec"]["rules"][0]["http"]["paths"][0]
    assert path == {"backend": {"service": {"name": "citizen", "port": {"number": 80}}}, "path": "/",
                    "pathType": "ImplementationSpecific"}
    assert new["metadata"]["annotations"] == old["metadata"]["annotations"]


def test_named_service_port_becomes_port_name(real_charts: RealCharts) -> None:
    # airflow's flower ingress (networking.k8s.io/v1beta1) names its port.
    old = real_charts.render("backbone-services/airflow").one("Ingress", "networking.k8s.io/v1beta1", "airflow-flower")
    new = _convert(rules.ingress_to_v1, old).object
    assert new["spec"]["rules"][0]["http"]["paths"][0]["backend"] == {
        "service": {"name": "airflow-flower", "port": {"name": "flower"}}}


def test_spec_backend_becomes_default_backend(real_charts: RealCharts) -> None:
    # No chart in the tree sets spec.backend: the root ingress's backend is moved there.
    old = real_charts.render("cluster-configs").one("Ingress", name="root-ingress")
    old["spec"] = {"backend": old["spec"]["rules"][0]["http"]["paths"][0]["backend"], **old["spec"]}
    old["spec"]["ingressClassName"] = "nginx"
    new = _convert(rules.ingress_to_v1, old).object
    assert "backend" not in new["spec"]
    assert list(new["spec"])[0] == "defaultBackend"
    assert new["spec"]["defaultBackend"] == {"service": {"name": "citizen", "port": {"number": 80}}}
    assert new["spec"]["ingressClassName"] == "nginx"


def test_quoted_port_number_is_a_number_with_a_note(real_charts: RealCharts) -> None:
    old = real_charts.render("cluster-configs").one("Ingress", name="root-ingress")
    old["spec"]["rules"][0]["http"]["paths"][0]["backend"]["servicePort"] = "80"
    conv = _convert(rules.ingress_to_v1, old)
    assert conv.object["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] == {"number": 80}
    assert any("'80'" in n for n in conv.notes)


# -- workloads -------------------------------------------------------------------------

def _as_old_common_deployment(real_charts: RealCharts) -> Obj:
    """egov-user's Deployment as common/templates/_deployment.yaml renders it without apps/v1:
    extensions/v1beta1 and no selector (the selector block is inside the same `if`)."""
    dep = real_charts.render("core-services/egov-user").one("Deployment", "apps/v1")
    dep["apiVersion"] = "extensions/v1beta1"
    del dep["spec"]["selector"]
    return dep


def test_extensions_deployment_gets_selector_and_keeps_old_defaults(real_charts: RealCharts) -> None:
    old = _as_old_common_deployment(real_charts)
    new = _convert(rules.workload_to_apps_v1, old).object
    spec = new["spec"]
    assert new["apiVersion"] == "apps/v1"
    assert spec["selector"] == {"matchLabels": {"app": "egov-user", "group": "core"}}
    assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
    # extensions/v1beta1 kept every revision, had no progress deadline and surged by 1.
    assert spec["revisionHistoryLimit"] == rules.MAX_INT32
    assert spec["progressDeadlineSeconds"] == rules.MAX_INT32
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}
    assert spec["template"] == old["spec"]["template"]


def test_extensions_deployment_keeps_explicit_strategy(real_charts: RealCharts) -> None:
    # With one replica the common chart sets maxUnavailable 0 itself; only maxSurge is filled in.
    # (the environment file's per-service section overrides the chart's values, as in DIGIT)
    dep = real_charts.render("core-services/egov-user", {"egov-user": {"replicas": 1}}).one("Deployment")
    dep["apiVersion"] = "extensions/v1beta1"
    assert dep["spec"]["strategy"] == {"rollingUpdate": {"maxUnavailable": 0}}
    new = _convert(rules.workload_to_apps_v1, dep).object
    assert new["spec"]["strategy"] == {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}, "type": "RollingUpdate"}


def test_apps_v1beta1_deployment_keeps_two_revisions(real_charts: RealCharts) -> None:
    # jenkins/templates/jenkins-master-deployment.yaml emits apps/v1beta1 without apps/v1.
    old = real_charts.render("core-services/egov-user").one("Deployment", "apps/v1")
    old["apiVersion"] = "apps/v1beta1"
    new = _convert(rules.workload_to_apps_v1, old).object
    assert new["spec"]["revisionHistoryLimit"] == 2
    assert _without(new["spec"], "revisionHistoryLimit") == old["spec"]


def test_removed_workload_fields_are_dropped_with_a_note(real_charts: RealCharts) -> None:
    old = _as_old_common_deployment(real_charts)
    old["spec"]["rollbackTo"] = {"revision": 3}
    conv = _convert(rules.workload_to_apps_v1, old)
    assert "rollbackTo" not in conv.object["spec"]
    assert any("rollbackTo" in n for n in conv.notes)


def test_extensions_daemonset_keeps_on_delete(real_charts: RealCharts) -> None:
    old = real_charts.render("backbone-services/jaeger").one("DaemonSet", "apps/v1", "jaeger-agent")
    assert "updateStrategy" not in old["spec"]
    old["apiVersion"] = "extensions/v1beta1"
    old["spec"]["templateGeneration"] = 4
    new = _convert(rules.workload_to_apps_v1, old).object
    assert new["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert "templateGeneration" not in new["spec"]
    # apps/v1beta2 already defaulted to RollingUpdate: nothing to write out.
    old["apiVersion"] = "apps/v1beta2"
    assert "updateStrategy" not in _convert(rules.workload_to_apps_v1, old).object["spec"]


def test_apps_v1beta1_statefulset_update_strategy(real_charts: RealCharts) -> None:
    sts = real_charts.render("backbone-services/zookeeper-v2").one("StatefulSet", "apps/v1")
    sts["apiVersion"] = "apps/v1beta1"
    explicit = sts["spec"]["updateStrategy"]
    assert _convert(rules.workload_to_apps_v1, sts).object["spec"]["updateStrategy"] == explicit
    del sts["spec"]["updateStrategy"]
    assert _convert(rules.workload_to_apps_v1, sts).object["spec"]["updateStrategy"] == {"type": "OnDelete"}


# -- PodDisruptionBudget, CronJob, HPA ---------------------------------------------------

@pytest.mark.parametrize("chart", ["backbone-services/zookeeper-v2", "backbone-services/kuberhealthy",
                                   "backbone-services/cluster-autoscaler"])
def test_pdb_becomes_policy_v1(real_charts: RealCharts, chart: str) -> None:
    old = real_charts.render(chart).one("PodDisruptionBudget", "policy/v1beta1")
    conv = _convert(rules.pdb_to_v1, old)
    assert conv.object == {**old, "apiVersion": "policy/v1"}
    assert conv.notes == ()


def test_pdb_empty_selector_still_selects_nothing(real_charts: RealCharts) -> None:
    old = real_charts.render("backbone-services/zookeeper-v2").one("PodDisruptionBudget")
    old["spec"]["selector"] = {}
    conv = _convert(rules.pdb_to_v1, old)
    assert "selector" not in conv.object["spec"] and conv.notes


@pytest.mark.parametrize("chart", ["utilities/mdms-read-cronjob", "backbone-services/kuberhealthy",
                                   "backbone-services/kafka-connect-restart-tasks"])
def test_cronjob_becomes_batch_v1(real_charts: RealCharts, chart: str) -> None:
    old = real_charts.render(chart).one("CronJob", "batch/v1beta1")
    assert _convert(rules.cronjob_to_batch_v1, old).object == {**old, "apiVersion": "batch/v1"}


def test_v2alpha1_cronjob_becomes_batch_v1(real_charts: RealCharts) -> None:
    # common/templates/_cronjob.yaml emits batch/v2alpha1 when the cluster lacks batch/v1beta1.
    old = real_charts.render("utilities/mdms-read-cronjob").one("CronJob")
    old["apiVersion"] = "batch/v2alpha1"
    result = convert_objects([old], K130)
    assert result.objects == [{**old, "apiVersion": "batch/v1"}]
    assert result.summary() == "converted 1 object: 1 CronJob batch/v2alpha1 -> batch/v1"


def test_hpa_v2beta1_metrics_get_v2_targets(real_charts: RealCharts) -> None:
    old = real_charts.render("backbone-services/jaeger", {"collector": {"autoscaling": {
        "enabled": True, "targetMemoryUtilizationPercentage": 70}}}).one("HorizontalPodAutoscaler")
    assert old["apiVersion"] == "autoscaling/v2beta1"
    new = _convert(rules.hpa_v2beta1_to_v2, old).object
    assert new["apiVersion"] == "autoscaling/v2"
    assert new["spec"]["metrics"] == [
        {"resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}, "type": "Resource"},
        {"resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}},
         "type": "Resource"}]
    assert _without(new["spec"], "metrics") == _without(old["spec"], "metrics")


def test_hpa_v2beta1_other_metric_forms(real_charts: RealCharts) -> None:
    # The tree's only v2beta1 HPA uses Resource metrics; the other forms on the same object.
    old = real_charts.render("backbone-services/jaeger", {"collector": {"autoscaling": {"enabled": True}}}).one(
        "HorizontalPodAutoscaler")
    selector = {"matchLabels": {"queue": "spans"}}
    old["spec"]["metrics"] = [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "500Mi"}},
        {"type": "Pods", "pods": {"metricName": "spans_per_second", "targetAverageValue": "100", "selector": selector}},
        {"type": "Object", "object": {"target": {"apiVersion": "v1", "kind": "Service", "name": "jaeger-collector"},
                                      "metricName": "requests", "targetValue": "2k"}},
        {"type": "Object", "object": {"target": {"apiVersion": "v1", "kind": "Service", "name": "jaeger-collector"},
                                      "metricName": "requests", "targetValue": "2k", "averageValue": "200"}},
        {"type": "External", "external": {"metricName": "queue_depth", "metricSelector": selector,
                                          "targetAverageValue": "30"}},
    ]
    metrics = _convert(rules.hpa_v2beta1_to_v2, old).object["spec"]["metrics"]
    ref = {"apiVersion": "v1", "kind": "Service", "name": "jaeger-collector"}
    assert metrics == [
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "500Mi"}}},
        {"type": "Pods", "pods": {"metric": {"name": "spans_per_second", "selector": selector},
                                  "target": {"type": "AverageValue", "averageValue": "100"}}},
        {"type": "Object", "object": {"describedObject": ref, "metric": {"name": "requests"},
                                      "target": {"type": "Value", "value": "2k"}}},
        {"type": "Object", "object": {"describedObject": ref, "metric": {"name": "requests"},
                                      "target": {"type": "AverageValue", "averageValue": "200"}}},
        {"type": "External", "external": {"metric": {"name": "queue_depth", "selector": selector},
                                          "target": {"type": "AverageValue", "averageValue": "30"}}},
    ]


def test_hpa_v2beta2_becomes_v2_unchanged(real_charts: RealCharts) -> None:
    metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                           "averageUtilization": 80}}}]
    old = real_charts.render("backbone-services/airflow", {"workers": {"autoscaling": {
        "enabled": True, "metrics": metrics}}}).one("HorizontalPodAutoscaler", "autoscaling/v2beta2")
    assert _convert(rules.hpa_v2beta2_to_v2, old).object == {**old, "apiVersion": "autoscaling/v2"}


# -- RBAC, PriorityClass, StorageClass, NetworkPolicy -------------------------------------

def test_nginx_ingress_rbac_becomes_v1(real_charts: RealCharts) -> None:
    # nginx-ingress's values.yaml has the trailing tabs PyYAML refuses: Helm reads it here.
    rendered = real_charts.render("backbone-services/nginx-ingress")
    old = [o for o in rendered.objects if o["apiVersion"] == "rbac.authorization.k8s.io/v1beta1"]
    assert sorted(o["kind"] for o in old) == ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]
    for obj in old:
        assert _convert(rules.rbac_to_v1_from_beta, obj).object == {**obj, "apiVersion": "rbac.authorization.k8s.io/v1"}


def test_rbac_v1alpha1_subjects_get_api_group(real_charts: RealCharts) -> None:
    binding = real_charts.render("backbone-services/nginx-ingress").one("ClusterRoleBinding")
    binding["apiVersion"] = "rbac.authorization.k8s.io/v1alpha1"
    binding["subjects"] = [{**s, "apiVersion": "v1"} for s in binding["subjects"]] + [
        {"kind": "Group", "name": "ops", "apiVersion": "rbac.authorization.k8s.io/v1alpha1"}]
    subjects = _convert(rules.rbac_v1alpha1_to_v1, binding).object["subjects"]
    assert all("apiVersion" not in s for s in subjects)
    assert subjects[0]["kind"] == "ServiceAccount" and subjects[0]["apiGroup"] == ""
    assert subjects[-1] == {"kind": "Group", "name": "ops", "apiGroup": "rbac.authorization.k8s.io"}


def test_priority_class_becomes_v1(real_charts: RealCharts) -> None:
    # cost-analyzer's priorityClass.apiVersion helper emits scheduling.k8s.io/v1beta1 below 1.14.
    obj = real_charts.render("backbone-services/cost-analyzer", {"priority": {"enabled": True}}).one("PriorityClass")
    obj["apiVersion"] = "scheduling.k8s.io/v1beta1"
    assert convert_objects([obj], K130).objects == [{**obj, "apiVersion": "scheduling.k8s.io/v1"}]


def test_storage_class_becomes_v1(real_charts: RealCharts) -> None:
    obj = real_charts.render("backbone-services/efs").one("StorageClass")
    obj["apiVersion"] = "storage.k8s.io/v1beta1"
    assert convert_objects([obj], K130).objects == [{**obj, "apiVersion": "storage.k8s.io/v1"}]


def test_network_policy_becomes_networking_v1(real_charts: RealCharts) -> None:
    # cost-analyzer's networkPolicy.apiVersion helper emits extensions/v1beta1 on 1.4-1.6.
    obj = real_charts.render("backbone-services/cost-analyzer", {"networkPolicy": {"enabled": True}}).one(
        "NetworkPolicy")
    obj["apiVersion"] = "extensions/v1beta1"
    assert convert_objects([obj], K130).objects == [{**obj, "apiVersion": "networking.k8s.io/v1"}]


def test_metrics_server_api_service_becomes_v1(real_charts: RealCharts) -> None:
    old = real_charts.render("backbone-services/metrics-server").one("APIService", "apiregistration.k8s.io/v1beta1")
    assert convert_objects([old], K130).objects == [{**old, "apiVersion": "apiregistration.k8s.io/v1"}]


# -- CustomResourceDefinition ------------------------------------------------------------

def test_cert_manager_crds_become_v1(real_charts: RealCharts) -> None:
    crds = real_charts.render("backbone-services/cert-manager").crds
    assert len(crds) == 6 and {c["apiVersion"] for c in crds} == {"apiextensions.k8s.io/v1beta1"}
    for old in crds:
        assert structural_problems(old["spec"]["validation"]["openAPIV3Schema"]), "expected a v1beta1-only schema"
        new = _convert(rules.crd_to_v1, old).object
        spec = new["spec"]
        assert new["apiVersion"] == "apiextensions.k8s.io/v1"
        assert not {"version", "validation", "additionalPrinterColumns", "subresources"} & set(spec)
        assert spec["preserveUnknownFields"] is False and spec["scope"] == old["spec"]["scope"]
        [version] = spec["versions"]
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
        schema = version["schema"]["openAPIV3Schema"]
        assert structural_problems(schema) == []
        # v1beta1 kept unknown fields (preserveUnknownFields defaulted to true): so does the v1 schema.
        assert schema["x-kubernetes-preserve-unknown-fields"] is True
        assert schema["properties"]["spec"]["properties"].keys() == \
            old["spec"]["validation"]["openAPIV3Schema"]["properties"]["spec"]["properties"].keys()
        columns = old["spec"].get("additionalPrinterColumns")
        if columns:
            assert [c["jsonPath"] for c in version["additionalPrinterColumns"]] == [c["JSONPath"] for c in columns]
            assert all("JSONPath" not in c for c in version["additionalPrinterColumns"])


def test_prometheus_operator_crds_keep_their_versions(real_charts: RealCharts) -> None:
    crds = real_charts.render("backbone-services/prometheus-operator").crds
    assert len(crds) == 6
    for old in crds:
        new = _convert(rules.crd_to_v1, old).object
        names = [v["name"] for v in new["spec"]["versions"]]
        assert names == [v["name"] for v in old["spec"]["versions"]] == ["v1"]
        assert new["spec"]["versions"][0]["storage"] is True
        for version in new["spec"]["versions"]:
            assert structural_problems(version["schema"]["openAPIV3Schema"]) == []


def test_crd_without_schema_gets_a_permissive_one(real_charts: RealCharts) -> None:
    old = next(c for c in real_charts.render("backbone-services/kuberhealthy").crds
               if c["metadata"]["name"] == "khchecks.comcast.github.io")
    assert "validation" not in old["spec"]
    conv = _convert(rules.crd_to_v1, old)
    assert conv.object["spec"]["versions"] == [{
        "name": "v1", "served": True, "storage": True,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]
    assert any("permissive" in n for n in conv.notes)


def test_vpa_crd_schema_goes_to_every_version(real_charts: RealCharts) -> None:
    old = next(c for c in real_charts.render("backbone-services/vpa").crds
               if c["metadata"]["name"] == "verticalpodautoscalers.autoscaling.k8s.io")
    new = _convert(rules.crd_to_v1, old).object
    versions = new["spec"]["versions"]
    assert [(v["name"], v["served"], v["storage"]) for v in versions] == [
        ("v1beta1", False, False), ("v1beta2", True, True), ("v1", True, False)]
    schemas = [v["schema"]["openAPIV3Schema"] for v in versions]
    assert schemas[0] == schemas[1] == schemas[2] and structural_problems(schemas[0]) == []


# -- admission webhooks (no chart in the tree ships one) -----------------------------------

def test_webhooks_become_v1_with_old_defaults_written_out() -> None:
    old = {"apiVersion": "admissionregistration.k8s.io/v1beta1", "kind": "MutatingWebhookConfiguration",
           "metadata": {"name": "vpa-webhook-config"},
           "webhooks": [
               {"name": "vpa.k8s.io", "clientConfig": {"service": {"name": "vpa-webhook", "namespace": "kube-system"}},
                "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]},
               {"name": "vpa.k8s.io", "sideEffects": "Some", "failurePolicy": "Fail", "timeoutSeconds": 5,
                "admissionReviewVersions": ["v1", "v1beta1"],
                "clientConfig": {"url": "https://vpa.example/mutate"}},
               {"name": "audit.k8s.io", "sideEffects": "NoneOnDryRun", "clientConfig": {"url": "https://a.example"}},
           ]}
    conv = _convert(rules.webhooks_to_v1, old)
    first, second, third = conv.object["webhooks"]
    assert conv.object["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert (first["failurePolicy"], first["matchPolicy"], first["timeoutSeconds"], first["sideEffects"],
            first["admissionReviewVersions"]) == ("Ignore", "Exact", 30, "None", ["v1beta1"])
    assert (second["failurePolicy"], second["timeoutSeconds"], second["sideEffects"],
            second["admissionReviewVersions"]) == ("Fail", 5, "NoneOnDryRun", ["v1", "v1beta1"])
    assert third["sideEffects"] == "NoneOnDryRun"
    assert any("Unknown -> None" in n for n in conv.notes)
    assert any("Some -> NoneOnDryRun" in n for n in conv.notes)
    assert any("appears twice" in n for n in conv.notes)


# -- PodSecurityPolicy ---------------------------------------------------------------------

def test_pod_security_policies_are_dropped_from_1_25(real_charts: RealCharts) -> None:
    psps = (real_charts.render("backbone-services/prometheus-operator").find("PodSecurityPolicy")
            + real_charts.render("backbone-services/cluster-autoscaler").find("PodSecurityPolicy"))
    assert len(psps) == 4
    result = convert_objects(psps, served_for_version("1.25"))
    assert result.objects == [] and len(result.dropped) == 4
    assert result.summary() == ("converted 0 objects; dropped 4 objects: 4 PodSecurityPolicy policy/v1beta1 "
                                "(no successor)")
    assert all("Pod Security Admission" in w for w in result.warnings())
    assert convert_objects(psps, served_for_version("1.24")).objects == psps


# -- the driver ------------------------------------------------------------------------------

def _release_objects(real_charts: RealCharts) -> list[Obj]:
    """A slice of a real release: DIGIT services, cluster-configs and the backbone charts with old APIs."""
    out: list[Obj] = []
    for chart in ("cluster-configs", "core-services/egov-user", "core-services/egov-filestore",
                  "utilities/mdms-read-cronjob", "backbone-services/nginx-ingress", "backbone-services/cert-manager",
                  "backbone-services/zookeeper-v2", "backbone-services/kuberhealthy",
                  "backbone-services/cluster-autoscaler", "backbone-services/airflow"):
        rendered = real_charts.render(chart)
        out += rendered.crds + rendered.objects
    return out


def test_release_slice_on_1_30(real_charts: RealCharts) -> None:
    objects = _release_objects(real_charts)
    before = copy.deepcopy(objects)
    result = convert_objects(objects, K130)
    assert objects == before
    # cluster-configs + 2 DIGIT services: 3 Ingress; nginx-ingress: 1 of each RBAC kind; cert-manager: 7 ClusterRole,
    # 7 ClusterRoleBinding, 6 CRDs; kuberhealthy: 1 ClusterRoleBinding, 2 CRDs, a CronJob and a PDB; ...
    assert result.summary() == (
        "converted 37 objects: "
        "9 ClusterRoleBinding rbac.authorization.k8s.io/v1beta1 -> rbac.authorization.k8s.io/v1, "
        "8 ClusterRole rbac.authorization.k8s.io/v1beta1 -> rbac.authorization.k8s.io/v1, "
        "8 CustomResourceDefinition apiextensions.k8s.io/v1beta1 -> apiextensions.k8s.io/v1, "
        "3 Ingress extensions/v1beta1 -> networking.k8s.io/v1, "
        "3 PodDisruptionBudget policy/v1beta1 -> policy/v1, "
        "2 CronJob batch/v1beta1 -> batch/v1, "
        "2 Ingress networking.k8s.io/v1beta1 -> networking.k8s.io/v1, "
        "1 Role rbac.authorization.k8s.io/v1beta1 -> rbac.authorization.k8s.io/v1, "
        "1 RoleBinding rbac.authorization.k8s.io/v1beta1 -> rbac.authorization.k8s.io/v1; "
        "dropped 1 object: 1 PodSecurityPolicy policy/v1beta1 (no successor)")
    assert len(result.objects) == len(objects) - 1
    # Every object of a converted API now uses one a 1.30 cluster serves.
    tracked = {(life.api_version, life.kind) for life in API_LIFETIMES}
    left = [(o["apiVersion"], o["kind"]) for o in result.objects if (o["apiVersion"], o["kind"]) in tracked]
    assert left and all(K130.serves(*gvk) for gvk in left), [gvk for gvk in left if not K130.serves(*gvk)]


def test_converting_twice_changes_nothing(real_charts: RealCharts) -> None:
    # A rerun renders and converts again: the same objects must come out, so nothing is re-applied.
    first = convert_objects(_release_objects(real_charts), K130)
    second = convert_objects(first.objects, K130)
    assert second.objects == first.objects and second.converted == [] and second.dropped == []
    assert convert_objects(_release_objects(real_charts), K130).objects == first.objects


@pytest.mark.parametrize(("version", "converted", "dropped"), [
    ("1.18", set(), set()),       # networking.k8s.io/v1 does not exist yet: nothing can move
    ("1.21", set(), set()),       # every old API still served
    ("1.22", {"Ingress", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CustomResourceDefinition"}, set()),
    ("1.25", {"Ingress", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CustomResourceDefinition",
              "PodDisruptionBudget", "CronJob"}, {"PodSecurityPolicy"}),
])
def test_what_each_release_needs(real_charts: RealCharts, version: str, converted: set[str], dropped: set[str]) -> None:
    result = convert_objects(_release_objects(real_charts), ServedAPIs.for_kube_version(version))
    assert {c.ref.kind for c in result.converted} == converted
    assert {d.ref.kind for d in result.dropped} == dropped
    assert result.unserved == []


def test_hpa_removals_1_25_and_1_26(real_charts: RealCharts) -> None:
    v2beta1 = real_charts.render("backbone-services/jaeger", {"collector": {"autoscaling": {"enabled": True}}}).one(
        "HorizontalPodAutoscaler")
    v2beta2 = real_charts.render("backbone-services/airflow", {"workers": {"autoscaling": {"enabled": True, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]}}}).one("HorizontalPodAutoscaler")
    assert [needs_conversion(o, served_for_version("1.24")) for o in (v2beta1, v2beta2)] == [False, False]
    assert [needs_conversion(o, served_for_version("1.25")) for o in (v2beta1, v2beta2)] == [True, False]
    assert [needs_conversion(o, served_for_version("1.26")) for o in (v2beta1, v2beta2)] == [True, True]


def test_removal_table_matches_the_migration_guide() -> None:
    removed = {(life.api_version, life.kind): life.removed for life in API_LIFETIMES}
    assert removed[("extensions/v1beta1", "Ingress")] == removed[("networking.k8s.io/v1beta1", "Ingress")] == 22
    assert removed[("policy/v1beta1", "PodDisruptionBudget")] == removed[("batch/v1beta1", "CronJob")] == 25
    assert removed[("autoscaling/v2beta1", "HorizontalPodAutoscaler")] == 25
    assert removed[("autoscaling/v2beta2", "HorizontalPodAutoscaler")] == 26
    assert removed[("policy/v1beta1", "PodSecurityPolicy")] == 25
    for gv, kind in (("rbac.authorization.k8s.io/v1beta1", "Role"), ("apiextensions.k8s.io/v1beta1",
                     "CustomResourceDefinition"), ("admissionregistration.k8s.io/v1beta1",
                     "MutatingWebhookConfiguration"), ("scheduling.k8s.io/v1beta1", "PriorityClass"),
                     ("storage.k8s.io/v1beta1", "StorageClass")):
        assert removed[(gv, kind)] == 22
    # Every conversion's old and new API is in the table, so the offline answer is never a guess.
    for (old, kind), rule in RULES.items():
        assert (old, kind) in removed
        assert rule.successor is None or (rule.successor, kind) in removed


@pytest.mark.parametrize("text", ["1.30", "v1.30", "1.30.14", "v1.30.2-eks-1234"])
def test_kube_version_forms(text: str) -> None:
    assert ServedAPIs.for_kube_version(text).kinds == served_for_version("1.30").kinds


@pytest.mark.parametrize("text", ["1", "2.30", "latest", "1.x", ""])
def test_bad_kube_version_is_bad_input(text: str) -> None:
    with pytest.raises(InputError) as err:
        ServedAPIs.for_kube_version(text)
    assert err.value.expected == "a version like 1.30"


def test_discovery_shapes_agree() -> None:
    resource_lists = [
        {"groupVersion": "networking.k8s.io/v1", "resources": [
            {"name": "ingresses", "kind": "Ingress"}, {"name": "ingresses/status", "kind": "Ingress"}]},
        {"groupVersion": "apps/v1", "resources": [{"name": "deployments", "kind": "Deployment"},
                                                  {"name": "deployments/scale", "kind": "Scale"}]},
    ]
    shapes = [
        ServedAPIs.from_discovery(resource_lists),
        ServedAPIs.from_discovery({"networking.k8s.io/v1": ["Ingress"], "apps/v1": ["Deployment"]}),
        ServedAPIs.from_discovery([("networking.k8s.io/v1", ["Ingress"]), ("apps/v1", {"Deployment"})]),
        ServedAPIs.from_discovery(["networking.k8s.io/v1/Ingress", "apps/v1/Deployment"]),
    ]
    assert all(s.kinds == {("networking.k8s.io/v1", "Ingress"), ("apps/v1", "Deployment")} for s in shapes)


def test_unserved_successor_leaves_the_object_and_says_so(real_charts: RealCharts) -> None:
    ingress = real_charts.render("core-services/egov-user").one("Ingress")
    result = convert_objects([ingress], ServedAPIs.from_discovery({"apps/v1": ["Deployment"]}))
    assert result.objects == [ingress] and result.converted == []
    assert result.warnings() == ["Ingress egov/egov-user (extensions/v1beta1): the cluster serves neither "
                                 "extensions/v1beta1 nor networking.k8s.io/v1"]


def test_schema_repairs_v1_would_refuse() -> None:
    # Shapes found in hand-written v1beta1 CRDs (none of them in this tree's charts).
    from digit_tui.infra.crdschema import make_structural

    schema = {"properties": {
        "metadata": {"properties": {"labels": {"type": "object"}}},
        "spec": {"properties": {
            "hosts": {"items": {"type": "string"}, "uniqueItems": True},
            "limits": {"properties": {"cpu": {"type": "string"}}, "additionalProperties": False},
            "free": {"description": "anything at all"},
            "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
            "mode": {"type": "string", "oneOf": [{"description": "fast", "enum": ["fast"]}, {"enum": ["slow"]}]},
        }},
    }}
    problems = structural_problems(schema)
    assert {p.split(":")[0] for p in problems} >= {
        "openAPIV3Schema.type", "openAPIV3Schema.properties.metadata", "openAPIV3Schema.properties.spec.type",
        "openAPIV3Schema.properties.spec.properties.hosts.uniqueItems",
        "openAPIV3Schema.properties.spec.properties.limits",
        "openAPIV3Schema.properties.spec.properties.free.type",
        "openAPIV3Schema.properties.spec.properties.mode.oneOf[0].description"}
    fixed, changes = make_structural(copy.deepcopy(schema))
    assert structural_problems(fixed) == [] and changes
    spec = fixed["properties"]["spec"]["properties"]
    assert fixed["properties"]["metadata"] == {"type": "object"}
    assert spec["hosts"] == {"items": {"type": "string"}, "type": "array"}
    assert spec["free"] == {"description": "anything at all", "x-kubernetes-preserve-unknown-fields": True}
    assert spec["port"] == schema["properties"]["spec"]["properties"]["port"]   # the allowed int-or-string form
    assert spec["mode"]["oneOf"] == [{"enum": ["fast"]}, {"enum": ["slow"]}]


def test_an_api_newer_than_the_cluster_is_said_with_the_release_that_serves_it(real_charts: RealCharts) -> None:
    # The chart written for today's clusters (networking.k8s.io/v1) going to a 1.18 cluster: left as
    # it is (there is no older API to convert to) and said, before an apply fails on "no matches for kind".
    ingress = convert_objects([real_charts.render("core-services/egov-user").one("Ingress")], K130).objects[0]
    result = convert_objects([ingress], ServedAPIs.for_kube_version("1.18"))
    assert result.objects == [ingress] and result.converted == []
    assert result.warnings() == ["Ingress egov/egov-user (networking.k8s.io/v1): the cluster does not serve "
                                 "networking.k8s.io/v1 (Kubernetes 1.19 and later do)"]
    assert convert_objects([ingress], ServedAPIs.for_kube_version("1.19")).unserved == []
