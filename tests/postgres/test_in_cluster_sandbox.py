"""The database inside the cluster, on the sandbox through the real engine after helm-config, render
and cluster-configs: ``database.mode: in-cluster`` deploys PostgreSQL from the bundled sample's chart
and from the real DIGIT-DevOps postgres chart (claim bound through the StorageClass, the Service the
env file's db-host names, the password only in the db Secret), an external database by IP gets
exactly one db-service (cluster-configs'), and the check Job runs against the db-host; a failed one is
cleaned up, a passed one kept for a later check with the same inputs to trust.

The sandbox simulates pods: it cannot run PostgreSQL or pg_isready. Its check Job completes after
the sandbox's run time; told to crash the check image (the sandbox's crash rules), the Job fails and
the task reports the pod's reason and log. That the Job's script really logs in is what the
PostgreSQL VM tests (tests/postgres/test_vm_mode.py) prove of the same database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.tasks.graph import release_graph, service_graph
from digit_tui.tasks.postgres_cluster import (
    CHECK_TASK_ID, CHECKED_AT, CLAIM, DEPLOY_TASK_ID, TRUST_SECONDS, cluster_database_tasks, trusted_age,
)
from tests.monitoring import conftest as _shared
from tests.monitoring.conftest import MANIFEST, QUICK, Engine, base_tasks, kubectl
from tests.support import wait_until

cluster, engine, tree = _shared.cluster, _shared.engine, _shared.tree

BROKEN_CHECK = "docker.io/library/postgres:15-alpine-brokencheck"
CHECK_LOG = ('psql: error: connection to server at "db-service.egov" (10.96.0.40), port 5432 failed: '
             'FATAL:  password authentication failed for user "egov"')


def make_config(tmp: Path, source: Path, kubeconfig: Path, *, release: str | None = None,
                database: dict[str, Any] | None = None) -> Any:
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig

    digit: dict[str, Any] = {"domain": "digit.local", "modules": [], "source": {"path": str(source)}}
    if release:
        digit["release"] = release
    doc: dict[str, Any] = {"environment": "dev", "target": {"provider": "sandbox", "kubeconfig": str(kubeconfig)},
                           "digit": digit}
    if database:
        doc["database"] = database
    answers = tmp / "answers.yaml"
    answers.write_text(yaml.safe_dump(doc, sort_keys=False))
    return InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp / "state")


def offline_kubeconfig(tmp: Path) -> None:
    """A kubeconfig for graph tests, which never connect."""
    (tmp / "kubeconfig").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}))


def db_tasks(config: Any, **kw: Any) -> list[Any]:
    release = config.open_release(fetch=False)
    graph, _ = service_graph(config, release)
    return cluster_database_tasks(config, release, graph, policy=QUICK, **kw)


def egov_config(tmp: Path) -> dict[str, Any]:
    env = yaml.safe_load((tmp / "state/helm/environments/dev.yaml").read_text())
    return dict(env["cluster-configs"]["configmaps"]["egov-config"]["data"])


def db_password(tmp: Path) -> str:
    secrets = yaml.safe_load((tmp / "state/helm/environments/dev-secrets.yaml").read_text())
    return str(secrets["cluster-configs"]["secrets"]["db"]["password"])


def leaked(tmp: Path, secret: str) -> list[str]:
    """Files of the state directory outside the secrets file and the sandbox that hold ``secret``:
    the journal (with its WAL) and every log."""
    needle = secret.encode()
    out = []
    for path in (tmp / "state").rglob("*"):
        if not path.is_file() or path.name.endswith("-secrets.yaml"):
            continue
        if needle in path.read_bytes():
            out.append(str(path.relative_to(tmp)))
    return out


def check_jobs(kc: Path, cache: Path) -> list[str]:
    return [i["metadata"]["name"] for i in check_job_objects(kc, cache)]


def check_job_objects(kc: Path, cache: Path) -> list[dict[str, Any]]:
    """The check Jobs in egov that are not being deleted."""
    items = kubectl(kc, cache, "get", "jobs", "-n", "egov", "-l", "digit.org/check=database")["items"]
    return [i for i in items if not i["metadata"].get("deletionTimestamp")]


def one_passed_job(kc: Path, cache: Path) -> dict[str, Any]:
    """The one check Job left: the passed one, kept as the record a later check trusts."""
    wait_until(lambda: len(check_job_objects(kc, cache)) == 1, timeout=30, what="one check Job")
    [job] = check_job_objects(kc, cache)
    assert job["status"].get("succeeded") == 1
    assert job["spec"]["ttlSecondsAfterFinished"] == TRUST_SECONDS   # it removes itself when it stops counting
    return job


def jobs_made(engine: Engine) -> list[str]:
    return [m for m in engine.messages(CHECK_TASK_ID) if m.startswith("Job egov/digit-tui-db-check-")
            and "pg_isready" in m]


@pytest.fixture
def broken_cluster(tmp_path: Path) -> Iterator[Any]:
    """A sandbox whose check image exits 2 with psql's words for a refused login."""
    from digit_tui.sandbox.runtime import start_sandbox

    rule = {"image_pattern": "brokencheck", "exit_code": 2, "after": 0.5, "log": CHECK_LOG}
    with start_sandbox(tmp_path / "sandbox", nodes=3, speed=50.0, crash_rules=[rule]) as handle:
        yield handle


def assert_postgres_serves_the_db_host(kc: Path, cache: Path, tmp: Path) -> dict[str, Any]:
    data = egov_config(tmp)
    assert data["db-host"] == "postgres.egov"
    assert data["db-url"] == "jdbc:postgresql://postgres.egov:5432/egov_db"
    dep = kubectl(kc, cache, "get", "deployment", "postgres", "-n", "egov")
    assert dep["status"].get("readyReplicas") == 1
    claim = kubectl(kc, cache, "get", "pvc", CLAIM, "-n", "egov")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "standard"
    volumes = dep["spec"]["template"]["spec"]["volumes"]
    assert any((v.get("persistentVolumeClaim") or {}).get("claimName") == CLAIM for v in volumes)
    # postgres.egov: the Service postgres in egov, whose Endpoints are the ready server pod.
    svc = kubectl(kc, cache, "get", "service", "postgres", "-n", "egov")
    assert svc["spec"]["ports"][0]["port"] == 5432
    pods = kubectl(kc, cache, "get", "pods", "-n", "egov", "-l",
                   ",".join(f"{k}={v}" for k, v in svc["spec"]["selector"].items()))["items"]
    assert [p["metadata"]["name"].startswith("postgres-") for p in pods] == [True]
    eps = kubectl(kc, cache, "get", "endpoints", "postgres", "-n", "egov")
    assert [a["ip"] for s in eps["subsets"] for a in s["addresses"]] == [pods[0]["status"]["podIP"]]
    # The password reaches the server only through the db Secret.
    [container] = [c for c in dep["spec"]["template"]["spec"]["containers"] if c["image"].split("/")[-1].startswith("postgres")]
    env = {e["name"]: e for e in container["env"]}
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "db", "key": "password"}
    assert "value" not in env["POSTGRES_PASSWORD"] and env["POSTGRES_DB"]["value"] == "egov_db"
    return dep


def test_in_cluster_postgres_from_the_bundled_sample_comes_up_behind_the_db_host_and_a_rerun_changes_nothing(
        tmp_path: Path, cluster: Any, engine: Engine) -> None:
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    config = make_config(tmp_path, BUNDLED_SOURCE, kc)
    assert config.answers.database.mode == "in-cluster"                 # the answers' default
    tasks = [*base_tasks(config), *db_tasks(config)]
    assert [t.id for t in tasks][3:] == ["postgres-render", DEPLOY_TASK_ID, CHECK_TASK_ID]
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)

    dep = assert_postgres_serves_the_db_host(kc, cache, tmp_path)
    assert dep["spec"]["strategy"]["type"] == "Recreate"
    told = engine.messages(CHECK_TASK_ID)
    assert any("pg_isready and a login to egov_db at postgres.egov:5432" in m for m in told)
    assert any(m.startswith("the pods reach egov_db at postgres.egov:5432") for m in told)
    passed = one_passed_job(kc, cache)

    again = [*base_tasks(config), *db_tasks(config)]
    assert asyncio.run(engine.run(again)) == "done", engine.failures(again)
    assert engine.applied(again) == []
    # The rerun's check trusted the Job that passed a moment ago: it made none.
    assert jobs_made(engine) == []
    assert [j["metadata"]["uid"] for j in check_job_objects(kc, cache)] == [passed["metadata"]["uid"]]
    assert kubectl(kc, cache, "get", "deployment", "postgres", "-n", "egov")["metadata"]["generation"] == \
        dep["metadata"]["generation"]
    password = db_password(tmp_path)
    assert len(password) >= 32 and leaked(tmp_path, password) == []


def test_in_cluster_postgres_from_the_real_digit_chart_on_a_claim_of_its_own(
        tmp_path: Path, tree: Path, cluster: Any, engine: Engine) -> None:
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    (tmp_path / "db-password").write_text("operator-chosen-pw-4711\n")
    (tmp_path / "db-password").chmod(0o600)
    config = make_config(tmp_path, tree, kc, release=MANIFEST,
                         database={"mode": "in-cluster", "password_file": str(tmp_path / "db-password")})
    tasks = [*base_tasks(config), *db_tasks(config)]
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)

    dep = assert_postgres_serves_the_db_host(kc, cache, tmp_path)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/postgres:9.6"  # DIGIT's own
    # DIGIT's chart would pin its claim to a static PV with an AWS volume id: it makes neither here.
    pvs = kubectl(kc, cache, "get", "pv")["items"]
    assert [p["spec"]["claimRef"]["name"] for p in pvs] == [CLAIM]
    assert pvs[0]["spec"]["storageClassName"] == "standard"              # provisioned, not DIGIT's PV
    assert db_password(tmp_path) == "operator-chosen-pw-4711"
    assert leaked(tmp_path, "operator-chosen-pw-4711") == []

    again = [*base_tasks(config), *db_tasks(config)]
    assert asyncio.run(engine.run(again)) == "done", engine.failures(again)
    assert engine.applied(again) == []


def test_an_external_database_by_ip_gets_exactly_one_db_service_and_the_check_goes_through_it(
        tmp_path: Path, cluster: Any, engine: Engine) -> None:
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    config = make_config(tmp_path, BUNDLED_SOURCE, kc, database={"mode": "external", "host": "10.20.0.31"})
    tasks = [*base_tasks(config), *db_tasks(config)]
    assert [t.id for t in tasks][3:] == [CHECK_TASK_ID]               # nothing deployed for it
    assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)

    assert egov_config(tmp_path)["db-host"] == "db-service.egov"
    services = [s for s in kubectl(kc, cache, "get", "services", "-A")["items"] if s["metadata"]["name"] == "db-service"]
    endpoints = [e for e in kubectl(kc, cache, "get", "endpoints", "-A")["items"]
                 if e["metadata"]["name"] == "db-service"]
    assert len(services) == 1 and len(endpoints) == 1
    for obj in (*services, *endpoints):
        assert obj["metadata"]["namespace"] == "egov"
        assert obj["metadata"]["labels"]["digit.org/service"] == "cluster-configs"     # the one thing that makes it
    assert "selector" not in services[0]["spec"]
    assert [a["ip"] for s in endpoints[0]["subsets"] for a in s["addresses"]] == ["10.20.0.31"]
    assert any("at db-service.egov:5432" in m for m in engine.messages(CHECK_TASK_ID))
    one_passed_job(kc, cache)


def test_a_check_trusts_a_recent_passed_job_with_the_same_inputs_and_runs_one_when_they_change(
        tmp_path: Path, cluster: Any, engine: Engine) -> None:
    """The kept Job is the record: the same database and inputs within TRUST_SECONDS make no Job
    (kubectl sees the same one); another database answer, or a Job older than that, runs one."""
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"

    def run(host: str) -> None:
        config = make_config(tmp_path, BUNDLED_SOURCE, kc, database={"mode": "external", "host": host})
        tasks = [*base_tasks(config), *db_tasks(config)]
        assert asyncio.run(engine.run(tasks)) == "done", engine.failures(tasks)

    run("10.20.0.31")
    assert len(jobs_made(engine)) == 1
    first = one_passed_job(kc, cache)

    run("10.20.0.31")                                   # the same answers: trusted, nothing created
    assert jobs_made(engine) == []
    assert any("passed" in m and "trusted" in m for m in engine.messages(CHECK_TASK_ID))
    assert [j["metadata"]["uid"] for j in check_job_objects(kc, cache)] == [first["metadata"]["uid"]]

    run("10.20.0.32")                                   # another database address: db-service's Endpoints changed
    assert len(jobs_made(engine)) == 1
    second = one_passed_job(kc, cache)
    assert second["metadata"]["name"] != first["metadata"]["name"]    # the old one was deleted
    assert second["metadata"]["labels"]["digit.org/check-inputs"] != first["metadata"]["labels"]["digit.org/check-inputs"]

    # A passed Job older than the trust window no longer counts (its clock annotation says when it ran).
    old = int(second["metadata"]["annotations"][CHECKED_AT]) - TRUST_SECONDS - 1
    kubectl(kc, cache, "annotate", "--overwrite", "job", "-n", "egov", second["metadata"]["name"], f"{CHECKED_AT}={old}")
    run("10.20.0.32")
    assert len(jobs_made(engine)) == 1
    assert one_passed_job(kc, cache)["metadata"]["name"] != second["metadata"]["name"]


def test_only_a_passed_job_with_the_same_inputs_and_a_recent_clock_counts() -> None:
    def job(key: str, at: str, succeeded: bool = True) -> dict[str, Any]:
        status = {"conditions": [{"type": "Complete" if succeeded else "Failed", "status": "True"}]}
        return {"metadata": {"labels": {"digit.org/check-inputs": key}, "annotations": {CHECKED_AT: at}},
                "status": status}

    assert trusted_age(job("k", "1000"), "k", 1010.0) == 10.0
    assert trusted_age(job("k", "1000"), "other", 1010.0) is None              # other inputs
    assert trusted_age(job("k", "1000", succeeded=False), "k", 1010.0) is None  # failed
    assert trusted_age(job("k", "1000"), "k", 1000.0 + TRUST_SECONDS) is None   # too old
    assert trusted_age(job("k", "1000"), "k", 990.0) is None                    # made "in the future"
    assert trusted_age(job("k", "soon"), "k", 1010.0) is None                   # not a clock reading


def test_a_check_job_that_fails_reports_the_pods_reason_and_log_and_is_cleaned_up(
        tmp_path: Path, broken_cluster: Any, engine: Engine) -> None:
    kc, cache = broken_cluster.kubeconfig_path, tmp_path / "kcache"
    config = make_config(tmp_path, BUNDLED_SOURCE, kc, database={"mode": "external", "host": "10.20.0.31"})
    tasks = [*base_tasks(config), *db_tasks(config, check_image=BROKEN_CHECK)]
    assert asyncio.run(engine.run(tasks)) == "failed"
    row = engine.journal.task(engine.run_id, CHECK_TASK_ID)
    assert row is not None and row.error is not None
    assert "db-service.egov:5432/egov_db does not pass the check from inside the cluster" in row.error
    assert "BackoffLimitExceeded" in row.error
    assert "(exit code 2)" in row.error and "password authentication failed" in row.error
    assert row.remedy is not None and "db Secret" in row.remedy
    # Permanent: the Job's own back-off already retried, so one Job ran.
    assert len([m for m in engine.messages(CHECK_TASK_ID) if m.startswith("Job egov/digit-tui-db-check-")]) == 1
    print(row.error)
    wait_until(lambda: check_jobs(kc, cache) == [], timeout=30, what="the failed check Job to be deleted")


def test_the_graph_puts_the_database_check_before_the_services_that_migrate(tmp_path: Path) -> None:
    offline_kubeconfig(tmp_path)
    config = make_config(tmp_path, BUNDLED_SOURCE, tmp_path / "kubeconfig")
    tasks = {t.id: t for t in release_graph(config, database=True)}
    assert set(tasks[CHECK_TASK_ID].deps) == {"cluster-configs", DEPLOY_TASK_ID}
    assert set(tasks[DEPLOY_TASK_ID].deps) == {"postgres-render", "cluster-configs"}
    assert CHECK_TASK_ID in tasks["egov-user"].deps                     # it has egov-user-db, a Flyway image
    assert CHECK_TASK_ID not in tasks["zookeeper-v2"].deps and CHECK_TASK_ID not in tasks["redis"].deps
    assert CHECK_TASK_ID not in tasks["egov-mdms-service"].deps       # no -db entry: it migrates nothing
    plain = {t.id for t in release_graph(config)}
    assert not plain & {CHECK_TASK_ID, DEPLOY_TASK_ID, "postgres-render"}
    # What `digit-tui plan` says of them.
    from digit_tui.engine.plan import dry_run_all

    plan = asyncio.run(dry_run_all([tasks["postgres-render"], tasks[DEPLOY_TASK_ID], tasks[CHECK_TASK_ID]]))
    assert plan["postgres-render"][0].startswith("would render the postgres charts")
    assert plan[DEPLOY_TASK_ID][0].startswith(
        f"would create the claim {CLAIM} (10Gi, the cluster's default StorageClass) and apply the DIGIT source's "
        "postgres chart (Service postgres.egov; role and password from the db Secret")
    assert "pg_isready" in plan[CHECK_TASK_ID][0] and "delete the Job" in plan[CHECK_TASK_ID][0]


def test_a_release_that_deploys_postgres_itself_is_only_checked(tmp_path: Path) -> None:
    """DIGIT's quickstart releases list postgres in their backbone: the release deploys it, the phase
    must not deploy a second one."""
    import shutil

    source = tmp_path / "digit-sample"
    shutil.copytree(BUNDLED_SOURCE, source)
    releases = source / "deploy-as-code/helm/product-release-charts/DIGIT"
    manifest = yaml.safe_load((releases / "dependancy_chart-digit-v2.8.yaml").read_text())
    manifest["modules"][0]["services"].append("postgres")
    path = releases / "dependancy_chart-with-postgres.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    offline_kubeconfig(tmp_path)
    config = make_config(tmp_path, source, tmp_path / "kubeconfig", release=str(path.relative_to(source)))
    tasks = {t.id: t for t in release_graph(config, database=True)}
    assert DEPLOY_TASK_ID not in tasks and "postgres-render" not in tasks
    assert "postgres" in tasks[CHECK_TASK_ID].deps


def test_a_source_without_a_postgres_chart_says_so_and_the_check_waits_behind_it(tmp_path: Path) -> None:
    import shutil

    from digit_tui.engine.plan import dry_run_all

    source = tmp_path / "digit-sample"
    shutil.copytree(BUNDLED_SOURCE, source)
    shutil.rmtree(source / "deploy-as-code/helm/charts/backbone-services/postgres")
    offline_kubeconfig(tmp_path)
    config = make_config(tmp_path, source, tmp_path / "kubeconfig")
    tasks = {t.id: t for t in release_graph(config, database=True)}
    assert "postgres-render" not in tasks and DEPLOY_TASK_ID in tasks
    assert DEPLOY_TASK_ID in tasks[CHECK_TASK_ID].deps
    [plan] = asyncio.run(dry_run_all([tasks[DEPLOY_TASK_ID]])).values()
    assert plan[0].startswith("cannot run: database.mode is in-cluster but the DIGIT source has no postgres chart")
    assert "use database.mode vm or external" in plan[0]


def test_the_chart_gets_the_env_files_database_and_a_claim_and_refuses_another_db_host(tmp_path: Path) -> None:
    from digit_tui.engine.errors import PermanentError
    from digit_tui.tasks.phasecharts import PhaseInputs
    from digit_tui.tasks.postgres_cluster import postgres_chart

    offline_kubeconfig(tmp_path)
    config = make_config(tmp_path, BUNDLED_SOURCE, tmp_path / "kubeconfig")

    def env(host: str, url: str) -> PhaseInputs:
        data = {"db-host": host, "db-name": "mz_db", "db-url": url}
        return PhaseInputs({"cluster-configs": {"configmaps": {"egov-config": {"data": data}}}}, None, {})

    chart = postgres_chart(config, env("postgres.egov", "jdbc:postgresql://postgres.egov:5432/mz_db"))
    assert chart.values["postgresDatabase"] == "mz_db" and chart.values["postgres"]["postgresDatabase"] == "mz_db"
    assert chart.values["persistence"] == {"enabled": False, "claimName": CLAIM}
    [claim] = chart.objects
    assert claim["kind"] == "PersistentVolumeClaim" and claim["metadata"] == {
        "name": CLAIM, "namespace": "egov", "labels": {"app": "postgres"}}
    assert "storageClassName" not in claim["spec"]                  # the cluster's default class
    with pytest.raises(PermanentError) as err:
        postgres_chart(config, env("pg.internal.example", "jdbc:postgresql://pg.internal.example:5432/mz_db"))
    assert "db-host is pg.internal.example, not the in-cluster database's Service postgres.egov" in str(err.value)
    assert "set db-host: postgres.egov" in (err.value.remedy or "")


def test_a_check_image_the_nodes_cannot_pull_is_named_with_the_registry_remedy(
        tmp_path: Path, cluster: Any, engine: Engine) -> None:
    kc, cache = cluster.kubeconfig_path, tmp_path / "kcache"
    config = make_config(tmp_path, BUNDLED_SOURCE, kc, database={"mode": "external", "host": "10.20.0.31"})
    missing = "docker.io/library/postgres:v0.0.0-missing"          # the sandbox's registry has no such tag
    tasks = [*base_tasks(config), *db_tasks(config, check_image=missing)]
    assert asyncio.run(engine.run(tasks)) == "failed"
    row = engine.journal.task(engine.run_id, CHECK_TASK_ID)
    assert row is not None and row.error is not None and f"image {missing} cannot be pulled" in row.error
    assert row.remedy is not None and "registry is reachable from the nodes" in row.remedy
    wait_until(lambda: check_jobs(kc, cache) == [], timeout=30, what="the check Job to be deleted")
