"""The cluster phase's judgement of facts and kubeconfigs, on the shapes real clusters answer
with (EKS/GKE's "27+" minors, the beta default-class annotation, kubeconfigs without a
current-context) and on an API server too old for digit-tui."""

from __future__ import annotations

import pytest

from digit_tui.errors import PermanentError
from digit_tui.tasks.cluster_facts import (ClusterFacts, NodeFact, Requirements, ServerVersion, context_of,
                                           kubeconfig_doc, node_fact, parse_version, problems, storage_class_fact)


def facts(version: ServerVersion, *, nodes: tuple[NodeFact, ...] = (NodeFact("n1", True),),
          default: bool = True) -> ClusterFacts:
    sc = storage_class_fact({"metadata": {"name": "gp2", "annotations": {
        "storageclass.beta.kubernetes.io/is-default-class": "true" if default else "false"}}, "provisioner": "ebs"})
    return ClusterFacts("https://eks.example:443", version, nodes, (sc,))


def test_versions_as_managed_clusters_say_them() -> None:
    assert parse_version({"major": "1", "minor": "27+", "gitVersion": "v1.27.16-eks-a18cd3a"}) == \
        ServerVersion(1, 27, "v1.27.16-eks-a18cd3a")
    assert parse_version({"gitVersion": "v1.29.2+k3s1"}) == ServerVersion(1, 29, "v1.29.2+k3s1")
    with pytest.raises(ValueError):
        parse_version({"platform": "linux/amd64"})


def test_an_old_server_is_refused_with_the_minimum_and_why() -> None:
    found = problems(facts(parse_version({"major": "1", "minor": "21", "gitVersion": "v1.21.14"})), Requirements())
    assert [p.waitable for p in found] == [False]
    assert found[0].message.startswith("the cluster runs Kubernetes v1.21.14; digit-tui needs 1.22 or newer")
    assert "server-side apply" in found[0].message and "upgrade the cluster" in found[0].remedy
    assert problems(facts(ServerVersion(1, 22, "v1.22.0")), Requirements()) == []


def test_the_beta_default_annotation_counts_and_no_nodes_is_waited_for() -> None:
    assert problems(facts(ServerVersion(1, 30, "v1.30.1")), Requirements()) == []
    none = problems(facts(ServerVersion(1, 30, "v1.30.1"), nodes=(), default=False), Requirements())
    assert [(p.message.split(" (")[0], p.waitable) for p in none] == [
        ("the cluster has no nodes", True), ("the cluster has no default StorageClass", False)]


def test_a_node_without_a_ready_condition_is_not_ready() -> None:
    assert node_fact({"metadata": {"name": "w1"}, "status": {}}) == \
        NodeFact("w1", False, "no Ready condition yet (kubelet not registered)")


def test_the_context_to_use() -> None:
    doc = kubeconfig_doc("clusters: [{name: a}]\ncontexts: [{name: a}, {name: b}]\ncurrent-context: b\n", "kc")
    assert context_of(doc, "kc") == "b" and context_of(doc, "kc", "a") == "a"
    with pytest.raises(PermanentError, match="the context c is not in kc \\(it has: a, b\\)"):
        context_of(doc, "kc", "c")
    with pytest.raises(PermanentError, match="names no current-context and has 2 contexts"):
        context_of({**doc, "current-context": ""}, "kc")
    assert context_of({"contexts": [{"name": "only"}]}, "kc") == "only"
    with pytest.raises(PermanentError, match="^kc is not a kubeconfig"):
        kubeconfig_doc("token: s3cr3t-value\n", "kc")
