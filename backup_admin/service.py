"""The use cases of managing backups, with their I/O (the platform, the ledger): list an
environment's backups, edit a backup's label and notes, delete a manual backup.

Decisions are the pure functions of `catalog`, `guards`, `annotations` and `deletion`; this
module reads what they need and writes what they decide, every write ETag-guarded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from backup_admin.annotations import Annotation, annotate, annotation_problem
from backup_admin.catalog import build_catalog, ledger_horizon
from backup_admin.deletion import (
    RETRY_SECONDS,
    deleted,
    new_deletion,
    refused,
    unreachable,
    withdrawn,
)
from backup_admin.guards import (
    Refusal,
    RestoreInUse,
    newest_pre_update_backup,
    pre_update_refusal,
    restore_refusal,
    scope_types,
    system_backup_refusal,
)
from engine.config import EngineConfig
from restore_orchestrator.state import RestoreState, StateUnreadableError
from shared.errors import (
    BackupNotFound,
    Busy,
    ConcurrencyConflict,
    OperationNotFound,
    OutcomeUnknown,
    PowerPlatformError,
    RequestInvalid,
    RequestRefused,
    Throttled,
    Transient,
)
from shared.inputs import is_guid
from shared.intake import admit
from shared.operations import Operation, OperationKind, OperationStatus, to_millis
from shared.power_platform import Backup, recording_calls
from shared.power_platform._ids import validate_opaque_id
from shared.runtime import AppContext
from shared.storage.claims import claims_for
from shared.storage.history import MAX_PAGE_SIZE, StoredOperation
from shared.storage.locks import locks_for

log = logging.getLogger(__name__)

_LEDGER_PAGE = 200
# 2,000 succeeded backups of one environment inside its retention window: plenty; a read cut
# off there refuses what it cannot clear (PreUpdateBackupUnchecked).
_LEDGER_PAGES = 10
_WRITE_ROUNDS = 5
_DELETION_LINKS = 20  # failed deletions of one backup before a new one is refused
_UNREACHABLE = (Transient, Throttled, Busy, OutcomeUnknown)
# The platform's clock (a backup's point) and the app's (a restore's creation) may disagree.
_CLOCKS_APART = timedelta(days=1)


# --- listing ------------------------------------------------------------------------------------


def list_backups(ctx: AppContext, environment_id: str) -> dict[str, Any]:
    """`GET /api/environments/{id}/backups`: every backup the platform holds, newest first."""
    env = parse_environment_id(environment_id)
    backups = ctx.platform.list_backups(env)
    # Every status: the listing shows what the ledger knows of a backup, and a cut-off read
    # only leaves the oldest without their notes.
    ledger = _ledger_backups(ctx, env, since=ledger_horizon(backups))
    now = to_millis(ctx.clock())
    entries = build_catalog(backups, ledger.operations, settle=EngineConfig().backup_settle)
    return {"environmentId": env, "backups": [e.to_record(now) for e in entries]}


@dataclass(frozen=True, slots=True)
class _Ledger:
    operations: list[Operation]
    whole: bool  # read back to the horizon (not cut off by the page bound)


def _ledger_backups(
    ctx: AppContext, env: str, *, since: datetime | None,
    status: OperationStatus | None = None,
) -> _Ledger:
    """This app's backup operations of `env` (those with `status`, if given), newest first,
    back to `since`."""
    if since is None:
        return _Ledger([], whole=True)
    found: list[Operation] = []
    continuation: str | None = None
    for _ in range(_LEDGER_PAGES):
        page = ctx.history.list(environment_id=env, kind=OperationKind.BACKUP, status=status,
                                limit=_LEDGER_PAGE, continuation=continuation)
        found += page.items
        continuation = page.continuation
        if continuation is None or (page.items and page.items[-1].created_at < since):
            return _Ledger(found, whole=True)
    return _Ledger(found, whole=False)


# --- annotating ---------------------------------------------------------------------------------


def annotate_backup(
    ctx: AppContext, operation_id: str, annotation: Annotation, *, by: str
) -> Operation:
    """`PATCH /api/operations/{id}`: edit the ledger's label and notes of a backup; the edit and
    who made it are kept in the record's history. A repeated edit changes nothing."""
    for _ in range(_WRITE_ROUNDS):
        stored = ctx.history.get(operation_id)
        problem = annotation_problem(stored.operation)
        if problem is not None:
            raise RequestRefused(problem.code, problem.message)
        changed = annotate(stored.operation, annotation, by=by, now=to_millis(ctx.clock()))
        if changed is None:
            return stored.operation
        try:
            written = ctx.history.update(stored, changed)
        except ConcurrencyConflict:
            continue  # someone else wrote meanwhile: apply the edit to what they wrote
        log.info("backup.annotated", extra={"operationId": operation_id, "by": by})
        return written.operation
    raise ConcurrencyConflict(f"operation {operation_id} kept changing while it was edited; "
                              "try again")


# --- deleting -----------------------------------------------------------------------------------


def delete_backup(
    ctx: AppContext, environment_id: str, backup_id: str, *, requested_by: str
) -> Operation:
    """`DELETE /api/environments/{id}/backups/{backupId}`: delete a manual backup, as an
    operation of kind `backup_delete` on record. Refused (RequestRefused, 409) for a system
    backup, one a Queued, Running or NeedsAttention restore uses, and the newest pre-update
    backup of an environment in BACKUP_SCOPE. The same request again finds the same operation."""
    env = parse_environment_id(environment_id)
    wanted = parse_backup_id(backup_id)
    backups = ctx.platform.list_backups(env)
    backup = next((b for b in backups if b.has_id(wanted)), None)
    if backup is None:
        earlier = _earlier_deletion(ctx, env, wanted)
        if earlier is not None:
            return _carry_out(ctx, ctx.history.get(earlier.operation_id)).operation
        raise BackupNotFound(
            f"Environment {env} has no backup {wanted}: it may have expired or been deleted "
            f"(ppbackup backups {env} lists what it has)."
        )
    ledger = _succeeded_backups(ctx, env, backups)
    refusal = _protection(ctx, env, backup, backups, ledger)
    if refusal is not None:
        log.info("backup.delete_refused", extra={"environmentId": env, "backupId": backup.id,
                                                 "reason": refusal.code})
        raise RequestRefused(refusal.code, refusal.message)
    made_by = next((op for op in ledger.operations
                    if backup.has_id(op.backup_id)), None)
    candidate = new_deletion(env, backup, made_by, requested_by=requested_by,
                             now=to_millis(ctx.clock()))
    stored = _admit_deletion(ctx, _deletion_key(env, backup.id), candidate)
    return _carry_out(ctx, stored).operation


def resume_deletion(ctx: AppContext, stored: StoredOperation) -> Operation:
    """The watchdog's re-drive of a deletion the platform did not answer (or a crash left).
    The guards run again first: a restore may have named the backup since it was admitted,
    and then the deletion ends Failed with the reason a new request would get."""
    operation = stored.operation
    if operation.status.terminal:
        return operation
    env, wanted = operation.environment_id, operation.backup_id or ""
    try:
        backups = ctx.platform.list_backups(env)
        backup = next((b for b in backups if b.has_id(wanted)), None)
        # A backup already gone protects nothing: the delete's 404 then ends it Succeeded.
        refusal = None if backup is None else _protection(
            ctx, env, backup, backups, _succeeded_backups(ctx, env, backups))
    except PowerPlatformError as error:
        # Unchecked is not deletable: the read is retried like the delete, within the hour.
        return _record(ctx, stored, _unanswered(error, ())).operation
    if refusal is not None:
        log.info("backup.delete_withdrawn", extra={"operationId": operation.operation_id,
                                                   "backupId": wanted, "reason": refusal.code})
        return _record(ctx, stored, lambda current, now: withdrawn(
            current, now, refusal.code, refusal.message)).operation
    return _carry_out(ctx, stored).operation


def _succeeded_backups(ctx: AppContext, env: str, backups: Sequence[Backup]) -> _Ledger:
    """What the pre-update guard weighs: only Succeeded backups made one, so the bounded read
    is not spent on rejected or failed requests."""
    return _ledger_backups(ctx, env, since=ledger_horizon(backups),
                           status=OperationStatus.SUCCEEDED)


def _protection(
    ctx: AppContext, env: str, backup: Backup, backups: Sequence[Backup], ledger: _Ledger,
) -> Refusal | None:
    restores = _restores_in_use(ctx, env, since=backup.point - _CLOCKS_APART)
    refusal = system_backup_refusal(backup) or restore_refusal(backup, env, restores, backups)
    if refusal is None:
        newest = newest_pre_update_backup(ledger.operations, backups)
        if not ledger.whole or (newest is not None
                                and backup.has_id(newest.backup_id)):
            environment = ctx.platform.get_environment(env)
            types = scope_types(env, environment.type or "", locks_for(ctx).original_type(env),
                                restores)
            if any(ctx.settings.backup_scope.includes(env, t) for t in types):
                refusal = pre_update_refusal(backup, newest, environment.display_name or env,
                                             whole=ledger.whole)
    return refusal


def _restores_in_use(ctx: AppContext, env: str, *, since: datetime) -> list[RestoreInUse]:
    """Restores not yet ended, tenant-wide (the unfinished-operations index, then point reads:
    the index may lag behind a record), and those that ended NeedsAttention created `since`
    (a status filter on the tenant-wide listing, bounded by creation time: a restore that began
    before a backup existed did not run from it, nor make it as its safety backup; the type it
    may have left its target in is kept apart, in the Locks table). The state of one is read
    only where it may name a backup of `env` that its record does not."""
    found = []
    for entry in ctx.history.list_active():
        if entry.kind is not OperationKind.RESTORE:
            continue
        try:
            stored = ctx.history.get(entry.operation_id)
        except OperationNotFound:
            continue  # an index entry whose intake died before its record: it names nothing
        if not stored.operation.status.terminal:
            found.append(_in_use(stored))
    continuation: str | None = None
    while True:
        page = ctx.history.list(kind=OperationKind.RESTORE,
                                status=OperationStatus.NEEDS_ATTENTION, limit=MAX_PAGE_SIZE,
                                continuation=continuation, since=since)
        for operation in page.items:
            if operation.environment_id.lower() == env.lower():  # its safety backup is here
                found.append(_in_use(ctx.history.get(operation.operation_id)))
            else:
                found.append(RestoreInUse(operation))
        continuation = page.continuation
        if continuation is None:
            return found


def _in_use(stored: StoredOperation) -> RestoreInUse:
    try:
        facts = RestoreState.from_json(stored.internal).facts
    except StateUnreadableError:
        # Its record still names its backup; a safety backup it made is then unknown here.
        return RestoreInUse(stored.operation)
    return RestoreInUse(stored.operation, safety_backup_id=facts.safety_backup_id,
                        original_type=facts.original_type)


def _earlier_deletion(ctx: AppContext, env: str, backup_id: str) -> Operation | None:
    """A deletion of this backup already on record (a retried request after it was done): the
    last of its chain of keys, found by key however many deletions came after it."""
    claims = claims_for(ctx)
    for link in range(_DELETION_LINKS):
        owner = claims.owner(f"{_deletion_key(env, backup_id)}#{link}")
        if owner is None:
            return None
        try:
            operation = ctx.history.get(owner).operation
        except OperationNotFound:
            return None  # claimed by an intake that died before its record: nothing was done
        if operation.status is not OperationStatus.FAILED:
            return operation
    return None


def _deletion_key(env: str, backup_id: str) -> str:
    # Lower case: a repeated request may spell the (GUID) id in either case.
    return f"{OperationKind.BACKUP_DELETE.value}:{env}:{backup_id.lower()}"


def _admit_deletion(ctx: AppContext, base_key: str, candidate: Operation) -> StoredOperation:
    """One deletion per backup, whoever asks and however often; after a Failed one, the next
    request is a new attempt (the keys are chained: `<key>#0`, `<key>#1`, ...)."""
    for link in range(_DELETION_LINKS):
        stored, created = admit(ctx, candidate, dedup_key=f"{base_key}#{link}")
        if created:
            log.info("backup.delete_admitted", extra={
                "operationId": stored.operation.operation_id,
                "environmentId": candidate.environment_id, "backupId": candidate.backup_id,
                "by": candidate.requested_by})
        if created or stored.operation.status is not OperationStatus.FAILED:
            return stored
    raise RequestRefused(
        "TooManyFailedDeletions",
        f"Deleting backup {candidate.backup_id} failed {_DELETION_LINKS} times; see "
        f"ppbackup history --env {candidate.environment_id} --kind backup_delete.",
    )


def _carry_out(ctx: AppContext, stored: StoredOperation) -> StoredOperation:
    """Send the (idempotent) delete and record the answer; a deletion that ended is returned
    as it is."""
    operation = stored.operation
    if operation.status.terminal:
        return stored
    error: PowerPlatformError | None = None
    with recording_calls() as calls:
        try:
            ctx.platform.delete_backup(operation.environment_id, operation.backup_id or "")
        except PowerPlatformError as raised:
            error = raised
    request_ids = tuple(c.request_id for c in calls if c.request_id)
    if calls:
        ctx.history.append_calls(operation.operation_id,
                                 {"delete": [c.to_log_entry() for c in calls]})
    return _record(ctx, stored, _answered(error, request_ids))


_Change = Callable[[Operation, datetime], Operation]


def _answered(error: PowerPlatformError | None, request_ids: tuple[str, ...]) -> _Change:
    if error is None:
        return lambda current, now: deleted(current, now, request_ids)
    if isinstance(error, _UNREACHABLE):
        return _unanswered(error, request_ids)
    return lambda current, now: refused(current, now, error, request_ids)


def _unanswered(error: PowerPlatformError, request_ids: tuple[str, ...]) -> _Change:
    return lambda current, now: unreachable(current, now, error, request_ids)


def _record(ctx: AppContext, stored: StoredOperation, change: _Change) -> StoredOperation:
    """Write `change` of the deletion (ETag-guarded, on what is there now); one still Running
    is due again after RETRY_SECONDS."""
    operation_id = stored.operation.operation_id
    for _ in range(_WRITE_ROUNDS):
        try:
            stored = ctx.history.update(stored, change(stored.operation, to_millis(ctx.clock())))
            break
        except ConcurrencyConflict:
            stored = ctx.history.get(operation_id)  # the watchdog, or a retry
            if stored.operation.status.terminal:
                return stored
    else:
        raise ConcurrencyConflict(f"operation {operation_id} kept changing; try again")
    status = stored.operation.status
    if not status.terminal:
        ctx.history.set_next_due(operation_id,
                                 to_millis(ctx.clock()) + timedelta(seconds=RETRY_SECONDS))
    log.info("backup.delete_" + ("done" if status is OperationStatus.SUCCEEDED else "failed"
                                 if status.terminal else "retrying"),
             extra={"operationId": operation_id, "backupId": stored.operation.backup_id})
    return stored


# --- inputs -------------------------------------------------------------------------------------


def parse_environment_id(value: str) -> str:
    if not is_guid(value):
        raise RequestInvalid(
            "InvalidRequest", "The environment id must be a GUID such as "
            "00000000-0000-0000-0000-000000000000.",
            {"environmentId": "must be an environment id (GUID)"},
        )
    return value.strip().lower()


def parse_backup_id(value: str) -> str:
    try:
        return validate_opaque_id(value, "backup id")
    except ValueError as error:
        raise RequestInvalid(
            "InvalidRequest", f"The backup id is invalid: {error}",
            {"backupId": "must be a backup id as ppbackup backups lists it"},
        ) from error
