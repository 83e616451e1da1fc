"""The official `kubernetes` Python client against the sandbox API: CRUD, selectors, paging, watch, patches."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from digit_tui.sandbox.runtime import SandboxHandle

T = 10  # request timeout (s)


def _ns(api_client: Any) -> str:
    name = "t-" + uuid.uuid4().hex[:8]
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}}, _request_timeout=T)
    return name


def _deployment(name: str, image: str = "nginx:1.25") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image,
                                                           "ports": [{"containerPort": 80}],
                                                           "env": [{"name": "A", "value": "1"}]}]}}}}


def test_create_get_list_delete_with_selectors(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    for i in range(5):
        v1.create_namespaced_config_map(ns, {"metadata": {"name": f"cm-{i}", "labels": {"tier": "a" if i < 3 else "b"}},
                                             "data": {"i": str(i)}}, _request_timeout=T)
    got = v1.read_namespaced_config_map("cm-1", ns, _request_timeout=T)
    assert got.data == {"i": "1"} and got.metadata.uid and got.metadata.creation_timestamp
    assert [c.metadata.name for c in v1.list_namespaced_config_map(ns, label_selector="tier=a").items] == [
        "cm-0", "cm-1", "cm-2"]
    assert [c.metadata.name for c in v1.list_namespaced_config_map(ns, label_selector="tier in (b)").items] == [
        "cm-3", "cm-4"]
    by_name = v1.list_config_map_for_all_namespaces(field_selector=f"metadata.name=cm-4,metadata.namespace={ns}")
    assert [(c.metadata.namespace, c.metadata.name) for c in by_name.items] == [(ns, "cm-4")]
    v1.delete_namespaced_config_map("cm-4", ns, _request_timeout=T)
    with pytest.raises(ApiException) as exc:
        v1.read_namespaced_config_map("cm-4", ns, _request_timeout=T)
    assert exc.value.status == 404
    assert '"reason":"NotFound"' in exc.value.body.replace(" ", "")


def test_paging_with_limit_and_continue(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    for i in range(7):
        v1.create_namespaced_secret(ns, {"metadata": {"name": f"s-{i}"}, "stringData": {"k": "v"}}, _request_timeout=T)
    names: list[str] = []
    cont = None
    pages = 0
    while True:
        page = v1.list_namespaced_secret(ns, limit=3, _continue=cont, _request_timeout=T)
        pages += 1
        names += [s.metadata.name for s in page.items]
        cont = page.metadata._continue
        if not cont:
            break
    assert pages == 3
    assert names == [f"s-{i}" for i in range(7)]
    assert v1.read_namespaced_secret("s-0", ns).data == {"k": "dg=="}


def test_already_exists_and_stale_resource_version_conflict(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    cm = v1.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"a": "1"}}, _request_timeout=T)
    with pytest.raises(ApiException) as exc:
        v1.create_namespaced_config_map(ns, {"metadata": {"name": "c"}}, _request_timeout=T)
    assert exc.value.status == 409 and "AlreadyExists" in exc.value.body
    stale = cm.metadata.resource_version
    cm.data = {"a": "2"}
    v1.replace_namespaced_config_map("c", ns, cm, _request_timeout=T)
    cm.data = {"a": "3"}
    cm.metadata.resource_version = stale
    with pytest.raises(ApiException) as exc:
        v1.replace_namespaced_config_map("c", ns, cm, _request_timeout=T)
    assert exc.value.status == 409 and "Conflict" in exc.value.body
    assert "the object has been modified" in exc.value.body
    assert v1.read_namespaced_config_map("c", ns).data == {"a": "2"}


def test_generation_and_resource_version_move_forward(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    ns = _ns(api_client)
    d = apps.create_namespaced_deployment(ns, _deployment("gen"), _request_timeout=T)
    assert d.metadata.generation == 1
    assert d.spec.strategy.rolling_update.max_surge == "25%"
    d2 = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 2}}, _request_timeout=T)
    assert d2.metadata.generation == 2
    assert int(d2.metadata.resource_version) > int(d.metadata.resource_version)
    d3 = apps.patch_namespaced_deployment("gen", ns, {"metadata": {"labels": {"x": "y"}}}, _request_timeout=T)
    assert d3.metadata.generation == 2  # metadata-only changes keep the generation


def test_merge_strategic_and_json_patches(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    ns = _ns(api_client)
    apps.create_namespaced_deployment(ns, _deployment("p"), _request_timeout=T)
    # Strategic merge (the client's default for dict bodies): env merged by name, containers by name.
    d = apps.patch_namespaced_deployment("p", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.26", "env": [{"name": "B", "value": "2"}]}]}}}}, _request_timeout=T)
    c = d.spec.template.spec.containers
    assert len(c) == 1 and c[0].image == "nginx:1.26"
    assert [(e.name, e.value) for e in c[0].env] == [("A", "1"), ("B", "2")]
    assert c[0].ports[0].container_port == 80
    # JSON merge patch replaces lists wholesale.
    apps.patch_namespaced_deployment(
        "p", ns, {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.27"}]}}}},
        _content_type="application/merge-patch+json", _request_timeout=T)
    c = apps.read_namespaced_deployment("p", ns).spec.template.spec.containers
    assert c[0].image == "nginx:1.27" and not c[0].env
    # JSON patch (a list body).
    d = apps.patch_namespaced_deployment("p", ns, [
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "add", "path": "/metadata/labels/extra", "value": "yes"}], _request_timeout=T)
    assert d.spec.replicas == 4 and d.metadata.labels["extra"] == "yes"


def test_server_side_apply_with_dynamic_client(api_client: Any) -> None:
    ns = _ns(api_client)
    dyn = dynamic.DynamicClient(api_client)
    deployments = dyn.resources.get(api_version="apps/v1", kind="Deployment")
    body = _deployment("ssa")
    body["metadata"]["namespace"] = ns
    created = deployments.server_side_apply(body=body, field_manager="digit-tui", namespace=ns)
    assert created.metadata.managedFields[0]["manager"] == "digit-tui"
    assert created.metadata.managedFields[0]["operation"] == "Apply"
    # Re-applying with a changed image and a removed env var updates the object and prunes the var.
    body["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.27"
    del body["spec"]["template"]["spec"]["containers"][0]["env"]
    again = deployments.server_side_apply(body=body, field_manager="digit-tui", namespace=ns)
    cont = again.spec.template.spec.containers[0]
    assert cont.image == "nginx:1.27" and not cont.get("env")
    # Another manager touching the same field conflicts unless it forces.
    other = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ssa", "namespace": ns},
             "spec": {"replicas": 5}}
    with pytest.raises(ApiException) as exc:
        deployments.server_side_apply(body=other, field_manager="intruder", namespace=ns)
    assert exc.value.status == 409 and "conflict" in exc.value.body.lower()
    forced = deployments.server_side_apply(body=other, field_manager="intruder", namespace=ns, force_conflicts=True)
    assert forced.spec.replicas == 5
    assert {m["manager"] for m in forced.metadata.managedFields} == {"digit-tui", "intruder"}


def test_watch_resumes_from_resource_version(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    first = v1.create_namespaced_config_map(ns, {"metadata": {"name": "w1"}}, _request_timeout=T)
    since = first.metadata.resource_version
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "w2"}}, _request_timeout=T)
    v1.patch_namespaced_config_map("w1", ns, {"data": {"x": "1"}}, _request_timeout=T)
    v1.delete_namespaced_config_map("w2", ns, _request_timeout=T)
    seen = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        v1.list_namespaced_config_map, ns, resource_version=since, timeout_seconds=1)]
    assert seen == [("ADDED", "w2"), ("MODIFIED", "w1"), ("DELETED", "w2")]


def test_watch_delivers_live_events(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    w = watch.Watch()
    got: list[tuple[str, str]] = []

    def consume() -> None:
        for e in w.stream(v1.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10,
                          label_selector="live=yes"):
            got.append((e["type"], e["object"].metadata.name))
            if len(got) == 2:
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "ignored"}}, _request_timeout=T)
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "l1", "labels": {"live": "yes"}}}, _request_timeout=T)
    # Losing the label is seen as a deletion by a selector-scoped watcher, like the real API.
    v1.patch_namespaced_config_map("l1", ns, {"metadata": {"labels": {"live": None}}}, _request_timeout=T)
    t.join(timeout=15)
    assert got == [("ADDED", "l1"), ("DELETED", "l1")]


def test_watch_from_expired_resource_version_gets_410(api_client: Any, sandbox: SandboxHandle) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    old = v1.create_namespaced_config_map(ns, {"metadata": {"name": "old"}}, _request_timeout=T)
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "newer"}}, _request_timeout=T)
    sandbox.call(lambda: sandbox.sandbox.store.expire_history())
    with pytest.raises(ApiException) as exc:
        for _ in watch.Watch().stream(v1.list_namespaced_config_map, ns,
                                      resource_version=old.metadata.resource_version, timeout_seconds=2):
            pass
    assert exc.value.status == 410
    # The documented recovery works: relist, then watch from the list's resourceVersion.
    rv = v1.list_namespaced_config_map(ns).metadata.resource_version
    assert list(watch.Watch().stream(v1.list_namespaced_config_map, ns, resource_version=rv,
                                     timeout_seconds=1)) == []


def test_bounded_history_expires_old_versions(tmp_path: Any) -> None:
    from digit_tui.sandbox import resources
    from digit_tui.sandbox.store import ApiError, Store

    store = Store(history=10)
    store.create(resources.NAMESPACES, {"metadata": {"name": "default"}})
    first = store.create(resources.CONFIGMAPS, {"metadata": {"name": "c0"}})
    for i in range(1, 30):
        store.create(resources.CONFIGMAPS, {"metadata": {"name": f"c{i}"}})
    with pytest.raises(ApiError) as exc:
        store.watch(resources.CONFIGMAPS, "default", resource_version=first["metadata"]["resourceVersion"])
    assert exc.value.code == 410 and "too old resource version" in exc.value.message
    recent = store.watch(resources.CONFIGMAPS, "default", resource_version=str(int(store.resource_version) - 3))
    assert recent.queue.qsize() == 3


def test_scale_subresource_and_status_subresource(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    ns = _ns(api_client)
    apps.create_namespaced_deployment(ns, _deployment("sc"), _request_timeout=T)
    scale = apps.read_namespaced_deployment_scale("sc", ns, _request_timeout=T)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=sc"
    apps.patch_namespaced_deployment_scale("sc", ns, {"spec": {"replicas": 3}}, _request_timeout=T)
    assert apps.read_namespaced_deployment("sc", ns).spec.replicas == 3
    # A spec update cannot change status; the status subresource can.
    apps.patch_namespaced_deployment("sc", ns, {"status": {"replicas": 99}}, _request_timeout=T)
    assert (apps.read_namespaced_deployment("sc", ns).status.replicas or 0) != 99


def test_delete_with_finalizer_sets_deletion_timestamp(api_client: Any) -> None:
    v1 = client.CoreV1Api(api_client)
    ns = _ns(api_client)
    v1.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}},
                                    _request_timeout=T)
    v1.delete_namespaced_config_map("f", ns, _request_timeout=T)
    held = v1.read_namespaced_config_map("f", ns, _request_timeout=T)
    assert held.metadata.deletion_timestamp is not None
    v1.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}}, _request_timeout=T)
    with pytest.raises(ApiException) as exc:
        v1.read_namespaced_config_map("f", ns, _request_timeout=T)
    assert exc.value.status == 404


def test_invalid_objects_get_422(api_client: Any) -> None:
    apps = client.AppsV1Api(api_client)
    ns = _ns(api_client)
    bad = _deployment("Bad_Name")
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(ns, bad, _request_timeout=T)
    assert exc.value.status == 422 and "Invalid" in exc.value.body
    mismatch = _deployment("mismatch")
    mismatch["spec"]["selector"]["matchLabels"] = {"app": "other"}
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(ns, mismatch, _request_timeout=T)
    assert exc.value.status == 422 and "selector" in exc.value.body
