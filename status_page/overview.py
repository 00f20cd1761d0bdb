"""What the status page shows beyond history: environments in scope, running operations, open
alerts and the next steps for one operation. Pure decisions (`expiry_state`, `in_scope`) over what
the use cases read from storage; the alert rules are the notification checks' own.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from notifications.advice import (
    backup_expiring_steps,
    data_backup_overdue_steps,
    next_steps,
    still_sandbox_steps,
)
from notifications.alert_rules import (
    EXPIRY_WARNING,
    expiring_alert,
    sandbox_suspects,
    still_sandbox_alert,
)
from notifications.alerts import data_backup_overdue_alerts, newest_backup_of, recent_restores
from shared.errors import OperationNotFound
from shared.history_api import get_record
from shared.operations import Operation, format_time
from shared.runtime import AppContext
from shared.settings import BackupScope
from shared.storage.directory import KnownEnvironment, directory_for

# Running operations shown at most; more than this at once is a backup round's fan-out.
MAX_RUNNING = 100


def expiry_state(expiry: datetime | None, now: datetime) -> str:
    """`expired`, `expiring` (within the alert's warning window), `ok`, or `unknown`."""
    if expiry is None:
        return "unknown"
    if expiry <= now:
        return "expired"
    return "expiring" if expiry <= now + EXPIRY_WARNING else "ok"


def in_scope(known: Iterable[KnownEnvironment], scope: BackupScope) -> list[KnownEnvironment]:
    """The environments `scope` selects, named ids the timer's listing has not seen included."""
    chosen = {
        e.environment_id.lower(): e for e in known
        if scope.includes(e.environment_id.lower(), e.type or "")
    }
    for environment_id in scope.environment_ids:
        chosen.setdefault(environment_id, KnownEnvironment(environment_id, ""))
    return sorted(chosen.values(), key=lambda e: (e.name.lower() or "~", e.environment_id))


def environments(ctx: AppContext) -> dict[str, Any]:
    """`GET /api/environments`: each environment in BACKUP_SCOPE or DATA_BACKUP_SCOPE with its
    newest backup and expiry (the page asks the data route for its newest data point).

    `complete` false: some environment's history read stopped at its bound before finding a
    backup, so its missing `newestBackup` is not known to be missing.
    """
    now = ctx.clock()
    rows, complete = _environment_rows(ctx, now)
    return {"environments": [row for row, _ in rows], "complete": complete,
            "asOf": format_time(now)}


def _environment_rows(
    ctx: AppContext, now: datetime
) -> tuple[list[tuple[dict[str, Any], Operation | None]], bool]:
    rows = []
    complete = True
    known = directory_for(ctx).list()
    # Environments whose data only is backed up (DATA_BACKUP_SCOPE) are shown too.
    chosen = {e.environment_id: e for scope in (ctx.settings.backup_scope,
                                                ctx.settings.data_backup_scope)
              for e in in_scope(known, scope)}
    ordered = sorted(chosen.values(), key=lambda e: (e.name.lower() or "~", e.environment_id))
    for environment in ordered:
        newest, told = newest_backup_of(ctx, environment.environment_id)
        complete = complete and told
        rows.append(({
            "environmentId": environment.environment_id,
            "environmentName": environment.name or (newest.environment_name if newest else None),
            "environmentType": environment.type,
            "newestBackup": None if newest is None else {
                "operationId": newest.operation_id,
                "label": newest.label,
                "backupId": newest.backup_id,
                "backupPointDateTime": format_time(newest.backup_point or newest.created_at),
                "backupExpiryDateTime": format_time(newest.backup_expiry),
                "expiry": expiry_state(newest.backup_expiry, now),
            },
        }, newest))
    return rows, complete


def running(ctx: AppContext) -> dict[str, Any]:
    """`GET /api/active-operations`: every operation not finished yet, newest first."""
    records = []
    for entry in ctx.history.list_active()[: MAX_RUNNING * 2]:
        try:
            operation = ctx.history.get(entry.operation_id).operation
        except OperationNotFound:
            continue  # the index is a hint (see ActiveIndex): its row may be gone
        if not operation.status.terminal:  # a leftover entry of a finished one is skipped
            records.append(operation)
    records.sort(key=lambda o: o.created_at, reverse=True)
    return {"operations": [o.to_record() for o in records[:MAX_RUNNING]]}


def operation_next_steps(ctx: AppContext, operation_id: str) -> dict[str, Any]:
    """`GET /api/operations/{id}/next-steps`: what a person should do now, most urgent first."""
    record = get_record(ctx, operation_id)
    return {
        "operationId": record["operationId"],
        "nextSteps": list(next_steps(Operation.from_record(record))),
    }


def open_alerts(ctx: AppContext) -> dict[str, Any]:
    """`GET /api/alerts`: the situations the notification checks alert on, as they stand now.

    The same rules as the `notification_alerts` timer (alert_rules), evaluated on request: an
    alert is open while its situation lasts, whether or not a notification target is set.
    Expiry is decided from history alone here (the timer also rules out a newer backup taken
    outside this app by listing the platform's backups).

    `complete` false: a history read stopped at its bound (restores of the lookback, or an
    environment's backups, left unread), so an alert missing from the list may still be due.
    """
    now = ctx.clock()
    alerts: list[dict[str, Any]] = []
    restores = recent_restores(ctx, now)
    for suspect in sandbox_suspects(restores.operations, now):
        op = suspect.operation
        try:
            platform = ctx.platform.get_environment(op.environment_id)
            found_type, found_name = platform.type, platform.display_name
        except Exception:  # noqa: BLE001 - unreadable now: shown as not confirmed, not hidden
            found_type, found_name = None, None
        alert = still_sandbox_alert(suspect, found_type or "Sandbox", found_name, now)
        if alert is None:
            continue
        alerts.append({
            "type": "still_sandbox",
            "environmentId": alert.environment_id,
            "environmentName": alert.environment_name,
            "operationId": op.operation_id,
            "since": format_time(alert.since),
            "confirmed": found_type is not None,
            "message": f"Still a Sandbox since {format_time(alert.since)}, after restore "
                       f"{op.operation_id}; backups older than 7 days are being deleted.",
            "nextSteps": list(still_sandbox_steps(
                alert.environment_name, alert.environment_id, op.operation_id
            )),
        })
    rows, backups_complete = _environment_rows(ctx, now)
    for row, newest in rows:
        expiring = newest and expiring_alert(newest, row["environmentName"], now)
        if not expiring:
            continue
        expires = format_time(expiring.expires_at) or ""
        alerts.append({
            "type": "backup_expiring",
            "environmentId": expiring.environment_id,
            "environmentName": expiring.environment_name,
            "operationId": newest.operation_id if newest else None,
            "expiresAt": expires,
            "message": f"The newest backup ({expiring.backup_label or expiring.backup_id}) "
                       f"expires at {expires} and no newer one exists.",
            "nextSteps": list(backup_expiring_steps(
                expiring.environment_name, expiring.environment_id, expires
            )),
        })
    for environment_id, name, overdue in data_backup_overdue_alerts(ctx, now):
        if overdue is None:
            continue
        last = format_time(overdue.last_point) if overdue.last_point else None
        alerts.append({
            "type": "data_backup_overdue",
            "environmentId": environment_id,
            "environmentName": name,
            "lastPointTime": last,
            "since": format_time(overdue.due),
            "message": (f"No complete data backup point since {last}" if last else
                        "No complete data backup point yet") +
                       f"; overdue since {format_time(overdue.due)}.",
            "nextSteps": list(data_backup_overdue_steps(name, environment_id)),
        })
    return {"alerts": alerts, "complete": restores.complete and backups_complete,
            "asOf": format_time(now)}

