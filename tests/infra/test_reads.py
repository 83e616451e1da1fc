"""The read log of a run's checks (infra/reads.py): what Kube records against the sandbox's real
API, and how a later run tells an answer changed (engine/unchanged.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from digit_tui.engine.unchanged import first_change
from digit_tui.infra import reads
from digit_tui.infra.kube import Kube
from digit_tui.infra.reads import ReadLog, fingerprint, observing


def test_a_fingerprint_ignores_what_moves_without_anything_a_check_reads_changing() -> None:
    node = {"metadata": {"name": "n1", "resourceVersion": "10", "managedFields": [{"manager": "kubelet"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "12:00"}]}}
    later = {"metadata": {"name": "n1", "resourceVersion": "11", "managedFields": []},
             "status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "12:05"}]}}
    not_ready = {"metadata": {"name": "n1", "resourceVersion": "12"},
                 "status": {"conditions": [{"type": "Ready", "status": "False", "lastHeartbeatTime": "12:06"}]}}
    assert fingerprint(node) == fingerprint(later)
    assert fingerprint([node]) == fingerprint([later])
    assert fingerprint(node) != fingerprint(not_ready)
    assert fingerprint(None) != fingerprint({"error": 404})


def test_one_request_answered_two_ways_in_a_run_is_not_witnessed() -> None:
    log = ReadLog()
    log.api("kc", None, reads.api_key("get", "/x"), {"a": 1})
    log.api("kc", None, reads.api_key("get", "/x"), {"a": 1})
    assert log.unwitnessed == []
    log.api("kc", None, reads.api_key("get", "/x"), {"a": 2})
    assert log.unwitnessed == ['["get", "/x", []] changed during the run']


def test_outside_a_run_nothing_is_recorded(tmp_path: Path) -> None:
    reads.file(tmp_path)            # no log current: a no-op, no error
    log = ReadLog()
    with observing(log):
        reads.file(tmp_path / "missing")
        reads.command("no-such-tool-here")
    assert log.files[str(tmp_path / "missing")] is None
    assert "PATH" in log.environ and any(p.endswith("/no-such-tool-here") for p in log.files)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Any]:
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "sandbox", nodes=1, speed=50.0) as handle:
        yield handle


def _configmap(value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "default",
                                                                 "labels": {"app": "probe"}}, "data": {"v": value}}


def test_kube_records_its_reads_and_a_later_pass_sees_exactly_what_changed(sandbox: Any) -> None:
    kubeconfig = str(sandbox.kubeconfig_path)
    setup = Kube(kubeconfig)
    setup.apply(_configmap("one"))
    log = ReadLog()
    with observing(log):
        kube = Kube(kubeconfig)     # made in the run: its reads go to the run's log, from any thread
    try:
        kube.get("v1", "ConfigMap", "probe", "default")
        kube.get("v1", "ConfigMap", "absent", "default")
        kube.list(kube.resource("v1", "ConfigMap"), "default", label_selector="app=probe")
        kube.list(kube.resource("v1", "Node"))
    finally:
        kube.close()
    assert log.unwitnessed == [] and log.files == {kubeconfig: reads.file_stamp(kubeconfig)}
    (context, answers), = [(c, a) for (k, c), a in log.clusters.items() if k == kubeconfig]
    keys = {tuple(json.loads(k)[:2]) for k in answers}
    assert {("get", "/api/v1/namespaces/default/configmaps/probe"), ("get", "/api/v1/namespaces/default/configmaps/absent"),
            ("list", "/api/v1/namespaces/default/configmaps"), ("list", "/api/v1/nodes")} <= keys

    assert first_change(kubeconfig, context, answers) is None
    setup.apply(_configmap("two"))
    assert first_change(kubeconfig, context, answers) == "/api/v1/namespaces/default/configmaps/probe changed"
    setup.close()


def test_a_write_while_checking_leaves_the_run_unwitnessed(sandbox: Any) -> None:
    log = ReadLog()
    with observing(log):
        kube = Kube(str(sandbox.kubeconfig_path))
    try:
        kube.apply(_configmap("x"))
    finally:
        kube.close()
    assert log.unwitnessed and log.unwitnessed[0].startswith("PATCH /api/v1/namespaces/default/configmaps/probe")
