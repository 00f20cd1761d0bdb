"""The stored state's versioning."""

from __future__ import annotations

import pytest

from restore_orchestrator.phases import Phase
from restore_orchestrator.state import STATE_VERSION, RestoreState, StateUnreadableError

from .builders import NOW, handle, state


def test_state_round_trips_with_its_handle_and_progress() -> None:
    s = state(Phase.RESTORING, work={"intent_at": NOW, "handle": handle(op_id="x")})
    assert RestoreState.from_json(s.to_json()) == s


def test_a_state_from_a_newer_version_is_refused_not_misread() -> None:
    data = state().to_json()
    data["version"] = STATE_VERSION + 1
    with pytest.raises(StateUnreadableError, match="newer version"):
        RestoreState.from_json(data)
    with pytest.raises(StateUnreadableError):
        RestoreState.from_json({})
    with pytest.raises(StateUnreadableError, match="malformed"):
        RestoreState.from_json({"version": 1, "seq": 0})
