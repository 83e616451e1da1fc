"""The controllers seen through the real /usr/bin/kubectl against a running sandbox (HTTPS, kubeconfig)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from tests.sandbox.conftest import wait_for

KUBECTL = "/usr/bin/kubectl"

pytestmark = pytest.mark.skipif(not Path(KUBECTL).exists(), reason="needs /usr/bin/kubectl")

MANIFEST = """
apiVersion: v1
kind: Namespace
metadata: {name: egov}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: egov-user, namespace: egov}
spec:
  replicas: 2
  selector: {matchLabels: {app: egov-user}}
  template:
    metadata: {labels: {app: egov-user}}
    spec:
      initContainers:
      - {name: db-migration, image: "egovio/egov-user-db:v1.3.0-6cfa52c1f9-2"}
      containers:
      - name: egov-user
        image: "egovio/egov-user:v1.3.0-6cfa52c1f9-2"
        resources: {requests: {memory: 256Mi, cpu: 100m}}
        readinessProbe: {httpGet: {path: /user/health, port: 8080}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: zookeeper-v2, namespace: egov}
spec:
  replicas: 3
  serviceName: zookeeper-v2
  selector: {matchLabels: {app: zookeeper-v2}}
  template:
    metadata: {labels: {app: zookeeper-v2}}
    spec:
      containers:
      - {name: zookeeper, image: "confluentinc/cp-zookeeper:5.5.0", resources: {requests: {memory: 384Mi}}}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 5Gi}}}
"""


@pytest.fixture(scope="module")
def small_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path_factory.mktemp("ctrl-sandbox"), nodes=3, node_cpu="4", node_memory="4Gi",
                       speed=50.0) as handle:
        yield handle


@pytest.fixture(scope="module")
def kc(small_sandbox: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., str]:
    cache = tmp_path_factory.mktemp("kubecache")

    def run(*args: str, stdin: str | None = None, check: bool = True, timeout: float = 60.0) -> str:
        cmd = [KUBECTL, "--kubeconfig", str(small_sandbox.kubeconfig_path), "--cache-dir", str(cache),
               "--request-timeout", "20s", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout + proc.stderr

    return run


def test_rollout_status_and_logs_with_real_kubectl(kc: Callable[..., str]) -> None:
    kc("apply", "-f", "-", stdin=MANIFEST)
    out = kc("rollout", "status", "deployment/egov-user", "-n", "egov", "--timeout=60s", timeout=90)
    assert 'deployment "egov-user" successfully rolled out' in out
    out = kc("rollout", "status", "statefulset/zookeeper-v2", "-n", "egov", "--timeout=60s", timeout=90)
    # the API defaults rollingUpdate.partition to 0, so kubectl reports a partitioned roll-out, as on a real cluster
    assert "partitioned roll out complete: 3 new pods have been updated" in out
    wide = kc("get", "pods", "-n", "egov", "-o", "wide")
    assert "zookeeper-v2-2" in wide and "Running" in wide and "node-" in wide
    pvcs = kc("get", "pvc", "-n", "egov")
    assert "data-zookeeper-v2-0" in pvcs and "Bound" in pvcs
    pod = json.loads(kc("get", "pods", "-n", "egov", "-l", "app=egov-user", "-o", "json"))["items"][0]
    name = pod["metadata"]["name"]
    logs = wait_for(lambda: (lambda t: t if "Started UserApplication" in t else None)(
        kc("logs", "-n", "egov", name, "-c", "egov-user")), what="spring boot started line")
    assert "Tomcat started on port(s): 8080" in logs
    flyway = kc("logs", "-n", "egov", name, "-c", "db-migration", "--tail=1")
    assert flyway.startswith("Successfully applied") and len(flyway.strip().splitlines()) == 1
    events = kc("get", "events", "-n", "egov")
    assert "Scheduled" in events and "Started container egov-user" in events
    # a new template rolls out again and rollout status waits for it
    kc("set", "image", "deployment/egov-user", "-n", "egov", "egov-user=egovio/egov-user:v1.3.1-aaaaaaaaaa-3")
    out = kc("rollout", "status", "deployment/egov-user", "-n", "egov", "--timeout=60s", timeout=90)
    assert "successfully rolled out" in out
    history = kc("rollout", "history", "deployment/egov-user", "-n", "egov")
    assert "1 " in history and "2 " in history


def test_insufficient_memory_then_new_node_via_kubectl(kc: Callable[..., str]) -> None:
    big = """
apiVersion: v1
kind: Namespace
metadata: {name: es-cluster}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: elasticsearch-data-v1, namespace: es-cluster}
spec:
  replicas: 2
  selector: {matchLabels: {app: es-data}}
  template:
    metadata: {labels: {app: es-data}}
    spec:
      containers:
      - {name: es, image: "docker.elastic.co/elasticsearch/elasticsearch-oss:6.6.2",
         resources: {requests: {memory: 6Gi}}}
"""
    kc("apply", "-f", "-", stdin=big)

    def failed() -> str | None:
        out = kc("get", "events", "-n", "es-cluster", "--field-selector", "reason=FailedScheduling", "-o", "json")
        msgs = [e["message"] for e in json.loads(out)["items"]]
        return next((m for m in msgs if "Insufficient memory" in m), None)

    msg = wait_for(failed, what="FailedScheduling event")
    assert msg == "0/3 nodes are available: 3 Insufficient memory."
    pods = json.loads(kc("get", "pods", "-n", "es-cluster", "-o", "json"))["items"]
    assert len(pods) == 2 and all(p["status"]["phase"] == "Pending" for p in pods)
    node = """
apiVersion: v1
kind: Node
metadata:
  name: worker-big
  annotations: {sandbox.digit-tui.io/memory: 16Gi, sandbox.digit-tui.io/cpu: "8"}
"""
    kc("apply", "-f", "-", stdin=node)
    wait_for(lambda: "Ready" in kc("get", "node", "worker-big"), what="node ready")
    out = kc("rollout", "status", "deployment/elasticsearch-data-v1", "-n", "es-cluster", "--timeout=60s", timeout=90)
    assert "successfully rolled out" in out
    wide = kc("get", "pods", "-n", "es-cluster", "-o", "wide")
    assert wide.count("worker-big") == 2
