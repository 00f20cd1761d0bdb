from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from notifications import (
    BackupExpiringAlert,
    BackupRoundSummary,
    OperationEvent,
    Outcome,
    RoundFailure,
    StillSandboxAlert,
    event_for,
)
from shared.operations import Operation, OperationKind, OperationStatus
from tests.unit.notifications.builders import (
    ALL_DONE,
    ENV_ID,
    T0,
    backup,
    restore,
    round_summary,
)


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (OperationStatus.SUCCEEDED, "backup.succeeded"),
        (OperationStatus.FAILED, "backup.failed"),
        (OperationStatus.REJECTED, "backup.rejected"),
        (OperationStatus.NEEDS_ATTENTION, "backup.needs_attention"),
        (OperationStatus.CANCELLED, "backup.cancelled"),
    ],
)
def test_every_terminal_backup_status_has_an_event(status: OperationStatus, event: str) -> None:
    found = event_for(backup(status))
    assert found is not None
    assert found.event == event


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (OperationStatus.RUNNING, "restore.started"),
        (OperationStatus.SUCCEEDED, "restore.succeeded"),
        (OperationStatus.FAILED, "restore.failed"),
        (OperationStatus.REJECTED, "restore.rejected"),
        (OperationStatus.CANCELLED, "restore.cancelled"),
        (OperationStatus.NEEDS_ATTENTION, "restore.needs_attention"),
    ],
)
def test_restore_statuses_map_to_events(status: OperationStatus, event: str) -> None:
    found = event_for(restore(ALL_DONE, status=status))
    assert found is not None
    assert found.event == event


@pytest.mark.parametrize(
    "op",
    [
        restore(status=OperationStatus.QUEUED),
        backup(OperationStatus.QUEUED),
        backup(OperationStatus.RUNNING),  # a round starts dozens: the summary covers them
    ],
)
def test_no_event_for_operations_not_worth_announcing(op: Operation) -> None:
    assert event_for(op) is None


def test_an_outcome_that_contradicts_the_status_is_refused() -> None:
    with pytest.raises(ValueError, match="does not announce"):
        OperationEvent(restore(ALL_DONE, status=OperationStatus.FAILED), Outcome.SUCCEEDED)
    with pytest.raises(ValueError, match="does not announce"):
        OperationEvent(backup(OperationStatus.RUNNING), Outcome.STARTED)


def test_outcome_given_as_text_is_accepted() -> None:
    event = OperationEvent(restore(ALL_DONE, status=OperationStatus.FAILED), "failed")  # type: ignore[arg-type]
    assert event.outcome is Outcome.FAILED


def test_event_id_is_the_same_for_the_same_event_built_twice() -> None:
    first = event_for(restore(ALL_DONE, status=OperationStatus.SUCCEEDED))
    # Built again later, from a re-read record with a newer updatedAt: still the same event.
    again = event_for(replace(restore(ALL_DONE, status=OperationStatus.SUCCEEDED),
                              updated_at=T0 + timedelta(days=1)))
    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id
    assert uuid.UUID(first.event_id)


def test_event_ids_differ_between_outcomes_and_operations() -> None:
    ids = {
        OperationEvent(restore(ALL_DONE, status=status), outcome).event_id
        for status, outcome in [
            (OperationStatus.RUNNING, Outcome.STARTED),
            (OperationStatus.SUCCEEDED, Outcome.SUCCEEDED),
            (OperationStatus.FAILED, Outcome.FAILED),
            (OperationStatus.NEEDS_ATTENTION, Outcome.NEEDS_ATTENTION),
        ]
    }
    assert len(ids) == 4
    other = replace(restore(ALL_DONE, status=OperationStatus.FAILED), operation_id="restore-x")
    assert OperationEvent(other, Outcome.FAILED).event_id not in ids


def test_round_event_id_depends_on_the_round_only() -> None:
    assert round_summary(3).event_id == round_summary(5, pending=2).event_id
    assert round_summary(3).event_id != round_summary(3, round_id="round-2").event_id
    assert round_summary(0).event == "backup_round.finished"


def test_round_failures_are_kept_as_named_tuples() -> None:
    summary = round_summary(2)
    assert summary.failures[0] == RoundFailure("env-00000", "Environment 0", summary.failures[0][2])
    assert summary.failures[1].environment_name == "Environment 1"


@pytest.mark.parametrize(
    ("total", "succeeded", "pending"), [(5, 3, 0), (3, 3, 1), (-1, -1, 0), (2, 3, -1)]
)
def test_round_counts_must_add_up(total: int, succeeded: int, pending: int) -> None:
    with pytest.raises(ValueError, match="round"):
        BackupRoundSummary("r", T0, total, succeeded, [("e", None, "boom")], pending, T0, T0)


def test_naive_timestamps_are_refused() -> None:
    naive = datetime(2026, 1, 1)  # naive on purpose
    with pytest.raises(ValueError, match="timezone"):
        BackupRoundSummary("r", naive, 0, 0, [], 0, T0, T0)
    with pytest.raises(ValueError, match="timezone"):
        BackupExpiringAlert(ENV_ID, "Contoso", "label", None, naive)


def test_still_sandbox_alert_ids_are_stable_across_time_zones_and_differ_per_reminder() -> None:
    op = restore(status=OperationStatus.NEEDS_ATTENTION)
    alert = StillSandboxAlert(op, ENV_ID, "Contoso Prod", T0)
    same_instant = T0.astimezone(timezone(timedelta(hours=2)))
    assert alert.event == "alert.still_sandbox"
    assert alert.event_id == StillSandboxAlert(op, ENV_ID.upper(), "Renamed", same_instant).event_id
    assert alert.event_id != StillSandboxAlert(op, ENV_ID, "Contoso Prod", T0, reminder=1).event_id
    assert alert.event_id != event_for(op).event_id  # type: ignore[union-attr]


def test_backup_expiring_alert() -> None:
    alert = BackupExpiringAlert(ENV_ID, "Contoso Prod", "Before 4.2", "b-1", T0)
    assert alert.event == "alert.backup_expiring"
    assert alert.event_id == BackupExpiringAlert(ENV_ID, None, "Before 4.2", "b-1", T0).event_id
    later = BackupExpiringAlert(ENV_ID, "Contoso Prod", "Before 4.2", "b-1", T0 + timedelta(1))
    assert alert.event_id != later.event_id
    with pytest.raises(ValueError, match="label or id"):
        BackupExpiringAlert(ENV_ID, "Contoso Prod", None, None, T0)


def test_events_are_frozen() -> None:
    event = round_summary(1)
    with pytest.raises(AttributeError):
        event.round_id = "other"  # type: ignore[misc]


def test_kinds_cover_the_model() -> None:
    # A new kind or status in the model must be given an event deliberately.
    # backup_delete is recorded in the ledger but announces nothing (README, Managing backups).
    assert {k.value for k in OperationKind} == {
        "backup", "restore", "backup_delete", "data_backup", "data_restore"}
    terminal = [s for s in OperationStatus if s.terminal]
    assert all(event_for(restore(ALL_DONE, status=s)) for s in terminal)
