"""The prerequisites screen checks what `digit-tui preflight` checks: its plan carries the install's
sizing plan, so too few worker hosts for the planned ULBs are said on the checklist as the command
line says them (the screen's checklist is this plan's config section)."""

from __future__ import annotations

from pathlib import Path

from digit_tui.answers.loader import parse_answers
from digit_tui.preflight import checks
from digit_tui.preflight.model import Status
from digit_tui.sizing.install import install_plan
from digit_tui.viewmodel.prereqs import preflight_plan

ANSWERS = """\
environment: sdc-prod
target: {provider: sdc}
hosts:
  - {name: m1, address: 10.20.0.11, user: root, ssh_key: KEY, roles: [master]}
  - {name: w1, address: 10.20.0.21, user: root, ssh_key: KEY, roles: [worker]}
cluster: {mode: kubeadm, api_endpoint: "10.20.0.11:6443"}
digit: {domain: digit.sdc.test}
database: {mode: external, host: 10.20.0.9}
sizing: {ulbs: 50, preset: sdc-prod}
"""


def _answers(tmp_path: Path, text: str) -> tuple[Path, object]:
    key = tmp_path / "key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    path = tmp_path / "answers.yaml"
    path.write_text(text.replace("KEY", str(key)))
    return path, parse_answers(path.read_text(), path)


def test_too_few_worker_hosts_for_the_plan_are_on_the_checklist(tmp_path: Path) -> None:
    path, answers = _answers(tmp_path, ANSWERS)
    state = tmp_path / "state"
    state.mkdir()
    plan = preflight_plan(answers, path, state)          # type: ignore[arg-type]
    sizing = install_plan(answers, path)                 # type: ignore[arg-type]
    assert plan.sizing == sizing
    found = [(r.status, r.message) for r in checks.config_checks(plan) if r.check == "sizing"]
    assert found == [(Status.WARN, f"1 worker host; the sizing plan (sdc-prod, 50 ULBs) has {sizing.workers} × "
                                   f"{sizing.worker_flavor} workers")]


def test_answers_the_planner_refuses_leave_the_comparison_to_the_sizing_step(tmp_path: Path) -> None:
    path, answers = _answers(tmp_path, ANSWERS.replace("ulbs: 50", "ulbs: 10000")
                                   .replace("{mode: external, host: 10.20.0.9}", "{mode: in-cluster}"))
    state = tmp_path / "state"
    state.mkdir()
    # No node flavor holds an in-cluster Postgres for 10,000 ULBs: the planner refuses these answers.
    plan = preflight_plan(answers, path, state)          # type: ignore[arg-type]
    assert plan.sizing is None
    assert [r for r in checks.config_checks(plan) if r.check == "sizing"] == []
