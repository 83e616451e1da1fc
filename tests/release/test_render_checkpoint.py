"""The render task keeps each service the moment it is rendered: a render stopped halfway
(simulated by a renderer that breaks after a few services; a SIGKILL stops it at the same
point, with the same files on disk) resumes with the services that are left, not from the start."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from digit_tui.digit import render as render_mod
from digit_tui.engine.journal import Journal
from digit_tui.engine.scheduler import Scheduler
from digit_tui.tasks.helmconfig import HelmConfigTask
from digit_tui.tasks.render import RenderTask

from .conftest import config_for


class Killed(RuntimeError):
    pass


class CountingRenderer:
    """The real renderer, counting what it renders; optionally "killed" at service ``die_at`` of the
    release's order: that service and every one after it fail, whichever worker thread reaches one
    first, as a process killed there renders nothing more. (Killing after a number of calls instead
    made the test depend on which thread won a race: the call that failed was not always the one
    after the services kept.)"""

    def __init__(self, real: Any, log: list[str], die_at: int | None, order: list[str]) -> None:
        self.real = real
        self.engine = real.engine
        self.log = log
        self.dead = set(order[die_at:]) if die_at is not None else set()
        self._lock = threading.Lock()

    def render(self, chart_dir: Path, name: str, values: dict[str, Any], **kw: Any) -> Any:
        if name in self.dead:
            raise Killed("the engine stopped here")
        with self._lock:
            self.log.append(name)
        return self.real.render(chart_dir, name, values, **kw)

    def __enter__(self) -> CountingRenderer:
        self.real.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.real.__exit__(*exc)


async def run_render(settings: Any, tmp: Path, tag: str) -> str:
    (tmp / tag).mkdir()
    journal = Journal.in_dir(tmp / tag)
    try:
        run = journal.create_run("dev", "test", {}, None)
        return await Scheduler([HelmConfigTask(settings), RenderTask(settings)], journal, run).run()
    finally:
        journal.close()


async def release_order(tmp: Path) -> list[str]:
    """The services of the sample release in render order, from an uninterrupted render."""
    tmp.mkdir()
    assert await run_render(config_for(tmp), tmp, "once") == "done"
    return [s["name"] for s in json.loads((tmp / "state" / "rendered" / "index.json").read_text())["services"]]


async def test_a_render_killed_halfway_resumes_with_the_services_left(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    order = await release_order(tmp_path / "whole")
    settings = config_for(tmp_path)
    real_make = render_mod.make_renderer
    rendered: list[str] = []
    die_at: list[int | None] = [5]
    monkeypatch.setattr(render_mod, "make_renderer",
                        lambda *a, **kw: CountingRenderer(real_make(*a, **kw), rendered, die_at[0], order))

    assert await run_render(settings, tmp_path, "first") == "failed"
    first = list(rendered)
    assert sorted(first) == sorted(order[:5])
    out = tmp_path / "state" / "rendered"
    assert not (out / "index.json").exists()                # the render is not finished...
    assert {f"{n}.yaml" for n in first} <= {p.name for p in out.glob("*.yaml")}   # ...but its work is kept

    rendered.clear()
    die_at[0] = None
    assert await run_render(settings, tmp_path, "second") == "done"
    assert sorted(rendered) == sorted(order[5:])            # only what was left
    assert (out / "index.json").exists() and not (out / "progress.json").exists()

    # The finished index lists every service in release order, as an uninterrupted render's index
    # does (the order the renderer is called in is not it: services render side by side).
    index = json.loads((out / "index.json").read_text())
    assert [s["name"] for s in index["services"]] == order
    for svc in index["services"]:
        assert hashlib.sha256((out / f"{svc['name']}.yaml").read_bytes()).hexdigest() == svc["digest"]


async def test_changed_inputs_discard_an_interrupted_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config_for(tmp_path)
    real_make = render_mod.make_renderer
    order = await release_order(tmp_path / "whole")
    rendered: list[str] = []
    die_at: list[int | None] = [3]
    monkeypatch.setattr(render_mod, "make_renderer",
                        lambda *a, **kw: CountingRenderer(real_make(*a, **kw), rendered, die_at[0], order))
    assert await run_render(settings, tmp_path, "first") == "failed"
    first = list(rendered)

    settings = config_for(tmp_path, digit={"domain": "digit.example.gov.in"})  # new env file: nothing before counts
    rendered.clear()
    die_at[0] = None
    assert await run_render(settings, tmp_path, "second") == "done"
    assert set(first) <= set(rendered)
