"""A command pays only for what it uses: `validate` imports no other command's modules, no Textual and
no Kubernetes client; `health --once` reads raw JSON and never imports the client's typed API modules
(a second of start-up on their own); `--help` imports no event loop, YAML or pydantic and still lists
every command; a warm `size` reads its stored workloads and presets without YAML, pydantic or Helm.
Each list names what an eager import at the top of a module would bring back (bench/startup.py
prints the times)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from digit_tui.sandbox.runtime import start_sandbox
from tests.support import REPO

PROBE = """
import contextlib, io, json, sys
from digit_tui import cli
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = cli.main(sys.argv[1:])
    except SystemExit as exc:   # --help
        code = exc.code
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def run(*argv: str, env: dict[str, str] | None = None) -> dict:
    r = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=120, cwd=REPO,
                       env=None if env is None else {**os.environ, **env})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def test_validate_imports_only_what_validating_needs(tmp_path: Path) -> None:
    example = run("validate", "--example")
    assert example["code"] == 0 and "environment:" in example["out"]
    assert "digit_tui.answers.loader" not in example["modules"]        # printing the example validates nothing
    answers = tmp_path / "answers.yaml"
    answers.write_text(example["out"])
    r = run("validate", "--answers", str(answers), "--no-file-checks")
    assert r["code"] == 0 and ": valid (" in r["out"]
    modules = set(r["modules"])
    for heavy in ("textual", "kubernetes", "digit_tui.cli.install", "digit_tui.cli.size",
                  "digit_tui.cli.render", "digit_tui.cli.sandbox", "digit_tui.cli.tui", "digit_tui.cli.health",
                  "digit_tui.answers.settings"):
        assert heavy not in modules, heavy


def test_help_lists_every_command_without_loading_them() -> None:
    r = run("--help")
    assert r["code"] == 0
    for command in ("install", "plan", "status", "validate", "size", "render", "check-source", "preflight",
                    "sandbox", "tui", "demo", "health"):
        assert re.search(rf"^    {re.escape(command)}\b", r["out"], re.M), command
    heavy = [m for m in r["modules"] if m.split(".")[0] in HEAVY_FOR_HELP]
    ours = [m for m in r["modules"] if m.startswith("digit_tui.") and m not in OURS_FOR_HELP
            and not m.startswith("digit_tui.cli")]
    assert heavy == [] and ours == []


# What parsing a command line needs none of (asyncio alone is a fifth of python's own start-up), and
# the only modules of digit-tui's own it may import besides the command modules.
HEAVY_FOR_HELP = ("asyncio", "yaml", "pydantic", "textual", "rich", "kubernetes", "paramiko", "helm_python")
OURS_FOR_HELP = ("digit_tui.exitcodes", "digit_tui.errors", "digit_tui.paths", "digit_tui.atomic", "digit_tui.digit",
                 "digit_tui.digit.atomic")


def test_warm_size_reads_its_caches_without_yaml_pydantic_or_helm(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state")}
    argv = ("size", "--ulbs", "1000", "--tier", "prod")
    cold = run(*argv, env=env)
    assert cold["code"] == 0 and "pydantic" in cold["modules"]     # it validated the presets and rendered
    warm = run(*argv, env=env)
    assert warm["code"] == 0 and warm["out"] == cold["out"]
    for heavy in ("yaml", "pydantic", "helm_python", "kubernetes", "paramiko", "textual", "digit_tui.digit.pipeline",
                  "digit_tui.digit.manifest", "digit_tui.answers.model"):
        assert heavy not in warm["modules"], heavy


def test_health_once_reads_raw_json_without_the_typed_client(tmp_path: Path) -> None:
    h = start_sandbox(tmp_path / "sb", nodes=2, speed=50.0)
    try:
        r = run("health", "--kubeconfig", str(h.kubeconfig_path), "--once", "--json")
    finally:
        h.stop()
    assert r["code"] == 0
    report = json.loads(r["out"])
    assert report["reachable"] is True and report["summary"]["nodes"] == {"ready": 2, "total": 2}
    typed = [m for m in r["modules"] if m.startswith(("kubernetes.client.api.", "kubernetes.client.models."))]
    assert typed == []


def test_plan_describes_ssh_tasks_without_paramiko(tmp_path: Path) -> None:
    """`plan` imports the tasks of the phases its graph has, and so the SSH module whose types the
    prerequisites use; the SSH client and its cryptography are imported only when a task connects.
    A phase the answers leave out is not imported (a sandbox with the database in the cluster: no
    database VM, no terraform)."""
    answers = tmp_path / "answers.yaml"
    answers.write_text("environment: sbx\ntarget:\n  provider: sandbox\ndigit:\n  domain: sbx.example.org\n")
    r = run("plan", "--answers", str(answers), env={"XDG_STATE_HOME": str(tmp_path / "state"),
                                                  "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert r["code"] == 0 and "would check" in r["out"]
    assert {"digit_tui.tasks.preflight", "digit_tui.tasks.postgres_cluster", "digit_tui.infra.ssh"} <= set(r["modules"])
    for heavy in ("paramiko", "cryptography", "textual", "kubernetes", "digit_tui.tasks.postgres",
                  "digit_tui.infra.pgvm", "digit_tui.tasks.terraform", "digit_tui.infra.terraform",
                  # an install's commands build their own parsers only (a converged rerun's tenth)
                  "digit_tui.cli.validate", "digit_tui.cli.size", "digit_tui.cli.render", "digit_tui.cli.sandbox",
                  "digit_tui.cli.preflight", "digit_tui.cli.checksource", "digit_tui.cli.health"):
        assert heavy not in r["modules"], heavy



def test_the_program_exits_without_the_collectors_last_passes(tmp_path: Path) -> None:
    """`python -m digit_tui.cli` and the `digit-tui` script (cli.run) freeze what is alive before exiting,
    so the shutdown does not walk it again (a sixth of validate's CPU time); the exit code and atexit
    handlers are kept."""
    probe = ("import atexit, gc, runpy, sys; atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, "
             "file=sys.stderr)); sys.argv[0] = 'digit-tui'; runpy.run_module('digit_tui.cli', run_name='__main__')")
    ok = subprocess.run([sys.executable, "-c", probe, "validate", "--example"], capture_output=True, text=True,
                        timeout=120, cwd=REPO)
    assert ok.returncode == 0 and "environment:" in ok.stdout and "frozen True" in ok.stderr
    bad = subprocess.run([sys.executable, "-c", probe, "validate", "--answers", str(tmp_path / "absent.yaml")],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert bad.returncode == 2 and "answers file does not exist" in bad.stderr and "frozen True" in bad.stderr


def test_validating_again_reads_the_plan_without_the_planner(tmp_path: Path) -> None:
    """The sizing plan a client makes of its answers (install, validate) is read from disk the second
    time (sizing/plancache.py): a converged rerun of `install` imports none of the planner's modules."""
    answers = tmp_path / "answers.yaml"
    answers.write_text("environment: sbx\ntarget:\n  provider: sandbox\ndigit:\n  domain: sbx.example.org\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state")}
    cold = run("validate", "--answers", str(answers), "--no-file-checks", env=env)
    assert cold["code"] == 0 and "digit_tui.sizing.planner" in cold["modules"]
    warm = run("validate", "--answers", str(answers), "--no-file-checks", env=env)
    assert warm["code"] == 0 and warm["out"] == cold["out"]
    for planner in ("digit_tui.sizing.planner", "digit_tui.sizing.presets", "digit_tui.sizing.model",
                    "digit_tui.sizing.binpack", "digit_tui.sizing.synthetic", "digit_tui.infra.podrequests"):
        assert planner not in warm["modules"], planner
