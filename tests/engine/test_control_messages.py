"""The engine's control messages are typed on both ends: a malformed request is refused with a
reason (never a KeyError), and a reply keeps only what it says."""

from __future__ import annotations

from pathlib import Path

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


def test_a_state_directory_longer_than_a_socket_address_still_takes_commands(tmp_path: Path) -> None:
    """A socket's address holds 107 bytes; an operator's state directory under a long home (or a
    test's tmp path under xdist) is longer: the engine still listens there and clients reach it."""
    import asyncio
    import threading

    from digit_tui.engine.control import ControlServer, send, socket_path

    state = tmp_path / ("a-state-directory-with-a-long-name-" * 3)
    state.mkdir()
    assert len(str(socket_path(state))) > 107
    seen: list[Request] = []

    def handler(request: Request) -> Reply:
        seen.append(request)
        return Reply(True, pid=7)

    loop = asyncio.new_event_loop()
    server = ControlServer(state, handler)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        assert (socket_path(state).stat().st_mode & 0o777) == 0o600
        assert send(state, Request("ping")) == Reply(True, pid=7)
        assert seen == [Request("ping")]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.run_until_complete(server.stop())
        loop.close()
    assert not socket_path(state).exists()
    with pytest.raises(ConnectionError):
        send(state, Request("ping"))
