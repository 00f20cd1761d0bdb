"""The alerts timer: still-Sandbox environments, expiring last backups, overdue data backups,
overdue round summaries.

Runs every few minutes (the `notification_alerts` timer). The decisions are in `alert_rules` and
`round_rules`; this module reads history and the platform, and emits each alert once: the alert's
event id is claimed (insert-if-absent) once its message is sent, so later ticks that see the
same situation find the claim and stay quiet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from notifications.alert_rules import (
    RESTORE_LOOKBACK,
    PlatformBackup,
    data_backup_overdue,
    expiring_alert,
    newest_backup,
    sandbox_suspects,
    still_sandbox_alert,
)
from notifications.events import BackupExpiringAlert, DataBackupOverdueAlert, StillSandboxAlert
from notifications.messages import DataOverdueNotice, ExpiringNotice, Notice, StillSandboxNotice
from notifications.outbox import send_notice
from notifications.rounds import sweep_overdue
from notifications.store import NotificationStore, store_for
from notifications.transport import destinations
from shared.operations import Operation, OperationKind, OperationStatus
from shared.runtime import AppContext

log = logging.getLogger(__name__)

# The expiry of a backup moves by days, so looking every hour is plenty (and spares the
# platform one backup listing per environment in scope every few minutes).
EXPIRY_CHECK_EVERY = timedelta(hours=1)
EXPIRY_CHECK = "backup-expiry"
# Overdue is counted in schedule periods (a day by default); an hour late is on time enough, and
# the check lists the backup store's manifests once per environment in DATA_BACKUP_SCOPE.
DATA_OVERDUE_CHECK_EVERY = timedelta(hours=1)
DATA_OVERDUE_CHECK = "data-backup-overdue"
_RESTORE_PAGE = 100
_MAX_RESTORE_PAGES = 20
_BACKUPS_PER_ENVIRONMENT = 5


@dataclass(slots=True)
class AlertReport:
    """What one tick did (for logs and tests)."""

    still_sandbox: list[str] = field(default_factory=list)  # event ids emitted
    expiring: list[str] = field(default_factory=list)
    expiry_checked: bool = False
    data_overdue: list[str] = field(default_factory=list)
    data_overdue_checked: bool = False
    rounds_summarised: int = 0
    errors: list[str] = field(default_factory=list)


def run_alert_checks(ctx: AppContext) -> AlertReport:
    """One tick. Each check is independent: one failing (the platform is down) skips only it."""
    report = AlertReport()
    if not destinations(ctx.settings):
        return report
    store = store_for(ctx)
    now = ctx.clock()

    def guarded(name: str, check: Callable[[], None]) -> None:
        try:
            check()
        except Exception as error:  # noqa: BLE001 - one check failing must not stop the others
            report.errors.append(f"{name}: {type(error).__name__}")
            log.warning("notifications.check_failed",
                        extra={"check": name, "error": type(error).__name__})

    def still_sandbox() -> None:
        restores = recent_restores(ctx, now)
        report.still_sandbox.extend(_check_still_sandbox(ctx, store, restores.operations, now))
        if not restores.complete:
            # The newest restores were judged; older ones in the lookback wait for a tick that
            # reads them. Said, not hidden: no alert about them is not "they are fine".
            report.errors.append("still_sandbox: HistoryReadCutShort")
            log.warning("notifications.restores_cut_short",
                        extra={"check": "still_sandbox", "read": len(restores.operations)})

    guarded("still_sandbox", still_sandbox)

    def expiry() -> None:
        if store.due(EXPIRY_CHECK, EXPIRY_CHECK_EVERY, now):
            report.expiry_checked = True
            report.expiring.extend(_check_expiring(ctx, store, now))

    guarded("backup_expiring", expiry)

    def data_overdue() -> None:
        if store.due(DATA_OVERDUE_CHECK, DATA_OVERDUE_CHECK_EVERY, now):
            report.data_overdue_checked = True
            report.data_overdue.extend(_check_data_overdue(ctx, store, now))

    guarded("data_backup_overdue", data_overdue)

    def rounds() -> None:
        report.rounds_summarised = sweep_overdue(ctx, store, now)

    guarded("round_deadline", rounds)
    return report


# ------------------------------------------------------------------------------ still Sandbox


def _check_still_sandbox(
    ctx: AppContext, store: NotificationStore, restores: list[Operation], now: datetime
) -> list[str]:
    emitted = []
    for suspect in sandbox_suspects(restores, now):
        op = suspect.operation
        try:
            environment = ctx.platform.get_environment(op.environment_id)
        except Exception as error:  # noqa: BLE001 - skip this environment until the next tick
            log.warning("notifications.environment_unreadable",
                        extra={"operationId": op.operation_id, "error": type(error).__name__})
            continue
        alert = still_sandbox_alert(suspect, environment.type, environment.display_name, now)
        if alert is not None and _emit(ctx, store, alert, _sandbox_notice(alert, now)):
            emitted.append(alert.event_id)
    return emitted


@dataclass(frozen=True, slots=True)
class RecentRestores:
    """The restores created within the lookback that were read, newest first.

    `complete` False: the read stopped at its bound (pages, round trips) with older restores of
    the lookback possibly unread; the absence of a restore from `operations` then says nothing.
    """

    operations: list[Operation]
    complete: bool


def recent_restores(ctx: AppContext, now: datetime) -> RecentRestores:
    """Restores created within the lookback, newest first (the listing's order)."""
    # The lookback is a RowKey bound: the service reads back to the cutoff and no further,
    # however long the history behind it (it is never pruned).
    cutoff = now - RESTORE_LOOKBACK
    found: list[Operation] = []
    continuation: str | None = None
    for _ in range(_MAX_RESTORE_PAGES):
        page = ctx.history.list(kind=OperationKind.RESTORE, since=cutoff, limit=_RESTORE_PAGE,
                                continuation=continuation)
        found += page.items
        if page.continuation is None:
            return RecentRestores(found, complete=True)
        continuation = page.continuation
    return RecentRestores(found, complete=False)


def _sandbox_notice(alert: StillSandboxAlert, now: datetime) -> StillSandboxNotice:
    return StillSandboxNotice(
        event_id=alert.event_id, operation_id=alert.operation.operation_id,
        environment_id=alert.environment_id, environment_name=alert.environment_name,
        since=alert.since, reminder=alert.reminder, occurred_at=now,
    )


# ------------------------------------------------------------------------------ backup expiring


def _check_expiring(ctx: AppContext, store: NotificationStore, now: datetime) -> list[str]:
    scope = ctx.settings.backup_scope
    emitted = []
    for environment in ctx.platform.list_environments():
        if environment.is_default or not scope.includes(environment.id.lower(),
                                                        environment.type or ""):
            continue
        newest, known = newest_backup_of(ctx, environment.id)
        if not known:
            log.warning("notifications.backups_cut_short",
                        extra={"check": "backup_expiring", "environmentId": environment.id})
        if newest is None or expiring_alert(newest, environment.display_name, now) is None:
            continue  # the common case: decided from history alone, no platform call
        # Manual backups only: the platform's daily system backups are always newer and would
        # silence the alert, but they are not the labeled pre-update point a person restores.
        listed = [PlatformBackup(b.id, b.point, b.expiry)
                  for b in ctx.platform.list_backups(environment.id) if not b.is_system]
        alert = expiring_alert(newest, environment.display_name, now, listed)
        if alert is not None and _emit(ctx, store, alert, _expiring_notice(alert, newest, now)):
            emitted.append(alert.event_id)
    return emitted


def newest_backup_of(ctx: AppContext, environment_id: str) -> tuple[Operation | None, bool]:
    """The environment's newest succeeded backup (see `newest_backup`), and whether the read
    could tell: False when it found none but stopped at its bound with history still unread."""
    page = ctx.history.list(environment_id=environment_id, kind=OperationKind.BACKUP,
                            status=OperationStatus.SUCCEEDED, limit=_BACKUPS_PER_ENVIRONMENT)
    newest = newest_backup(page.items)
    return newest, newest is not None or page.continuation is None


def _expiring_notice(
    alert: BackupExpiringAlert, backup: Operation, now: datetime
) -> ExpiringNotice:
    return ExpiringNotice(
        event_id=alert.event_id, operation_id=backup.operation_id,
        environment_id=alert.environment_id, environment_name=alert.environment_name,
        backup_label=alert.backup_label, backup_id=alert.backup_id,
        expires_at=alert.expires_at, occurred_at=now,
    )


# ------------------------------------------------------------------------------ data backups


def _check_data_overdue(ctx: AppContext, store: NotificationStore, now: datetime) -> list[str]:
    emitted = []
    for environment_id, name, alert in data_backup_overdue_alerts(ctx, now, store.first_seen,
                                                                  store.forget_seen):
        if alert is not None and _emit(ctx, store, alert, DataOverdueNotice(
            event_id=alert.event_id, environment_id=environment_id, environment_name=name,
            last_point=alert.last_point, since=alert.since, due=alert.due, occurred_at=now,
        )):
            emitted.append(alert.event_id)
    return emitted


def data_backup_overdue_alerts(
    ctx: AppContext, now: datetime,
    first_seen: Callable[[str, datetime], datetime] | None = None,
    forget_seen: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, str | None, DataBackupOverdueAlert | None]]:
    """Each environment in DATA_BACKUP_SCOPE with its overdue alert (None: not overdue), from
    the store's catalog (one manifest listing per environment). An environment that never had a
    point is counted from when `first_seen` first saw it; without `first_seen` (the status
    page, which writes nothing), from now, so it is not called overdue."""
    from shared.data_store import data_store_from_settings
    from shared.policy.ncrontab import Ncrontab

    settings = ctx.settings
    scope = settings.data_backup_scope
    if not (scope.everything or scope.environment_ids or scope.types):
        return
    schedule = Ncrontab.parse(settings.data_backup_schedule, settings.time_zone, seconds=True)
    data = data_store_from_settings(settings)
    for environment in ctx.platform.list_environments():
        environment_id = environment.id.lower()
        if not scope.includes(environment_id, environment.type or ""):
            continue
        newest = max((s.point_time for s in data.summaries(environment_id, with_tables=False)),
                     default=None)
        watch = f"data:{environment_id}"
        if newest is not None:
            if forget_seen is not None:
                forget_seen(watch)
            watched = newest
        else:
            watched = first_seen(watch, now) if first_seen is not None else now
        yield environment_id, environment.display_name, data_backup_overdue(
            schedule, environment_id, environment.display_name, newest, watched, now)


# ------------------------------------------------------------------------------ emitting


def _emit(
    ctx: AppContext,
    store: NotificationStore,
    alert: StillSandboxAlert | BackupExpiringAlert | DataBackupOverdueAlert,
    notice: Notice,
) -> bool:
    """Send the alert's message unless it was emitted before; True if this call emitted it.

    The claim is written after the send, not before: a worker that died between a claim and its
    send (or an outage that failed the send and then the claim's undo) left a claim for an alert
    nobody sent, and every later check stayed quiet. A check that sends before another's claim
    lands queues the same event id twice, and delivery posts it once.
    """
    if store.event_claimed(alert.event_id):
        return False
    send_notice(ctx, notice)  # raises: nothing claimed, the next check sends it
    if not store.claim_event(alert.event_id, alert.event, ctx.clock()):
        return False  # a concurrent check sent it too; delivery drops the repeat
    log.warning("notifications.alert", extra={"event": alert.event, "eventId": alert.event_id,
                                               "environmentId": alert.environment_id})
    return True
