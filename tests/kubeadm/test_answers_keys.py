"""The kubeadm settings an SDC without internet needs, from the answers file to the tasks: a
registry mirror for the control plane's images, a pod network manifest of its own (a file on the
jump host, sent over SSH) with the DaemonSet that shows it runs, HAProxy written but left to the
network team, and the sources allowed on the API port. Validation refuses them half-given or
outside kubeadm."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from digit_tui.answers import parse_answers
from digit_tui.answers.config import InstallConfig
from digit_tui.answers.loader import AnswersError
from digit_tui.engine.plan import dry_run_all
from digit_tui.tasks.graph import kubeadm_phase
from digit_tui.tasks.kubeadm import CNI, INIT

ANSWERS = """\
version: 1
environment: sdc-lab
target: {provider: sdc}
hosts:
  - {name: m1, address: 127.0.0.1, port: 1, user: root, ssh_key: KEY, roles: [master]}
  - {name: w1, address: 127.0.0.2, port: 1, user: root, ssh_key: KEY, roles: [worker]}
  - {name: lb, address: 127.0.0.3, port: 1, user: root, ssh_key: KEY, roles: [lb]}
cluster:
  mode: kubeadm
  image_repository: registry.sdc.local:5000/k8s
  cni_manifest: ./cni/flannel.yaml
  cni_daemonset: kube-flannel/kube-flannel-ds
  lb_install: false
  api_allow: [10.20.0.0/16, 192.168.5.0/24]
digit: {domain: egov.sdc.test}
"""


def write(tmp_path: Path, text: str) -> Path:
    key = tmp_path / "key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    (tmp_path / "cni").mkdir(exist_ok=True)
    (tmp_path / "cni" / "flannel.yaml").write_text("apiVersion: apps/v1\nkind: DaemonSet\n# the SDC's own copy\n")
    path = tmp_path / "answers.yaml"
    path.write_text(text.replace("KEY", str(key)))
    return path


def test_the_sdc_settings_reach_the_kubeadm_tasks(tmp_path: Path) -> None:
    path = write(tmp_path, ANSWERS)
    state = tmp_path / "state"
    state.mkdir()
    config = InstallConfig.from_answers(parse_answers(path.read_text(), path), path, state_dir=state)
    tasks = {t.id: t for t in kubeadm_phase(config, after=["prerequisites"])}
    cni = tasks[CNI]
    assert cni.manifest() == (tmp_path / "cni" / "flannel.yaml").read_bytes()     # type: ignore[attr-defined]
    assert str(cni.daemonset) == "kube-flannel/kube-flannel-ds"                   # type: ignore[attr-defined]
    lb = tasks["lb-haproxy"]
    assert lb.host is None and INIT in tasks and "lb-haproxy" not in tasks[INIT].deps  # type: ignore[attr-defined]
    assert "acl allowed src 10.20.0.0/16 192.168.5.0/24" in lb.text                # type: ignore[attr-defined]
    # The hosts' SSH ports refuse at once: the plan still says what each task would do.
    plan = asyncio.run(dry_run_all(list(tasks.values()), timeout=30))
    assert "images from registry.sdc.local:5000/k8s" in plan[INIT][0]
    assert str(tmp_path / "cni" / "flannel.yaml") in " ".join(plan[CNI])


@pytest.mark.parametrize(("change", "line", "message"), [
    ("  cni_daemonset: kube-flannel/kube-flannel-ds\n", 11,
     "a pod network manifest of your own needs the DaemonSet that shows it runs"),
    ("  cni_manifest: ./cni/flannel.yaml\n", None, None),     # the daemonset alone: harmless, Calico's manifest
])
def test_a_manifest_without_its_daemonset_is_refused_at_its_line(tmp_path: Path, change: str, line: int | None,
                                                                  message: str | None) -> None:
    path = write(tmp_path, ANSWERS.replace(change, ""))
    if message is None:
        parse_answers(path.read_text(), path)
        return
    with pytest.raises(AnswersError) as err:
        parse_answers(path.read_text(), path)
    assert err.value.problems[0].line == line and message in str(err.value), str(err.value)


def test_the_kubeadm_settings_are_refused_for_an_existing_cluster(tmp_path: Path) -> None:
    text = ANSWERS.replace("  mode: kubeadm\n", "  mode: existing\n").replace("target: {provider: sdc}",
                                                                            "target: {provider: sdc, kubeconfig: KC}")
    (tmp_path / "kc").write_text("apiVersion: v1\nkind: Config\n")
    path = write(tmp_path, text.replace("KC", str(tmp_path / "kc")))
    with pytest.raises(AnswersError) as err:
        parse_answers(path.read_text(), path, check_files=False)
    said = str(err.value)
    assert "cluster.image_repository is only used with cluster.mode: kubeadm" in said, said
