"""A git DIGIT source through the real CLI and the real git binary: the fetch is the render
task's work, so an unreachable server is a journalled, retried task error (never an engine
traceback), and a reachable one grows the graph to the services its release names."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import yaml

from digit_tui.answers.model import BUNDLED_SOURCE

from .conftest import ALL_MODULES, MANIFEST_REL, Install


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def git_answers(inst: Install, url: str, *, kubeconfig: Path | None = None, network_wait: float | None = None) -> None:
    doc: dict[str, object] = {
        "environment": "dev", "target": {"provider": "sandbox"},
        "digit": {"domain": "digit.local", "modules": ALL_MODULES,
                  "source": {"git": url, "ref": "main"}, "release": MANIFEST_REL},
    }
    if kubeconfig is not None:
        doc["target"] = {"provider": "sandbox", "kubeconfig": str(kubeconfig)}
    if network_wait is not None:
        doc["engine"] = {"network_wait": network_wait}
    inst.answers.write_text(yaml.safe_dump(doc, sort_keys=False))


def sample_repo(tmp: Path) -> Path:
    """The bundled sample as a git repository on branch main."""
    repo = tmp / "digit-devops"
    shutil.copytree(BUNDLED_SOURCE, repo)
    env = ["-c", "user.name=t", "-c", "user.email=t@example.test", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "sample"]):
        subprocess.run(["git", *env, *args], cwd=repo, check=True, capture_output=True, timeout=30)
    return repo


def test_an_unreachable_git_source_fails_the_render_task_with_a_journalled_error(tmp_path: Path) -> None:
    inst = Install(tmp_path, tmp_path / "no-kubeconfig")
    url = f"http://127.0.0.1:{closed_port()}/egovernments/DIGIT-DevOps.git"
    git_answers(inst, url, network_wait=1)

    plan = inst.cli("plan", "--answers", str(inst.answers), "--state-dir", str(inst.state))
    assert plan.returncode == 0, plan.stderr
    assert f"would fetch {url}@main" in plan.stdout
    assert not (inst.state / "sources").exists()                 # plan fetched nothing

    try:
        proc, _ = inst.install(timeout=120)
    finally:
        # provider sandbox without a kubeconfig: the cluster phase started this install's sandbox
        inst.cli("sandbox", "--state-dir", str(inst.state / "sandbox"), "down", timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    tasks = inst.tasks()
    assert tasks["render"]["state"] == "failed"
    assert "network did not come back" in tasks["render"]["error"]
    assert "git" in tasks["render"]["error"]
    said = [m for t, m in inst.events() if t == "render"]
    assert any(m.startswith("waiting-for-network") and "git 127.0.0.1" in m for m in said), said
    log = (inst.state / "logs" / "engine.log").read_text()
    for text in (proc.stdout, proc.stderr, log):
        assert "Traceback" not in text
    assert "FAILED render:" in proc.stderr


def test_a_git_source_is_fetched_by_the_render_task_and_the_graph_grows_to_its_services(
        tmp_path: Path, cluster: object) -> None:
    inst = Install(tmp_path, cluster.kubeconfig_path)              # type: ignore[attr-defined]
    repo = sample_repo(tmp_path)
    git_answers(inst, f"file://{repo}", kubeconfig=inst.kubeconfig)

    plan = inst.cli("plan", "--answers", str(inst.answers), "--state-dir", str(inst.state), "--json")
    assert plan.returncode == 0, plan.stderr
    planned = yaml.safe_load(plan.stdout)["tasks"]
    assert [t["id"] for t in planned if t["phase"] not in ("prerequisites", "cluster")] == ["helm-config", "render"]

    proc, _ = inst.install()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    tasks = inst.tasks()
    assert {"cluster-configs", "egov-user", "pgr-services", "release-record"} <= set(tasks)
    assert all(t["state"] == "done" for t in tasks.values())
    assert any(m.startswith("install graph rebuilt") for _, m in inst.events())

    # The next run knows the whole graph from the checkout at once and changes nothing.
    proc, _ = inst.install()
    assert proc.returncode == 0, proc.stderr
    assert inst.applied() == set()
    assert not any(m.startswith("install graph rebuilt: ") and ", 0 new" not in m for _, m in inst.events())
