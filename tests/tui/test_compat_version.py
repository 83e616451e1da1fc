"""The target screen's compatibility report is for the cluster the install goes to: an existing
cluster's Kubernetes version read from its API server (the real sandbox answering as an old
1.18 cluster), the sandbox's otherwise, and the default, said so, when the cluster does not answer."""

from __future__ import annotations

import time
from pathlib import Path

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.sandbox.runtime import start_sandbox
from digit_tui.screens.compat import report_lines
from digit_tui.viewmodel.compat import VERSION_TIMEOUT, KubeVersion, check_release, target_version

MANIFEST = BUNDLED_SOURCE / "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"


def test_an_old_cluster_gets_the_report_for_its_own_version(tmp_path: Path) -> None:
    with start_sandbox(tmp_path / "sb", server_version="v1.18.20") as old:
        kube = target_version(str(old.kubeconfig_path))
    assert kube == KubeVersion("1.18", "the cluster's")
    compat = check_release(BUNDLED_SOURCE, MANIFEST, lambda line: None, kube=kube)
    # The sample's Ingresses are networking.k8s.io/v1, which 1.18 does not serve yet: not deployable there.
    assert not compat.deployable
    assert any("does not serve networking.k8s.io/v1 (Kubernetes 1.19 and later do)" in p.message
               for p in compat.errors())
    text = "\n".join(line.plain for line in report_lines(compat))
    assert "checked for Kubernetes 1.18 (the cluster's)" in text
    # The same release for the sandbox: deployable, and said to be checked for the sandbox's version.
    here = check_release(BUNDLED_SOURCE, MANIFEST, lambda line: None)
    assert here.deployable and here.kube == KubeVersion("1.30", "the sandbox's")


def test_a_cluster_that_does_not_answer_leaves_the_default_and_says_why(tmp_path: Path) -> None:
    with start_sandbox(tmp_path / "sb") as gone:
        kubeconfig = str(gone.kubeconfig_path)
    started = time.monotonic()
    kube = target_version(kubeconfig)
    assert time.monotonic() - started < VERSION_TIMEOUT * 2 + 2
    assert kube.version == "1.30"
    assert kube.whose.startswith("the default: the cluster's version is not known (")
