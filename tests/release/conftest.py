"""Helpers for the release tests: answers files for the bundled sample, a sandbox on port 0,
the real `digit-tui` CLI as a subprocess, and journal readers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from digit_tui.answers.model import BUNDLED_SOURCE

REPO = Path(__file__).resolve().parents[2]
MANIFEST_REL = "deploy-as-code/helm/product-release-charts/DIGIT/dependancy_chart-digit-v2.8.yaml"
ALL_MODULES = ["m_pgr", "m_property-tax"]


def config_for(tmp: Path, *, source: Path | None = None, modules: list[str] | None = None,
               kubeconfig: str | None = None, name: str = "answers.yaml", **sections: dict[str, Any]) -> Any:
    """The install configuration of a minimal sandbox answers file written to ``tmp/name``, with
    ``sections`` merged into its top-level sections (``digit={"domain": ...}``), as the engine
    hands it to the graph: state directory ``tmp/state``."""
    from digit_tui.answers import load_answers
    from digit_tui.answers.config import InstallConfig

    doc = yaml.safe_load(answers_text(source=source, modules=modules, kubeconfig=kubeconfig))
    for key, values in sections.items():
        doc[key] = {**(doc.get(key) or {}), **values}
    answers = tmp / name
    answers.write_text(yaml.safe_dump(doc, sort_keys=False))
    return InstallConfig.from_answers(load_answers(answers), answers, state_dir=tmp / "state")


def with_answers(config: Any, **sections: dict[str, Any]) -> Any:
    """``config`` with some answers changed in place of rewriting the file, unvalidated: for a
    value validation refuses today (a key no phase acts on yet) whose task behaviour is tested."""
    from dataclasses import replace

    answers = config.answers
    changed = {key: getattr(answers, key).model_copy(update=values) for key, values in sections.items()}
    return replace(config, answers=answers.model_copy(update=changed))


def answers_text(*, source: Path | None = None, modules: list[str] | None = None, kubeconfig: str | None = None,
                 concurrency: int | None = None, release: str | None = None,
                 skip_services: list[str] | None = None) -> str:
    doc: dict[str, Any] = {"environment": "dev", "target": {"provider": "sandbox"},
                           "digit": {"domain": "digit.local", "modules": ALL_MODULES if modules is None else modules}}
    if kubeconfig:
        doc["target"]["kubeconfig"] = kubeconfig
    if source is not None:
        doc["digit"]["source"] = {"path": str(source)}
        doc["digit"]["release"] = release or MANIFEST_REL
    if concurrency:
        doc["engine"] = {"concurrency": concurrency}
    if skip_services:
        doc["digit"]["skip_services"] = skip_services
    return yaml.safe_dump(doc, sort_keys=False)


def copy_sample(dest: Path) -> Path:
    """A private, editable copy of the bundled sample source."""
    shutil.copytree(BUNDLED_SOURCE, dest)
    return dest


def edit_manifest(source: Path, old: str, new: str | None) -> None:
    """Replace (or with ``new`` None, remove) one service entry line of the sample manifest."""
    path = source / MANIFEST_REL
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, ln in enumerate(lines) if ln.strip() == f'- "{old}"' or ln.strip() == f"- {old}"]
    assert len(hits) == 1, f"{old} not found once in {path}"
    if new is None:
        del lines[hits[0]]
    else:
        lines[hits[0]] = lines[hits[0]].replace(old, new)
    path.write_text("".join(lines))


class Install:
    """One environment driven through the real CLI."""

    def __init__(self, tmp: Path, kubeconfig: Path) -> None:
        self.tmp = tmp
        self.kubeconfig = kubeconfig
        self.state = tmp / "state"
        self.answers = tmp / "answers.yaml"
        self.environ = dict(os.environ, PYTHONPATH=str(REPO), XDG_STATE_HOME=str(tmp / "xdg"))

    def write_answers(self, **kw: Any) -> None:
        self.answers.write_text(answers_text(kubeconfig=str(self.kubeconfig), **kw))

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "digit_tui.cli", *args], env=self.environ,
                              capture_output=True, text=True, timeout=timeout, cwd=REPO)

    def install(self, timeout: float = 240) -> tuple[subprocess.CompletedProcess[str], float]:
        start = time.monotonic()
        try:
            proc = self.cli("install", "--answers", str(self.answers), "--headless", "--state-dir", str(self.state),
                            timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            self.kill_engine()
            # pytest shows a TimeoutExpired's output cut to one line: say where the install stood.
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else str(exc.stdout or "")
            tail = "\n".join(out.splitlines()[-40:])
            raise AssertionError(f"install still running after {timeout:g} s; its last lines:\n{tail}") from None
        return proc, time.monotonic() - start

    def status(self) -> dict[str, Any]:
        r = self.cli("status", "--state-dir", str(self.state), "--json", "--events", "0")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def tasks(self) -> dict[str, dict[str, Any]]:
        return {t["id"]: t for t in self.status()["tasks"]}

    def events(self, kind: str | None = None, *, every_run: bool = False) -> list[tuple[str | None, str]]:
        """(task, message) of the latest run's journal events, or of every run's (read-only)."""
        db = sqlite3.connect(f"file:{self.state / 'journal.db'}?mode=ro", uri=True)
        try:
            if every_run:
                q = ("SELECT e.task, e.message FROM events e JOIN runs r ON r.id = e.run_id"
                     + (" WHERE e.kind=?" if kind else "") + " ORDER BY r.created, r.rowid, e.seq")
                return list(db.execute(q, (kind,) if kind else ()))
            run = db.execute("SELECT id FROM runs ORDER BY created DESC LIMIT 1").fetchone()[0]
            q = "SELECT task, message FROM events WHERE run_id=?" + (" AND kind=?" if kind else "") + " ORDER BY seq"
            return list(db.execute(q, (run, kind) if kind else (run,)))
        finally:
            db.close()

    def applied(self) -> set[str]:
        """Tasks that ran ensure in the latest run (rather than being found converged)."""
        return {t for t, m in self.events("check") if m == "check: not converged"}

    def converged(self) -> set[str]:
        """Tasks the latest run found converged: by their check, or in one pass from what the last
        full check read (engine/unchanged.py), a record that exists only when every check passed."""
        return {t for t, m in self.events() if t and (m == "check: already converged"
                                                       or m.startswith("done: unchanged since the checks of run"))}

    def kill_engine(self) -> None:
        try:
            text = (self.state / "engine.lock").read_text().strip()
        except FileNotFoundError:
            return
        if text.isdigit():
            try:
                os.kill(int(text), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    """A fresh sandbox cluster (3 nodes of 8 CPU / 16 Gi, delays /50) on 127.0.0.1 port 0."""
    from digit_tui.sandbox.runtime import start_sandbox

    with start_sandbox(tmp_path / "sandbox", nodes=3, speed=50.0) as handle:
        yield handle


@pytest.fixture
def install(tmp_path: Path, cluster: Any) -> Iterator[Install]:
    inst = Install(tmp_path, cluster.kubeconfig_path)
    inst.write_answers()
    yield inst
    inst.kill_engine()
