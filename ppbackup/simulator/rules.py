"""The platform's refusals as pure functions (wire contract, "Platform rules the simulator
enforces"; reference §3.2-§3.4). `SimState` calls them under its lock; restore candidates and
restore validation share `restore_target_problem`, so the two can never disagree."""

from __future__ import annotations

from datetime import datetime, timedelta

from ppbackup.simulator.errors import SimError, bad_request
from ppbackup.simulator.model import SKU_PRODUCTION, SKU_SANDBOX, Environment


def backup_problem(env: Environment) -> SimError | None:
    if env.is_default:
        return bad_request(
            "LifecycleOperationNotAllowed",
            "Backup cannot be performed on environment of type Default.",
        )
    return None


def restore_target_problem(target: Environment, source: Environment) -> SimError | None:
    """Why `target` cannot receive a restore of `source`, or None."""
    if target.is_default:
        return bad_request(
            "LifecycleOperationNotAllowed",
            "Restore cannot be performed on environment of type Default.",
        )
    if source.is_default:
        return bad_request(
            "RestoreSourceNotSupported",
            "The default environment has no backups to restore from.",
            "sourceEnvironmentId",
        )
    if target.sku != SKU_SANDBOX:
        return bad_request(
            "RestoreTargetNotSandbox",
            f"Only sandbox environments can be restored to; the target is {target.sku}.",
        )
    if target.location != source.location:
        return bad_request(
            "RestoreGeoMismatch",
            f"The target is in geo '{target.location}' but the source is in "
            f"'{source.location}'; a restore must stay within the same geo.",
        )
    if target.managed != source.managed:
        return bad_request(
            "ManagedEnvironmentMismatch",
            "A Managed Environment can only be restored to a Managed Environment, and an "
            "unmanaged one only to an unmanaged one.",
        )
    return None


def restore_point_problem(
    point: datetime, *, now: datetime, settle_seconds: float, restorable_from: datetime
) -> SimError | None:
    """A restore point must be settled (a backup is restorable after 10-15 min) and inside the
    source's retention window."""
    if point > now - timedelta(seconds=settle_seconds):
        return bad_request(
            "RestorePointTooRecent",
            f"The restore point must be at least {settle_seconds:g} seconds old.",
            "restorePointDateTime",
        )
    if point < restorable_from:
        return bad_request(
            "RestorePointOutsideRetention",
            "The restore point is older than the source environment's backup retention.",
            "restorePointDateTime",
        )
    return None


def modify_sku_problem(env: Environment, sku: str) -> SimError | None:
    """Checks that do not depend on the environment being busy (that one comes between the
    request-shape checks and `EnvironmentSkuUnchanged`, see `SimState.start_modify_sku`)."""
    if env.is_default:
        return bad_request(
            "LifecycleOperationNotAllowed",
            "ModifySku cannot be performed on environment of type Default.",
        )
    if sku not in (SKU_SANDBOX, SKU_PRODUCTION):
        return bad_request(
            "InvalidEnvironmentSku",
            f"environmentSku must be Sandbox or Production, not {sku!r}.",
            "environmentSku",
        )
    return None


def sku_unchanged_problem(env: Environment, sku: str) -> SimError | None:
    if env.sku == sku:
        return bad_request(
            "EnvironmentSkuUnchanged", f"The environment is already of type {sku}.",
            "environmentSku",
        )
    return None


def admin_mode_window_problem(env: Environment, now: datetime) -> SimError | None:
    """The 403 right after a restore (reference §3.5, "Bug 8047625")."""
    if env.admin_forbidden_until is not None and now < env.admin_forbidden_until:
        return SimError(
            403,
            "UserMissingRequiredPermission",
            "The user does not have the required permission to change the runtime state of "
            "this environment yet (recently restored).",
        )
    return None


def system_backup_delete_problem() -> SimError:
    """The platform's own backups cannot be deleted; only manual ones can (reference §3.2: the
    admin center offers delete for manual backups only; the code is this simulator's own)."""
    return bad_request(
        "SystemBackupCannotBeDeleted",
        "System backups are managed by the platform and cannot be deleted; only manual backups "
        "can.",
    )
