"""The kube adapter and the readiness wait against the sandbox's real API: server-side apply,
discovery after a CRD, and the one-line diagnosis of pods that cannot start."""

from __future__ import annotations

import time
from typing import Any

import pytest

from digit_tui.infra.kube import Kube, ResourceType
from digit_tui.infra.kubewait import CONFIG, IMAGE, UNSCHEDULABLE, NotReady, WaitPolicy, Workload, wait_ready


def deployment(name: str, *, image: str = "egovio/redis:3.2", memory: str = "64Mi",
               secret: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": image, "resources": {"requests": {"memory": memory}}}
    if secret:
        container["env"] = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "egov"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


@pytest.fixture
def kube(cluster: Any) -> Any:
    k = Kube(cluster.kubeconfig_path)
    k.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "egov"}})
    yield k
    k.close()


def not_ready(kube: Kube, obj: dict[str, Any], policy: WaitPolicy) -> NotReady:
    kube.apply(obj)
    start = time.monotonic()
    with pytest.raises(NotReady) as info:
        wait_ready(kube, [Workload("apps/v1", "Deployment", "egov", obj["metadata"]["name"])], policy)
    assert time.monotonic() - start < policy.deadline  # stopped early: waiting could not help
    return info.value


def test_apply_is_server_side_and_idempotent(kube: Kube) -> None:
    obj = deployment("redis")
    first = kube.apply(obj)
    again = kube.apply(obj)
    assert again["metadata"]["generation"] == first["metadata"]["generation"] == 1  # the spec did not change
    managers = {f["manager"]: f["operation"] for f in again["metadata"]["managedFields"]}
    assert managers["digit-tui"] == "Apply"
    wait_ready(kube, [Workload("apps/v1", "Deployment", "egov", "redis")], WaitPolicy(deadline=30))


def test_objects_of_a_crd_apply_right_after_it(kube: Kube) -> None:
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "servicemonitors.monitoring.example.org"},
           "spec": {"group": "monitoring.example.org", "scope": "Namespaced",
                    "names": {"plural": "servicemonitors", "singular": "servicemonitor", "kind": "ServiceMonitor"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    kube.apply(crd)
    kube.wait_for_type("monitoring.example.org/v1", "ServiceMonitor")
    kube.apply({"apiVersion": "monitoring.example.org/v1", "kind": "ServiceMonitor",
                "metadata": {"name": "egov-user", "namespace": "egov"}, "spec": {"endpoints": []}})
    assert kube.get("monitoring.example.org/v1", "ServiceMonitor", "egov-user", "egov") is not None


def test_missing_image_is_named(kube: Kube) -> None:
    err = not_ready(kube, deployment("egov-user", image="egovio/egov-user:v0.0.0-missing"), WaitPolicy(deadline=30))
    assert err.diagnosis.kind == IMAGE
    assert str(err) == "Deployment egov/egov-user: image egovio/egov-user:v0.0.0-missing cannot be pulled"


def test_missing_secret_is_named(kube: Kube) -> None:
    err = not_ready(kube, deployment("egov-enc-service", secret="db"), WaitPolicy(deadline=30, grace=0.5))
    assert err.diagnosis.kind == CONFIG
    assert err.diagnosis.message == "secret db missing in namespace egov"


def test_a_long_wait_says_what_it_waits_on(kube: Kube) -> None:
    """While the grace of a permanent-looking problem runs, the wait's progress names it (once), not
    only "0/1 ready": an operator watching a ten-minute wait sees why it is not over."""
    said: list[str] = []
    kube.apply(deployment("egov-enc-service", secret="db"))
    with pytest.raises(NotReady) as info:
        wait_ready(kube, [Workload("apps/v1", "Deployment", "egov", "egov-enc-service")],
                   WaitPolicy(deadline=6, grace=60, probe_every=0.2), progress=said.append)
    assert info.value.diagnosis.kind == CONFIG
    assert said[0] == "Deployment egov/egov-enc-service: 0/1 ready"
    assert said.count("Deployment egov/egov-enc-service: secret db missing in namespace egov") == 1, said


def test_unschedulable_pod_quotes_the_scheduler(kube: Kube) -> None:
    err = not_ready(kube, deployment("elasticsearch-data-v1", memory="64Gi"), WaitPolicy(deadline=30, grace=0.5))
    assert err.diagnosis.kind == UNSCHEDULABLE
    assert err.diagnosis.message.startswith("Pending: 0/3 nodes are available")
    assert "Insufficient memory" in err.diagnosis.message


def test_closed_port_is_a_transient_connection_refused_naming_the_server(tmp_path: Any) -> None:
    import socket

    from digit_tui.engine.errors import TransientError
    from digit_tui.tasks.release import api_error

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: abc}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    k = Kube(kubeconfig, timeout=2)
    configmaps = ResourceType("", "v1", "ConfigMap", "configmaps", True, frozenset({"list"}))
    with pytest.raises(Exception) as info:
        k.list(configmaps, "egov")
    err = api_error("check egov-user", info.value, k.server, k.kubeconfig)
    assert isinstance(err, TransientError)
    assert str(err) == f"check egov-user: connection refused by the cluster API at https://127.0.0.1:{port}"
    assert err.remedy and str(kubeconfig) in err.remedy and "MaxRetryError" not in str(err) + err.remedy


def test_checks_asking_for_one_type_at_once_share_one_discovery_request(kube: Kube) -> None:
    """Twenty threads ask for Ingress at once (a rerun's checks start together): one request for
    networking.k8s.io/v1 answers all of them; a type the group lacks still asks again (a CRD may
    have just been established)."""
    import threading

    fetched: list[str] = []
    real = kube._fetch_group_version

    def counting(api_version: str) -> Any:
        fetched.append(api_version)
        return real(api_version)

    kube._fetch_group_version = counting  # type: ignore[method-assign]
    start = threading.Barrier(20)
    found: list[str] = []

    def ask() -> None:
        start.wait(10)
        found.append(kube.resource("networking.k8s.io/v1", "Ingress").plural)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert found == ["ingresses"] * 20
    assert fetched == ["networking.k8s.io/v1"]
    with pytest.raises(Exception):
        kube.resource("networking.k8s.io/v1", "NoSuchKind")
    assert fetched == ["networking.k8s.io/v1"] * 2
