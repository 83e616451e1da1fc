"""The real /usr/bin/kubectl against the sandbox, through the kubeconfig it writes (issue 3, done-when 1)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sandbox.conftest import Kubectl, wait_for
from tests.sandbox.manifests import MULTI_DOC


def _apply_until_converged(kubectl: Kubectl, path: Path) -> str:
    """`kubectl apply -f` a file holding a CRD and one of its objects.

    Like against a real cluster, the first run cannot map the custom resource
    (its CRD is created by that same run) and exits 1 having applied the rest;
    the second run applies it.
    """
    first = kubectl("apply", "-f", str(path), check=False)
    assert "customresourcedefinition.apiextensions.k8s.io/servicemonitors.monitoring.coreos.com created" in (
        first.stdout), first.stdout + first.stderr
    if first.returncode == 0:
        return first.stdout
    second = kubectl("apply", "-f", str(path))
    assert "servicemonitor.monitoring.coreos.com/web created" in second.stdout
    return second.stdout


def test_get_nodes(kubectl: Kubectl) -> None:
    out = wait_for(lambda: (r := kubectl("get", "nodes")).stdout.count(" Ready ") == 3 and r.stdout,
                   what="3 Ready nodes")
    assert out.splitlines()[0].split()[:2] == ["NAME", "STATUS"]
    assert "node-1" in out


def test_apply_rollout_wide_logs_events_and_namespace_delete(kubectl: Kubectl, tmp_path: Path) -> None:
    manifest = tmp_path / "shop.yaml"
    manifest.write_text(MULTI_DOC)
    _apply_until_converged(kubectl, manifest)
    # Re-applying the same file changes nothing kubectl cares about and succeeds.
    again = kubectl("apply", "-f", str(manifest))
    assert "deployment.apps/web unchanged" in again.stdout

    kubectl("rollout", "status", "deployment/web", "-n", "shop", "--timeout=60s")
    kubectl("rollout", "status", "statefulset/db", "-n", "shop", "--timeout=60s")
    wide = kubectl("get", "pods", "-n", "shop", "-o", "wide").stdout
    header = wide.splitlines()[0].split()
    assert header[:5] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] and "NODE" in header
    rows = [line.split() for line in wide.splitlines()[1:]]
    node_col = header.index("NODE")
    web_rows = [r for r in rows if r[0].startswith("web-")]
    assert len(web_rows) == 2 and all(r[node_col].startswith("node-") for r in web_rows)
    assert all(r[2] == "Running" for r in web_rows)

    pvcs = json.loads(kubectl("get", "pvc", "-n", "shop", "-o", "json").stdout)
    assert sorted(p["metadata"]["name"] for p in pvcs["items"]) == ["data-db-0", "data-db-1"]
    assert pvcs["kind"] == "List" or pvcs["kind"] == "PersistentVolumeClaimList"

    logs = kubectl("logs", "-n", "shop", "deployment/web")
    assert logs.stdout.strip(), "the simulated container wrote no log"
    events = kubectl("get", "events", "-n", "shop").stdout
    assert "Scheduled" in events and "pod/web-" in events
    assert "servicemonitor.monitoring.coreos.com/web" in kubectl("get", "servicemonitors", "-n", "shop",
                                                                 "-o", "name").stdout

    kubectl("delete", "namespace", "shop", "--timeout=60s")
    assert "NotFound" in kubectl("get", "namespace", "shop", check=False).stderr
    leftovers = kubectl("get", "pods,deployments,statefulsets,configmaps,servicemonitors", "-A",
                        "--field-selector", "metadata.namespace=shop", "-o", "name").stdout
    assert leftovers.strip() == ""


def test_get_output_formats_and_selectors(kubectl: Kubectl) -> None:
    kubectl("create", "namespace", "fmt")
    kubectl("create", "configmap", "one", "-n", "fmt", "--from-literal=a=b")
    kubectl("label", "configmap", "one", "-n", "fmt", "team=blue")
    doc = json.loads(kubectl("get", "configmap", "one", "-n", "fmt", "-o", "json").stdout)
    assert doc["data"] == {"a": "b"} and doc["metadata"]["labels"] == {"team": "blue"}
    assert kubectl("get", "cm", "-n", "fmt", "-l", "team=blue", "-o", "name").stdout.split() == ["configmap/one"]
    assert kubectl("get", "cm", "-n", "fmt", "-l", "team=red", "-o", "name").stdout.strip() == ""
    yaml_out = kubectl("get", "ns", "fmt", "-o", "yaml").stdout
    assert "phase: Active" in yaml_out
    missing = kubectl("get", "configmap", "nope", "-n", "fmt", check=False)
    assert missing.returncode == 1 and 'configmaps "nope" not found' in missing.stderr
    dup = kubectl("create", "configmap", "one", "-n", "fmt", check=False)
    assert dup.returncode == 1 and 'configmaps "one" already exists' in dup.stderr
    kubectl("delete", "namespace", "fmt", "--wait=false")


def test_server_side_apply_with_kubectl(kubectl: Kubectl, tmp_path: Path) -> None:
    kubectl("create", "namespace", "ssa")
    f = tmp_path / "cm.yaml"
    f.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: ssa\ndata:\n  a: '1'\n")
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(f)).stdout
    kubectl("patch", "configmap", "app", "-n", "ssa", "--type", "merge", "-p", '{"data":{"a":"2"}}')
    conflict = kubectl("apply", "--server-side", "-f", str(f), check=False)
    assert conflict.returncode == 1 and "conflict" in conflict.stderr.lower()
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
    doc = json.loads(kubectl("get", "cm", "app", "-n", "ssa", "-o", "json").stdout)
    assert doc["data"] == {"a": "1"}
    kubectl("delete", "namespace", "ssa", "--wait=false")
