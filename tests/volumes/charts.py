"""The environment file made from the volume task's published outputs, and the backbone charts
rendered from it (the bundled sample's or DIGIT-DevOps' own), as the release would."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

import digit_tui
from digit_tui.digit.envfile import render_env
from digit_tui.digit.envinputs import EnvInputs
from digit_tui.digit.volumes import BACKBONE

SAMPLE_CHARTS = Path(digit_tui.__file__).parent / "bundles" / "digit-sample" / "deploy-as-code" / "helm" / "charts"
SAMPLE_BACKBONE = SAMPLE_CHARTS / "backbone-services"


def env_inputs(outputs: Mapping[str, Any]) -> EnvInputs:
    """What helm-config makes of the volume task's outputs: nothing pasted by hand."""
    provider = str(outputs["storage_provider"])
    return EnvInputs(environment="dev", domain="digit.local", db_host="postgres.egov",
                     storage_mode=str(outputs["storage_mode"]),
                     storage_provider=provider if provider != "none" else "iscsi",
                     storage_class=str(outputs["storage_class"]), volumes=dict(outputs["volumes"]),
                     service_overrides=dict(outputs["env_overrides"]))


def env_document(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The generated ``environments/dev.yaml``, read back."""
    return yaml.safe_load(render_env(env_inputs(outputs)))


def render_backbone(renderer: Any, charts_dir: Path, env: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """service -> the objects its chart renders with this environment file."""
    from digit_tui.digit.chart_index import ChartIndex
    from digit_tui.digit.pipeline import service_values

    index = ChartIndex.build(charts_dir)
    out: dict[str, list[dict[str, Any]]] = {}
    for svc in BACKBONE:
        ref = index.lookup(svc.service)
        out[svc.service] = renderer.render(ref.chart_dir, svc.service,
                                           service_values(dict(env), ref, svc.service, None, None)).objects
    return out


def of_kind(rendered: Mapping[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [o for objs in rendered.values() for o in objs if o["kind"] == kind]
