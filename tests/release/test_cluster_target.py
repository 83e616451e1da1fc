"""Never the wrong cluster: with $KUBECONFIG pointing at a live sandbox, an install whose answers
name another cluster (here: its own sandbox, which the cluster phase starts) leaves that sandbox
as it was; kubeadm answers are refused before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.release.conftest import Install

# Written by the sandbox's own controllers whatever happens: not the install's doing.
BACKGROUND = {"nodes", "events", "leases"}


def objects(cluster: Any) -> set[tuple[str, str, str]]:
    """Every object in the sandbox's store, by (type, namespace, name)."""
    def collect() -> set[tuple[str, str, str]]:
        store = cluster.sandbox.store
        out: set[tuple[str, str, str]] = set()
        for rt in store.registry.all():
            if rt.plural in BACKGROUND:
                continue
            refs, _ = store.list_refs(rt)
            for obj in refs:
                meta = obj.get("metadata") or {}
                out.add((rt.plural, str(meta.get("namespace") or ""), str(meta.get("name"))))
        return out

    return cluster.call(collect)


@pytest.fixture
def elsewhere(tmp_path: Path, cluster: Any) -> Install:
    """An install whose environment has $KUBECONFIG set to a working sandbox: the cluster an
    operator's shell happens to point at, not one the answers name."""
    inst = Install(tmp_path, cluster.kubeconfig_path)
    inst.environ["KUBECONFIG"] = str(cluster.kubeconfig_path)
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    (home / ".kube" / "config").write_text(cluster.kubeconfig_path.read_text())
    inst.environ["HOME"] = str(home)     # ~/.kube/config names it too
    return inst


def test_sandbox_answers_start_their_own_sandbox_and_never_touch_kubeconfigs_cluster(
        elsewhere: Install, cluster: Any) -> None:
    """provider: sandbox and no kubeconfig: the cluster phase starts this install's sandbox and the
    sample deploys there, while the sandbox $KUBECONFIG and ~/.kube/config name is left as it was."""
    import subprocess

    before = objects(cluster)
    elsewhere.answers.write_text("environment: dev\ntarget:\n  provider: sandbox\ndigit:\n  domain: digit.local\n")
    try:
        proc, _ = elsewhere.install(timeout=280)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
        tasks = elsewhere.tasks()
        assert tasks["cluster"]["state"] == "done" and tasks["release-record"]["state"] == "done"
        own = elsewhere.state / "kubeconfig"
        assert own.stat().st_mode & 0o777 == 0o600
        got = subprocess.run(["/usr/bin/kubectl", "--kubeconfig", str(own), "--cache-dir", str(elsewhere.tmp / "kc"),
                              "--request-timeout", "20s", "get", "deployment", "egov-user", "-n", "egov", "-o", "name"],
                             capture_output=True, text=True, timeout=60)
        assert got.stdout.strip() == "deployment.apps/egov-user", got.stderr
        assert objects(cluster) == before
    finally:
        elsewhere.cli("sandbox", "--state-dir", str(elsewhere.state / "sandbox"), "down", timeout=60)


def test_kubeadm_answers_with_unreachable_hosts_fail_in_the_prerequisites(elsewhere: Install, cluster: Any,
                                                                        tmp_path: Path) -> None:
    """cluster.mode: kubeadm and a master whose SSH port refuses: the install stops in the
    prerequisites, no kubeadm phase runs, and the cluster $KUBECONFIG names gets nothing."""
    before = objects(cluster)
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    elsewhere.answers.write_text(
        "environment: lab\ntarget:\n  provider: sdc\n"
        f"hosts:\n  - {{name: master-1, address: 127.0.0.1, port: 1, user: ubuntu, ssh_key: {key}, roles: [master]}}\n"
        "cluster:\n  mode: kubeadm\ndigit:\n  domain: digit.local\nengine:\n  network_wait: 0\n")
    proc, _ = elsewhere.install(timeout=150)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr
    tasks = elsewhere.tasks()
    assert tasks["prerequisites-host-master-1"]["state"] == "failed", tasks["prerequisites-host-master-1"]
    assert {"kubeadm-init", "cluster"} <= set(tasks)
    assert all(t["state"] in ("blocked", "pending") for tid, t in tasks.items()
               if t["phase"] not in ("prerequisites",)), {tid: t["state"] for tid, t in tasks.items()}
    assert objects(cluster) == before


def test_no_client_falls_back_to_the_default_kubeconfig(cluster: Any, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Every way digit-tui builds a client refuses to run without a named kubeconfig, even when
    $KUBECONFIG names a cluster that answers."""
    from kubernetes.config import ConfigException

    from digit_tui.engine.errors import PermanentError
    from digit_tui.errors import InputError
    from digit_tui.health.watcher import fetch_once
    from digit_tui.infra.kube import Kube, NoKubeconfig, api_client
    from digit_tui.sizing.fit import nodes_from_cluster
    from digit_tui.tasks.release import kube_target
    from tests.release.conftest import config_for, with_answers

    existing = with_answers(config_for(tmp_path), target={"provider": "existing"})
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig_path))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    with pytest.raises(NoKubeconfig):
        api_client(None)
    with pytest.raises(NoKubeconfig):
        Kube("")
    with pytest.raises(ConfigException, match="--kubeconfig"):
        fetch_once(None, None)
    with pytest.raises(InputError, match="no kubeconfig named"):
        nodes_from_cluster("")
    with pytest.raises(PermanentError, match="target.kubeconfig is not set"):
        kube_target(existing)
    # A kubeconfig a cluster phase wrote into the state directory is the cluster, then.
    state = tmp_path / "state"
    state.mkdir()
    (state / "kubeconfig").write_text(cluster.kubeconfig_path.read_text())
    target = kube_target(existing)
    assert target.kubeconfig == str(state / "kubeconfig")
