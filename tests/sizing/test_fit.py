"""Fit check against real capacity: VM lists, preflight facts and a cluster's nodes."""

from __future__ import annotations

import pytest

from digit_tui.errors import InputError
from digit_tui.sizing import fit, presets, synthetic
from digit_tui.sizing.model import Flavor, SizingInputs, Workload
from digit_tui.sizing.planner import database_workloads, plan
from digit_tui.sizing.quantity import GI

PRESET = presets.load("sdc-dev")
WORKLOADS = synthetic.digit_like(modules=2)
INPUTS = SizingInputs(ulbs=10, flavor="8C/16G")


def test_the_planned_workers_fit_with_headroom_and_a_spare():
    p = plan(WORKLOADS, INPUTS, PRESET)
    report = fit.check(WORKLOADS, INPUTS, PRESET, fit.nodes_from_spec(f"{p.workers}x8C/16G"))
    assert report.fits and report.spare_ok and not report.unschedulable
    # The plan packs to 80 % and adds a spare node, so well over 20 % is left.
    assert report.headroom > 0.2
    assert report.summary() == f"fits with {int(report.headroom * 100)} % headroom on {p.workers} nodes"


def test_too_few_workers_is_short_by_whole_workers_of_the_flavor():
    p = plan(WORKLOADS, SizingInputs(ulbs=10, flavor="8C/16G", ha=False), PRESET)
    few = fit.nodes_from_spec(f"{max(p.workers - 2, 1)}x8C/16G")
    report = fit.check(WORKLOADS, INPUTS, PRESET, few, flavor=Flavor.parse("8C/16G"))
    assert not report.fits and report.short_by >= 1
    assert report.summary() == f"short by {report.short_by} worker{'s' if report.short_by > 1 else ''} of 8C/16G"
    assert report.unschedulable and all("would not schedule (needs" in u.message() for u in report.unschedulable)
    # Adding exactly the shortfall makes it fit.
    more = fit.nodes_from_spec(f"{len(few) + report.short_by}x8C/16G")
    assert fit.check(WORKLOADS, INPUTS, PRESET, more).fits


def test_a_cluster_with_no_node_to_spare_is_flagged_for_n_plus_1():
    # The tightest cluster that still fits cannot lose a node: N+1 is not met.
    k = next(k for k in range(1, 20) if fit.check(WORKLOADS, INPUTS, PRESET, fit.nodes_from_spec(f"{k}x8C/16G")).fits)
    report = fit.check(WORKLOADS, INPUTS, PRESET, fit.nodes_from_spec(f"{k}x8C/16G"))
    assert report.fits and not report.spare_ok
    assert "no N+1 spare: short by 1 worker of 8C/16G" in report.summary()
    assert fit.check(WORKLOADS, INPUTS, PRESET, fit.nodes_from_spec(f"{k + 1}x8C/16G")).spare_ok


def test_a_pod_larger_than_every_node_is_named_with_its_need():
    big = Workload("reports", "m_x", "Deployment", "egov", "reports", 1, 500, 4 * GI)
    nodes = fit.nodes_from_spec("6x2C/4G")
    report = fit.check([*WORKLOADS, big], INPUTS, PRESET, nodes)
    msgs = [u.message() for u in report.unschedulable]
    assert "pod egov/reports would not schedule on any node (needs 500m CPU, 4Gi: larger than every node)" in msgs


def test_an_in_cluster_database_is_placed_as_the_plan_sizes_it():
    """At 500 ULBs the plan's in-cluster Postgres wants more memory than an 8C/16G node has: the fit
    check says so instead of finding room for the release without its database."""
    inputs = SizingInputs(ulbs=500, db_mode="in-cluster")
    [db] = database_workloads(inputs, PRESET, False, "in-cluster")
    nodes = fit.nodes_from_spec("40x8C/16G")
    report = fit.check(WORKLOADS, inputs, PRESET, nodes)
    assert db.mem_b > 16 * GI
    assert any(u.workload.endswith("postgres") and u.never for u in report.unschedulable), report.unschedulable
    assert not report.fits
    # With the database outside the cluster, the same nodes hold the release.
    assert fit.check(WORKLOADS, SizingInputs(ulbs=500, db_mode="vm"), PRESET, nodes).fits


def test_preflight_facts_in_their_usual_spellings():
    facts = [{"name": "w1", "cpus": 8, "mem_total_kb": 16 * 1024 * 1024},
             {"hostname": "w2", "vcpus": "8", "memory": "16Gi"},
             {"host": "db", "role": "db", "cpus": 4, "memory_bytes": 16 * GI}]
    nodes = fit.nodes_from_facts(facts)
    assert [(n.name, n.cpu_m, n.mem_b) for n in nodes] == [("w1", 8000, 16 * GI), ("w2", 8000, 16 * GI)]
    with pytest.raises(InputError, match="no memory size"):
        fit.nodes_from_facts([{"name": "x", "cpus": 2}])
    with pytest.raises(InputError, match="not a node flavor"):
        fit.nodes_from_spec("6 x")


def test_cluster_nodes_are_read_through_the_kubernetes_api(tmp_path):
    runtime = pytest.importorskip("digit_tui.sandbox.runtime")
    with runtime.start_sandbox(tmp_path / "sb", nodes=2, node_cpu="4", node_memory="8Gi") as handle:
        nodes = fit.nodes_from_cluster(str(handle.kubeconfig_path))
    assert [(n.cpu_m, n.mem_b, n.allocatable) for n in nodes] == [(4000, 8 * GI, True)] * 2
    report = fit.check(WORKLOADS, INPUTS, PRESET, nodes)
    assert not report.fits and report.short_flavor.name == "4C/8G" and report.short_by >= 1


def test_what_other_pods_take_counts_their_init_containers_as_the_scheduler_does(tmp_path):
    """A pod whose init container asks for more than its app containers holds the larger amount
    (kube-scheduler's effective request); the release's own namespaces are left out."""
    runtime = pytest.importorskip("digit_tui.sandbox.runtime")
    from digit_tui.infra.kube import Kube

    def pod(name, ns, init_cpu, app_cpu):
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
                "spec": {"nodeName": "node-1",
                         "initContainers": [{"name": "migrate", "image": "x:1",
                                             "resources": {"requests": {"cpu": init_cpu, "memory": "1Gi"}}}],
                         "containers": [{"name": "app", "image": "x:1",
                                         "resources": {"requests": {"cpu": app_cpu, "memory": "512Mi"}}}]}}

    with runtime.start_sandbox(tmp_path / "sb", nodes=2, node_cpu="8", node_memory="16Gi") as handle:
        with Kube(handle.kubeconfig_path) as kube:
            for ns in ("monitoring", "egov"):
                kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            kube.apply(pod("prometheus", "monitoring", "3", "500m"))
            kube.apply(pod("egov-user", "egov", "2", "1"))
        nodes = {n.name: n for n in fit.nodes_from_cluster(str(handle.kubeconfig_path), release_namespaces=["egov"])}
    assert nodes["node-1"].used_cpu == 3000 and nodes["node-1"].used_mem == GI
    assert nodes["node-1"].used_pods == 2                  # both take a pod slot
    assert nodes["node-2"].used_cpu == 0
