"""The bundled sample installed on the sandbox, for the health report's tests (`health --once`) and
the TUI's health view: one install per test module, the CLI's JSON report, kubectl."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.release.conftest import Install
from tests.support import wait_until

KUBECTL = "/usr/bin/kubectl"
SKIPPED = "egov-idgen"
ALL_CHECKS = ["nodes", "backbone", "core-services", "other-services", "ingress", "database", "release-drift",
              "workloads", "volumes", "pods"]

# What an in-cluster database puts in egov: a Service for postgres.egov (the services' db-host) with
# a pod behind it; applied only if the install deployed none (database.mode in-cluster's phase).
POSTGRES = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: postgres, namespace: egov}
spec:
  replicas: 1
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec:
      containers:
      - {name: postgres, image: docker.io/library/postgres:15-alpine, ports: [{containerPort: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: postgres, namespace: egov}
spec:
  selector: {app: postgres}
  ports: [{name: postgres, port: 5432, targetPort: 5432}]
"""


@dataclass
class Installed:
    install: Install
    cluster: Any

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        r = subprocess.run([KUBECTL, "--kubeconfig", str(self.install.kubeconfig), "--cache-dir",
                            str(self.install.tmp / "kcache"), "--request-timeout", "20s", *args],
                           capture_output=True, text=True, timeout=60, input=stdin)
        assert r.returncode == 0, r.stderr
        return r

    def health(self, *args: str) -> tuple[int, dict[str, Any]]:
        r = self.install.cli("health", "--kubeconfig", str(self.install.kubeconfig), "--once", "--json", *args,
                             timeout=60)
        assert r.returncode in (0, 1), r.stderr
        return r.returncode, json.loads(r.stdout)

    def set_image(self, deployment: str, image: str) -> None:
        dep = json.loads(self.kubectl("get", "deployment", deployment, "-n", "egov", "-o", "json").stdout)
        container = dep["spec"]["template"]["spec"]["containers"][0]["name"]
        self.kubectl("set", "image", f"deployment/{deployment}", f"{container}={image}", "-n", "egov")

    def image(self, deployment: str) -> str:
        dep = json.loads(self.kubectl("get", "deployment", deployment, "-n", "egov", "-o", "json").stdout)
        return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def healthy_again(env: Installed) -> dict[str, Any]:
    def look() -> dict[str, Any] | None:
        code, report = env.health()
        return report if code == 0 and checks(report)["core-services"]["verdict"] == "ok" else None
    return wait_until(look, timeout=60, interval=0.5, what="health --once to report healthy")


@contextmanager
def installed_sample(tmp: Path) -> Iterator[Installed]:
    """The bundled sample installed on a fresh sandbox (3 nodes, delays /50) through the real CLI, with
    ``SKIPPED`` left out on purpose and an in-cluster database Service; the engine killed after."""
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp / "sandbox", nodes=3, speed=50.0) as cluster:
        inst = Install(tmp, cluster.kubeconfig_path)
        inst.write_answers(skip_services=[SKIPPED])
        try:
            proc, _ = inst.install()
            assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
            env = Installed(inst, cluster)
            if "postgres" not in env.kubectl("get", "services", "-n", "egov", "-o", "name").stdout:
                env.kubectl("apply", "-f", "-", stdin=POSTGRES)
            yield env
        finally:
            inst.kill_engine()
