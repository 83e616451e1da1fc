"""CustomResourceDefinitions register types that are then served and discoverable; namespace deletion cascades."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client, dynamic
from kubernetes.client.rest import ApiException

from tests.sandbox.conftest import Kubectl, wait_for

T = 10


def _crd(plural: str, kind: str, group: str = "monitoring.coreos.com") -> dict[str, Any]:
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "subresources": {"status": {}},
                                   "additionalPrinterColumns": [
                                       {"name": "Severity", "type": "string", "jsonPath": ".spec.severity"}],
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_crd_registers_a_served_type(api_client: Any, kubectl: Kubectl) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    crd = ext.create_custom_resource_definition(_crd("prometheusrules", "PrometheusRule"), _request_timeout=T)
    established = {c.type: c.status for c in crd.status.conditions}
    assert established.get("Established") == "True"
    co = client.CustomObjectsApi(api_client)
    rule = co.create_namespaced_custom_object(
        "monitoring.coreos.com", "v1", "default", "prometheusrules",
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "metadata": {"name": "r1"},
         "spec": {"severity": "critical", "groups": []}}, _request_timeout=T)
    assert rule["metadata"]["uid"] and rule["metadata"]["generation"] == 1
    listed = co.list_namespaced_custom_object("monitoring.coreos.com", "v1", "default", "prometheusrules")
    assert listed["kind"] == "PrometheusRuleList" and [i["metadata"]["name"] for i in listed["items"]] == ["r1"]
    # Discovery now shows the type, for the dynamic client and for kubectl (printer columns included).
    dyn = dynamic.DynamicClient(api_client)
    assert dyn.resources.get(api_version="monitoring.coreos.com/v1", kind="PrometheusRule").namespaced
    out = kubectl("get", "prometheusrules", "-n", "default").stdout
    assert out.split("\n")[0].split() == ["NAME", "SEVERITY", "AGE"] and "critical" in out
    # Strategic merge is refused for custom resources, like the real API; merge patch works.
    with pytest.raises(ApiException) as exc:
        co.patch_namespaced_custom_object("monitoring.coreos.com", "v1", "default", "prometheusrules", "r1",
                                          {"spec": {"severity": "low"}},
                                          _content_type="application/strategic-merge-patch+json")
    assert exc.value.status == 415
    patched = co.patch_namespaced_custom_object("monitoring.coreos.com", "v1", "default", "prometheusrules", "r1",
                                                {"spec": {"severity": "low"}},
                                                _content_type="application/merge-patch+json")
    assert patched["spec"]["severity"] == "low" and patched["metadata"]["generation"] == 2
    # Deleting the CRD removes the type and its objects.
    ext.delete_custom_resource_definition("prometheusrules.monitoring.coreos.com", _request_timeout=T)
    with pytest.raises(ApiException) as exc:
        co.list_namespaced_custom_object("monitoring.coreos.com", "v1", "default", "prometheusrules")
    assert exc.value.status == 404


def test_invalid_crd_is_rejected(api_client: Any) -> None:
    ext = client.ApiextensionsV1Api(api_client)
    bad = _crd("widgets", "Widget")
    bad["metadata"]["name"] = "wrong-name"
    with pytest.raises(ApiException) as exc:
        ext.create_custom_resource_definition(bad, _request_timeout=T)
    assert exc.value.status == 422


def test_namespace_deletion_cascades_and_blocks_new_content(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    ns = "gone-" + uuid.uuid4().hex[:6]
    v1.create_namespace({"metadata": {"name": ns}}, _request_timeout=T)
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "c"}}, _request_timeout=T)
    apps.create_namespaced_deployment(ns, {
        "metadata": {"name": "d"}, "spec": {"replicas": 2, "selector": {"matchLabels": {"a": "d"}},
                                            "template": {"metadata": {"labels": {"a": "d"}},
                                                         "spec": {"containers": [{"name": "c", "image": "x:1"}]}}}},
        _request_timeout=T)
    wait_for(lambda: len(v1.list_namespaced_pod(ns).items) == 2, what="2 pods")
    v1.delete_namespace(ns, _request_timeout=T)
    try:
        phase = v1.read_namespace(ns).status.phase
        assert phase == "Terminating"
        with pytest.raises(ApiException) as exc:
            v1.create_namespaced_config_map(ns, {"metadata": {"name": "late"}}, _request_timeout=T)
        assert exc.value.status == 403 and "being terminated" in exc.value.body
    except ApiException as exc:  # the namespace controller may already have finished
        assert exc.status == 404

    def vanished() -> bool:
        try:
            v1.read_namespace(ns, _request_timeout=T)
            return False
        except ApiException as exc:
            return exc.status == 404

    wait_for(vanished, what=f"namespace {ns} to vanish")
    assert v1.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}").items == []
    assert v1.list_config_map_for_all_namespaces(field_selector=f"metadata.namespace={ns}").items == []
