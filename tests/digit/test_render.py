"""Rendering with Helm (embedded SDK; the helm-binary engine when one exists), the release pipeline,
and the `digit-tui render` command including its bad-input exits."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from digit_tui import exitcodes
from digit_tui.cli import main
from digit_tui.digit.pipeline import CLUSTER_CONFIGS, MissingTagsError, canonical_yaml, render_release
from digit_tui.digit.render import RenderError, make_renderer
from digit_tui.engine.errors import TransientError
from digit_tui.errors import InputError

from .conftest import Tree, write

BUNDLE = Path(__file__).resolve().parents[2] / "digit_tui" / "bundles" / "digit-sample"


@pytest.fixture
def sdk():
    with make_renderer("sdk") as renderer:
        yield renderer


def tree_snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


# -- the pipeline ----------------------------------------------------------------

def test_release_renders_cluster_configs_first_with_digit_inputs(digit_tree: Tree, sdk) -> None:
    before = tree_snapshot(digit_tree.root)
    rendered = render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                              digit_tree.secrets_file, sdk)
    assert [s.name for s in rendered] == [CLUSTER_CONFIGS, "elasticsearch-data-v1", "elasticsearch-master-v1",
                                          "egov-mdms-service", "egov-user", "pgr-services"]
    assert [s.module for s in rendered] == [CLUSTER_CONFIGS, "backbone", "backbone", "core", "core", "m_pgr"]

    cc = rendered[0]
    assert set(by_kind(cc.objects, "Namespace")) == {"egov", "es-cluster"}
    assert cc.objects[0]["kind"] == "Namespace"        # namespaces before anything that lives in them
    assert by_kind(cc.objects, "ConfigMap")["egov-config"]["data"]["db-url"].startswith("jdbc:postgresql://")
    assert "password" in by_kind(cc.objects, "Secret")["db"]["data"]

    user = next(s for s in rendered if s.name == "egov-user")
    dep = by_kind(user.objects, "Deployment")["egov-user"]
    spec = dep["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "egovio/egov-user:v1.2.0-def5678-3"
    # the manifest's egov-user-db entry sets the Flyway image's tag
    assert spec["initContainers"][0]["image"] == "egovio/egov-user-db:v1.2.0-def5678-4"
    # the env file's per-service block overrides the chart values
    assert dep["spec"]["replicas"] == 2
    assert spec["containers"][0]["resources"]["requests"]["memory"] == "512Mi"
    assert user.image_tag == "v1.2.0-def5678-3"
    assert user.chart_dir == digit_tree.charts / "core" / "egov-user"

    mdms = next(s for s in rendered if s.name == "egov-mdms-service")
    mdms_spec = by_kind(mdms.objects, "Deployment")["egov-mdms-service"]["spec"]["template"]["spec"]
    assert mdms_spec["initContainers"][0]["image"] == "egovio/egov-mdms-service-db:v1.3.2-abc1234-7"
    assert by_kind(mdms.objects, "Deployment")["egov-mdms-service"]["spec"]["replicas"] == 1

    # one chart, two services, each with its own values file; the chart's crds/ come separately
    data, master = rendered[1], rendered[2]
    assert data.chart_dir == master.chart_dir
    assert by_kind(data.objects, "StatefulSet")["elasticsearch-data-v1"]["metadata"]["namespace"] == "es-cluster"
    assert by_kind(master.objects, "StatefulSet")["elasticsearch-master-v1"]["spec"]["template"]["metadata"][
        "labels"]["role"] == "master"
    assert [c["metadata"]["name"] for c in data.crds] == ["snapshots.es.example.org"]
    assert all(o["kind"] != "CustomResourceDefinition" for o in data.objects)

    # rendering never writes into the source tree (no vendored charts/, no Chart.lock)
    assert tree_snapshot(digit_tree.root) == before


def test_digest_is_stable_and_follows_the_tag(digit_tree: Tree, sdk) -> None:
    first = {s.name: s for s in render_release(digit_tree.root, digit_tree.manifest, [], digit_tree.env_file,
                                               digit_tree.secrets_file, sdk)}
    again = {s.name: s for s in render_release(digit_tree.root, digit_tree.manifest, [], digit_tree.env_file,
                                               digit_tree.secrets_file, sdk)}
    assert {n: s.digest for n, s in first.items()} == {n: s.digest for n, s in again.items()}
    user = first["egov-user"]
    assert user.digest == hashlib.sha256(canonical_yaml(user.crds, user.objects).encode()).hexdigest()
    assert "pgr-services" not in first          # [] selects the platform modules only

    digit_tree.manifest.write_text(digit_tree.manifest.read_text().replace("egov-user:v1.2.0-def5678-3",
                                                                           "egov-user:v1.2.1-def5678-5"))
    bumped = {s.name: s for s in render_release(digit_tree.root, digit_tree.manifest, [], digit_tree.env_file,
                                                digit_tree.secrets_file, sdk)}
    assert bumped["egov-user"].digest != user.digest
    assert bumped["egov-mdms-service"].digest == first["egov-mdms-service"].digest


def test_unknown_service_names_it_and_the_folders(digit_tree: Tree, sdk) -> None:
    digit_tree.manifest.write_text(digit_tree.manifest.read_text().replace("pgr-services:", "pgr-servicez:"))
    with pytest.raises(InputError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)
    text = str(info.value)
    assert "pgr-servicez" in text and "charts/core" in text and "charts/m-pgr" in text
    assert text.startswith(f"{digit_tree.manifest}:")


def test_services_rendered_side_by_side_come_out_in_order_as_rendered_one_at_a_time(
        digit_tree: Tree, sdk, monkeypatch: pytest.MonkeyPatch) -> None:
    from digit_tui.digit import pipeline

    def release(workers: int, seen: list[str]) -> list[pipeline.RenderedService]:
        monkeypatch.setattr(pipeline, "render_workers", lambda: workers)
        return render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                              digit_tree.secrets_file, sdk, on_rendered=lambda svc: seen.append(svc.name))

    seen_par: list[str] = []
    seen_seq: list[str] = []
    par, seq = release(4, seen_par), release(1, seen_seq)
    assert [s.name for s in par] == seen_par == seen_seq == [s.name for s in seq]
    assert [(s.digest, s.manifest_yaml) for s in par] == [(s.digest, s.manifest_yaml) for s in seq]
    # the file's text is the text the digest was taken of
    assert all(hashlib.sha256(s.manifest_yaml.encode()).hexdigest() == s.digest for s in par)


# -- template errors --------------------------------------------------------------

def test_missing_tag_names_chart_template_and_line(digit_tree: Tree, sdk) -> None:
    digit_tree.manifest.write_text(digit_tree.manifest.read_text().replace('"pgr-services:v1.1.0-0a1b2c3-1"',
                                                                           "pgr-services"))
    with pytest.raises(MissingTagsError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)
    err = info.value
    assert err.services == {"pgr-services": 18}
    assert "Tag is mandatory" in str(err) and "digit.tags: {pgr-services: <tag>}" in str(err)
    assert str(err).startswith(f"{digit_tree.manifest}:18: ")


def test_every_service_wanting_a_tag_is_reported_at_once(digit_tree: Tree, sdk) -> None:
    text = digit_tree.manifest.read_text()
    text = text.replace('"pgr-services:v1.1.0-0a1b2c3-1"', "pgr-services")
    text = text.replace('"egovio/egov-mdms-service:v1.3.2-abc1234-7"', "egov-mdms-service")
    digit_tree.manifest.write_text(text)
    seen: list[str] = []
    with pytest.raises(MissingTagsError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk,
                       on_rendered=lambda svc: seen.append(svc.name))
    assert list(info.value.services) == ["egov-mdms-service", "pgr-services"]
    assert "egov-mdms-service (line 10), pgr-services (line 18)" in str(info.value)
    # the services before the first failure were kept; none after it was rendered for nothing
    assert seen == [CLUSTER_CONFIGS, "elasticsearch-data-v1", "elasticsearch-master-v1"]


def test_tags_override_the_manifest_and_running_tags_fill_untagged_services(digit_tree: Tree, sdk) -> None:
    text = digit_tree.manifest.read_text().replace('"pgr-services:v1.1.0-0a1b2c3-1"', "pgr-services")
    digit_tree.manifest.write_text(text)

    def images(rendered) -> dict[str, list[str]]:
        out = {}
        for svc in rendered:
            for dep in by_kind(svc.objects, "Deployment").values():
                spec = dep["spec"]["template"]["spec"]
                out[svc.name] = [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
        return out

    got = images(render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                                digit_tree.secrets_file, sdk, running_tags={"pgr-services": "v1.1.0-run-5",
                                                                            "egov-user": "v0-ignored"}))
    assert got["pgr-services"] == ["egovio/pgr-services-db:v1.1.0-run-5", "egovio/pgr-services:v1.1.0-run-5"]
    # a running tag never replaces the manifest's own
    assert got["egov-user"][1] == "egovio/egov-user:v1.2.0-def5678-3"

    rendered = render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                              digit_tree.secrets_file, sdk, tags={"egov-user": "v9.9.9-fix-1", "pgr-services": "v2"},
                              running_tags={"pgr-services": "v1.1.0-run-5"})
    got = images(rendered)
    # the answers' tag wins over both; the manifest's own egov-user-db tag is kept for the migration
    assert got["egov-user"] == ["egovio/egov-user-db:v1.2.0-def5678-4", "egovio/egov-user:v9.9.9-fix-1"]
    assert got["pgr-services"] == ["egovio/pgr-services-db:v2", "egovio/pgr-services:v2"]
    assert next(s for s in rendered if s.name == "egov-user").image_tag == "v9.9.9-fix-1"


def test_values_files_are_read_by_helm_not_pyyaml(digit_tree: Tree, sdk) -> None:
    # nginx-ingress in DIGIT-DevOps has trailing tabs that Helm accepts and PyYAML refuses.
    values = digit_tree.charts / "core" / "egov-user" / "values.yaml"
    values.write_text(values.read_text().replace("namespace: egov\n", "namespace: egov\t\t\n"))
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(values.read_text())
    rendered = render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                              digit_tree.secrets_file, sdk)
    assert by_kind(next(s for s in rendered if s.name == "egov-user").objects, "Deployment")["egov-user"]


def test_invalid_values_file_gets_helms_message_with_file_and_line(digit_tree: Tree, sdk) -> None:
    values = digit_tree.charts / "core" / "egov-user" / "values.yaml"
    values.write_text(values.read_text() + "broken:\n  - a\n b: 1\n")
    lines = values.read_text().count("\n")
    with pytest.raises(InputError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)
    assert str(info.value) == (f"{values}:{lines}: values file: YAML syntax error at line {lines}: "
                               "did not find expected key")


def test_invalid_secrets_file_names_the_line_but_no_secret(digit_tree: Tree, sdk) -> None:
    digit_tree.secrets_file.write_text("cluster-configs:\n  secrets:\n    db: {password: hunter2-secret\n")
    with pytest.raises(InputError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)
    # the flow mapping opened on line 3 is still open where the file ends
    assert str(info.value).startswith(f"{digit_tree.secrets_file}:4: secrets file: YAML syntax error at line 4")
    assert "hunter2" not in str(info.value)


def test_parse_error_in_a_service_template(digit_tree: Tree, sdk) -> None:
    write(digit_tree.charts / "core" / "egov-user" / "templates" / "hpa.yaml",
          "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {{ .Values.name | nosuch }}\n")
    with pytest.raises(RenderError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)
    text = str(info.value)
    assert "chart egov-user, template templates/hpa.yaml line 4" in text
    assert 'function "nosuch" not defined' in text


def test_error_inside_the_common_library_points_at_the_common_chart(digit_tree: Tree, sdk) -> None:
    helpers = digit_tree.charts / "common" / "templates" / "_helpers.tpl"
    helpers.write_text(helpers.read_text().replace("replicas: {{ $v.replicas | default 1 }}",
                                                   "replicas: {{ $v.replicas.count }}"))
    line = next(i for i, text in enumerate(helpers.read_text().splitlines(), 1) if "$v.replicas.count" in text)
    with pytest.raises(RenderError) as info:
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk,
                       cluster_configs=False)
    err = info.value
    assert (err.chart, err.subchart) == ("egov-mdms-service", "common")
    assert (err.template, err.template_line) == ("templates/_helpers.tpl", line)
    assert err.path == helpers
    assert "chart egov-mdms-service (its dependency common), template templates/_helpers.tpl" in str(err)
    assert str(err).endswith("nil pointer evaluating interface {}.count")


def test_rendered_output_that_is_not_yaml_names_the_template(digit_tree: Tree, sdk) -> None:
    write(digit_tree.charts / "core" / "egov-user" / "templates" / "broken.yaml", "a: [unclosed\n")
    with pytest.raises(RenderError, match="chart egov-user, template templates/broken.yaml"):
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)


def test_slow_render_hits_the_deadline(tmp_path: Path) -> None:
    chart = tmp_path / "slow"
    write(chart / "Chart.yaml", "apiVersion: v2\nname: slow\nversion: 0.1.0\n")
    write(chart / "templates" / "cm.yaml",
          'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n'
          'data: {n: "{{ range until (int .Values.n) }}{{ range until (int $.Values.n) }}{{ end }}{{ end }}"}\n')
    with make_renderer("sdk", timeout=0.05) as renderer:
        started = time.monotonic()
        with pytest.raises(TransientError, match="did not finish within"):
            renderer.render(chart, "slow", {"n": 5000})
        assert time.monotonic() - started < 1.0


def test_remote_dependency_that_is_not_vendored_is_reported(digit_tree: Tree, sdk) -> None:
    chart_yaml = digit_tree.charts / "core" / "egov-user" / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text() + "- name: postgresql\n  version: 12.0.0\n"
                                                   "  repository: https://charts.example.org\n")
    with pytest.raises(InputError, match="depends on postgresql from https://charts.example.org"):
        render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)


# -- engines ----------------------------------------------------------------

def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="unknown render engine"):
        make_renderer("kustomize")
    if shutil.which("helm") is None:
        with make_renderer("auto") as auto:
            assert auto.engine == "sdk"
        with pytest.raises(InputError, match="needs a helm binary"):
            make_renderer("helm")


@pytest.mark.skipif(shutil.which("helm") is None, reason=(
    "no helm binary on PATH: this machine cannot install one (no network access to Helm's release "
    "downloads), so the pyhelm3 engine is only exercised where helm exists"))
def test_helm_binary_engine_renders_like_the_sdk(digit_tree: Tree, sdk) -> None:
    """The pyhelm3 engine drives a real helm binary; both engines must agree object for object."""
    with make_renderer("helm") as helm:
        a = render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file,
                           digit_tree.secrets_file, helm)
    b = render_release(digit_tree.root, digit_tree.manifest, None, digit_tree.env_file, digit_tree.secrets_file, sdk)
    assert [(s.name, s.digest) for s in a] == [(s.name, s.digest) for s in b]


# -- the command ---------------------------------------------------------------

def cli_args(tree: Tree, out: Path, *extra: str) -> list[str]:
    return ["render", "--source", str(tree.root), "--manifest", str(tree.manifest), "--env-file",
            str(tree.env_file), "--secrets-file", str(tree.secrets_file), "--out", str(out), "--engine", "sdk",
            *extra]


def test_render_command_writes_one_file_per_service_and_an_index(digit_tree: Tree, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(cli_args(digit_tree, out, "--modules", "m_pgr")) == exitcodes.OK
    index = yaml.safe_load((out / "index.yaml").read_text())
    names = [s["name"] for s in index["services"]]
    assert names[0] == CLUSTER_CONFIGS and "pgr-services" in names and index["release"] == "v0.1"
    for entry in index["services"]:
        text = (out / entry["file"]).read_text()
        assert entry["digest"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        assert (out / entry["file"]).stat().st_mode & 0o077 == 0      # rendered Secrets inside
    docs = list(yaml.safe_load_all((out / "elasticsearch-data-v1.yaml").read_text()))
    assert docs[0]["kind"] == "CustomResourceDefinition"
    assert "rendered 6 services" in capsys.readouterr().out


def test_command_exits_2_on_unknown_service(digit_tree: Tree, tmp_path: Path, capsys) -> None:
    digit_tree.manifest.write_text(digit_tree.manifest.read_text().replace("egov-mdms-service:", "egov-mdms:"))
    assert main(cli_args(digit_tree, tmp_path / "out")) == exitcodes.BAD_INPUT
    err = capsys.readouterr().err
    assert "egov-mdms" in err and "charts/backbone, charts/core, charts/m-pgr" in err
    assert not (tmp_path / "out").exists()


def test_command_renders_through_a_module_cycle_and_warns(digit_tree: Tree, tmp_path: Path, capsys) -> None:
    digit_tree.manifest.write_text(digit_tree.manifest.read_text().replace(
        "  - name: core\n    dependencies: [backbone]", "  - name: core\n    dependencies: [backbone, business]"))
    assert main(cli_args(digit_tree, tmp_path / "out")) == exitcodes.OK
    err = capsys.readouterr().err
    assert "warning: line 14: module dependency cycle core -> business -> core" in err


def test_command_exits_2_on_template_error(digit_tree: Tree, tmp_path: Path) -> None:
    """Through the installed console script, as an operator runs it."""
    write(digit_tree.charts / "core" / "egov-user" / "templates" / "hpa.yaml", "a: {{ if }}\n")
    exe = Path(sys.executable).with_name("digit-tui")
    proc = subprocess.run([str(exe), *cli_args(digit_tree, tmp_path / "out")], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == exitcodes.BAD_INPUT
    assert "chart egov-user, template templates/hpa.yaml line 1" in proc.stderr
    errors = [line for line in proc.stderr.strip().splitlines() if ": warning: " not in line]
    assert len(errors) == 1


def test_command_exits_2_on_unknown_module(digit_tree: Tree, tmp_path: Path, capsys) -> None:
    assert main(cli_args(digit_tree, tmp_path / "out", "--modules", "m_tl")) == exitcodes.BAD_INPUT
    assert "selectable modules: m_pgr" in capsys.readouterr().err


# -- the bundled sample --------------------------------------------------------

def _bundle_inputs(tmp_path: Path) -> tuple[Path, Path | None, Path | None]:
    manifests = sorted(BUNDLE.rglob("dependancy_chart-*.yaml"))
    envs = BUNDLE / "deploy-as-code" / "helm" / "environments"
    env = next((p for p in sorted(envs.glob("*.yaml")) if not p.name.endswith("-secrets.yaml")), None) \
        if envs.is_dir() else None
    secrets = next(iter(sorted(envs.glob("*-secrets.yaml"))), None) if envs.is_dir() else None
    return (manifests[-1] if manifests else None), env, secrets


MINIMAL_ENV = """
global:
  domain: sample.example.org
cluster-configs:
  namespaces:
    create: true
    values: [egov, backbone, es-cluster, kafka-cluster, zookeeper-cluster]
"""


def test_the_bundled_sample_release_renders_completely(tmp_path: Path, sdk) -> None:
    manifest, env, secrets = _bundle_inputs(tmp_path)
    if manifest is None:
        pytest.skip("the bundled sample (digit_tui/bundles/digit-sample) has no release manifest yet")
    if env is None:
        env = write(tmp_path / "env.yaml", MINIMAL_ENV)
    before = tree_snapshot(BUNDLE)
    rendered = render_release(BUNDLE, manifest, None, env, secrets, sdk)
    assert rendered[0].name == CLUSTER_CONFIGS
    assert "Namespace" in {o["kind"] for o in rendered[0].objects}
    names = {s.name for s in rendered}
    assert {"egov-user", "egov-mdms-service", "egov-persister", "kafka-v2", "zookeeper-v2"} <= names
    for svc in rendered[1:]:
        assert svc.objects, f"{svc.name} rendered no objects"
        for obj in svc.objects:
            for c in obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                assert not c["image"].endswith(":"), f"{svc.name}: image without a tag"
    assert tree_snapshot(BUNDLE) == before


def test_render_from_an_answers_file(tmp_path: Path, capsys) -> None:
    """Source, release and modules come from the answers file (bundled sample, m_pgr only)."""
    manifest, _, _ = _bundle_inputs(tmp_path)
    if manifest is None:
        pytest.skip("the bundled sample has no release manifest yet")
    answers = write(tmp_path / "answers.yaml", """
        version: 1
        environment: demo
        target:
          provider: sandbox
        digit:
          source: bundled
          modules: [m_pgr]
          domain: demo.example.org
        """)
    env = write(tmp_path / "env.yaml", MINIMAL_ENV)
    out = tmp_path / "out"
    code = main(["render", "--answers", str(answers), "--env-file", str(env), "--out", str(out),
                 "--state-dir", str(tmp_path / "state"), "--engine", "sdk"])
    assert code == exitcodes.OK, capsys.readouterr().err
    names = [s["name"] for s in yaml.safe_load((out / "index.yaml").read_text())["services"]]
    assert names[0] == CLUSTER_CONFIGS and "pgr-services" in names and "egov-user" in names
    assert "property-services" not in names


def test_render_from_answers_generates_a_preview_environment(tmp_path: Path, capsys) -> None:
    """Without --env-file and before any install, env and secrets files are generated from the answers."""
    manifest, _, _ = _bundle_inputs(tmp_path)
    if manifest is None:
        pytest.skip("the bundled sample has no release manifest yet")
    answers = write(tmp_path / "answers.yaml", """
        version: 1
        environment: demo
        target:
          provider: sandbox
        digit:
          source: bundled
          domain: demo.example.org
        """)
    out = tmp_path / "out"
    code = main(["render", "--answers", str(answers), "--out", str(out), "--state-dir", str(tmp_path / "state"),
                 "--engine", "sdk"])
    err = capsys.readouterr().err
    assert code == exitcodes.OK, err
    assert "preview environment" in err
    docs = list(yaml.safe_load_all((out / "cluster-configs.yaml").read_text()))
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "egov-config")
    assert config["data"]["db-url"].startswith("jdbc:postgresql://")
    assert any(d["kind"] == "Secret" and d["metadata"]["name"] == "db" for d in docs)
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").rglob("*-secrets.yaml"))
