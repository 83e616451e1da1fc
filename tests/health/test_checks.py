"""The health checks on hand-written API objects, for the cases the sandbox install does not show:
no release record (DIGIT's namespaces), a rollout that can still finish against one that cannot, a
recorded service missing, a workload the record does not list, a database by ExternalName or
outside the cluster, and the options the command refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from digit_tui.health.checks import Verdict
from digit_tui.health.report import build_report
from digit_tui.health.snapshot import ClusterObjects, Single
from tests.support import REPO

NOW = 1_800_000_000.0
T0 = "2027-01-15T08:00:00Z"     # before NOW


def node() -> dict[str, Any]:
    return {"kind": "Node", "metadata": {"name": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


def deployment(name: str, ns: str = "egov", *, service: str | None = None, image: str = "", ready: int = 1,
               updated: int = 1, total: int = 1, digest: str = "", managed: bool = True) -> dict[str, Any]:
    labels = {"app": name}
    if service:
        labels["digit.org/service"] = service
        if managed:
            labels["app.kubernetes.io/managed-by"] = "digit-tui"
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels, "generation": 2}
    if digest:
        meta["annotations"] = {"digit.org/digest": digest}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"spec": {"containers": [{"name": name, "image": image or f"egovio/{name}:v1"}]}}},
            "status": {"observedGeneration": 2, "replicas": total, "readyReplicas": ready, "updatedReplicas": updated,
                       "availableReplicas": ready}}


def pod(name: str, app: str, *, waiting: str | None = None, image: str = "") -> dict[str, Any]:
    cs: dict[str, Any] = {"name": app, "ready": waiting is None, "restartCount": 0,
                          "state": {"waiting": {"reason": waiting}} if waiting else {"running": {}}}
    return {"kind": "Pod", "metadata": {"name": name, "namespace": "egov", "labels": {"app": app},
                                        "creationTimestamp": T0},
            "spec": {"nodeName": "n1", "containers": [{"name": app, "image": image or f"egovio/{app}:v1"}]},
            "status": {"phase": "Pending" if waiting else "Running", "startTime": T0, "containerStatuses": [cs],
                       "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}]}}


def record(services: dict[str, dict[str, str]], skipped: str = "") -> Single:
    data = {"release": "v2.8", "environment": "dev", "services.json": json.dumps(services)}
    if skipped:
        data["skipped"] = skipped
    return Single({"kind": "ConfigMap", "data": data})


def egov_config(host: str) -> Single:
    return Single({"kind": "ConfigMap", "metadata": {"name": "egov-config", "namespace": "egov",
                                                     "labels": {"digit.org/service": "cluster-configs"}},
                   "data": {"db-host": host, "db-url": f"jdbc:postgresql://{host}:5432/egov_db"}})


def checks(objects: ClusterObjects) -> dict[str, Any]:
    return {c.name: c for c in build_report(objects, server="https://k", now=NOW).checks}


def test_without_a_record_the_checks_look_in_digits_namespaces() -> None:
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet",
           "metadata": {"name": "kafka-v2", "namespace": "kafka-cluster", "generation": 1},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "kafka"}}},
           "status": {"observedGeneration": 1, "readyReplicas": 2, "updatedReplicas": 3,
                      "currentRevision": "a", "updateRevision": "a"}}
    by = checks(ClusterObjects(nodes=[node()], statefulsets=[sts], deployments=[deployment("egov-user")]))
    assert by["backbone"].verdict is Verdict.FAIL and "no release record" in by["backbone"].detail
    assert [f.subject for f in by["backbone"].findings] == ["kafka-v2"]
    assert by["core-services"].verdict is Verdict.OK
    assert by["release-drift"].verdict is Verdict.WARN and "nothing to compare with" in by["release-drift"].detail


def test_a_rollout_that_can_finish_warns_one_that_cannot_fails() -> None:
    rec = record({"egov-user": {"module": "core", "tag": "v1", "digest": "sha256:a"}})
    old = pod("egov-user-old", "egov-user")
    # A new pod still creating its container while the old one serves: rolling out.
    rolling = ClusterObjects(nodes=[node()], record=rec, deployments=[deployment("egov-user", service="egov-user",
                                                                                  total=2)],
                             pods=[old, pod("egov-user-new", "egov-user", waiting="ContainerCreating")])
    core = checks(rolling)["core-services"]
    assert core.verdict is Verdict.WARN and core.findings[0].state == "rolling-out"
    # Its image cannot be pulled: it never finishes.
    broken = ClusterObjects(nodes=[node()], record=rec, deployments=[deployment("egov-user", service="egov-user",
                                                                                 total=2)],
                            pods=[old, pod("egov-user-new", "egov-user", waiting="ImagePullBackOff",
                                           image="egovio/egov-user:bad")])
    core = checks(broken)["core-services"]
    assert core.verdict is Verdict.FAIL and "image egovio/egov-user:bad cannot be pulled" in core.findings[0].detail
    assert "image name and tag" in core.remedy


def test_missing_drifted_and_unrecorded_services() -> None:
    rec = record({"egov-user": {"module": "core", "tag": "v1", "digest": "sha256:a"},
                  "egov-mdms-service": {"module": "core", "tag": "v2", "digest": "sha256:b"},
                  "cluster-configs": {"module": "cluster-configs", "tag": "", "digest": "sha256:c"}},
                 skipped="egov-idgen")
    objects = ClusterObjects(
        nodes=[node()], record=rec, egov_config=egov_config("postgres.egov"),
        deployments=[deployment("egov-mdms-service", service="egov-mdms-service", image="egovio/egov-mdms-service:v2",
                                digest="sha256:other"),
                     deployment("old-service", service="old-service"),
                     deployment("grafana", service="grafana", managed=False)])
    by = checks(objects)
    drift = by["release-drift"]
    states = {(f.subject, f.state) for f in drift.findings}
    assert ("egov-user", "missing") in states and ("egov-mdms-service", "digest-drift") in states
    assert ("egov-idgen", "skipped") in states and ("old-service", "unrecorded") in states
    assert ("cluster-configs", "as-recorded") in states      # its egov-config is there
    assert not any(s == "grafana" for s, _ in states)          # not digit-tui's
    assert drift.verdict is Verdict.FAIL and "missing: egov-user" in drift.detail
    assert by["core-services"].verdict is Verdict.FAIL
    assert "other-services" in by and by["other-services"].verdict is Verdict.OK


def test_a_database_outside_the_cluster_is_not_verified() -> None:
    ext = {"kind": "Service", "metadata": {"name": "db", "namespace": "egov"},
           "spec": {"type": "ExternalName", "externalName": "pg.example.org"}}
    by = checks(ClusterObjects(nodes=[node()], services=[ext], egov_config=egov_config("db.egov")))
    assert by["database"].verdict is Verdict.WARN and "ExternalName for pg.example.org" in by["database"].detail
    by = checks(ClusterObjects(nodes=[node()], egov_config=egov_config("10.0.0.50")))
    assert by["database"].verdict is Verdict.WARN and "10.0.0.50:5432 directly" in by["database"].detail
    manual = {"kind": "Service", "metadata": {"name": "db-service", "namespace": "egov"}, "spec": {"type": "ClusterIP"}}
    eps = {"kind": "Endpoints", "metadata": {"name": "db-service", "namespace": "egov"},
           "subsets": [{"addresses": [{"ip": "10.0.0.50"}], "ports": [{"port": 5432}]}]}
    by = checks(ClusterObjects(nodes=[node()], services=[manual], endpoints=[eps],
                               egov_config=egov_config("db-service.egov")))
    assert by["database"].verdict is Verdict.OK and "manual Endpoints of an external database" in by["database"].detail


def test_options_nothing_acts_on_are_refused() -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "digit_tui.cli", "health", *args], capture_output=True,
                              text=True, timeout=60, cwd=REPO)

    both = cli("--json", "--markdown")
    assert both.returncode == 2 and "--json and --markdown" in both.stderr
    live = cli("--ingress-url", "https://digit.example.org/")
    assert live.returncode == 2 and "--once --ingress-url URL" in live.stderr
    bad = cli("--once", "--ingress-url", "digit.example.org")
    assert bad.returncode == 2 and "not an http(s) URL" in bad.stderr
