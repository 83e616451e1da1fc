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
    """The real renderer, counting what it renders; optionally "killed" after ``die_after`` charts."""

    def __init__(self, real: Any, log: list[str], die_after: int | None) -> None:
        self.real = real
        self.engine = real.engine
        self.log = log
        self.die_after = die_after
        # Services render side by side: the count and the kill are decided under one lock, so
        # exactly ``die_after`` charts are rendered before the "kill".
        self._lock = threading.Lock()

    def render(self, chart_dir: Path, name: str, values: dict[str, Any], **kw: Any) -> Any:
        with self._lock:
            if self.die_after is not None and len(self.log) >= self.die_after:
                raise Killed("the engine stopped here")
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


async def test_a_render_killed_halfway_resumes_with_the_services_left(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config_for(tmp_path)
    real_make = render_mod.make_renderer
    rendered: list[str] = []
    die_after: list[int | None] = [5]
    monkeypatch.setattr(render_mod, "make_renderer",
                        lambda *a, **kw: CountingRenderer(real_make(*a, **kw), rendered, die_after[0]))

    assert await run_render(settings, tmp_path, "first") == "failed"
    first = list(rendered)
    assert len(first) == 5
    out = tmp_path / "state" / "rendered"
    assert not (out / "index.json").exists()                # the render is not finished...
    assert {f"{n}.yaml" for n in first} <= {p.name for p in out.glob("*.yaml")}   # ...but its work is kept

    rendered.clear()
    die_after[0] = None
    assert await run_render(settings, tmp_path, "second") == "done"
    assert rendered and not set(rendered) & set(first)      # only what was left
    assert (out / "index.json").exists() and not (out / "progress.json").exists()

    # The finished index lists every service in release order, as an uninterrupted render's index
    # does (the order the renderer is called in is not it: services render side by side).
    index = json.loads((out / "index.json").read_text())
    whole = tmp_path / "whole"
    whole.mkdir()
    rendered.clear()
    assert await run_render(config_for(whole), whole, "once") == "done"
    once = json.loads((whole / "state" / "rendered" / "index.json").read_text())
    assert [s["name"] for s in index["services"]] == [s["name"] for s in once["services"]]
    assert sorted(rendered) == sorted(s["name"] for s in index["services"])
    for svc in index["services"]:
        assert hashlib.sha256((out / f"{svc['name']}.yaml").read_bytes()).hexdigest() == svc["digest"]


async def test_changed_inputs_discard_an_interrupted_render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config_for(tmp_path)
    real_make = render_mod.make_renderer
    rendered: list[str] = []
    die_after: list[int | None] = [3]
    monkeypatch.setattr(render_mod, "make_renderer",
                        lambda *a, **kw: CountingRenderer(real_make(*a, **kw), rendered, die_after[0]))
    assert await run_render(settings, tmp_path, "first") == "failed"
    first = list(rendered)

    settings = config_for(tmp_path, digit={"domain": "digit.example.gov.in"})  # new env file: nothing before counts
    rendered.clear()
    die_after[0] = None
    assert await run_render(settings, tmp_path, "second") == "done"
    assert set(first) <= set(rendered)
