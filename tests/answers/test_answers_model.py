"""The answers schema and loader in-process: rules, defaults, line mapping, settings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from digit_tui.answers.loader import AnswersError, load_answers, parse_answers
from digit_tui.answers.model import Storage
from digit_tui.answers.config import InstallConfig
from digit_tui.answers.settings import answers_to_settings, answers_to_yaml, network_endpoints
from digit_tui.errors import InputError

BAD = Path(__file__).parent / "bad"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n"


def doc(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def base(extra: str = "") -> str:
    return doc("""
        environment: dev
        target:
          provider: sandbox
        digit:
          domain: digit.local
        """) + doc(extra)


def error_of(text: str, path: Path | str = "answers.yaml", **kw: bool) -> InputError:
    with pytest.raises(InputError) as info:
        parse_answers(text, path, **kw)
    return info.value


def test_minimal_file_gets_sandbox_defaults() -> None:
    answers = parse_answers(base())
    assert answers.version == 1
    assert answers.digit.source == "bundled"
    assert answers.digit.container_registry == "egovio"
    assert answers.digit.state_tenant == "pb"
    assert (answers.database.mode, answers.database.port, answers.database.name) == ("in-cluster", 5432, "egov_db")
    assert (answers.storage.mode, answers.cluster.mode) == ("dynamic", "existing")
    assert answers.engine.concurrency is None     # the engine's own limits
    assert answers.monitoring_enabled is False
    assert answers.phases.jenkins is False


def test_monitoring_is_on_by_default_for_tier_prod_and_jenkins_needs_its_repositories() -> None:
    assert parse_answers(base()).monitoring_enabled is False
    assert parse_answers(base("sizing:\n  tier: prod\n")).monitoring_enabled is True
    assert parse_answers(base("sizing:\n  tier: prod\nphases:\n  monitoring: false\n")).monitoring_enabled is False
    assert parse_answers(base("phases:\n  monitoring: true\n")).monitoring_enabled is True
    err = error_of(base("jenkins:\n  repositories: [git@github.com:egovernments/DIGIT-OSS.git]\n"))
    assert "the jenkins section is only used with phases.jenkins: true" in str(err)
    answers = parse_answers(base("phases:\n  jenkins: true\n"
                                 "jenkins:\n  repositories: [git@github.com:egovernments/DIGIT-OSS.git]\n"))
    assert answers.jenkins is not None and answers.jenkins.namespace == "jenkins"


# (snippet, line, message start): every key validation refuses until its phase is built.
NOT_AVAILABLE = [
    ("ingress:\n  class: traefik\n", 7, "ingress.class: traefik is not available yet"),
    ("ingress:\n  tls: cert-manager\n", 7, "ingress.tls: cert-manager is not available yet (the TLS phase"),
]


@pytest.mark.parametrize("snippet,line,message", NOT_AVAILABLE, ids=[m.split(":")[0] for _, _, m in NOT_AVAILABLE])
def test_keys_no_phase_acts_on_yet_are_refused_by_name(snippet: str, line: int, message: str) -> None:
    err = error_of(base(snippet))
    assert err.line == line and str(err).startswith(f"answers.yaml:{line}: {message}"), str(err)
    assert err.expected


def test_terraform_mode_and_section_go_together(tmp_path: Path) -> None:
    text = base("cluster:\n  mode: terraform\n").replace("provider: sandbox", "provider: azure")
    err = error_of(text)
    assert err.line == 7 and "cluster.mode: terraform needs a terraform section" in str(err), str(err)
    (tmp_path / "infra").mkdir()
    err = error_of(base("terraform:\n  dir: infra\n"), tmp_path / "answers.yaml")
    assert "the terraform section is only used with cluster.mode: terraform" in str(err), str(err)
    secrets = tmp_path / "tf.json"
    secrets.write_text('["not", "an", "object"]')
    secrets.chmod(0o600)
    text = base("cluster:\n  mode: terraform\nterraform:\n  dir: infra\n  secret_variables_file: tf.json\n")
    err = error_of(text.replace("provider: sandbox", "provider: azure"), tmp_path / "answers.yaml")
    assert "secret_variables_file tf.json is not a JSON object" in str(err), str(err)
    secrets.write_text('{"db_password": "x"}')
    secrets.chmod(0o644)
    err = error_of(text.replace("provider: sandbox", "provider: azure"), tmp_path / "answers.yaml")
    assert "can be read by other users" in str(err), str(err)


def test_sizing_tier_sets_the_prerequisites_thresholds() -> None:
    from digit_tui.preflight.model import PreflightPlan

    answers = parse_answers(base("sizing:\n  tier: prod\n"))
    plan = PreflightPlan.from_config(InstallConfig.from_document(answers_to_settings(answers)))
    assert plan.tier == "prod"


@pytest.mark.parametrize("snippet", ["cluster:\n  pod_cidr: 10.1.0.0/16\n", "cluster:\n  service_cidr: 10.96.0.0/12\n",
                                     "cluster:\n  api_endpoint: 10.0.0.5:6443\n"])
def test_kubeadm_keys_are_refused_for_an_existing_cluster(snippet: str) -> None:
    err = error_of(base(snippet))
    key = snippet.split("\n")[1].split(":")[0].strip()
    assert err.line == 7 and f"cluster.{key} is only used with cluster.mode: kubeadm" in str(err), str(err)


def test_kubeadm_answers_are_accepted_and_its_rules_explain_a_wrong_file() -> None:
    kubeadm = doc("""
        environment: lab
        target:
          provider: sdc
        hosts:
          - {name: m, address: 10.20.0.11, user: ubuntu, ssh_key: k, roles: [master]}
        cluster:
          mode: kubeadm
        digit:
          domain: digit.local
        """)
    answers = parse_answers(kubeadm, Path("answers.yaml"), check_files=False)
    assert answers.cluster.mode == "kubeadm" and answers.cluster.pod_cidr == "10.244.0.0/16"
    err = error_of(kubeadm.replace("roles: [master]", "roles: [worker]"), check_files=False)
    assert "kubeadm needs at least one host with role master" in str(err)
    err = error_of(kubeadm.replace("roles: [master]", "roles: [master, lb]"), check_files=False)
    assert err.line == 5 and "has roles lb and master" in str(err)


def test_all_problems_are_kept_in_file_order() -> None:
    text = base("""
        engine:
          concurrency: 99
        database:
          port: 0
          name: bad-name
        """)
    err = error_of(text)
    assert isinstance(err, AnswersError)
    assert [p.line for p in err.problems] == [7, 9, 10]
    assert str(err) == str(err.problems[0])
    assert "engine.concurrency: 99 is out of range (at most 32)" in str(err)


def test_paths_resolve_against_the_answers_file_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(KEY)
    conf = tmp_path / "conf"
    (conf / "keys").mkdir(parents=True)
    (conf / "keys" / "vm").write_text(KEY)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)  # relative paths must not depend on the working directory
    answers_file = conf / "answers.yaml"
    answers_file.write_text(base("""
        hosts:
          - {name: a, address: 10.0.0.1, user: ubuntu, ssh_key: keys/vm, roles: [worker]}
          - {name: b, address: 10.0.0.2, user: ubuntu, ssh_key: ~/.ssh/id_ed25519, roles: [worker]}
        """))
    answers = load_answers(answers_file)
    assert answers.hosts[0].ssh_key == conf / "keys" / "vm"
    assert answers.hosts[1].ssh_key == home / ".ssh" / "id_ed25519"


def test_file_checks_can_be_skipped_for_files_on_another_machine() -> None:
    text = base("""
        hosts:
          - {name: a, address: 10.0.0.1, user: ubuntu, ssh_key: /nonexistent/key, roles: [worker]}
        """)
    assert "ssh_key" in str(error_of(text))
    assert parse_answers(text, check_files=False).hosts[0].ssh_key == Path("/nonexistent/key")


def test_block_value_on_next_line_and_flow_items_point_at_the_value() -> None:
    text = base("""
        hosts:
          - name: a
            address: 10.0.0.1
            user: ubuntu
            ssh_key: k
            roles:
              - worker
              - kafka
        """)
    err = error_of(text, check_files=False)
    assert err.line == 13 and "hosts[0].roles[1]: kafka is not allowed" in str(err)
    flow = base("network:\n  probes: [10.0.0.1:22, 'nohost', 10.0.0.2:443]\n")
    err = error_of(flow)
    assert err.line == 7 and "network.probes[1]: nohost has no port" in str(err)


def test_duplicate_keys_aliases_and_merge_keys() -> None:
    merged = base("""
        defaults: &vm {user: ubuntu, ssh_key: k, roles: [worker]}
        """)
    assert "unknown key 'defaults'" in str(error_of(merged, check_files=False))
    text = base("""
        hosts:
          - &first {name: a, address: 10.0.0.1, user: ubuntu, ssh_key: k, roles: [worker]}
          - <<: *first
            name: b
            address: 10.0.0.2
        """)
    answers = parse_answers(text, check_files=False)
    assert [h.user for h in answers.hosts] == ["ubuntu", "ubuntu"]
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, n in zip("abcdefg", "bcdefgh"))
    assert "too many values" in str(error_of(bomb))


def test_hosts_must_be_unique() -> None:
    text = base("""
        hosts:
          - {name: a, address: 10.0.0.1, user: ubuntu, ssh_key: k, roles: [worker]}
          - {name: a, address: 10.0.0.2, user: ubuntu, ssh_key: k, roles: [worker]}
          - {name: c, address: 10.0.0.1, user: ubuntu, ssh_key: k, roles: [worker]}
        """)
    err = error_of(text, check_files=False)
    assert err.line == 8 and "host name a is used twice" in str(err)
    text = text.replace("{name: a, address: 10.0.0.2", "{name: b, address: 10.0.0.2")
    err = error_of(text, check_files=False)
    assert err.line == 9 and "10.0.0.1:22 is listed twice" in str(err)
    # The same address on another port is another machine (port forwards to several VMs).
    parse_answers(text.replace("{name: c, address: 10.0.0.1,", "{name: c, address: 10.0.0.1, port: 2222,"),
                  check_files=False)


def test_addresses_and_host_ports_are_normalised() -> None:
    # (cluster.api_endpoint, refused until the kubeadm phase exists, used to carry the IPv6 case)
    text = base("""
        network:
          vpn_gateway: VPN.Example.gov.in
          probes: [Api.Example.gov.in:443, "[FD00::1]:6443"]
        hosts:
          - {name: a, address: "fd00::0010", user: ubuntu, ssh_key: k, roles: [master]}
        """)
    answers = parse_answers(text, check_files=False)
    assert answers.network.vpn_gateway == "vpn.example.gov.in"
    assert answers.network.probes == ["api.example.gov.in:443", "[fd00::1]:6443"]
    assert answers.hosts[0].address == "fd00::10"
    assert "leading zeros" in str(error_of(base("database: {mode: external, host: 010.0.0.1}\n")))


def test_source_rules(tmp_path: Path) -> None:
    text = base().rstrip("\n") + "\n  source: {git: 'git@github.com:egovernments/DIGIT-DevOps.git', ref: master}\n"
    err = error_of(text)
    assert err.line == 6 and "release is required with a git source" in str(err)
    assert "dependancy_chart" in str(err)
    err = error_of(base().rstrip("\n") + "\n  source: {git: 'https://github.com/x/y.git', ref: '--upload-pack=sh'}\n")
    assert "is not a git ref" in str(err)

    tree = tmp_path / "devops"
    charts = tree / "product-release-charts" / "DIGIT"
    charts.mkdir(parents=True)
    for version in ("v2.8", "v2.9"):
        (charts / f"dependancy_chart-digit-{version}.yaml").write_text(
            "version: x\nmodules:\n  - name: core\n  - name: m_pgr\n  - name: m_property-tax\n")
    answers_file = tmp_path / "answers.yaml"
    answers_file.write_text(base().rstrip("\n") + "\n  source: {path: devops}\n  modules: [m_pgr, m_propertytax]\n")
    err = error_of(answers_file.read_text(), answers_file)
    assert err.line == 6 and "2 release manifests" in str(err)
    answers_file.write_text(answers_file.read_text() + "  release: product-release-charts/DIGIT/dependancy_chart-digit-v2.9.yaml\n")
    err = error_of(answers_file.read_text(), answers_file)
    assert err.line == 7 and "module m_propertytax is not in" in str(err) and "did you mean m_property-tax?" in str(err)
    answers_file.write_text(answers_file.read_text().replace("m_propertytax", "m_property-tax"))
    answers = load_answers(answers_file)
    assert answers_to_settings(answers)["derived"]["release"].endswith("v2.9.yaml")
    err = error_of(answers_file.read_text().replace("release: product", "release: ../product"), answers_file)
    assert "leaves the DIGIT source" in str(err)


def test_storage_ingress_and_database_rules(tmp_path: Path) -> None:
    # TLS is refused as "not available yet" (its phase is not built), but its own rules still
    # come first, so the file is right once the phase exists.
    err = error_of(base("storage: {mode: static, provider: iscsi}\n"))
    assert err.line == 6 and "need the target portal" in str(err)
    storage = Storage.model_validate({"mode": "static", "provider": "iscsi", "iscsi": {"portal": "10.0.0.50"}})
    assert storage.iscsi is not None and storage.iscsi.portal == "10.0.0.50:3260"
    err = error_of(base("storage: {mode: static, provider: iscsi, iscsi: {portal: 10.0.0.50}}\n"))
    assert "static iscsi volumes need the disks" in str(err)
    assert "only used with provider: iscsi" in str(error_of(base("storage: {mode: static, provider: aws, "
                                                                 "iscsi: {portal: x.y}}\n")))
    assert "provider cinder is only used with mode: static" in str(error_of(base("storage: {provider: cinder}\n")))
    err = error_of(base("ingress:\n  tls: provided\n  cert_file: tls.crt\n"), check_files=False)
    assert err.line == 7 and "tls: provided needs key_file" in str(err)
    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "tls.key").write_text("key")
    err = error_of(base("ingress: {tls: provided, cert_file: tls.crt, key_file: tls.key}\n"), tmp_path / "answers.yaml")
    assert "ingress.tls: provided is not available yet" in str(err)
    answers = parse_answers(base("storage: {storage_class: fast-ssd}\n"))
    config = InstallConfig.from_document(answers_to_settings(answers))
    assert config.answers.ingress.class_ == "nginx" and config.answers.storage.storage_class == "fast-ssd"
    err = error_of(base("database:\n  mode: in-cluster\n  host: 10.0.0.9\n"))
    assert err.line == 8 and "host is only used with mode external or vm" in str(err)
    err = error_of(base("database:\n  mode: vm\n"))
    assert err.line == 7 and "needs host or a host with role db" in str(err)


def test_kubeconfig_context_and_cluster_endpoint() -> None:
    answers_file = BAD / "answers.yaml"  # never written: only anchors the relative path
    text = doc("""
        environment: prod
        target:
          provider: existing
          kubeconfig: files/kubeconfig
          context: lab
        digit:
          domain: egov.example.gov.in
        """)
    answers = parse_answers(text, answers_file)
    endpoints = network_endpoints(answers)
    assert [(e.host, e.port, e.label) for e in endpoints] == [("127.0.0.1", 6443, "cluster API")]
    assert not answers_file.exists()


def test_yaml_written_back_reads_as_the_same_answers(tmp_path: Path) -> None:
    (tmp_path / "k").write_text(KEY)
    original = parse_answers(base("""
        hosts:
          - {name: a, address: 10.0.0.1, user: ubuntu, ssh_key: k, roles: [worker, db]}
        database: {mode: vm}
        storage: {storage_class: fast-ssd}
        engine: {concurrency: 2}
        """), tmp_path / "answers.yaml")
    text = answers_to_yaml(original)
    again = parse_answers(text, tmp_path / "elsewhere" / "answers.yaml")
    assert again == original
    assert "storage_class: fast-ssd" in text and "port: 22" not in text  # defaults stay implicit


def test_not_a_mapping_and_encoding() -> None:
    assert "not a mapping" in str(error_of("- a\n- b\n"))
    assert error_of("environment: dev\n\n\x00bad\n").line == 3


SAFE_TEXT = st.text(alphabet=st.sampled_from(list("abz019 :-[]{}\"'#&*!|>\t\n.,_~/@%")), max_size=120)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SAFE_TEXT)
def test_any_text_gives_answers_or_one_located_input_error(text: str) -> None:
    try:
        parse_answers(text, "fuzz.yaml")
    except InputError as exc:
        assert str(exc).startswith("fuzz.yaml")
        assert exc.expected


@hsettings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["environment", "target", "digit", "hosts", "engine", "zzz"]),
                       st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                                        st.sampled_from(["provider", "domain", "port", "name", "mode"]), inner, max_size=3),
                                    max_leaves=8)))
def test_any_structure_gives_answers_or_a_line_inside_the_file(data: dict[str, object]) -> None:
    text = yaml.safe_dump(data, sort_keys=False)
    try:
        parse_answers(text, "fuzz.yaml", check_files=False)
    except InputError as exc:
        assert exc.line is not None and 1 <= exc.line <= max(1, text.count("\n"))
        assert exc.expected


# -- static volumes and the sizing plan --------------------------------------------------------------

def test_static_disks_are_named_in_the_answers_or_come_from_terraform(tmp_path: Path) -> None:
    answers = parse_answers(base("storage:\n  mode: static\n  provider: iscsi\n"
                                 "  iscsi: {portal: 10.0.0.50, iqn_prefix: iqn.2024-01.in.gov.sdc}\n"))
    assert answers.storage.disk_outputs() == {}     # the targets are named from the prefix
    answers = parse_answers(base("storage:\n  mode: static\n  provider: aws\n  disks:\n"
                                 "    kafka: [vol-0a, vol-0b, vol-0c]\n"
                                 "    elasticsearch-data-v1: [{id: vol-1a, zone: ap-south-1a}]\n"))
    assert answers.storage.disk_outputs() == {"disks": {"kafka": ["vol-0a", "vol-0b", "vol-0c"],
                                                             "elasticsearch-data-v1": [{"id": "vol-1a",
                                                                                        "zone": "ap-south-1a"}]}}
    (tmp_path / "infra").mkdir()
    text = base("cluster: {mode: terraform}\nterraform: {dir: infra}\nstorage:\n  mode: static\n  provider: azure\n"
                "  outputs: {kafka: kafka_disks}\n").replace("provider: sandbox", "provider: azure")
    answers = parse_answers(text, tmp_path / "answers.yaml")
    assert answers.storage.output_names() == {"kafka-v2": "kafka_disks"}
    err = error_of(base("storage:\n  mode: static\n  provider: aws\n  outputs: {kafka: kafka_disks}\n"))
    assert err.line == 9 and "storage.outputs names terraform outputs, and no terraform phase runs" in str(err)
    err = error_of(base("storage:\n  mode: dynamic\n  disks: {kafka: [vol-0a]}\n"))
    assert err.line == 8 and "disks is only used with mode: static" in str(err)
    err = error_of(base("storage:\n  mode: static\n  provider: aws\n  storage_class: gp3\n  disks: {kafka: [vol-0a]}\n"))
    assert "storage_class is only used with mode: dynamic" in str(err)
    err = error_of(base("storage:\n  mode: static\n  provider: nfs\n  disks: {kafka: [/exports/kafka-0]}\n"))
    assert err.line == 9 and "storage.disks.kafka[0]: the disk names no NFS server" in str(err), str(err)
    answers = parse_answers(base("storage:\n  mode: static\n  provider: nfs\n  nfs: {server: 10.0.0.60}\n"
                                 "  disks: {kafka: [/exports/kafka-0, 10.0.0.61:/exports/kafka-1]}\n"))
    assert answers.storage.nfs is not None and answers.storage.nfs.server == "10.0.0.60"
    err = error_of(base("storage:\n  mode: static\n  provider: aws\n  disks: {kafka: ['vol 0a']}\n"))
    assert err.line == 9 and "storage.disks.kafka[0]: the disk has no usable volume ID" in str(err), str(err)


def test_sizing_keys_are_acted_on_and_a_preset_brings_its_tier() -> None:
    answers = parse_answers(base("sizing:\n  ulbs: 120\n  preset: sdc-prod\n"))
    assert (answers.sizing.ulbs, answers.sizing.tier, answers.sizing.preset) == (120, "prod", "sdc-prod")
    assert answers.monitoring_enabled is True       # tier prod, from the preset
    answers = parse_answers(base("sizing:\n  tier: prod\n  preset: sdc-prod\n"))
    assert answers.sizing.tier == "prod"
    err = error_of(base("sizing:\n  ulbs: 0\n"))
    assert err.line == 7 and "sizing.ulbs: 0 is out of range (at least 1)" in str(err)


def test_the_sizing_plan_is_recorded_in_the_document_and_restored_as_it_was() -> None:
    from digit_tui.answers.sizingplan import SizingPlan
    from digit_tui.sizing.install import install_plan

    answers = parse_answers(base("sizing:\n  ulbs: 4000\n  preset: sdc-prod\ndatabase: {mode: external, host: 10.0.0.9}\n"))
    plan = install_plan(answers)
    assert plan.preset == "sdc-prod" and plan.ulbs == 4000 and plan.workers >= 3 and plan.masters == 3
    sizes = plan.disk_sizes()
    assert sizes["kafka-v2"].replicas == 3 and sizes["kafka-v2"].gib > 100      # grown past the 100G minimum
    assert sizes["zookeeper-v2"].gib == 10
    document = InstallConfig.from_answers(answers, sizing=plan).to_document()
    again = InstallConfig.from_document(document)
    assert again.sizing == plan and isinstance(again.sizing, SizingPlan)
    variables = plan.terraform_variables()
    assert variables["node_count"] == plan.workers and variables["kafka_volume_size_gb"] == sizes["kafka-v2"].gib
    assert variables["es_master_volume_count"] == 3
    # More ULBs, bigger disks; the tier's own preset without any sizing key.
    small = install_plan(parse_answers(base("sizing:\n  ulbs: 10\n  preset: sdc-prod\n")))
    assert small.disk_sizes()["kafka-v2"].gib < sizes["kafka-v2"].gib
    assert install_plan(parse_answers(base())).preset == "dev"
    # A document without a plan (an older digit-tui) restores none: the phases keep their defaults.
    assert InstallConfig.from_document(InstallConfig.from_answers(answers).to_document()).sizing is None
