"""The stored state's versioning, and the CLI's follow rendering (pure parts)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest

from ppbackup.follow import Follower
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


def _record(status: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {"operationId": "restore-x", "kind": "restore", "status": status,
            "environmentId": "e", "createdAt": "2026-11-20T09:00:00Z", "steps": steps}


def test_follow_appends_one_line_per_change_with_elapsed_time() -> None:
    records = iter([
        _record("Running", [{"name": "validate", "status": "Running",
                             "startedAt": "2026-11-20T09:00:00Z", "detail": "Checking."},
                            {"name": "restore", "status": "Pending"}]),
        _record("Running", [{"name": "validate", "status": "Running",
                             "startedAt": "2026-11-20T09:00:00Z", "detail": "Checking."},
                            {"name": "restore", "status": "Pending"}]),
        _record("Succeeded", [{"name": "validate", "status": "Succeeded",
                               "startedAt": "2026-11-20T09:00:00Z",
                               "endedAt": "2026-11-20T09:01:00Z", "detail": "Valid."},
                              {"name": "restore", "status": "Running",
                               "startedAt": "2026-11-20T09:01:00Z",
                               "detail": "Restoring (2 of 4 stages done)."}]),
    ])
    out = io.StringIO()
    ticks = iter(range(100))
    follower = Follower(lambda: next(records), out=out, live=False, sleep=lambda s: None,
                        clock=lambda: NOW + timedelta(minutes=next(ticks)))
    assert follower.run()["status"] == "Succeeded"
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("restore restore-x: Running")
    assert "validate Running" in lines[1]
    assert len([x for x in lines if "validate" in x]) == 2  # the unchanged poll printed nothing
    assert "validate Succeeded in 1m00s: Valid." in out.getvalue()
    assert "2 of 4 stages done" in lines[-1]
    assert all(line.startswith("[") for line in lines)


def test_follow_on_a_terminal_redraws_in_place() -> None:
    records = iter([_record("Running", [{"name": "validate", "status": "Running"}]),
                    _record("Succeeded", [{"name": "validate", "status": "Succeeded"}])])
    out = io.StringIO()
    Follower(lambda: next(records), out=out, live=True, sleep=lambda s: None,
             clock=lambda: NOW).run()
    assert "\x1b[" in out.getvalue()
    assert out.getvalue().count("Restore restore-x") == 2
