"""The pure decisions of managing backups: the listing, the deletion guards, the annotation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_admin.annotations import (
    MAX_ANNOTATIONS,
    Annotation,
    annotate,
    annotation_problem,
    parse_annotation,
)
from backup_admin.catalog import build_catalog
from backup_admin.guards import (
    RestoreInUse,
    newest_pre_update_backup,
    pre_update_refusal,
    restore_refusal,
    scope_types,
    system_backup_refusal,
)
from shared.errors import RequestInvalid
from shared.operations import Operation, OperationKind, OperationStatus, finish, new_operation
from shared.power_platform.models import Backup

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
ENV = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"
OTHER = "2427f2d8-f1b8-4252-907f-66ad0601177e"
SETTLE = timedelta(minutes=10)


def platform_backup(backup_id: str, label: str = "", hours_ago: float = 1, *,
                    system: bool = False) -> Backup:
    point = NOW - timedelta(hours=hours_ago)
    return Backup(backup_id, label, point, point + timedelta(days=28),
                  "System" if system else "ServicePrincipal")


def made(backup: Backup, status: OperationStatus = OperationStatus.SUCCEEDED,
         **fields: Any) -> Operation:
    op = new_operation(OperationKind.BACKUP, ENV, backup.point - timedelta(seconds=5),
                       label=backup.label, backup_id=backup.id, backup_point=backup.point,
                       backup_expiry=backup.expiry, **fields)
    return finish(op, status, backup.point) if status.terminal else replace(op, status=status)


def restore(status: OperationStatus = OperationStatus.QUEUED, *, safety: str | None = None,
            **fields: Any) -> RestoreInUse:
    op = new_operation(OperationKind.RESTORE, fields.pop("target", ENV), NOW, **fields)
    return RestoreInUse(replace(op, status=status), safety_backup_id=safety)


# --- the listing --------------------------------------------------------------------------------


def test_the_catalog_is_newest_first_with_the_ledger_merged_and_restorability() -> None:
    old = platform_backup("m-old", "Before 4.1", hours_ago=30)
    fresh = platform_backup("m-new", "Before 4.2", hours_ago=0.05)  # 3 minutes old
    system = platform_backup("s-1", hours_ago=10, system=True)
    ledger = [replace(made(old, notes="fine", requested_by="pipeline"), label="4.1 (edited)")]

    entries = build_catalog([old, system, fresh], ledger, settle=SETTLE)
    records = [e.to_record(NOW) for e in entries]

    assert [r["backupId"] for r in records] == ["m-new", "s-1", "m-old"]
    assert [r["kind"] for r in records] == ["manual", "system", "manual"]
    assert [r["restorable"] for r in records] == [False, True, True]
    assert records[0]["restorableFrom"] == "2026-11-21T12:07:00.000Z"
    assert records[1]["label"] is None and "operation" not in records[1]
    assert records[2]["operation"] == {"operationId": ledger[0].operation_id,
                                       "label": "4.1 (edited)", "notes": "fine",
                                       "requestedBy": "pipeline"}
    assert records[2]["label"] == "Before 4.1" and records[2]["labelDiffers"] is True


# --- the guards ---------------------------------------------------------------------------------


def test_a_system_backup_is_refused_and_a_manual_one_is_not() -> None:
    refusal = system_backup_refusal(platform_backup("s-1", system=True))
    assert refusal is not None and refusal.code == "SystemBackup"
    assert system_backup_refusal(platform_backup("m-1", "x")) is None


def test_open_restores_protect_what_they_name_by_id_or_by_label() -> None:
    older = platform_backup("m-1", "Nightly", hours_ago=30)
    newer = platform_backup("m-2", "Nightly", hours_ago=5)
    listed = [older, newer]
    by_id = restore(backup_id="M-1")  # ids compare case-insensitively
    by_label = restore(label="Nightly")

    assert restore_refusal(older, ENV, [by_id], listed) is not None
    assert restore_refusal(newer, ENV, [by_id], listed) is None
    # A label resolves to the newest backup with it, as the restore itself will.
    assert restore_refusal(newer, ENV, [by_label], listed) is not None
    assert restore_refusal(older, ENV, [by_label], listed) is None
    # Only open restores from this environment count.
    for other in (restore(OperationStatus.SUCCEEDED, backup_id="m-1"),
                  restore(OperationStatus.CANCELLED, backup_id="m-1"),
                  restore(backup_id="m-1", target=OTHER),
                  restore(backup_id="m-1", target=OTHER, source_environment_id=OTHER)):
        assert restore_refusal(older, ENV, [other], listed) is None
    from_here = restore(OperationStatus.RUNNING, backup_id="m-1", target=OTHER,
                        source_environment_id=ENV)
    refusal = restore_refusal(older, ENV, [from_here], listed)
    assert refusal is not None and refusal.code == "BackupInUse"
    assert from_here.operation.operation_id in refusal.message


def test_a_restore_that_needs_attention_protects_its_backups_as_an_open_one_does() -> None:
    used = platform_backup("m-1", "Nightly", hours_ago=30)
    safety = platform_backup("s-1", "Before restore", hours_ago=1)
    stuck = restore(OperationStatus.NEEDS_ATTENTION, backup_id="m-1", safety="s-1")

    for backup in (used, safety):
        refusal = restore_refusal(backup, ENV, [stuck], [used, safety])
        assert refusal is not None and refusal.code == "BackupInUse"
        assert "NeedsAttention" in refusal.message and "run again" in refusal.message
        assert "ppbackup cancel" not in refusal.message  # it has ended: nothing to cancel
    for ended in (OperationStatus.FAILED, OperationStatus.SUCCEEDED):
        done = restore(ended, backup_id="m-1", safety="s-1")
        assert restore_refusal(used, ENV, [done], [used, safety]) is None


def test_an_open_restore_protects_the_safety_backup_it_made_of_its_target() -> None:
    safety = platform_backup("s-1", "Before restore", hours_ago=0.5)
    running = restore(OperationStatus.RUNNING, backup_id="m-1", safety="S-1")

    refusal = restore_refusal(safety, ENV, [running], [safety])
    assert refusal is not None and refusal.code == "BackupInUse"
    assert running.operation.operation_id in refusal.message
    assert "safety backup" in refusal.message
    # Its target's, not its source's: a restore from here into another environment made its
    # safety backup there.
    elsewhere = restore(OperationStatus.RUNNING, backup_id="m-1", target=OTHER,
                        source_environment_id=ENV, safety="s-1")
    assert restore_refusal(safety, ENV, [elsewhere], [safety]) is None
    assert restore_refusal(safety, ENV, [restore(OperationStatus.CANCELLED, safety="s-1")],
                           [safety]) is None


def test_an_environment_is_judged_by_every_type_a_restore_may_have_switched_it_from() -> None:
    running = replace(restore(OperationStatus.RUNNING), original_type="Production")
    stuck = replace(restore(OperationStatus.NEEDS_ATTENTION), original_type="Production")
    ended = replace(restore(OperationStatus.SUCCEEDED), original_type="Production")
    into_other = replace(restore(OperationStatus.RUNNING, target=OTHER),
                         original_type="Production")

    assert scope_types(ENV, "Sandbox", None, [running]) == ("Sandbox", "Production")
    assert scope_types(ENV, "Sandbox", None, [stuck]) == ("Sandbox", "Production")
    assert scope_types(ENV.upper(), "Sandbox", "Production", []) == ("Sandbox", "Production")
    assert scope_types(ENV, "Sandbox", None, [ended, into_other]) == ("Sandbox",)
    assert scope_types(ENV, "", None, []) == ("",)  # BACKUP_SCOPE by id still applies


def test_the_newest_pre_update_backup_still_on_the_platform_is_protected() -> None:
    gone = platform_backup("m-gone", "Before 4.3", hours_ago=1)
    newest = platform_backup("m-2", "Before 4.2", hours_ago=5)
    older = platform_backup("m-1", "Before 4.1", hours_ago=30)
    failed = platform_backup("m-f", "Before 4.4", hours_ago=0.5)
    listed = [newest, older, failed]  # "m-gone" expired or was deleted
    ledger = [made(gone), made(newest), made(older), made(failed, OperationStatus.FAILED)]

    protected = newest_pre_update_backup(ledger, listed)
    assert protected is not None and protected.backup_id == "m-2"
    refusal = pre_update_refusal(newest, protected, "Contoso Prod")
    assert refusal is not None and refusal.code == "NewestPreUpdateBackup"
    assert "Contoso Prod" in refusal.message and "Before 4.2" in refusal.message
    assert pre_update_refusal(older, protected, "Contoso Prod") is None
    assert newest_pre_update_backup([], listed) is None


def test_a_ledger_read_cut_off_clears_only_a_backup_it_saw_a_newer_one_than() -> None:
    newest = platform_backup("m-2", "Before 4.2", hours_ago=5)
    older = platform_backup("m-1", "Before 4.1", hours_ago=30)
    seen = newest_pre_update_backup([made(newest)], [newest, older])

    assert pre_update_refusal(older, seen, "Contoso Prod", whole=False) is None
    for backup, found in ((older, None), (newest, None)):
        refusal = pre_update_refusal(backup, found, "Contoso Prod", whole=False)
        assert refusal is not None and refusal.code == "PreUpdateBackupUnchecked"
        assert "Contoso Prod" in refusal.message and "BACKUP_SCOPE" in refusal.message
    assert pre_update_refusal(older, None, "Contoso Prod") is None  # read whole: nothing made


# --- the annotation -----------------------------------------------------------------------------


@given(st.dictionaries(st.text(max_size=12), st.none() | st.booleans() | st.integers()
                       | st.text(max_size=300), max_size=4))
def test_parsing_either_gives_an_annotation_or_a_400_naming_fields(body: dict[str, Any]) -> None:
    try:
        annotation = parse_annotation(body)
    except RequestInvalid as error:
        assert error.fields and error.message
        return
    assert set(body) <= {"label", "notes"} and body
    assert annotation.set_label == ("label" in body)
    assert annotation.set_notes == ("notes" in body)
    if annotation.set_label:
        assert annotation.label and annotation.label == body["label"].strip()


@pytest.mark.parametrize("body", [[], "notes", 3, None])
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    with pytest.raises(RequestInvalid):
        parse_annotation(body)


@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=30))
def test_every_edit_is_kept_newest_last_and_repeats_change_nothing(notes: list[str]) -> None:
    op = made(platform_backup("m-1", "L"))
    applied = 0
    for i, text in enumerate(notes):
        changed = annotate(op, Annotation(notes=text, set_notes=True), by=f"u{i}",
                           now=NOW + timedelta(minutes=i))
        if text == op.notes:
            assert changed is None
            continue
        assert changed is not None
        applied += 1
        edits = changed.options["annotations"]
        assert edits[-1]["changes"] == {"notes": {"from": op.notes, "to": text}}
        assert edits[-1]["by"] == f"u{i}"
        assert len(edits) == min(applied, MAX_ANNOTATIONS)
        op = changed
    assert op.label == "L"


def test_only_ended_backups_can_be_annotated() -> None:
    backup = platform_backup("m-1", "L")
    assert annotation_problem(made(backup)) is None
    assert annotation_problem(made(backup, OperationStatus.FAILED)) is None
    not_a_backup = annotation_problem(restore().operation)
    assert not_a_backup is not None and not_a_backup.code == "NotABackup"
    assert "not a backup" in not_a_backup.message
    running = annotation_problem(made(backup, OperationStatus.RUNNING))
    assert running is not None and running.code == "BackupStillRunning"
    assert "still Running" in running.message


# --- the deletion record ------------------------------------------------------------------------


def test_a_deletion_records_the_backup_and_ends_by_the_platforms_answer() -> None:
    from backup_admin.deletion import GIVE_UP_AFTER, deleted, new_deletion, refused, unreachable
    from shared.errors import Transient, ValidationFailed

    backup = platform_backup("m-1", "Before 4.2", hours_ago=3)
    ledger = replace(made(backup), label="4.2 (edited)")
    op = new_deletion(ENV, backup, ledger, requested_by="maria", now=NOW)
    assert (op.kind, op.status, op.backup_id, op.label, op.backup_point, op.requested_by) == (
        OperationKind.BACKUP_DELETE, OperationStatus.RUNNING, "m-1", "Before 4.2", backup.point,
        "maria")
    assert op.options == {"backupKind": "manual", "backupOperationId": ledger.operation_id,
                          "ledgerLabel": "4.2 (edited)"}
    assert op.steps[0].name == "delete" and op.steps[0].started_at == NOW

    done = deleted(op, NOW + timedelta(seconds=2), ("req-1",))
    assert done.status is OperationStatus.SUCCEEDED and done.steps[0].request_ids == ("req-1",)

    no = refused(op, NOW, ValidationFailed("not allowed", error_code="Nope"), ())
    assert no.status is OperationStatus.FAILED and no.error is not None
    assert no.error.code == "Nope" and "not allowed" in no.error.message

    outage = Transient("503 from the platform")
    waiting = unreachable(op, NOW + timedelta(minutes=5), outage, ())
    assert waiting.status is OperationStatus.RUNNING
    assert "tries again" in (waiting.steps[0].detail or "")
    ended = unreachable(waiting, NOW + GIVE_UP_AFTER, outage, ())
    assert ended.status is OperationStatus.FAILED
    assert ended.error is not None and "may still exist" in ended.error.message
