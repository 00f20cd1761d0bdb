"""Delivery problems noted on the operation: once each, bounded."""

from __future__ import annotations

from datetime import timedelta

from notifications.failures import MAX_RECORDED, OPTION_KEY, DeliveryProblem, with_problems
from tests.unit.notifications.builders import T0, backup


def problem(i: int, target: str = "teams") -> DeliveryProblem:
    return DeliveryProblem("backup.succeeded", f"event-{i}", target, "HTTP 404: x" * 50,
                           T0 + timedelta(minutes=i), 404)


def test_a_problem_is_noted_once() -> None:
    op = backup()
    noted = with_problems(op, [problem(1)])
    assert noted is not None
    [entry] = noted.options[OPTION_KEY]
    assert entry == {"event": "backup.succeeded", "eventId": "event-1", "target": "teams",
                     "reason": ("HTTP 404: x" * 50)[:200], "at": "2026-11-21T01:46:00.000Z",
                     "httpStatus": 404}
    assert with_problems(noted, [problem(1)]) is None
    both = with_problems(noted, [problem(1), problem(1, "webhook")])
    assert both is not None
    assert len(both.options[OPTION_KEY]) == 2


def test_the_list_keeps_only_the_newest_entries() -> None:
    op = backup()
    for i in range(MAX_RECORDED + 5):
        updated = with_problems(op, [problem(i)])
        assert updated is not None
        op = updated
    entries = op.options[OPTION_KEY]
    assert len(entries) == MAX_RECORDED
    assert entries[-1]["eventId"] == f"event-{MAX_RECORDED + 4}"
    assert op.to_record()["options"][OPTION_KEY] == entries
