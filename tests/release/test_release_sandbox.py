"""The release deployed on the sandbox through the real CLI (`digit-tui install --headless`),
checked with the real kubectl: a whole release, a rerun that changes nothing, a bad image
that stops only its dependants, an upgrade that re-applies and prunes only what changed, and a
service left out on purpose."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Install, copy_sample, edit_manifest

KUBECTL = "/usr/bin/kubectl"

BACKBONE = {"zookeeper-v2", "kafka-v2", "elasticsearch-data-v1", "elasticsearch-master-v1"}
AUTHN = {"redis", "nginx-ingress", "zuul"}
CORE = {"egov-mdms-service", "egov-enc-service", "egov-user", "egov-persister", "egov-indexer",
        "egov-workflow-v2", "egov-localization", "egov-idgen"}
AFTER_CORE = {"egov-hrms", "billing-service", "digit-ui", "pgr-services", "property-services"}
ALL_SERVICES = {"cluster-configs"} | BACKBONE | AUTHN | CORE | AFTER_CORE
# The prerequisites phase (no hosts in these answers: the configuration, the API, kubectl).
PREREQUISITES = {"prerequisites-config", "prerequisites-network", "prerequisites-tools", "prerequisites"}
# The cluster phase (these answers name a kubeconfig, so the existing-cluster checks) and the
# volumes phase (the sandbox's default StorageClass, the backbone's claims bound).
# The answers' default database.mode in-cluster: PostgreSQL deployed after cluster-configs, checked from a pod.
DATABASE = {"postgres-render", "postgres-in-cluster", "postgres-from-cluster"}
ALL_TASKS = PREREQUISITES | {"cluster", "volumes", "volumes-bound", "helm-config", "render",
                             "release-record"} | ALL_SERVICES | DATABASE

BAD_ENC = "egovio/egov-enc-service:v0.0.0-missing"      # the sandbox's registry has no such tag
GOOD_ENC = "egovio/egov-enc-service:v1.1.3-44558a0602-3"


def kubectl(inst: Install, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([KUBECTL, "--kubeconfig", str(inst.kubeconfig), "--cache-dir", str(inst.tmp / "kcache"),
                           "--request-timeout", "20s", *args], capture_output=True, text=True, timeout=60)


def kget(inst: Install, *args: str) -> dict[str, Any]:
    r = kubectl(inst, "get", *args, "-o", "json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def not_ready_workloads(inst: Install) -> list[str]:
    items = kget(inst, "deployments,statefulsets", "-A", "-l", "app.kubernetes.io/managed-by=digit-tui")["items"]
    bad = [f"{i['kind']} {i['metadata']['name']}" for i in items
           if (i.get("status") or {}).get("readyReplicas", 0) != i["spec"].get("replicas", 1)]
    assert items, "no managed workloads found"
    return bad


@pytest.fixture
def slow_cluster(tmp_path: Path) -> Iterator[Any]:
    """Delays /2 so that the first install takes long enough to compare a rerun with."""
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "sandbox-slow", nodes=3, speed=2.0) as handle:
        yield handle


def test_whole_release_deploys_and_a_rerun_changes_nothing(tmp_path: Path, slow_cluster: Any) -> None:
    inst = Install(tmp_path, slow_cluster.kubeconfig_path)
    inst.write_answers()
    try:
        first, first_time = inst.install()
        assert first.returncode == 0, first.stderr + first.stdout[-3000:]
        assert "install complete" in first.stderr
        assert {t: s["state"] for t, s in inst.tasks().items()} == {t: "done" for t in ALL_TASKS}

        # every workload of every module is ready, as kubectl sees it
        assert not_ready_workloads(inst) == []
        deployments = kget(inst, "deployments", "-A", "-l", "app.kubernetes.io/managed-by=digit-tui")["items"]
        assert {d["metadata"]["labels"]["digit.org/service"] for d in deployments} >= CORE | AFTER_CORE
        user = kget(inst, "deployment", "egov-user", "-n", "egov")
        assert user["metadata"]["annotations"]["digit.org/digest"].startswith("sha256:")
        assert user["spec"]["template"]["spec"]["containers"][0]["image"] == "egovio/egov-user:v1.3.0-6cfa52c1f9-2"
        record = kget(inst, "configmap", "digit-tui-release", "-n", "egov")["data"]
        assert record["release"] == "v2.8"
        recorded = json.loads(record["services.json"])
        assert set(recorded) == ALL_SERVICES
        assert recorded["egov-user"]["tag"] == "v1.3.0-6cfa52c1f9-2"
        # the journal has the release too
        assert inst.tasks()["release-record"]["outputs"]["services"] == recorded

        second, second_time = inst.install()
        assert second.returncode == 0, second.stderr
        assert inst.applied() == set()
        assert inst.converged() == ALL_TASKS
        # The first install's time is mostly the sandbox's rollout delays, the rerun's is CPU (render,
        # checks) that other test workers slow down; a rerun that waited on rollouts would take about
        # as long as the first, hence a bound that holds on a busy machine.
        assert second_time < 0.5 * first_time, (first_time, second_time)
    finally:
        inst.kill_engine()


def test_bad_image_fails_its_service_blocks_dependants_and_a_rerun_finishes(tmp_path: Path, install: Install) -> None:
    source = copy_sample(tmp_path / "digit-src")
    edit_manifest(source, GOOD_ENC, BAD_ENC)
    install.write_answers(source=source)

    failed, _ = install.install()
    assert failed.returncode == 1
    assert f"FAILED egov-enc-service: egov-enc-service is not ready: Deployment egov/egov-enc-service: " \
           f"image {BAD_ENC} cannot be pulled" in failed.stderr
    assert "remedy: check the image name and tag" in failed.stderr
    states = {t: s["state"] for t, s in install.tasks().items()}
    assert states["egov-enc-service"] == "failed"
    assert {t for t, s in states.items() if s == "blocked"} == AFTER_CORE | {"release-record"}
    assert {t for t, s in states.items() if s == "done"} == \
        PREREQUISITES | {"cluster", "volumes", "volumes-bound", "helm-config", "render", "cluster-configs"} | BACKBONE \
        | AUTHN | (CORE - {"egov-enc-service"}) | DATABASE
    # dependants were never attempted: nothing of theirs is in the cluster
    assert kubectl(install, "get", "deployment", "egov-hrms", "-n", "egov").returncode != 0
    assert not_ready_workloads(install) == ["Deployment egov-enc-service"]

    edit_manifest(source, BAD_ENC, GOOD_ENC)
    fixed, _ = install.install()
    assert fixed.returncode == 0, fixed.stderr
    assert install.applied() == {"render", "egov-enc-service", "release-record"} | AFTER_CORE
    assert install.converged() == ALL_TASKS - install.applied()
    assert not_ready_workloads(install) == []


def test_upgrade_reapplies_the_changed_service_and_prunes_the_removed_one(tmp_path: Path, install: Install) -> None:
    source = copy_sample(tmp_path / "digit-src")
    install.write_answers(source=source)
    first, _ = install.install()
    assert first.returncode == 0, first.stderr
    assert kget(install, "deployment", "billing-service", "-n", "egov")

    edit_manifest(source, "egovio/egov-idgen:v1.2.3-44558a0602-7", "egovio/egov-idgen:v1.2.4-9a8b7c6d5e-9")
    edit_manifest(source, "egovio/billing-service:v1.3.5-0b4d2c8e91-28", None)
    edit_manifest(source, "egovio/billing-service-db:v1.3.5-0b4d2c8e91-28", None)
    upgrade, _ = install.install()
    assert upgrade.returncode == 0, upgrade.stderr
    assert install.applied() == {"render", "egov-idgen", "release-record"}
    assert "billing-service" not in install.tasks()

    idgen = kget(install, "deployment", "egov-idgen", "-n", "egov")
    assert idgen["spec"]["template"]["spec"]["containers"][0]["image"] == "egovio/egov-idgen:v1.2.4-9a8b7c6d5e-9"
    leftovers = kget(install, "deployments,services,ingresses", "-A", "-l", "digit.org/service=billing-service")
    assert leftovers["items"] == []
    recorded = json.loads(kget(install, "configmap", "digit-tui-release", "-n", "egov")["data"]["services.json"])
    assert "billing-service" not in recorded
    assert recorded["egov-idgen"]["tag"] == "v1.2.4-9a8b7c6d5e-9"
    assert any(t == "release-record" and "pruning service billing-service" in m for t, m in install.events())
    assert not_ready_workloads(install) == []

    # Left out on purpose (digit.skip_services): no task, recorded as skipped, and what the earlier
    # install deployed of it stays (skipping is not asking to delete).
    install.write_answers(source=source, skip_services=["egov-idgen"])
    skipped, _ = install.install()
    assert skipped.returncode == 0, skipped.stderr
    assert "egov-idgen" not in install.tasks()
    assert install.applied() == {"render", "release-record"}
    assert kget(install, "deployment", "egov-idgen", "-n", "egov")
    record = kget(install, "configmap", "digit-tui-release", "-n", "egov")["data"]
    assert record["skipped"] == "egov-idgen" and "egov-idgen" not in json.loads(record["services.json"])
    assert any(t == "render" and "left out on purpose (digit.skip_services): egov-idgen" in m
               for t, m in install.events())
    health = install.cli("health", "--once", "--json", "--kubeconfig", str(install.kubeconfig), timeout=60)
    assert json.loads(health.stdout)["release"]["skipped_on_purpose"] == ["egov-idgen"], health.stderr
    text = install.cli("health", "--once", "--kubeconfig", str(install.kubeconfig), timeout=60)
    assert "skipped on purpose: egov-idgen" in text.stdout, text.stderr
