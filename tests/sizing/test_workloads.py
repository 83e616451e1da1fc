"""Rendered objects → workloads: the scheduler's request rules."""

from __future__ import annotations

from digit_tui.sizing.workloads import pod_requests, workloads_from_objects


def c(name, cpu=None, mem=None, lim_cpu=None, lim_mem=None, **extra):
    res = {}
    if cpu or mem:
        res["requests"] = {k: v for k, v in (("cpu", cpu), ("memory", mem)) if v}
    if lim_cpu or lim_mem:
        res["limits"] = {k: v for k, v in (("cpu", lim_cpu), ("memory", lim_mem)) if v}
    return {"name": name, "image": "x", "resources": res, **extra}


def test_init_container_max_rule():
    spec = {"initContainers": [c("migrate", "1", "1Gi")], "containers": [c("app", "250m", "512Mi"), c("side", "50m", "64Mi")]}
    # A one-shot init runs alone: the pod needs the larger of it and the app sum, per resource.
    assert pod_requests(spec) == (1000, 2**30, False)
    spec["initContainers"] = [c("migrate", "100m", "128Mi")]
    assert pod_requests(spec) == (300, 576 * 2**20, False)


def test_sidecar_init_containers_add_to_the_pod():
    spec = {"initContainers": [c("proxy", "100m", "100Mi", restartPolicy="Always"), c("migrate", "500m", "200Mi")],
            "containers": [c("app", "200m", "300Mi")]}
    # migrate runs beside the sidecar: 600m/300Mi; steady state: sidecar + app = 300m/400Mi.
    assert pod_requests(spec) == (600, 400 * 2**20, False)


def test_limits_stand_in_for_missing_requests_and_overhead_adds():
    spec = {"containers": [c("app", lim_cpu="2", lim_mem="1Gi")], "overhead": {"cpu": "100m", "memory": "64Mi"}}
    assert pod_requests(spec) == (2100, 2**30 + 64 * 2**20, False)


def test_unset_request_is_flagged_for_app_containers_only():
    assert pod_requests({"containers": [c("app")]}) == (0, 0, True)
    assert pod_requests({"initContainers": [c("sysctl")], "containers": [c("app", "1", "1Gi")]})[2] is False


def sts(name, replicas=3, storage="50Gi", anti=False):
    labels = {"app": name}
    spec = {"containers": [c("main", "250m", "1408Mi")]}
    if anti:
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}]}}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "namespace": "kafka-cluster"},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": labels}, "spec": spec},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"resources": {"requests": {"storage": storage}}}}]}}


def test_statefulset_claims_replicas_and_anti_affinity():
    objs = [sts("kafka-v2", anti=True), {"kind": "Service", "metadata": {"name": "kafka-v2"}},
            {"kind": "Job", "metadata": {"name": "once"}, "spec": {"template": {"spec": {"containers": [c("x", "8", "64Gi")]}}}}]
    [w] = workloads_from_objects(objs, service="kafka-v2", module="backbone")
    assert (w.kind, w.namespace, w.replicas, w.cpu_m, w.mem_b) == ("StatefulSet", "kafka-cluster", 3, 250, 1408 * 2**20)
    assert w.claims[0].size_b == 50 * 2**30 and w.claims[0].per_replica
    assert w.one_per_node and not w.daemonset


def test_static_pvs_give_a_claimless_statefulset_its_disk_and_daemonsets_are_marked():
    objs = [sts("zookeeper-v2", storage="5Gi"), {"kind": "PersistentVolume", "metadata": {"name": "zk-0"},
                                                  "spec": {"capacity": {"storage": "10Gi"}}}]
    objs[0]["spec"].pop("volumeClaimTemplates")
    [w] = workloads_from_objects(objs, service="zookeeper-v2", module="backbone")
    assert w.claims[0].size_b == 10 * 2**30
    ds = {"kind": "DaemonSet", "metadata": {"name": "fluent-bit"},
          "spec": {"template": {"spec": {"containers": [c("fb", "50m", "64Mi")]}}}}
    [d] = workloads_from_objects([ds], service="fluent-bit", module="backbone", request_path=frozenset({"x"}))
    assert d.daemonset and d.replicas == 1 and not d.request_path
