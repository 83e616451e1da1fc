"""`digit-tui health --once` after a real install of the bundled sample on the sandbox: every check
named and healthy (exit 0), a core service broken through the API (exit 1, the check names it), a
changed image tag reported as drift, a service left out on purpose shown as such, and a cluster that
cannot be reached (exit 4, within seconds).

The sandbox simulates pods: the database check sees the Service and Endpoints of a database, not a
PostgreSQL answering (no connection is made, on a real cluster either); the ingress URL probe is a
real HTTP request to a local server standing in for the ingress address, since the sandbox's node
ports do not listen.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.health.installed import ALL_CHECKS, SKIPPED, Installed, checks, healthy_again, installed_sample
from tests.release.test_api_failures import broken_kubeconfig
from tests.support import wait_until


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    with installed_sample(tmp_path_factory.mktemp("health")) as env:
        yield env


def test_after_the_install_every_check_is_healthy(installed: Installed) -> None:
    report = healthy_again(installed)
    by_name = checks(report)
    assert list(by_name) == ALL_CHECKS
    assert {name: c["verdict"] for name, c in by_name.items()} == {name: "ok" for name in ALL_CHECKS}, report["checks"]
    assert report["healthy"] is True and report["reachable"] is True
    assert by_name["backbone"]["detail"].startswith("4/4 backbone services ready")
    assert by_name["core-services"]["detail"].startswith("10/10 core services ready")   # 8 core - idgen + 3 authn
    assert "Service backbone/nginx-ingress" in by_name["ingress"]["detail"]
    assert "postgres.egov" in by_name["database"]["detail"]
    # Left out on purpose: named as such, not as a fault.
    [skipped] = [f for f in by_name["release-drift"]["findings"] if f["subject"] == SKIPPED]
    assert skipped["state"] == "skipped" and "skipped on purpose" in skipped["detail"] and skipped["verdict"] == "ok"
    assert f"skipped on purpose: {SKIPPED}" in by_name["release-drift"]["detail"]
    assert report["release"]["skipped_on_purpose"] == [SKIPPED]

    # The same report for a ticket.
    md = installed.install.cli("health", "--kubeconfig", str(installed.install.kubeconfig), "--markdown", timeout=60)
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("## DIGIT health: healthy\n")
    for name in ALL_CHECKS:
        assert f"| {name} | ok |" in md.stdout
    assert f"- `{SKIPPED}` (skipped): skipped on purpose" in md.stdout


def test_the_ingress_url_is_probed(installed: Installed) -> None:
    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)     # nginx's default backend: the ingress answers
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        code, report = installed.health("--ingress-url", url)
        ingress = checks(report)["ingress"]
        assert code == 0 and ingress["verdict"] == "ok"
        assert any(f["subject"] == url and f["state"] == "http-404" for f in ingress["findings"])
    finally:
        server.shutdown()
        server.server_close()
    # Nothing listens there any more: the ingress does not answer.
    code, report = installed.health("--ingress-url", url)
    ingress = checks(report)["ingress"]
    assert code == 1 and ingress["verdict"] == "fail" and "does not answer" in ingress["remedy"]
    # An HTTPS address whose certificate this machine does not trust (the sandbox API's own CA).
    code, report = installed.health("--ingress-url", installed.cluster.url)
    ingress = checks(report)["ingress"]
    assert code == 1 and "certificate verify failed" in ingress["detail"] and "does not trust" in ingress["remedy"]


def test_a_broken_core_service_exits_1_and_is_named(installed: Installed) -> None:
    good = installed.image("egov-user")
    installed.set_image("egov-user", "egovio/egov-user:v0.0.0-missing")
    try:
        def broken() -> dict[str, Any] | None:
            code, report = installed.health()
            core = checks(report)["core-services"]
            return report if code == 1 and core["verdict"] == "fail" else None
        report = wait_until(broken, timeout=60, interval=0.5, what="the core-services check to fail")
        core = checks(report)["core-services"]
        assert "not ready: egov-user" in core["detail"]
        [finding] = [f for f in core["findings"] if f["verdict"] == "fail"]
        assert finding["subject"] == "egov-user"
        assert "image egovio/egov-user:v0.0.0-missing cannot be pulled" in finding["detail"]
        assert "image name and tag" in core["remedy"]
        assert report["healthy"] is False
    finally:
        installed.set_image("egov-user", good)
    healthy_again(installed)


def test_a_database_without_ready_endpoints_fails(installed: Installed) -> None:
    installed.kubectl("scale", "deployment/postgres", "-n", "egov", "--replicas=0")
    try:
        def down() -> dict[str, Any] | None:
            code, report = installed.health()
            return report if code == 1 and checks(report)["database"]["verdict"] == "fail" else None
        report = wait_until(down, timeout=60, interval=0.5, what="the database check to fail")
        db = checks(report)["database"]
        assert db["detail"].startswith("Service egov/postgres for db-host postgres.egov: no ready address")
        assert [c["name"] for c in report["checks"] if c["verdict"] != "ok"] == ["database"]
    finally:
        installed.kubectl("scale", "deployment/postgres", "-n", "egov", "--replicas=1")
    healthy_again(installed)


def test_a_changed_image_tag_is_drift(installed: Installed) -> None:
    good = installed.image("egov-localization")
    hotfix = "egovio/egov-localization:v1.1.4-hotfix-1"
    installed.set_image("egov-localization", hotfix)
    try:
        def drifted() -> dict[str, Any] | None:
            code, report = installed.health()
            return report if code == 0 and checks(report)["release-drift"]["verdict"] == "warn" else None
        report = wait_until(drifted, timeout=60, interval=0.5, what="the drift to be reported")
        drift = checks(report)["release-drift"]
        assert "drift: egov-localization" in drift["detail"] and "rerun the install" in drift["remedy"]
        [finding] = [f for f in drift["findings"] if f["state"] == "image-drift"]
        assert finding["subject"] == "egov-localization"
        assert hotfix in finding["detail"] and "v1.1.4-72f8a8f87b-8" in finding["detail"]
        assert report["healthy"] is True     # a drift is a warning: the services run
    finally:
        installed.set_image("egov-localization", good)
    report = healthy_again(installed)
    assert checks(report)["release-drift"]["verdict"] == "ok"


def test_an_unreachable_cluster_exits_4_quickly(installed: Installed, tmp_path: Path) -> None:
    kubeconfig = broken_kubeconfig(installed.cluster, "closed-port", tmp_path / "kubeconfig")
    start = time.monotonic()
    r = installed.install.cli("health", "--kubeconfig", str(kubeconfig), "--once", "--json", timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 4, r.stderr
    assert json.loads(r.stdout) == {"reachable": False, "healthy": None, "error": "connection refused", "checks": []}
    assert "cluster unreachable: connection refused" in r.stderr
    assert took < 15, took


def test_a_paged_list_read_ahead_is_the_whole_list(installed: Installed) -> None:
    from digit_tui.health.watcher import TYPES
    from digit_tui.infra.kube import Kube

    with Kube(installed.install.kubeconfig) as kube:
        whole, _ = kube.list(TYPES["pods"])
        paged = kube.list_pipelined(TYPES["pods"], limit=4, each=lambda pod: {"name": pod["metadata"]["name"]})
    assert len(whole) > 8
    assert [p["name"] for p in paged] == [p["metadata"]["name"] for p in whole]
