"""Running tags: a service the release manifest leaves untagged takes the tag of the Deployment
labelled app=<name> running in the cluster, as DIGIT's deployer does; one digit-tui applied keeps
the tag it was rendered with; no cluster, or one that does not answer, gives none (and says why)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.tasks.runningtags import image_tag, lookup, pick

from tests.release.conftest import config_for, with_answers

KUBECTL = "/usr/bin/kubectl"


@pytest.mark.parametrize("image, tag", [
    ("egovio/redis:3.2", "3.2"),
    ("docker.elastic.co/kibana/kibana:6.6.2", "6.6.2"),
    ("registry.local:5000/egovio/zuul", None),            # a port is not a tag
    ("egovio/zuul:v1.3.2@sha256:" + "0" * 64, "v1.3.2"),
    ("egovio/zuul", None),
])
def test_image_tag(image: str, tag: str | None) -> None:
    assert image_tag(image) == tag


def deployment(name: str, namespace: str, image: str, annotations: dict[str, str] | None = None,
               app: str | None = None) -> dict[str, Any]:
    labels = {"app": app or name}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations or {}},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": image}]}}}}


def test_pick_takes_the_first_by_namespace_and_digit_tuis_own_record() -> None:
    deps = [deployment("redis", "zz-other", "egovio/redis:9"), deployment("redis", "backbone", "egovio/redis:3.2"),
            deployment("kibana-v1", "es-cluster", "docker.elastic.co/kibana/kibana:6.6.2",
                       annotations={"digit.org/tag": ""}),
            deployment("zuul", "egov", "egovio/zuul:v1", annotations={"digit.org/tag": "v1.3.2"}),
            deployment("unrelated", "egov", "x:1")]
    tags, seen = pick(deps, ["redis", "kibana-v1", "zuul", "kafka-v2"])
    assert tags == {"redis": "3.2", "zuul": "v1.3.2"}
    assert seen == {"redis", "kibana-v1", "zuul"}


def test_lookup_reads_the_cluster(tmp_path: Path, cluster: Any) -> None:
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "legacy"}},
            deployment("redis", "legacy", "egovio/redis:3.2.99"),
            deployment("kibana-v1", "legacy", "docker.elastic.co/kibana/kibana:6.6.2",
                       annotations={"digit.org/tag": ""})]
    applied = subprocess.run([KUBECTL, "--kubeconfig", str(cluster.kubeconfig_path), "--cache-dir",
                              str(tmp_path / "kcache"), "--request-timeout", "20s", "apply", "-f", "-"],
                             input=yaml.safe_dump_all(docs), capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    found = lookup(config_for(tmp_path, kubeconfig=str(cluster.kubeconfig_path)), ["redis", "kibana-v1", "zuul"])
    assert found.tags == {"redis": "3.2.99"}
    assert found.note == ("untagged services: take the tag running in the cluster: redis:3.2.99; 1 run with their "
                          "chart's own tag and keep it; 1 have no Deployment in the cluster and use their chart's "
                          "own tag")


def test_no_cluster_or_a_silent_one_gives_no_running_tags(tmp_path: Path, cluster: Any) -> None:
    none = lookup(with_answers(config_for(tmp_path), target={"provider": "existing"}), ["redis"])
    assert none.tags == {} and none.note.startswith("no cluster configured: 1 untagged services take no running tag")

    with socket.socket() as s:      # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = yaml.safe_load(cluster.kubeconfig_path.read_text())
    for c in config["clusters"]:
        c["cluster"]["server"] = f"https://127.0.0.1:{port}"
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    gone = lookup(config_for(tmp_path, kubeconfig=str(dead), name="dead-answers.yaml"), ["redis"], timeout=2.0)
    assert gone.tags == {}
    assert gone.note.startswith("the cluster did not answer within 2 s (")
    assert gone.note.endswith("1 untagged services take no running tag")
