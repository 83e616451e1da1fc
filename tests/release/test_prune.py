"""A service's prune on the sandbox: what it stopped rendering is deleted, from one list of
digit-tui's objects per type that the prunes of all services share (tasks/release.py
``Cluster.labelled``), and nothing of another service or of what it renders now."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .conftest import Install, config_for, copy_sample
from .test_release_sandbox import kget, kubectl

IDGEN_INGRESS = "deploy-as-code/helm/charts/core-services/egov-idgen/templates/ingress.yaml"


def test_an_upgrade_prunes_the_object_a_service_no_longer_renders(tmp_path: Path, install: Install) -> None:
    source = copy_sample(tmp_path / "digit-src")
    install.write_answers(source=source)
    first, _ = install.install()
    assert first.returncode == 0, first.stderr
    assert kget(install, "ingress", "egov-idgen", "-n", "egov")

    (source / IDGEN_INGRESS).unlink()
    upgrade, _ = install.install()
    assert upgrade.returncode == 0, upgrade.stderr
    assert "egov-idgen" in install.applied()
    gone = kubectl(install, "get", "ingress", "egov-idgen", "-n", "egov")
    assert gone.returncode != 0 and "NotFound" in gone.stderr
    assert kget(install, "deployment", "egov-idgen", "-n", "egov")
    assert kget(install, "service", "egov-idgen", "-n", "egov")
    assert kget(install, "ingress", "egov-hrms", "-n", "egov")  # another service's, listed in the same list
    pruned = [(t, m) for t, m in install.events() if m.startswith("pruned ")]
    assert pruned == [("egov-idgen", "pruned Ingress egov/egov-idgen (no longer rendered)")]


def _configmap(name: str, service: str) -> dict[str, Any]:
    from digit_tui.tasks.release import managed

    return managed({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
                    "data": {"k": "v"}}, service, "sha256:test")


def test_what_a_service_applied_after_the_shared_list_is_still_its_to_prune(tmp_path: Path, cluster: Any) -> None:
    from digit_tui.infra.kube import object_key
    from digit_tui.tasks.release import Cluster, prune_objects, prune_types

    shared = Cluster(config_for(tmp_path, kubeconfig=str(cluster.kubeconfig_path)))
    kube = shared.get()
    kube.apply(_configmap("old-a", "svc-a"))      # an earlier install's
    kube.apply(_configmap("old-b", "svc-b"))
    types = prune_types(kube)
    # svc-b prunes first: digit-tui's objects are listed now, for every service's prune.
    assert {o["metadata"]["name"] for o in shared.labelled(kube, types, "svc-b")} == {"old-b"}
    shared.applied(kube, "svc-a", kube.apply(_configmap("new-a", "svc-a")))
    kube.apply(_configmap("stranger", "svc-a"))   # not through this connection: not the engine's

    mine = shared.labelled(kube, types, "svc-a")
    assert {o["metadata"]["name"] for o in mine} == {"old-a", "new-a"}
    keep = {object_key(_configmap("new-a", "svc-a"))}
    assert prune_objects(kube, mine, keep, lambda _: None) == 1
    assert kube.get("v1", "ConfigMap", "old-a", "default") is None
    assert kube.get("v1", "ConfigMap", "new-a", "default") is not None
    assert kube.get("v1", "ConfigMap", "old-b", "default") is not None
