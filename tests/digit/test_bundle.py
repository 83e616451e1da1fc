"""The bundled digit-sample tree: DIGIT-shaped, and it renders with generated env and secrets files."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

import digit_tui
from digit_tui.digit.chart_index import ChartIndex
from digit_tui.digit.envfile import write_env_file
from digit_tui.digit.envinputs import EnvInputs
from digit_tui.digit.manifest import load_manifest
from digit_tui.digit.pipeline import RenderedService, load_values_file, render_release, service_values
from digit_tui.digit.render import make_renderer, merge_values
from digit_tui.digit.secretsfile import build_secrets, write_secrets_file
from digit_tui.errors import InputError

BUNDLE = Path(digit_tui.__file__).parent / "bundles" / "digit-sample"
HELM = BUNDLE / "deploy-as-code" / "helm"
MANIFEST = HELM / "product-release-charts" / "DIGIT" / "dependancy_chart-digit-v2.8.yaml"
STATEFUL = ("zookeeper-v2", "kafka-v2", "elasticsearch-data-v1", "elasticsearch-master-v1")
CORE = ("egov-mdms-service", "egov-enc-service", "egov-user", "egov-persister", "egov-indexer",
        "egov-workflow-v2", "egov-localization", "egov-idgen", "zuul")
TAG = re.compile(r"^v\d+\.\d+\.\d+-[0-9a-f]{10}-\d+$")


def env_inputs(**changes: Any) -> EnvInputs:
    data: dict[str, Any] = {
        "environment": "dev",
        "domain": "dev.digit.example.gov.in",
        "db_host": "10.1.2.3",
        "db_name": "egov_dev",
        "storage_mode": "static",
        "storage_provider": "aws",
        "volumes": {svc: [{"volume_id": f"vol-{svc}-{i}", "zone": "ap-south-1a"} for i in range(3)] for svc in STATEFUL},
    }
    data.update(changes)
    return EnvInputs.from_mapping(data)


@pytest.fixture(scope="module")
def renderer():
    with make_renderer("sdk") as r:
        yield r


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("helm")
    env = write_env_file(env_inputs(), out)
    secrets = write_secrets_file(env_inputs(), out, {"db": {"username": "egov_dev", "password": "Db-Pass-From-Operator-1"}})
    return env, secrets


@pytest.fixture(scope="module")
def release(generated: tuple[Path, Path], renderer) -> dict[str, RenderedService]:
    env, secrets = generated
    rendered = render_release(BUNDLE, MANIFEST, None, env, secrets, renderer)
    return {s.name: s for s in rendered}


def objects(release: dict[str, RenderedService], kind: str, service: str | None = None) -> list[dict]:
    pool = [release[service]] if service else list(release.values())
    return [o for s in pool for o in s.objects if o["kind"] == kind]


def one(release: dict[str, RenderedService], kind: str, service: str) -> dict:
    found = [o for o in objects(release, kind, service) if o["metadata"]["name"] == service]
    assert len(found) == 1, (kind, service, len(found))
    return found[0]


def containers(workload: dict) -> list[dict]:
    return workload["spec"]["template"]["spec"]["containers"]


def env_map(container: dict) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}


# -- the tree ----------------------------------------------------------------

def test_tree_is_digit_shaped() -> None:
    index = ChartIndex.build(HELM / "charts")
    manifest = load_manifest(MANIFEST)
    names = list(manifest.modules)
    for module in ("backbone", "authn-authz", "core", "business", "frontend"):
        assert module in names
    assert len([n for n in names if "m_" in n]) >= 2
    entries = manifest.services(None)
    for entry in entries:
        assert index.lookup(entry.name).chart_dir.is_dir(), entry.name
        if entry.tag:
            assert TAG.match(entry.tag), entry.tag
    services = {e.name for e in entries}
    assert set(STATEFUL) | set(CORE) <= services
    assert {"egov-hrms", "billing-service", "digit-ui", "pgr-services", "property-services"} <= services
    # One elasticsearch chart serves both roles through <service>-values.yaml.
    assert index.lookup("elasticsearch-data-v1").chart_dir == index.lookup("elasticsearch-master-v1").chart_dir
    common = yaml.safe_load((HELM / "charts" / "common" / "Chart.yaml").read_text())
    assert common["type"] == "library"
    assert (HELM / "environments" / "sample-env.yaml").is_file()
    assert (HELM / "environments" / "sample-env-secrets.yaml").is_file()


def _key_tree(data: Any, depth: int) -> Any:
    if depth == 0 or not isinstance(data, dict):
        return None
    return {k: _key_tree(v, depth - 1) for k, v in data.items()}


def test_templates_have_the_generated_shape(tmp_path: Path) -> None:
    vols = {svc: [{"target_portal": "10.0.0.9:3260", "iqn": f"iqn.2024-01.in.gov.sdc:{svc}-{i}"} for i in range(3)]
            for svc in STATEFUL}
    env = yaml.safe_load(write_env_file(env_inputs(storage_provider="iscsi", volumes=vols), tmp_path).read_text())
    template = yaml.safe_load((HELM / "environments" / "sample-env.yaml").read_text())
    assert _key_tree(template, 5) == _key_tree(env, 5)
    secrets_template = yaml.safe_load((HELM / "environments" / "sample-env-secrets.yaml").read_text())
    generated = {"cluster-configs": {"secrets": build_secrets(env_inputs())}}
    assert _key_tree(secrets_template, 4) == _key_tree(generated, 4)


# -- rendering the whole release with generated files -----------------------

def test_whole_release_renders(release: dict[str, RenderedService]) -> None:
    manifest = load_manifest(MANIFEST)
    assert set(release) == {e.name for e in manifest.services(None)} | {"cluster-configs"}
    for workload in objects(release, "Deployment") + objects(release, "StatefulSet"):
        for c in containers(workload):
            res = c.get("resources") or {}
            assert res.get("requests", {}).get("memory"), (workload["metadata"]["name"], c["name"])
            assert res.get("limits", {}).get("memory"), (workload["metadata"]["name"], c["name"])


def test_cluster_configs_carries_jdbc_url_namespaces_and_db_secret(release: dict[str, RenderedService], generated: tuple[Path, Path]) -> None:
    cc = release["cluster-configs"]
    namespaces = {o["metadata"]["name"] for o in cc.objects if o["kind"] == "Namespace"}
    assert {"egov", "kafka-cluster", "zookeeper-cluster", "es-cluster", "backbone"} <= namespaces
    egov_config = next(o for o in cc.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "egov-config")
    assert egov_config["metadata"]["namespace"] == "egov"
    assert egov_config["data"]["db-url"] == "jdbc:postgresql://10.1.2.3:5432/egov_dev"
    assert egov_config["data"]["timezone"] == "Asia/Kolkata"
    hosts = next(o for o in cc.objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "egov-service-host")
    assert hosts["data"]["egov-mdms-service"] == "http://egov-mdms-service.egov:8080/"
    db = next(o for o in cc.objects if o["kind"] == "Secret" and o["metadata"]["name"] == "db")
    assert db["metadata"]["namespace"] == "egov"
    decoded = {k: base64.b64decode(v).decode() for k, v in db["data"].items()}
    assert decoded == {
        "username": "egov_dev", "password": "Db-Pass-From-Operator-1",
        "flyway-username": "egov_dev", "flyway-password": "Db-Pass-From-Operator-1",
    }
    secrets = yaml.safe_load(generated[1].read_text())["cluster-configs"]["secrets"]
    enc = next(o for o in cc.objects if o["kind"] == "Secret" and o["metadata"]["name"] == "egov-enc-service")
    assert base64.b64decode(enc["data"]["master-salt"]).decode() == secrets["egov-enc-service"]["master-salt"]
    git = next(o for o in cc.objects if o["kind"] == "Secret" and o["metadata"]["name"] == "git-creds")
    assert set(git["data"]) == {"ssh", "known_hosts"}


def test_static_pvs_bind_to_the_statefulset_claims(release: dict[str, RenderedService]) -> None:
    for svc in STATEFUL:
        sts = one(release, "StatefulSet", svc)
        template = sts["spec"]["volumeClaimTemplates"][0]
        assert template["spec"]["storageClassName"] == ""
        pvs = objects(release, "PersistentVolume", svc)
        assert len(pvs) == sts["spec"]["replicas"] == 3
        for i, pv in enumerate(sorted(pvs, key=lambda p: p["metadata"]["name"])):
            claim = pv["spec"]["claimRef"]
            assert claim["name"] == f"{template['metadata']['name']}-{svc}-{i}"
            assert claim["namespace"] == sts["metadata"]["namespace"]
            assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
            assert pv["spec"]["csi"]["volumeHandle"] == f"vol-{svc}-{i}"
            assert pv["spec"]["capacity"]["storage"] == template["spec"]["resources"]["requests"]["storage"]


def test_flyway_init_containers_use_the_db_image_with_the_same_tag(release: dict[str, RenderedService]) -> None:
    with_flyway = 0
    for name, svc in release.items():
        for deploy in objects(release, "Deployment", name):
            main = containers(deploy)[0]
            init = deploy["spec"]["template"]["spec"].get("initContainers") or []
            if svc.image_tag:
                assert main["image"] == f"egovio/{name}:{svc.image_tag}"
            if not init:
                continue
            with_flyway += 1
            assert init[0]["image"] == f"egovio/{name}-db:{svc.image_tag}"
            env = env_map(init[0])
            assert env["DB_URL"] == {"configMapKeyRef": {"name": "egov-config", "key": "db-url"}}
            assert env["FLYWAY_USER"] == {"secretKeyRef": {"name": "db", "key": "flyway-username"}}
            assert env["FLYWAY_PASSWORD"] == {"secretKeyRef": {"name": "db", "key": "flyway-password"}}
            assert env_map(main)["SPRING_DATASOURCE_PASSWORD"] == {"secretKeyRef": {"name": "db", "key": "password"}}
    assert with_flyway >= 11


def test_java_services_run_small_heaps_and_zuul_three_replicas(release: dict[str, RenderedService]) -> None:
    java = 0
    for deploy in objects(release, "Deployment"):
        main = containers(deploy)[0]
        opts = env_map(main).get("JAVA_OPTS")
        if not opts:
            continue
        java += 1
        heap = int(re.search(r"-Xmx(\d+)m", opts).group(1))
        assert 192 <= heap <= 256, deploy["metadata"]["name"]
        assert main["resources"]["limits"]["memory"] == "512Mi"
    assert java >= 13
    assert one(release, "Deployment", "zuul")["spec"]["replicas"] == 3


def test_backbone_requests_match_digits_sizes(release: dict[str, RenderedService]) -> None:
    expected = {"zookeeper-v2": ("384Mi", "-Xmx256m"), "kafka-v2": ("1408Mi", "-Xmx704m"),
                "elasticsearch-data-v1": ("2Gi", "-Xmx1g"), "elasticsearch-master-v1": ("896Mi", "-Xmx512m")}
    for svc, (memory, heap) in expected.items():
        sts = one(release, "StatefulSet", svc)
        main = containers(sts)[0]
        assert main["resources"]["requests"]["memory"] == memory
        assert heap in " ".join(str(v) for v in env_map(main).values())
    es = one(release, "StatefulSet", "elasticsearch-data-v1")
    init = es["spec"]["template"]["spec"]["initContainers"][0]
    assert "vm.max_map_count=262144" in init["command"]


# -- single services with other inputs --------------------------------------

def render_one(renderer, tmp_path: Path, service: str, tag: str | None, inputs: EnvInputs) -> list[dict]:
    env = write_env_file(inputs, tmp_path)
    secrets = write_secrets_file(inputs, tmp_path, None)
    ref = ChartIndex.build(HELM / "charts").lookup(service)
    base = merge_values(load_values_file(env), load_values_file(secrets))
    return renderer.render(ref.chart_dir, service, service_values(base, ref, service, tag, None)).objects


def test_dynamic_storage_renders_claims_from_the_class(renderer, tmp_path: Path) -> None:
    objs = render_one(renderer, tmp_path, "kafka-v2", None, env_inputs(storage_mode="dynamic", storage_class="gp3", volumes={}))
    assert not [o for o in objs if o["kind"] == "PersistentVolume"]
    sts = next(o for o in objs if o["kind"] == "StatefulSet")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3"


def test_iscsi_volumes_render_portal_and_iqn(renderer, tmp_path: Path) -> None:
    vols = {svc: [{"target_portal": "10.0.0.9:3260", "iqn": f"iqn.2024-01.in.gov.sdc:{svc}-{i}", "lun": 1} for i in range(3)]
            for svc in STATEFUL}
    objs = render_one(renderer, tmp_path, "zookeeper-v2", None, env_inputs(storage_provider="iscsi", volumes=vols))
    pvs = sorted((o for o in objs if o["kind"] == "PersistentVolume"), key=lambda p: p["metadata"]["name"])
    assert [pv["spec"]["iscsi"]["iqn"] for pv in pvs] == [f"iqn.2024-01.in.gov.sdc:zookeeper-v2-{i}" for i in range(3)]
    assert [pv["spec"]["claimRef"]["name"] for pv in pvs] == [f"data-zookeeper-v2-{i}" for i in range(3)]


def test_env_block_overrides_chart_values_and_registry(renderer, tmp_path: Path) -> None:
    inputs = env_inputs(container_registry="registry.sdc.local/egovio", service_overrides={"egov-user": {"replicas": 2}})
    objs = render_one(renderer, tmp_path, "egov-user", "v1.3.0-6cfa52c1f9-2", inputs)
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    assert deploy["spec"]["replicas"] == 2
    assert containers(deploy)[0]["image"] == "registry.sdc.local/egovio/egov-user:v1.3.0-6cfa52c1f9-2"
    assert deploy["spec"]["template"]["spec"]["initContainers"][0]["image"] == "registry.sdc.local/egovio/egov-user-db:v1.3.0-6cfa52c1f9-2"


def test_missing_tag_fails_with_tag_is_mandatory(renderer, tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        render_one(renderer, tmp_path, "egov-user", None, env_inputs())
    assert "Tag is mandatory" in str(err.value)


def test_external_database_renders_service_and_endpoints(renderer, tmp_path: Path) -> None:
    objs = render_one(renderer, tmp_path, "cluster-configs", None, env_inputs(db_host="", db_ips=["10.9.8.7"]))
    svc = next(o for o in objs if o["kind"] == "Service")
    eps = next(o for o in objs if o["kind"] == "Endpoints")
    assert svc["metadata"]["name"] == eps["metadata"]["name"] == "db-service"
    assert eps["subsets"][0]["addresses"] == [{"ip": "10.9.8.7"}]
