"""helm-config's files read without Helm where libyaml reads them exactly as Helm did
(``load_values_file(keep=True)``): a converged rerun's checks load no Helm SDK; a file libyaml
reads differently, or whose text changed, is Helm's to read; no value is written anywhere.
Helm itself (helm-python-sdk) reads every file here."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from digit_tui.digit import helmyaml, sops
from digit_tui.digit.pipeline import KEPT_SUFFIX, base_values, load_values_file

ENV = 'zone: b\nglobal:\n  domain: digit.local\n  replicas: 2\n  key: "on"\nlist: [a, {c: 1, b: 2}]\n'


def _no_helm(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("the Helm SDK was asked")
    monkeypatch.setattr(helmyaml, "sdk", refuse)


def _dumped(values: object) -> str:
    return json.dumps(values)       # keys in order, 1 and 1.0 and true told apart


def test_a_file_libyaml_reads_as_helm_does_is_read_back_without_helm(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "bench.yaml"
    env.write_text(ENV)
    helm = load_values_file(env, role="environment")
    assert not (tmp_path / f"bench.yaml{KEPT_SUFFIX}").exists()     # only where asked to keep
    assert _dumped(load_values_file(env, role="environment", keep=True)) == _dumped(helm)
    note = tmp_path / f"bench.yaml{KEPT_SUFFIX}"
    assert stat.S_IMODE(note.stat().st_mode) == 0o600
    assert "digit.local" not in note.read_text()                       # a digest, no values
    _no_helm(monkeypatch)
    assert _dumped(load_values_file(env, role="environment", keep=True)) == _dumped(helm)
    assert _dumped(base_values(env, None, keep=True)) == _dumped(helm)


@pytest.mark.parametrize("text", ["ratio: 1.0\n", "y: yes\n", "when: 2026-12-02\n", "1: one\n", "a: 0o17\n"])
def test_a_file_libyaml_reads_otherwise_is_always_helms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        text: str) -> None:
    env = tmp_path / "bench.yaml"
    env.write_text(text)
    helm = load_values_file(env)
    assert _dumped(load_values_file(env, keep=True)) == _dumped(helm)
    assert not (tmp_path / f"bench.yaml{KEPT_SUFFIX}").exists()


def test_an_edited_file_is_read_by_helm_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "bench.yaml"
    env.write_text(ENV)
    load_values_file(env, keep=True)
    env.write_text(ENV.replace("replicas: 2", "replicas: 3.0"))     # same size, and libyaml would say 3.0
    assert _dumped(load_values_file(env, keep=True)["global"]["replicas"]) == _dumped(load_values_file(env)["global"]["replicas"])
    _no_helm(monkeypatch)
    with pytest.raises(AssertionError, match="Helm SDK was asked"):
        load_values_file(env, keep=True)


def test_a_sops_file_is_never_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "bench-secrets.yaml"
    secrets.write_text("db:\n  password: ENC[AES256_GCM,data:xyz]\nsops:\n  mac: ENC[x]\n  version: 3.8.1\n")
    monkeypatch.setattr(sops, "decrypt", lambda *a, **k: "db:\n  password: s3cret\n")
    assert load_values_file(secrets, role="secrets", keep=True) == {"db": {"password": "s3cret"}}
    assert load_values_file(secrets, role="secrets", keep=True) == {"db": {"password": "s3cret"}}
    assert not (tmp_path / f"bench-secrets.yaml{KEPT_SUFFIX}").exists()
