"""Kube reads through infra/kubelite.py when the kubeconfig allows: a process that only reads (a
converged rerun's checks) never imports the kubernetes package; its first write builds the
library's client. An HTTP error answer has the status and body callers read either way. On the sandbox, in a
fresh interpreter (what is imported is the point)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from digit_tui.infra.kube import Kube
kube = Kube(sys.argv[1])
out = {}
cms = kube.resource("v1", "ConfigMap")
out["listed"] = len(kube.list(cms, "kube-system")[0]) >= 0
out["missing"] = kube.get("v1", "ConfigMap", "no-such-map", "default")
out["ready"] = kube.readyz()
try:
    kube.request("GET", "/api/v1/namespaces/no-such-ns/configmaps/x")
except Exception as exc:
    out["error"] = [getattr(exc, "status", None), json.loads(exc.body)["reason"]]
out["read_only"] = "kubernetes" not in sys.modules
live = kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe", "namespace": "default"},
                   "data": {"a": "1"}})
out["applied"] = live["data"]
out["read_back"] = kube.get("v1", "ConfigMap", "probe", "default")["data"]
out["library_after_write"] = "kubernetes" in sys.modules
kube.close()
print(json.dumps(out))
"""


def test_reads_need_no_kubernetes_package_and_a_write_builds_its_client(cluster: Any) -> None:
    r = subprocess.run([sys.executable, "-c", PROBE, str(cluster.kubeconfig_path)], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["listed"] and out["missing"] is None and out["ready"] == "ok"
    assert out["error"] == [404, "NotFound"]                # the Status object, as the library's error holds it
    assert out["read_only"] is True
    assert out["applied"] == {"a": "1"} and out["read_back"] == {"a": "1"}
    assert out["library_after_write"] is True
