"""When the still-Sandbox and backup-expiring alerts are due (pure decisions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from notifications.alert_rules import (
    EXPIRY_WARNING,
    STILL_SANDBOX_AFTER,
    PlatformBackup,
    expiring_alert,
    newest_backup,
    sandbox_suspects,
    still_sandbox_alert,
)
from shared.operations import Operation, OperationKind, OperationStatus, StepStatus, new_operation
from tests.unit.notifications.builders import (
    ALL_DONE,
    ENV_ID,
    SWITCHED_AND_RESTORED,
    T0,
    backup,
    restore,
)

LEFT_AS_SANDBOX = {**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED}


def _left_behind() -> tuple[Operation, datetime]:
    """A restore that failed to switch back, and when its restore step ended."""
    op = restore(LEFT_AS_SANDBOX, status=OperationStatus.NEEDS_ATTENTION)
    ended = op.step("restore").ended_at
    assert ended is not None
    return op, ended


def test_a_restore_that_left_its_target_sandbox_is_a_suspect_after_the_grace() -> None:
    op, ended = _left_behind()
    assert sandbox_suspects([op], ended + STILL_SANDBOX_AFTER - timedelta(seconds=1)) == []
    [suspect] = sandbox_suspects([op], ended + STILL_SANDBOX_AFTER)
    assert suspect.since == op.step("switch_to_sandbox").ended_at
    assert suspect.due == ended + STILL_SANDBOX_AFTER


def test_restores_that_switched_back_or_never_switched_are_not_suspects() -> None:
    later = T0 + timedelta(days=1)
    assert sandbox_suspects([restore(ALL_DONE, status=OperationStatus.SUCCEEDED)], later) == []
    into_sandbox = restore({"validate": StepStatus.SUCCEEDED, "switch_to_sandbox":
                            StepStatus.SKIPPED, "restore": StepStatus.FAILED},
                           status=OperationStatus.FAILED)
    assert sandbox_suspects([into_sandbox], later) == []


def test_a_restore_still_restoring_is_not_a_suspect() -> None:
    running = restore({**SWITCHED_AND_RESTORED, "restore": StepStatus.RUNNING})
    assert sandbox_suspects([running], T0 + timedelta(days=2)) == []


def test_a_timed_out_restore_counts_from_the_operation_end() -> None:
    timed_out = restore({**SWITCHED_AND_RESTORED, "restore": StepStatus.RUNNING},
                        status=OperationStatus.NEEDS_ATTENTION)
    assert timed_out.ended_at is not None
    [suspect] = sandbox_suspects([timed_out], timed_out.ended_at + STILL_SANDBOX_AFTER)
    assert suspect.due == timed_out.ended_at + STILL_SANDBOX_AFTER


def test_only_the_newest_restore_that_changed_the_type_counts() -> None:
    old, ended = _left_behind()
    newer = replace(restore(ALL_DONE, status=OperationStatus.SUCCEEDED),
                    operation_id="restore-20261122T014500000Z-aaaaaa",
                    created_at=old.created_at + timedelta(days=1))
    assert sandbox_suspects([old, newer], ended + timedelta(days=2)) == []
    waiting = replace(restore(status=OperationStatus.REJECTED),
                      operation_id="restore-20261122T014500000Z-bbbbbb",
                      created_at=old.created_at + timedelta(days=1))
    assert len(sandbox_suspects([waiting, old], ended + timedelta(days=2))) == 1


def test_the_platform_decides_and_reminders_are_daily() -> None:
    op, ended = _left_behind()
    [suspect] = sandbox_suspects([op], ended + STILL_SANDBOX_AFTER)
    assert still_sandbox_alert(suspect, "Production", None, suspect.due) is None
    first = still_sandbox_alert(suspect, "Sandbox", "Contoso Prod", suspect.due)
    same_day = still_sandbox_alert(suspect, "Sandbox", "Contoso Prod",
                                   suspect.due + timedelta(hours=23))
    next_day = still_sandbox_alert(suspect, "Sandbox", "Contoso Prod",
                                   suspect.due + timedelta(hours=24))
    assert first is not None
    assert same_day is not None
    assert next_day is not None
    assert first.event_id == same_day.event_id != next_day.event_id
    assert (first.reminder, next_day.reminder) == (0, 1)


def test_a_last_backup_expiring_within_a_day_alerts() -> None:
    op = replace(backup(backup_id="b-1", backup_point=T0), backup_expiry=T0 + timedelta(days=7))
    expiry = op.backup_expiry
    assert expiry is not None
    too_early = expiry - EXPIRY_WARNING - timedelta(minutes=1)
    assert expiring_alert(op, "Contoso Prod", too_early) is None
    alert = expiring_alert(op, "Contoso Prod", expiry - timedelta(hours=5))
    assert alert is not None
    assert (alert.backup_id, alert.expires_at, alert.environment_name) == ("b-1", expiry,
                                                                            "Contoso Prod")
    assert expiring_alert(op, None, expiry) is None  # expired already: too late to warn
    # Same backup, any hour of its last day: one event.
    later = expiring_alert(op, "Contoso Prod", expiry - timedelta(hours=1))
    assert later is not None
    assert later.event_id == alert.event_id


def test_a_newer_backup_on_the_platform_or_a_vanished_one_silences_the_alert() -> None:
    op = replace(backup(backup_id="b-1", backup_point=T0), backup_expiry=T0 + timedelta(days=7))
    now = T0 + timedelta(days=6, hours=20)
    mine = PlatformBackup("b-1", T0, op.backup_expiry)
    assert expiring_alert(op, None, now, [mine]) is not None
    newer = PlatformBackup("b-2", T0 + timedelta(days=6), T0 + timedelta(days=13))
    assert expiring_alert(op, None, now, [mine, newer]) is None
    assert expiring_alert(op, None, now, []) is None


def test_newest_backup_picks_the_latest_succeeded_one() -> None:
    old = replace(backup(backup_id="b-1", backup_point=T0), backup_expiry=T0 + timedelta(days=7))
    new = replace(old, operation_id="backup-20261122T014500000Z-aaaaaa", backup_id="b-2",
                  backup_point=T0 + timedelta(days=1))
    failed = replace(backup(OperationStatus.FAILED), operation_id="backup-20261123T014500000Z-b")
    assert newest_backup([old, new, failed]) == new
    assert newest_backup([failed]) is None
    assert newest_backup([new_operation(OperationKind.BACKUP, ENV_ID, T0)]) is None
