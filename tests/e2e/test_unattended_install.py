"""One unattended install end to end, as an SDC operator runs it from a jump host on the VPN:
`digit-tui install --answers F --headless`, run inside the lab's control namespace, with

- three namespace VMs with real sshd (tests/vmlab.py): vm1 the database VM, on which the install
  sets up the image's real PostgreSQL 15 over SSH (no cluster on it at the start), vm2 and vm3
  listed as the cluster's workers (their addresses are what pg_hba lets in);
- a sandbox API server as the existing cluster, published into the control namespace;
- the bundled sample release, Jenkins and the monitoring stack from the sample's own charts.

Everything must come up ready (checked with the real kubectl), the services' database must exist
and let them in from a node's address (libpq's psql inside vm2, as a pod on that node would reach
it), and a second install must change nothing. The sandbox simulates pods (no container runs), so
"the services reach the database" is proven from the node's address, not from a container."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.engine.journal import Journal
from digit_tui.sandbox.runtime import start_sandbox
from tests.postgres.pglab import FAST, own_run_and_ram_disk
from tests.support import REPO
from tests.vmlab import VmLab

CLI = [sys.executable, "-m", "digit_tui.cli"]
KUBECTL = "/usr/bin/kubectl"
PASSWORD = "E2e-Db-Pw-5b7c21d9e0"
ROLES = {"vm1": ["db"], "vm2": ["worker"], "vm3": ["worker"]}
NAMESPACES = ("egov", "jenkins", "monitoring")


@dataclass
class Site:
    lab: VmLab
    kubeconfig: Path
    answers: Path
    state: Path
    env: dict[str, str]

    def install(self, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Headless, as the operator runs it: the lab VMs are smaller than tier dev recommends
        (2 CPUs), and those warnings are acknowledged with --skip-checks."""
        trust = [f"--trust-host-key={vm.name}={self.lab.host_fingerprint(vm)}" for vm in self.lab.vms]
        return subprocess.run(self.lab.ctl_argv([*CLI, "install", "--answers", str(self.answers), "--headless",
                                                 "--state-dir", str(self.state), "--skip-checks", *trust]),
                              capture_output=True, text=True, timeout=timeout, cwd=REPO, env=self.env)

    def kubectl(self, *args: str) -> dict[str, Any]:
        r = subprocess.run(self.lab.ctl_argv([KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir",
                                              str(self.state.parent / "kcache"), "--request-timeout", "20s",
                                              *args, "-o", "json"]),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def psql_as_postgres(self, sql: str) -> str:
        r = self.lab.exec(self.lab.vms[0], ["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-q",
                                            "-v", "ON_ERROR_STOP=1", "-d", "postgres"], input=sql.encode(), timeout=30)
        return r.stdout.decode().strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("e2e")
    with VmLab(root / "lab", count=3) as lab, start_sandbox(root / "sandbox", nodes=3, speed=50.0) as sandbox:
        db = lab.vms[0]
        own_run_and_ram_disk(lab, db)
        # The server is installed and has no cluster yet: the install's initdb makes it.
        lab.exec(db, "rm -rf /etc/postgresql/15/main /var/lib/postgresql/15/main && printf \"initdb_options = "
                     "'--no-sync'\\n%s\" >> /etc/postgresql-common/createcluster.conf" % FAST)
        kubeconfig = lab.kubeconfig_into_ctl(sandbox.kubeconfig_path, root / "kubeconfig")
        password = root / "db-password"
        password.write_text(PASSWORD + "\n")
        password.chmod(0o600)
        answers = root / "answers.yaml"
        answers.write_text(yaml.safe_dump({
            "version": 1, "environment": "e2e",
            "target": {"provider": "sdc", "kubeconfig": str(kubeconfig)},
            "hosts": [{"name": vm.name, "address": vm.address, "user": "root", "ssh_key": str(lab.client_key),
                       "roles": ROLES[vm.name]} for vm in lab.vms],
            "digit": {"domain": "egov.e2e.test"},
            "database": {"mode": "vm", "password_file": str(password)},
            "phases": {"jenkins": True, "monitoring": True},
            "jenkins": {"repositories": ["git@github.com:egovernments/core-services.git"]},
        }, sort_keys=False))
        env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "KUBECONFIG")}
        env.update(PYTHONPATH=str(REPO), XDG_STATE_HOME=str(root / "xdg"))
        yield Site(lab, kubeconfig, answers, root / "state", env)


def not_ready(site: Site, namespace: str) -> list[str]:
    out = []
    for kind in ("deployments", "statefulsets", "daemonsets"):
        for w in site.kubectl("get", kind, "-n", namespace)["items"]:
            want = w["spec"].get("replicas", 1) if kind != "daemonsets" else w["status"].get("desiredNumberScheduled", 0)
            ready = w["status"].get("readyReplicas" if kind != "daemonsets" else "numberReady", 0) or 0
            if ready < want:
                out.append(f"{kind}/{w['metadata']['name']} {ready}/{want}")
    return out


def latest_run(state: Path) -> tuple[str, dict[str, str], list[str]]:
    """The last run: its id, its tasks' states, and the tasks it applied (not just checked)."""
    j = Journal.in_dir(state, readonly=True)
    try:
        run = j.latest_run()
        assert run is not None
        applied: set[str] = set()
        last = 0
        while events := j.events(run.id, after=last):
            applied |= {e.task for e in events if e.kind == "state" and e.task
                        and e.message.startswith("running: applying")}
            last = events[-1].seq
        return run.id, {t.id: t.state.value for t in j.tasks(run.id)}, sorted(applied)
    finally:
        j.close()


@pytest.mark.timeout(1500)
def test_an_unattended_install_brings_everything_up_and_a_second_changes_nothing(site: Site) -> None:
    first = site.install()
    assert first.returncode == 0, first.stderr[-4000:]
    run1, tasks, applied = latest_run(site.state)
    assert set(tasks.values()) == {"done"}, {t: s for t, s in tasks.items() if s != "done"}
    for task in ("prerequisites", "cluster", "postgres-vm", "postgres", "postgres-from-cluster", "jenkins",
                 "monitoring-prometheus-operator", "monitoring-grafana", "monitoring-jaeger", "release-record"):
        assert task in tasks, sorted(tasks)
    assert "postgres-vm" in applied and "jenkins" in applied

    # Everything ready, as kubectl sees it
    for ns in NAMESPACES:
        assert site.kubectl("get", "deployments", "-n", ns)["items"], f"nothing deployed in {ns}"
        assert not_ready(site, ns) == [], ns

    # The services' database: cluster-configs' db Service leads to the VM, whose PostgreSQL has the
    # role and database, and lets the services in from a node's address with the password given.
    db, worker = site.lab.vms[0], site.lab.vms[1]
    endpoints = site.kubectl("get", "endpoints", "db-service", "-n", "egov")
    assert [a["ip"] for s in endpoints["subsets"] for a in s["addresses"]] == [db.address]
    assert site.psql_as_postgres("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'egov_db'") == "egov"
    site.lab.write_file(worker, "/root/pgpass", f"*:*:*:egov:{PASSWORD}\n", 0o600)
    r = subprocess.run(site.lab.vm_argv(worker, ["env", "PGPASSFILE=/root/pgpass", "psql", "-X", "-A", "-t", "-w",
                                                 f"host={db.address} port=5432 dbname=egov_db user=egov "
                                                 "connect_timeout=5", "-c", "SELECT current_user"]),
                       capture_output=True, text=True, timeout=30)
    assert r.stdout.strip() == "egov", r.stderr
    hba = site.lab.exec(db, "cat /etc/postgresql/15/main/pg_hba.conf").stdout

    # A second install: every task re-checked and found converged; nothing applied anywhere.
    second = site.install()
    assert second.returncode == 0, second.stderr[-4000:]
    run2, tasks2, applied2 = latest_run(site.state)
    assert run2 != run1 and set(tasks2.values()) == {"done"} and applied2 == []
    assert site.lab.exec(db, "cat /etc/postgresql/15/main/pg_hba.conf").stdout == hba

    # The password given reached the secrets file DIGIT's db Secret is made from (0600), and nothing
    # else: not the journal, its WAL, the logs, the env file or the answers' copy in the state.
    secrets = site.state / "helm/environments/e2e-secrets.yaml"
    assert PASSWORD.encode() in secrets.read_bytes() and secrets.stat().st_mode & 0o077 == 0
    for path in site.state.rglob("*"):
        if path.is_file() and path != secrets:
            assert PASSWORD.encode() not in path.read_bytes(), path
