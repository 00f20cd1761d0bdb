"""The validation of a restore before anything changes (contract sections 3 and 6): pure checks
of the environments and the request, and the resolution of the restore point.

Each check returns a `Problem` a person can act on, or None. Checks that only the platform can
answer for a Sandbox target (ValidateOnly, restore candidates) are not here: they run in the
Prechecking phase, after the switch to Sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.config import EngineConfig
from restore_orchestrator.state import Problem, Request, Selector
from shared.inputs import readable
from shared.operations import format_time
from shared.power_platform import Backup, Environment
from shared.settings import ProductionAllowList

PRODUCTION = "Production"
SANDBOX = "Sandbox"
_SWITCHABLE = (PRODUCTION, SANDBOX)
_DAYS = re.compile(r"^P(\d+)D$")
_DEFAULT_RETENTION_DAYS = {PRODUCTION: 28.0}
_FALLBACK_RETENTION_DAYS = 7.0


def describe(environment: Environment) -> str:
    """An environment in a message: its name as it reads (`readable`), and its id."""
    return f"{readable(environment.display_name).strip()} ({environment.id})"


def check_environments(
    target: Environment,
    source: Environment,
    request: Request,
    allow_production: ProductionAllowList,
) -> Problem | None:
    """Everything about the two environments that can be judged while the target is unchanged."""
    name = describe(target)
    if target.is_default or target.type == "Default":
        return Problem(
            "TargetIsDefault",
            f"{name} is the tenant's Default environment, which the platform never restores into.",
        )
    if target.type not in _SWITCHABLE:
        return Problem(
            "TargetTypeNotSupported",
            f"{name} is a {target.type or 'typeless'} environment. The platform restores only into "
            "Sandbox environments, and only a Production one can be switched to Sandbox for the "
            "restore; pick a Sandbox or Production target.",
        )
    if source.is_default or source.type == "Default":
        return Problem(
            "SourceIsDefault",
            f"The source {describe(source)} is the Default environment, which has no backups to "
            "restore from.",
        )
    if target.geo and source.geo and target.geo.lower() != source.geo.lower():
        return Problem(
            "GeoMismatch",
            f"The target {name} is in geo '{target.geo}' but the source {describe(source)} is in "
            f"'{source.geo}'; a restore must stay within one geo.",
        )
    if target.is_managed != source.is_managed:
        managed, unmanaged = (target, source) if target.is_managed else (source, target)
        return Problem(
            "ManagedMismatch",
            f"{describe(managed)} is a Managed Environment and {describe(unmanaged)} is not; "
            "a Managed Environment is restored only to or from a Managed Environment.",
        )
    if target.type == PRODUCTION:
        return production_guardrail(
            target, request.confirm_production, allow_production
        ) or _allowed(
            target, "ModifySku", "switch it to Sandbox for the restore"
        )
    return _allowed(target, "Restore", "restore into it")


def write_guardrail(
    target: Environment, confirm_production: str | None, allow: ProductionAllowList
) -> Problem | None:
    """The guardrail on writing rows into `target` as it is now: none unless it is Production
    (a record restore asks at validation, before laying out its writes, before each apply step:
    an administrator may convert the target while the restore runs)."""
    if target.type != PRODUCTION:
        return None
    return production_guardrail(target, confirm_production, allow)


def production_guardrail(
    target: Environment, confirm_production: str | None, allow: ProductionAllowList
) -> Problem | None:
    """Writing into a Production environment: listed in RESTORE_ALLOW_PRODUCTION and confirmed
    by this request (its id or display name), for environment and record restores alike."""
    name = describe(target)
    if not allow.allows(target.id):
        return Problem(
            "ProductionNotAllowed",
            f"{name} is a Production environment and RESTORE_ALLOW_PRODUCTION does not list it, "
            "so it is not restored in place. Add its id to RESTORE_ALLOW_PRODUCTION if that is "
            "intended, or restore into a Sandbox.",
        )
    given = (confirm_production or "").strip()
    if not given:
        return Problem(
            "ConfirmationRequired",
            f"{name} is a Production environment: set confirmProduction "
            f"(--confirm-production) to its id or display name "
            f"('{readable(target.display_name).strip()}') to confirm the in-place restore.",
        )
    # A name that holds characters a request may not (`inputs.readable`) is confirmed as it
    # reads.
    names = (target.id, target.display_name, readable(target.display_name).strip())
    if given.casefold() not in {n.casefold() for n in names}:
        return Problem(
            "ConfirmationMismatch",
            f"confirmProduction '{given}' names neither the id nor the display name of the "
            f"target {name}; nothing was changed.",
        )
    return None


def _allowed(target: Environment, operation: str, purpose: str) -> Problem | None:
    if target.allows(operation):
        return None
    reason = target.disallowed_operations.get(operation) or "no reason given"
    return Problem(
        "LifecycleOperationNotAllowed",
        f"The platform does not allow {operation} on {describe(target)}, so we cannot {purpose}: "
        f"{reason}",
    )


def restore_allowed_now(target: Environment) -> Problem | None:
    """Prechecking: now that the target is a Sandbox, the platform must allow the restore."""
    return _allowed(target, "Restore", "restore into it")


def retention_days(environment: Environment) -> float:
    match = _DAYS.fullmatch(environment.retention_period or "")
    if match:
        return float(match.group(1))
    return _DEFAULT_RETENTION_DAYS.get(environment.type or "", _FALLBACK_RETENTION_DAYS)


@dataclass(frozen=True, slots=True)
class Resolution:
    restore_point: datetime
    backup_id: str | None
    restorable_at: datetime
    description: str


def newest_with_label(backups: Sequence[Backup], label: str) -> Backup | None:
    """The backup a restore by label uses: the newest whose label matches (trimmed)."""
    # As the label reads: a request's label never holds what `readable` takes out, and a backup
    # labeled elsewhere may.
    wanted = readable(label).strip()
    matches = [b for b in backups if readable(b.label).strip() == wanted]
    return max(matches, key=lambda b: b.point, default=None)


def resolve_point(
    request: Request,
    backups: Sequence[Backup] | None,
    now: datetime,
    config: EngineConfig,
    *,
    target_type: str,
    source_name: str,
    source_retention_days: float,
) -> Resolution | Problem:
    """The restore point the request names, checked against the source's retention.

    `backups` (the source's) is needed only when the request names a backup by id or label.
    """
    settle = config.backup_settle
    backup: Backup | None = None
    if request.selector is Selector.BACKUP_ID:
        backup = next((b for b in backups or () if b.has_id(request.backup_id)), None)
        if backup is None:
            return Problem(
                "BackupNotFound",
                f"{source_name} has no backup with the id {request.backup_id} (it may have "
                "expired).",
            )
        point, what = backup.point, f"backup {backup.id} ('{backup.label}')"
    elif request.selector is Selector.BACKUP_LABEL:
        wanted = (request.backup_label or "").strip()
        backup = newest_with_label(backups or (), wanted)
        if backup is None:
            labels = sorted({b.label for b in backups or () if b.label})[:10]
            known = f" Labels there: {', '.join(repr(x) for x in labels)}." if labels else ""
            return Problem(
                "BackupNotFound",
                f"{source_name} has no backup labeled '{wanted}' (it may have expired)."
                + known,
            )
        point, what = backup.point, f"backup {backup.id} labeled '{backup.label}'"
    elif request.selector is Selector.POINT:
        if request.restore_point is None:
            return Problem("InvalidRequest", "The request names no restore point.")
        point, what = request.restore_point, "the requested point in time"
    else:
        # The newest point the platform can restore now (pac's `--selected-backup latest`).
        point, what = now - settle, "the latest restorable point"
    if backup is not None and backup.expiry is not None and backup.expiry <= now:
        return Problem(
            "BackupExpired",
            f"{what} expired at {format_time(backup.expiry)}.",
        )
    if point > now:
        return Problem(
            "RestorePointInFuture", f"The restore point {format_time(point)} is in the future."
        )
    days = source_retention_days
    earliest = now - timedelta(days=days)
    if point < earliest:
        return Problem(
            "RestorePointExpired",
            f"The restore point {format_time(point)} ({what}) is older than {source_name} "
            f"keeps backups ({days:g} days: the earliest restorable point is "
            f"{format_time(earliest)}).",
        )
    if request.in_place and target_type == PRODUCTION:
        # Switching to Sandbox cuts retention to 7 days at once (reference 3.3): an older point
        # would vanish during the switch and leave a Sandbox with nothing to restore.
        cut = now - timedelta(days=config.sandbox_retention_days) + timedelta(
            seconds=config.retention_margin_seconds
        )
        if point < cut:
            return Problem(
                "RestorePointWouldExpire",
                f"The restore point {format_time(point)} ({what}) is more than "
                f"{config.sandbox_retention_days:g} days old. Restoring it in place needs a switch "
                "to Sandbox, which cuts retention to "
                f"{config.sandbox_retention_days:g} days at once and would delete it. Restore it "
                "into a Sandbox environment instead.",
            )
    return Resolution(point, backup.id if backup else None, point + settle, what)
