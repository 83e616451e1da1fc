"""The release graph's shape, and the helm-config and render tasks run by the real scheduler
(no cluster needed): files generated, secrets kept, reruns converge, outputs published."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.engine.journal import Journal
from digit_tui.errors import InputError
from digit_tui.engine.scheduler import GraphError, Scheduler, validate_graph
from digit_tui.engine.task import Load
from digit_tui.tasks.graph import install_graph
from digit_tui.tasks.helmconfig import HelmConfigTask
from digit_tui.tasks.render import RenderTask

from .conftest import answers_text, config_for, copy_sample, edit_manifest, with_answers

BACKBONE = {"zookeeper-v2", "kafka-v2", "elasticsearch-data-v1", "elasticsearch-master-v1"}
AUTHN = {"redis", "nginx-ingress", "zuul"}
CORE = {"egov-mdms-service", "egov-enc-service", "egov-user", "egov-persister", "egov-indexer",
        "egov-workflow-v2", "egov-localization", "egov-idgen"}


def test_graph_orders_services_by_module_and_runs_a_module_in_parallel(tmp_path: Path) -> None:
    tasks = install_graph(config_for(tmp_path))
    deps = {t.id: set(t.deps) for t in tasks}
    order = validate_graph(tasks)
    # The prerequisites come first, then the cluster phase; the release starts once it has published.
    pre = [t.id for t in tasks if t.phase == "prerequisites"]
    assert pre and set(order[:len(pre)]) == set(pre) and order[len(pre) - 1] == "prerequisites"
    assert order[len(pre)] == "cluster" and deps["cluster"] == {"prerequisites"}
    # The volumes phase: the StorageClass before the env file; the claims checked beside the backbone.
    assert deps["volumes"] == {"cluster"} and deps["helm-config"] == {"cluster", "volumes"}
    assert deps["volumes-bound"] == {"volumes", "cluster-configs"} and "volumes-bound" in deps["release-record"]
    pre += ["cluster", "volumes"]
    # The in-cluster database's chart renders from helm-config's files alone, beside the release's render.
    assert deps["postgres-render"] == {"helm-config"}
    order = [t for t in order[len(pre):] if t not in ("volumes-bound", "postgres-render")]
    assert order[:3] == ["helm-config", "render", "cluster-configs"]
    assert order[-1] == "release-record"
    assert deps["cluster-configs"] == {"render"}
    assert deps["zookeeper-v2"] == {"render", "cluster-configs"}
    # core waits for all of backbone and authn-authz, and its services do not wait for each other;
    # those that migrate a schema also for the database, checked from inside the cluster
    assert deps["postgres-from-cluster"] == {"cluster-configs", "postgres-in-cluster"}
    assert deps["egov-user"] == {"render", "cluster-configs", "postgres-from-cluster"} | BACKBONE | AUTHN
    assert deps["egov-mdms-service"] == {"render", "cluster-configs"} | BACKBONE | AUTHN
    assert not (deps["egov-user"] & CORE)
    assert deps["egov-hrms"] == {"render", "cluster-configs", "postgres-from-cluster"} | CORE
    assert deps["pgr-services"] == {"render", "cluster-configs", "postgres-from-cluster"} | CORE | \
        {"egov-hrms", "billing-service"}
    assert deps["release-record"] == {t.id for t in tasks} - {"helm-config", "render", "release-record", *pre}


def test_graph_without_modules_leaves_out_the_m_modules(tmp_path: Path) -> None:
    ids = {t.id for t in install_graph(config_for(tmp_path, modules=[]))}
    assert "egov-user" in ids and "digit-ui" in ids
    assert "pgr-services" not in ids and "property-services" not in ids
    ids = {t.id for t in install_graph(config_for(tmp_path, modules=["m_pgr"]))}
    assert "pgr-services" in ids and "property-services" not in ids


def test_a_service_skipped_on_purpose_has_no_task_and_nothing_waits_for_it(tmp_path: Path) -> None:
    tasks = {t.id: t for t in install_graph(config_for(tmp_path, digit={"skip_services": ["egov-idgen", "redis"]}))}
    assert "egov-idgen" not in tasks and "redis" not in tasks
    assert not any({"egov-idgen", "redis"} & set(t.deps) for t in tasks.values())
    assert tasks["egov-user"].deps and "zuul" in tasks["egov-user"].deps   # the rest of authn-authz still first


def test_validate_refuses_a_skipped_service_the_release_does_not_have_at_its_line(tmp_path: Path) -> None:
    from digit_tui.answers import load_answers

    answers = tmp_path / "answers.yaml"
    answers.write_text("environment: dev\ntarget: {provider: sandbox}\ndigit:\n  domain: digit.local\n"
                       "  modules: [m_pgr]\n  skip_services:\n    - redis\n    - egov-idgn\n")
    with pytest.raises(InputError) as err:
        load_answers(answers)
    assert err.value.line == 8 and "egov-idgn is not a service" in str(err.value)
    assert "did you mean egov-idgen?" in str(err.value)


def test_a_release_relative_to_deploy_as_code_helm_is_accepted(tmp_path: Path) -> None:
    """DIGIT's docs name releases from deploy-as-code/helm; the tree's root is the source."""
    source = copy_sample(tmp_path / "src")
    config = config_for(tmp_path, source=source,
                        digit={"release": "product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"})
    assert "egov-user" in {t.id for t in install_graph(config)}


def test_a_database_on_a_vm_is_converged_before_cluster_configs(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    hosts = [{"name": "db-1", "address": "10.20.0.31", "user": "ubuntu", "ssh_key": str(key), "roles": ["db"]},
             {"name": "worker-1", "address": "10.20.0.21", "user": "ubuntu", "ssh_key": str(key), "roles": ["worker"]}]
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig

    doc = yaml.safe_load(answers_text())
    doc.update(hosts=hosts, database={"mode": "vm"})
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(doc))
    config = InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp_path / "state")
    tasks = {t.id: t for t in install_graph(config)}
    # The password is the generated one (no password_file): helm-config writes it first.
    assert set(tasks["postgres-vm"].deps) == {"prerequisites", "helm-config"}
    assert tasks["postgres"].deps == ("postgres-vm",)
    assert "postgres" in tasks["cluster-configs"].deps


def test_kubeadm_answers_put_the_kubeadm_phases_before_the_cluster_task(tmp_path: Path) -> None:
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig
    from digit_tui.tasks.kubeadm import KUBECONFIG

    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    doc = {"environment": "lab", "target": {"provider": "sdc"},
           "hosts": [{"name": "master-1", "address": "10.20.0.11", "user": "ubuntu", "ssh_key": str(key),
                      "roles": ["master"]},
                     {"name": "worker-1", "address": "10.20.0.21", "user": "ubuntu", "ssh_key": str(key),
                      "roles": ["worker"]}],
           "cluster": {"mode": "kubeadm", "kubernetes_version": "1.31",
                       "package_repository": "http://mirror.sdc.local/k8s/v1.31/deb/",
                       "package_repository_trusted": True},
           "digit": {"domain": "digit.local", "modules": ["m_pgr"]}}
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(doc))
    config = InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp_path / "state")
    tasks = {t.id: t for t in install_graph(config)}
    assert tasks["cluster"].deps == (KUBECONFIG,) and tasks["cluster"].title.endswith("(kubeadm)")
    prepare = [t for tid, t in tasks.items() if tid.startswith("kubeadm-prepare-")]
    assert {t.id for t in prepare} == {"kubeadm-prepare-master-1", "kubeadm-prepare-worker-1"}
    assert all(set(t.deps) == {"prerequisites"} for t in prepare)
    packages = prepare[0].fleet.packages
    assert (packages.kubernetes_version, packages.repository, packages.trusted) == \
        ("1.31", "http://mirror.sdc.local/k8s/v1.31/deb/", True)


async def test_monitoring_and_jenkins_come_from_the_source_only_when_the_phases_ask(tmp_path: Path) -> None:
    """The phases deploy the source's own charts (tests/monitoring, tests/jenkins run them on the
    real tree and on the bundled sample), after cluster-configs; the plan says what they would do.
    The release itself never deploys those charts: they are not in the manifest."""
    from digit_tui.engine.plan import dry_run_all

    config = config_for(tmp_path, phases={"monitoring": True, "jenkins": True},
                        jenkins={"repositories": ["git@github.com:egovernments/DIGIT-OSS.git"]})
    tasks = {t.id: t for t in install_graph(config)}
    monitoring = ["monitoring-render", "monitoring-prometheus-operator", "monitoring-grafana", "monitoring-jaeger",
                  "monitoring-prometheus-node-exporter", "monitoring-alertmanager-config"]
    assert [i for i in tasks if i.startswith("monitoring")] == monitoring
    assert set(tasks["monitoring-render"].deps) == {"helm-config", "cluster-configs"}
    assert set(tasks["jenkins-render"].deps) == {"helm-config", "cluster-configs"}
    assert tasks["jenkins"].deps == ("jenkins-render",)
    # Every render computes here, so each holds one of the cores (engine/limits.py); the rest wait.
    assert {i for i, t in tasks.items() if t.load is Load.CPU} == {"render", "postgres-render", "monitoring-render",
                                                                  "jenkins-render"}
    plan = await dry_run_all([tasks["monitoring-render"], tasks["jenkins"]])
    assert plan["monitoring-render"][0].startswith(
        "would render prometheus-operator, grafana, jaeger, prometheus-node-exporter from the DIGIT source")
    assert "kube-state-metrics: deployed by the prometheus-operator chart" in plan["monitoring-render"][1]
    assert plan["jenkins"][0].startswith("would deploy the source's jenkins chart into namespace jenkins")
    assert "git@github.com:egovernments/DIGIT-OSS.git" in plan["jenkins"][0]
    # Off by default (tier dev): no phase task, and the release deploys none of their charts.
    off = {t.id for t in install_graph(config_for(tmp_path, name="off.yaml"))}
    charts = {"prometheus-operator", "kube-state-metrics", "grafana", "jaeger", "prometheus-node-exporter", "jenkins"}
    assert not {i for i in off if i in charts or i.startswith(("monitoring", "jenkins"))}


def test_graph_reports_an_unknown_service_as_bad_input(tmp_path: Path) -> None:
    source = copy_sample(tmp_path / "src")
    edit_manifest(source, "egovio/egov-idgen:v1.2.3-44558a0602-7", "egovio/egov-idgenx:v1.2.3-44558a0602-7")
    with pytest.raises(GraphError, match="egov-idgenx"):
        install_graph(config_for(tmp_path, source=source))


async def run_tasks(config: Any, tmp: Path, tag: str) -> tuple[str, dict[str, Any]]:
    (tmp / f"journal-{tag}").mkdir()
    journal = Journal.in_dir(tmp / f"journal-{tag}")
    try:
        run = journal.create_run("dev", "test", {}, None)
        sched = Scheduler([HelmConfigTask(config), RenderTask(config)], journal, run)
        final = await sched.run()
        checks = {t: m for t, m in [(e.task, e.message) for e in journal.events(run) if e.kind == "check"]}
        return final, {"outputs": sched.outputs, "checks": checks,
                       "errors": {t.id: t.error for t in journal.tasks(run) if t.error}}
    finally:
        journal.close()


async def test_helm_config_and_render_write_files_then_converge(tmp_path: Path) -> None:
    pw = tmp_path / "db-password"
    pw.write_text("Sup3r-secret-db-password\n")
    pw.chmod(0o600)
    settings = config_for(tmp_path, database={"password_file": str(pw)})

    final, first = await run_tasks(settings, tmp_path, "1")
    assert final == "done", first["errors"]
    helm = tmp_path / "state" / "helm" / "environments"
    env_file, secrets_file = helm / "dev.yaml", helm / "dev-secrets.yaml"
    env = yaml.safe_load(env_file.read_text())
    assert env["global"]["domain"] == "digit.local"
    assert env["cluster-configs"]["configmaps"]["egov-config"]["data"]["db-url"] == \
        "jdbc:postgresql://postgres.egov:5432/egov_db"
    assert os.stat(secrets_file).st_mode & 0o777 == 0o600
    secrets = yaml.safe_load(secrets_file.read_text())["cluster-configs"]["secrets"]
    assert secrets["db"]["username"] == "egov"
    assert secrets["db"]["password"] == "Sup3r-secret-db-password"  # the operator's, not a generated one
    master = secrets["egov-enc-service"]["master-password"]
    assert len(master) >= 32

    rendered = tmp_path / "state" / "rendered"
    services = first["outputs"]["render"]["services"]
    assert set(services) >= {"cluster-configs", "egov-user", "pgr-services"}
    assert services["egov-user"]["tag"] == "v1.3.0-6cfa52c1f9-2"
    assert len(services["egov-user"]["digest"]) == 64
    assert os.stat(rendered / "egov-user.yaml").st_mode & 0o777 == 0o600
    user_docs = list(yaml.safe_load_all((rendered / "egov-user.yaml").read_text()))
    assert any(d["kind"] == "Deployment" and
               d["spec"]["template"]["spec"]["containers"][0]["image"] == "egovio/egov-user:v1.3.0-6cfa52c1f9-2"
               for d in user_docs)
    assert first["checks"] == {"helm-config": "check: not converged", "render": "check: not converged"}

    # A rerun changes nothing, renders nothing, and publishes the same digests.
    before = {p.name: p.stat().st_mtime_ns for p in rendered.iterdir()}
    final, second = await run_tasks(settings, tmp_path, "2")
    assert final == "done"
    assert second["checks"] == {"helm-config": "check: already converged", "render": "check: already converged"}
    assert second["outputs"]["render"]["services"] == services
    assert {p.name: p.stat().st_mtime_ns for p in rendered.iterdir()} == before
    assert yaml.safe_load(secrets_file.read_text())["cluster-configs"]["secrets"]["egov-enc-service"][
        "master-password"] == master

    # A changed answer (the domain) regenerates the env file and re-renders; secrets stay.
    settings = config_for(tmp_path, database={"password_file": str(pw)}, digit={"domain": "digit.example.gov.in"})
    final, third = await run_tasks(settings, tmp_path, "3")
    assert final == "done"
    assert third["checks"] == {"helm-config": "check: not converged", "render": "check: not converged"}
    assert yaml.safe_load(env_file.read_text())["global"]["domain"] == "digit.example.gov.in"
    assert third["outputs"]["render"]["services"]["cluster-configs"]["digest"] != services["cluster-configs"]["digest"]
    # services whose manifests do not mention the domain keep their digest (so they will not be re-applied)
    assert third["outputs"]["render"]["services"]["redis"]["digest"] == services["redis"]["digest"]
    assert yaml.safe_load(secrets_file.read_text())["cluster-configs"]["secrets"]["egov-enc-service"][
        "master-password"] == master


async def test_static_storage_without_volumes_fails_naming_what_is_missing(tmp_path: Path) -> None:
    settings = with_answers(config_for(tmp_path), storage={"mode": "static", "provider": "aws"})
    final, result = await run_tasks(settings, tmp_path, "s")
    assert final == "failed"
    assert "storage.mode: static needs the volumes phase" in result["errors"]["helm-config"]
