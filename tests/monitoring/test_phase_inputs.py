"""What a phase's render counts as its inputs: a chart and the charts it pulls in by file://
(DIGIT's and the sample's prometheus-operator pull in kube-state-metrics from beside it)."""

from __future__ import annotations

from digit_tui.answers.model import BUNDLED_SOURCE
from digit_tui.tasks.phasecharts import chart_trees


def test_the_operator_charts_render_inputs_include_its_subchart_beside_it() -> None:
    """Editing the sample's kube-state-metrics chart must re-render the operator chart."""
    backbone = (BUNDLED_SOURCE / "deploy-as-code/helm/charts/backbone-services").resolve()
    trees = chart_trees(backbone / "prometheus-operator")
    assert trees[0] == backbone / "prometheus-operator"
    assert backbone / "kube-state-metrics" in trees
    assert (backbone.parent / "common").resolve() in chart_trees(backbone / "redis")
