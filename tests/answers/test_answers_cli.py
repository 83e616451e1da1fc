"""``digit-tui validate`` as the operator runs it: a real subprocess per file.

Every malformed file under tests/answers/bad/ must exit 2 with one stderr line
``digit-tui: FILE:LINE: ... (expected: ...)`` pointing at the exact line, and
must not create the state directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from digit_tui import cli
from digit_tui.answers.example import EXAMPLE, MINIMAL

BAD = Path(__file__).parent / "bad"

# file -> (line the error must point at, text the message must contain)
CASES: dict[str, tuple[int, str]] = {
    "yaml_syntax.yaml": (8, "YAML syntax error"),
    "tabs.yaml": (4, "tab character"),
    "wrong_type_int.yaml": (8, "engine.concurrency: many is not a whole number"),
    "wrong_type_list.yaml": (7, "hosts: master-1 is not a list"),
    "wrong_type_bool.yaml": (8, "phases.jenkins: maybe is not true or false"),
    "target_not_mapping.yaml": (3, "target: sandbox is not a mapping"),
    "unknown_top_key.yaml": (7, "unknown key 'databse'"),
    "unknown_nested_key.yaml": (7, "hosts[0]: unknown key 'adress'"),
    "missing_domain.yaml": (5, "digit: required key 'domain' is missing"),
    "missing_environment.yaml": (3, "required key 'environment' is missing"),
    "missing_host_user.yaml": (6, "hosts[0]: required key 'user' is missing"),
    "invalid_hostname.yaml": (7, "hosts[0].address: db_server!.example.gov.in is not a valid host name"),
    "invalid_ip.yaml": (12, "hosts[1].address: 10.0.0.300 is not a valid IPv4 address"),
    "invalid_cidr.yaml": (6, "cluster.pod_cidr: 10.244.0.0/33 is not a valid CIDR block"),
    "cidr_host_bits.yaml": (7, "cluster.service_cidr: 10.96.0.1/12 has host bits set"),
    "port_out_of_range.yaml": (13, "hosts[1].port: 70000 is not a valid port"),
    "bad_environment.yaml": (2, "environment: SDC_Prod is not a valid environment name"),
    "db_name_hyphen.yaml": (9, "database.name: egov-db is not a valid database identifier"),
    "inline_password.yaml": (11, "database: unknown key 'password'"),
    "missing_ssh_key.yaml": (9, "hosts[0].ssh_key: ssh_key file files/no_such_key does not exist"),
    "public_ssh_key.yaml": (9, "is a public key"),
    "missing_kubeconfig.yaml": (5, "target.kubeconfig: kubeconfig file files/no-such-kubeconfig does not exist"),
    "missing_password_file.yaml": (10, "database.password_file: password_file files/db-password does not exist"),
    "no_kubeconfig.yaml": (3, "provider aws with an existing cluster needs a kubeconfig"),
    "unknown_context.yaml": (6, "context 'production' is not in"),
    "module_name.yaml": (9, "digit.modules[1]: pgr is not a module name"),
    "static_no_provider.yaml": (9, "storage.mode: static volumes need a provider"),
    "external_db_no_host.yaml": (9, "database.mode: an external database needs host"),
    "bad_domain.yaml": (6, "digit.domain: 'egov example.gov.in' is not a valid DNS name"),
    "duplicate_key.yaml": (7, "duplicate key 'environment' (first on line 2)"),
    "wrong_version.yaml": (2, "unsupported answers file version 2"),
    "unknown_role.yaml": (12, "hosts[0].roles[1]: etcd is not allowed"),
    "bad_source.yaml": (7, "digit.source: not a DIGIT source"),
    "git_url_with_token.yaml": (8, "the git URL carries a password or token"),
    "kubeadm_on_sandbox.yaml": (6, "the sandbox cannot be built with kubeadm"),
    "pod_cidr_overlaps_hosts.yaml": (13, "lies inside pod_cidr 10.244.0.0/16"),
    "kubeadm_two_masters_no_lb.yaml": (9, "2 masters need a load balancer in front of their API servers"),
    "empty.yaml": (1, "the file is empty"),
    # Keys only a phase that is not built yet would act on (answers/model.py NOT_AVAILABLE_YET).
    "tls_not_available.yaml": (8, "ingress.tls: cert-manager is not available yet"),
    "jenkins_without_section.yaml": (9, "phases.jenkins: true needs a jenkins section"),
    "static_storage_without_disks.yaml": (8, "storage.mode: static iscsi volumes need the disks"),
    "static_storage_bad_disk.yaml": (14, "storage.disks.kafka[1]: the disk.iqn 'kafka-1' is not an iSCSI name"),
    "static_storage_unknown_component.yaml": (11, "storage.disks.kafak: kafak is not a backbone component"),
    "sizing_unknown_preset.yaml": (9, "sizing.preset: unknown sizing preset sdc-prd"),
    "sizing_too_many_ulbs.yaml": (8, "sizing.ulbs: 20000 is out of range (at most 10000)"),
    "sizing_preset_tier_conflict.yaml": (8, "sizing.tier: preset sdc-prod is a prod preset but tier is dev"),
    "sizing_no_plan.yaml": (8, "sizing: no plan for these answers: no candidate flavor fits the largest pod"),
}

# What each expected part must mention, for the cases the brief names explicitly.
EXPECTED_HINTS: dict[str, str] = {
    "port_out_of_range.yaml": "(expected: an integer 1-65535)",
    "tabs.yaml": "(expected: indentation with spaces, not tabs)",
    "unknown_top_key.yaml": "did you mean 'database'?",
    "unknown_nested_key.yaml": "did you mean 'address'?",
    "inline_password.yaml": "password_file: PATH",
    "db_name_hyphen.yaml": "letters, digits and underscores only",
    "invalid_cidr.yaml": "a CIDR block such as 10.244.0.0/16",
    "cidr_host_bits.yaml": "the network address, 10.96.0.0/12",
    "module_name.yaml": "starting with m_",
    "static_no_provider.yaml": "provider: iscsi, aws, azure or cinder",
    "missing_domain.yaml": "such as egov.example.gov.in",
    "unknown_context.yaml": "one of lab",
    "wrong_version.yaml": "(expected: 1",
    "kubeadm_not_available.yaml": "(expected: mode: existing with target.kubeconfig)",
    "tls_not_available.yaml": "(expected: tls: none",
    "static_storage_without_disks.yaml": "or cluster.mode: terraform (its outputs list them)",
    "sizing_unknown_preset.yaml": "did you mean sdc-prod?",
    "sizing_no_plan.yaml": "a database outside the cluster (database.mode external or vm)",
}


def cli_command() -> list[str]:
    """The user's entry point once the lead has wired the module into cli.py; a real subprocess either way."""
    if "digit_tui.cli.validate" in cli.COMMAND_MODULES:
        return [str(Path(sys.executable).parent / "digit-tui")]
    return [sys.executable, "-m", "digit_tui.cli.validate"]


def run_validate(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([*cli_command(), "validate", *args], capture_output=True, text=True, timeout=60,
                          env=env, cwd=cwd)


def test_there_are_at_least_15_distinct_bad_files() -> None:
    on_disk = {p.name for p in BAD.glob("*.yaml")}
    assert on_disk == set(CASES), "every fixture has an expected line, and every case has a fixture"
    assert len(CASES) >= 15


def test_every_bad_file_exits_2_with_file_line_and_expected(tmp_path: Path) -> None:
    state_home = tmp_path / "xdg-state"
    state_dir = tmp_path / "state-dir"

    def one(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        return name, run_validate("--answers", str(BAD / name), "--state-dir", str(state_dir),
                                  env_extra={"XDG_STATE_HOME": str(state_home)})

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(pool.map(one, sorted(CASES)))

    failures = []
    for name, (line, text) in sorted(CASES.items()):
        proc = results[name]
        lines = proc.stderr.strip().splitlines()
        prefix = f"digit-tui: {BAD / name}:{line}: "
        ok = (proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(prefix) and text in lines[0]
              and "(expected: " in lines[0] and lines[0].endswith(")") and proc.stdout == ""
              and EXPECTED_HINTS.get(name, "") in lines[0])
        if not ok:
            failures.append(f"{name}: rc={proc.returncode} want line {line} and {text!r}; got {proc.stderr!r}")
    assert not failures, "\n".join(failures)
    # validate is offline and read-only: no state directory appears, by either route.
    assert not state_home.exists()
    assert not state_dir.exists()


def test_secret_values_never_reach_the_terminal() -> None:
    for name, secret in (("inline_password.yaml", "Sup3rSecretValue"), ("git_url_with_token.yaml", "ghp_TopSecretToken123")):
        proc = run_validate("--answers", str(BAD / name))
        assert proc.returncode == 2
        assert secret not in proc.stderr + proc.stdout


def test_missing_answers_file_is_bad_input(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    proc = run_validate("--answers", str(missing))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"digit-tui: {missing}: answers file does not exist (expected: ")
    assert not missing.exists()


def test_minimal_file_is_valid_for_the_sandbox(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(MINIMAL)
    before = answers.read_bytes()
    state_home = tmp_path / "xdg-state"
    proc = run_validate("--answers", str(answers), env_extra={"XDG_STATE_HOME": str(state_home)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{answers}: valid (environment dev, 0 hosts, modules core only)"
    assert answers.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.yaml"]


def make_example_tree(root: Path) -> Path:
    """The files the printed example refers to, so that it validates as printed."""
    (root / "keys").mkdir()
    (root / "keys" / "digit_ed25519").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n")
    (root / "secrets").mkdir()
    password = root / "secrets" / "db-password"
    password.write_text("stand-in\n")
    password.chmod(0o600)
    manifest = root / "DIGIT-DevOps/deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("version: v2.8\nmodules:\n  - name: core\n    services: [egov-user]\n"
                        "  - name: m_pgr\n    dependencies: [core]\n    services: [pgr-services]\n")
    kubeconfig = root / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: sdc-prod\n"
                          "clusters: [{name: sdc, cluster: {server: 'https://10.20.0.5:6443'}}]\n"
                          "users: [{name: ops, user: {token: stand-in}}]\n"
                          "contexts: [{name: sdc-prod, context: {cluster: sdc, user: ops}}]\n")
    kubeconfig.chmod(0o600)
    answers = root / "answers.yaml"
    return answers


def test_printed_example_is_a_valid_full_file(tmp_path: Path) -> None:
    proc = run_validate("--example")
    assert proc.returncode == 0
    assert proc.stdout == EXAMPLE
    answers = make_example_tree(tmp_path)
    answers.write_text(proc.stdout)
    proc = run_validate("--answers", "answers.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "answers.yaml: valid (environment sdc-prod, 4 hosts, modules m_pgr)"


def test_json_settings_resolve_paths_and_derive_values(tmp_path: Path) -> None:
    answers = make_example_tree(tmp_path)
    answers.write_text(EXAMPLE)
    proc = run_validate("--answers", str(answers), "--json")
    assert proc.returncode == 0, proc.stderr
    settings = json.loads(proc.stdout)
    answers = settings["answers"]
    assert answers["hosts"][0]["ssh_key"] == str(tmp_path / "keys" / "digit_ed25519")
    assert settings["derived"]["database_host"] == "10.20.0.31"     # mode vm: the host with role db
    assert answers["database"]["password_file"] == str(tmp_path / "secrets" / "db-password")
    assert "stand-in" not in proc.stdout                       # the password itself never appears
    assert settings["derived"]["source"] == {"kind": "path", "path": str(tmp_path / "DIGIT-DevOps"),
                                             "git": None, "ref": None}
    assert {"host": "10.20.0.22", "port": 2222, "label": "ssh worker-2"} in [
        {k: e[k] for k in ("host", "port", "label")} for e in settings["endpoints"]]
    # The engine's graph rebuilds the same typed configuration from the document, defaults included.
    from digit_tui.answers.config import InstallConfig

    config = InstallConfig.from_document(settings)
    assert config.answers.ingress.class_ == "nginx" and config.database_host == "10.20.0.31"
    assert config.answers.hosts[0].ssh_key == tmp_path / "keys" / "digit_ed25519"


def test_validate_without_answers_is_bad_input() -> None:
    proc = run_validate()
    assert proc.returncode == 2
    assert "--answers FILE" in proc.stderr


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_password_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("stand-in\n")
    secret.chmod(mode)
    answers = tmp_path / "answers.yaml"
    answers.write_text(MINIMAL + "database:\n  mode: external\n  host: 10.0.0.9\n  password_file: db-password\n")
    proc = run_validate("--answers", str(answers))
    assert proc.returncode == 2
    assert f"{answers}:10: database.password_file: password_file db-password can be read by other users" in proc.stderr
    assert "chmod 600" in proc.stderr


def test_a_password_too_short_to_be_masked_is_refused(tmp_path: Path) -> None:
    """The journal's redactor masks secrets of 4 characters and more; the answers ask for 8 so that
    no database password can reach a log unmasked."""
    secret = tmp_path / "db-password"
    secret.write_text("egov\n")
    secret.chmod(0o600)
    answers = tmp_path / "answers.yaml"
    answers.write_text(MINIMAL + "database:\n  mode: external\n  host: 10.0.0.9\n  password_file: db-password\n")
    proc = run_validate("--answers", str(answers))
    assert proc.returncode == 2
    assert (f"{answers}:10: database.password_file: password_file db-password holds a password of 4 characters "
            "(expected: a password of at least 8 characters)") in proc.stderr
    secret.write_text("egov-db-2026\n")
    assert run_validate("--answers", str(answers)).returncode == 0
