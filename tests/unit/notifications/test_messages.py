"""The outbox's decision (which checkpoint sends a message) and the message format."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications import event_for
from notifications.events import Outcome, operation_event_id, round_event_id
from notifications.messages import (
    DataOverdueNotice,
    Envelope,
    ExpiringNotice,
    OperationNotice,
    RoundNotice,
    StillSandboxNotice,
    Target,
    current_event,
    from_payload,
    operation_notice,
    timer_round,
    to_payload,
)
from shared.operations import OperationStatus
from tests.unit.notifications.builders import ALL_DONE, ENV_ID, T0, backup, restore

QUEUED = OperationStatus.QUEUED
RUNNING = OperationStatus.RUNNING


def test_a_status_change_into_a_terminal_status_sends_one_notice() -> None:
    before = restore(ALL_DONE, status=RUNNING)
    after = restore(ALL_DONE, status=OperationStatus.SUCCEEDED)
    notice = operation_notice(before, after)
    assert notice == OperationNotice(
        event="restore.succeeded",
        event_id=operation_event_id(after.kind, Outcome.SUCCEEDED, after.operation_id),
        operation_id=after.operation_id,
        occurred_at=after.ended_at or T0,
    )
    event = event_for(after)
    assert event is not None
    assert notice.event_id == event.event_id


def test_checkpoints_that_keep_the_status_send_nothing() -> None:
    before = restore(status=RUNNING)
    after = replace(restore(ALL_DONE, status=RUNNING), updated_at=T0 + timedelta(hours=3))
    assert operation_notice(before, after) is None


def test_a_restore_announces_its_start_once_from_queued() -> None:
    queued = restore(status=QUEUED)
    running = restore(status=RUNNING)
    notice = operation_notice(queued, running)
    assert notice is not None
    assert notice.event == "restore.started"
    assert operation_notice(None, running) is not None  # created directly as Running
    assert operation_notice(running, running) is None


def test_a_backup_start_is_not_announced() -> None:
    assert operation_notice(backup(QUEUED), backup(RUNNING)) is None


@pytest.mark.parametrize("status", [
    OperationStatus.FAILED, OperationStatus.REJECTED, OperationStatus.CANCELLED,
    OperationStatus.NEEDS_ATTENTION, OperationStatus.SUCCEEDED,
])
def test_every_terminal_status_is_announced(status: OperationStatus) -> None:
    notice = operation_notice(None if status is OperationStatus.REJECTED else backup(RUNNING),
                              backup(status))
    assert notice is not None
    assert notice.outcome.value in notice.event


def test_timer_backups_carry_their_round() -> None:
    op = backup(request_id=f"timer:20261121T010000Z:{ENV_ID}")
    assert timer_round(op) == ("20261121T010000Z", ENV_ID)
    notice = operation_notice(backup(RUNNING), op)
    assert notice is not None
    assert (notice.round_id, notice.environment_id) == ("20261121T010000Z", ENV_ID)
    assert timer_round(backup(request_id="pipeline-42")) is None
    assert timer_round(restore(request_id=f"timer:20261121T010000Z:{ENV_ID}")) is None


def test_a_notice_is_superseded_when_the_record_moved_on() -> None:
    notice = operation_notice(restore(status=QUEUED), restore(status=RUNNING))
    assert notice is not None
    assert current_event(notice, restore(ALL_DONE, status=RUNNING)) is not None
    assert current_event(notice, restore(ALL_DONE, status=OperationStatus.SUCCEEDED)) is None


def _envelopes() -> list[Envelope]:
    op_notice = OperationNotice("backup.failed", "e1", "backup-20261121T014500000Z-4d5e6f", T0,
                                "20261121T010000Z", ENV_ID)
    return [
        Envelope(op_notice),
        Envelope(op_notice, (Target.WEBHOOK,), 3),
        Envelope(RoundNotice(round_event_id("20261121T010000Z"), "20261121T010000Z")),
        Envelope(StillSandboxNotice("e2", "restore-20261121T014500000Z-1a2b3c", ENV_ID,
                                    "Contoso Prod", T0, 2, T0 + timedelta(hours=1))),
        Envelope(ExpiringNotice("e3", None, ENV_ID, None, "Pre-update", "b-1",
                                T0 + timedelta(days=1), T0), (Target.TEAMS,)),
        Envelope(RoundNotice(round_event_id("data-20261121T020000Z"), "data-20261121T020000Z")),
        Envelope(DataOverdueNotice("e4", ENV_ID, "Contoso Prod", T0 - timedelta(days=3),
                                   T0 - timedelta(days=3), T0, T0 + timedelta(hours=1))),
        Envelope(DataOverdueNotice("e5", ENV_ID, None, None, T0, T0, T0)),
    ]


@pytest.mark.parametrize("envelope", _envelopes())
def test_messages_round_trip(envelope: Envelope) -> None:
    assert from_payload(to_payload(envelope)) == envelope


def test_messages_hold_ids_not_records() -> None:
    payload = to_payload(_envelopes()[0])
    assert set(payload) == {"v", "type", "event", "eventId", "operationId", "occurredAt",
                            "roundId", "environmentId"}


@given(st.dictionaries(st.sampled_from(["type", "eventId", "event", "operationId", "attempt",
                                        "targets", "occurredAt", "roundId"]),
                       st.one_of(st.none(), st.text(max_size=5), st.integers(-3, 3),
                                 st.lists(st.text(max_size=3), max_size=2))))
def test_malformed_messages_raise_value_error_only(payload: dict[str, object]) -> None:
    with contextlib.suppress(ValueError):
        from_payload(payload)
