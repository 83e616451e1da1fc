"""The engine's control messages are typed on both ends: a malformed request is refused with a
reason (never a KeyError), and a reply keeps only what it says."""

from __future__ import annotations

import pytest

from digit_tui.engine.control import Reply, Request
from digit_tui.engine.journal import FINISHED_RUN_STATES, RunState


@pytest.mark.parametrize("bad", [[], "pause", {"cmd": 3}, {"cmd": "retry", "task": 7}, {}])
def test_a_malformed_request_is_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(ValueError):
        Request.from_json(bad)


def test_requests_and_replies_keep_their_wire_form() -> None:
    assert Request.from_json({"cmd": "retry", "task": "egov-user"}) == Request("retry", "egov-user")
    assert Request("pause").to_json() == {"cmd": "pause"}
    assert Reply(True, pid=42, run="r1").to_json() == {"ok": True, "pid": 42, "run": "r1"}
    assert Reply.from_json({"ok": False, "error": "no such task"}) == Reply(False, "no such task")
    assert Reply.from_json(["not", "a", "reply"]).ok is False


def test_run_states_are_typed_and_read_as_their_values() -> None:
    assert RunState("done") is RunState.DONE and f"install {RunState.DONE}" == "install done"
    assert RunState.INTERRUPTED not in FINISHED_RUN_STATES and "failed" in FINISHED_RUN_STATES
