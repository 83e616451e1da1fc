"""The guided flow to a finished install, then the answers file it wrote, headless.

With keys only, from the welcome screen with no answers file: an existing cluster (an in-process
sandbox at speed 50, reached through a kubeconfig as any cluster), the bundled sample release with
m_pgr, the sizing and configuration as they come, the plan confirmed; the install view must show
the install complete, and the journal agree. Then `digit-tui install --headless --answers <that
file>` (the real CLI, in a subprocess) on a second fresh sandbox with a fresh state directory must
do the same: the same tasks done, the same release recorded (ConfigMap egov/digit-tui-release: per
service its module, tag and rendered manifest's digest), the same objects on the cluster as the
real kubectl lists them. The same command on the first cluster and its state directory applies
nothing.

The answers name a kubeconfig path, as the operator typed it. For the second install that path
holds the second sandbox's kubeconfig (an operator pointing the same file at a new cluster), and
the first's again for the converged rerun, so the answers file is used byte for byte as written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.app import DigitApp
from digit_tui.digit.releaserecord import RELEASE_CONFIGMAP, RELEASE_NAMESPACE, RecordedService, ReleaseRecord
from digit_tui.engine.journal import Journal
from digit_tui.sandbox.runtime import SandboxHandle, start_sandbox
from digit_tui.screens.newinstall import TargetScreen
from digit_tui.tasks.volumes import BOUND_TASK_ID
from tests.monitoring.conftest import kubectl
from tests.tui.conftest import REPO, type_text, wait_screen

SMALL = (80, 24)
CLI = [sys.executable, "-m", "digit_tui.cli"]
KINDS = ("deployments", "statefulsets", "services")
GENERATED = "cluster-configs"          # the service whose Secrets hold each install's generated values


@dataclass(frozen=True)
class RunOutcome:
    """The latest run of a state directory: its state, its tasks' states and the tasks that applied anything."""

    state: str
    tasks: dict[str, str]
    applied: frozenset[str]


def run_outcome(state: Path) -> RunOutcome:
    j = Journal.in_dir(state, readonly=True)
    try:
        run = j.latest_run()
        assert run is not None, f"no run in {state}"
        applied = {e.task for e in j.events(run.id, limit=100_000)
                   if e.kind == "state" and e.task and e.message.startswith("running: applying")}
        return RunOutcome(run.state, {t.id: t.state.value for t in j.tasks(run.id)}, frozenset(applied))
    finally:
        j.close()


def cluster_objects(kubeconfig: Path, cache: Path) -> set[str]:
    """namespace/kind/name of every Deployment, StatefulSet and Service, as kubectl lists them."""
    return {f"{item['metadata']['namespace']}/{kind}/{item['metadata']['name']}" for kind in KINDS
            for item in kubectl(kubeconfig, cache, "get", kind, "--all-namespaces")["items"]}


@dataclass(frozen=True)
class Recorded:
    """The release the install recorded (ConfigMap egov/digit-tui-release), read as the health view reads it."""

    release: str
    environment: str
    modules: str
    skipped: tuple[str, ...]
    services: dict[str, RecordedService]

    def same_install(self, other: Recorded) -> bool:
        """The same release, modules and services, each with its tag and rendered digest, except
        cluster-configs' digest: its Secrets hold what each install generates once (docs/
        digit-sample-and-env.md: never rotated after), so it differs from one install to another
        (rendered_objects compares the rest of its objects)."""
        def shape(r: Recorded) -> Recorded:
            return replace(r, services={n: replace(s, digest="(generated)") if n == GENERATED else s
                                        for n, s in r.services.items()})
        return shape(self) == shape(other)


def release_record(kubeconfig: Path, cache: Path) -> Recorded:
    cm = kubectl(kubeconfig, cache, "get", "configmap", RELEASE_CONFIGMAP, "-n", RELEASE_NAMESPACE)
    record = ReleaseRecord.from_configmap(cm)
    return Recorded(record.release, record.environment, str(cm["data"].get("modules")), record.skipped,
                    record.recorded())


def rendered_objects(state: Path) -> dict[str, list[Any]]:
    """Every object the install rendered (its rendered/*.yaml), a Secret's values replaced by their keys."""
    out: dict[str, list[Any]] = {}
    for path in sorted((state / "rendered").glob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        for d in docs:
            if d.get("kind") == "Secret":
                d["data"] = sorted(d.get("data") or {})
                d["stringData"] = sorted(d.get("stringData") or {})
        out[path.name] = docs
    assert out, f"nothing rendered in {state}"
    return out


def headless(answers: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("KUBECONFIG", None)
    return subprocess.run([*CLI, "install", "--headless", "--answers", str(answers), "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=240, cwd=REPO, env=env)


@pytest.fixture
def first(tmp_path: Path) -> Iterator[SandboxHandle]:
    with start_sandbox(tmp_path / "sandbox-1", nodes=3, speed=50.0) as h:
        yield h


@pytest.mark.timeout(300)
async def test_keys_only_to_a_finished_install_and_its_answers_file_installs_the_same_headless(
        first: SandboxHandle, state_root: Path, tmp_path: Path) -> None:
    kube = tmp_path / "kube"
    kube.mkdir()
    kubeconfig = kube / "config"                      # the path the operator types; its cluster changes below
    kubeconfig.write_text(first.kubeconfig_path.read_text())
    kubeconfig.chmod(0o600)
    cache = tmp_path / "kcache"
    state = state_root / "gdone"
    answers = state / "answers.yaml"

    assert not state_root.exists()                     # no answers file, no install: a blank start
    app = DigitApp(start="welcome")
    async with app.run_test(size=SMALL) as pilot:
        await wait_screen(pilot, lambda t: "No install found" in t, what="the welcome screen")
        await pilot.press("n")
        await wait_screen(pilot, lambda t: "1/5 target and source" in t and "✓ deployable" in t, timeout=30,
                          what="the blank form, its release checked")
        await pilot.press("right", "space", "tab")              # an existing cluster; its kubeconfig
        await type_text(pilot, str(kubeconfig))
        await wait_screen(pilot, lambda t: "✗ target.kubeconfig" not in t and "Context" in t,
                          what="the kubeconfig accepted")
        await pilot.press("tab", "tab")                         # its current context; the environment
        await type_text(pilot, "gdone")
        await pilot.press("enter", "tab", "tab", "space")       # the source (kept), release (kept), m_pgr
        await wait_screen(pilot, lambda t: "[✓] m_pgr" in t, what="m_pgr chosen")
        await pilot.press("tab")
        await type_text(pilot, "digit.gdone.test")
        await wait_screen(pilot, lambda t: "✓ valid" in t.splitlines()[0], what="the valid form")
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "warning in the compatibility report" in t or "2/5 prerequisites" in t,
                          what="the release's warning")
        if isinstance(app.screen, TargetScreen):
            await pilot.press("ctrl+n")                         # its untagged backbone services: go on
        await wait_screen(pilot, lambda t: "2/5 prerequisites · gdone" in t and "✓ ready" in t, timeout=30,
                          what="the prerequisites passed")
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "3/5 sizing · gdone" in t and "✓ fits" in t.splitlines()[0],
                          timeout=60, what="the sizing plan, fitting the 3 nodes")
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "4/5 configuration · gdone" in t and "✓ valid" in t, timeout=30,
                          what="the configuration's defaults")
        await pilot.press("ctrl+n")
        await wait_screen(pilot, lambda t: "5/5 plan · gdone" in t and "tasks · " in t.splitlines()[0],
                          timeout=60, what="the plan")
        assert not answers.exists()
        await pilot.press("c")
        await wait_screen(pilot, lambda t: "Start the install of gdone?" in t, what="the confirm step")
        await pilot.press("s")
        # A probe of the cluster API that a loaded machine's in-process sandbox answers late shows its
        # banner ("✗ cluster API down since ...") until the next probe: waited out, while a failed
        # task's ✗ would stay and time this out.
        text = await wait_screen(pilot, lambda t: t.startswith("DIGIT installer · gdone · digit.gdone.test")
                                 and "✓ done" in t.splitlines()[0]
                                 and "install complete" in t and "✗" not in t, timeout=120,
                                 what="the install view: finished")
        assert "100%" in text and "✗" not in text and "◌" not in text
        await pilot.press("ctrl+q")

    assert "digit-tui install --answers THIS-FILE --headless" in answers.read_text()   # its header says so
    tui = run_outcome(state)
    assert tui.state == "done" and set(tui.tasks.values()) == {"done"}, tui.tasks
    assert {"prerequisites", "cluster", "render", "release-record"} <= set(tui.tasks)
    assert "pgr-services" in tui.applied and "release-record" in tui.applied
    tui_record = release_record(kubeconfig, cache)
    assert tui_record.environment == "gdone" and tui_record.services["pgr-services"].module == "m_pgr"
    tui_objects = cluster_objects(kubeconfig, cache)
    assert "egov/deployments/pgr-services" in tui_objects      # m_pgr's own service

    # The same file, headless, on a second fresh sandbox and a fresh state directory: the same install.
    with start_sandbox(tmp_path / "sandbox-2", nodes=3, speed=50.0) as second:
        kubeconfig.write_text(second.kubeconfig_path.read_text())
        written = answers.read_bytes()
        again = state_root / "gdone-headless"
        r = headless(answers, again)
        assert r.returncode == 0, r.stderr[-4000:]
        assert answers.read_bytes() == written                  # taken as it is, not rewritten
        headless_run = run_outcome(again)
        assert headless_run.state == "done" and headless_run.tasks == tui.tasks
        # volumes-bound writes nothing: whether its check already sees the claims bound or it waits
        # for them ("applying") is the sandbox's timing, not what was installed.
        assert headless_run.applied - {BOUND_TASK_ID} == tui.applied - {BOUND_TASK_ID}
        assert release_record(kubeconfig, cache).same_install(tui_record)
        assert rendered_objects(again) == rendered_objects(state)
        assert cluster_objects(kubeconfig, cache) == tui_objects

    # And on the first cluster, with the TUI's state directory: converged, nothing applied.
    kubeconfig.write_text(first.kubeconfig_path.read_text())
    r = headless(answers, state)
    assert r.returncode == 0, r.stderr[-4000:]
    rerun = run_outcome(state)
    assert rerun.state == "done" and rerun.tasks == tui.tasks and rerun.applied == frozenset(), rerun.applied
    assert release_record(kubeconfig, cache) == tui_record    # the first install's secrets, kept
