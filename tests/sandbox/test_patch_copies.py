"""The sandbox's patch functions copy their inputs once and merge in place: the live object and
the patch they are given stay as they were, and an apply body that is flow-style YAML rather than
JSON is still read as YAML."""

from __future__ import annotations

import copy

from digit_tui.sandbox import patching
from digit_tui.sandbox.server import _yaml_body

LIVE = {"metadata": {"name": "a", "labels": {"x": "1"}},
        "spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "i:1", "env": [{"name": "A", "value": "1"}]}]}}}}
PATCH = {"metadata": {"labels": {"y": "2"}},
         "spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]},
                                                       {"name": "d", "image": "j:1"}]}}}}


def test_strategic_merge_and_merge_patch_leave_their_inputs_alone() -> None:
    live, patch = copy.deepcopy(LIVE), copy.deepcopy(PATCH)
    out = patching.strategic_merge(live, patch)
    assert live == LIVE and patch == PATCH
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["c", "d"]
    assert containers[0]["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert out["metadata"]["labels"] == {"x": "1", "y": "2"}
    merged = patching.merge_patch(live, {"metadata": {"labels": {"x": None, "z": "3"}}})
    assert live == LIVE and merged["metadata"]["labels"] == {"z": "3"}
    out["metadata"]["labels"]["w"] = "4"            # the result shares nothing with the inputs
    assert patch["metadata"]["labels"] == {"y": "2"} and live["metadata"]["labels"] == {"x": "1"}


def test_an_apply_body_is_read_as_json_or_as_yaml() -> None:
    assert _yaml_body(b' {"a": [1, "yes"]}') == {"a": [1, "yes"]}
    assert _yaml_body(b"{a: yes, b: [1]}") == {"a": True, "b": [1]}
    assert _yaml_body(b"a: 1\nb: x\n") == {"a": 1, "b": "x"}
