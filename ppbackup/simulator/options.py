"""Behaviour knobs of the simulated platform (not faults: these are how the platform *is*).

Durations are simulated seconds (see `clock.py`); `retry_after` and the throttle are real time,
because they pace the client, not the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StatusHeader = Literal["alternate", "Location", "Operation-Location", "both"]
RetryAfterFormat = Literal["seconds", "http-date"]
PpErrorStyle = Literal["errorDetail", "error", "alternate"]
ListOrder = Literal["oldest-first", "newest-first"]


@dataclass(slots=True)
class SimOptions:
    # --- platform rules (simulated seconds) ---------------------------------------------------
    backup_settle_seconds: float = 900.0
    """A restore point must be at least this old: a manual backup is restorable "only after
    about 10-15 minutes" (reference §3.2, contract §1); the upper end, so a client that waits
    less is refused here as it may be on the platform."""
    sandbox_retention_days: int = 7
    production_retention_days: int = 28
    system_backups: bool = False
    """List the platform's own daily backups (kind System) beside the manual ones, one a day over
    the retention window, as a real tenant does. Off by default so tests that count manual
    backups stay focused; `ppbackup simulator` and the demo turn it on."""

    # --- lifecycle operation timing (simulated seconds) ----------------------------------------
    queued_seconds: float = 5.0
    """Time an operation reports NotStarted/Queued before its first stage."""
    restore_seconds: float = 3600.0
    modify_sku_seconds: float = 120.0
    runtime_state_seconds: float = 30.0
    settle_lag_seconds: float = 0.0
    """After an operation ends, the environment stays `management: Running` (and locked) this
    long before its new state shows: BAP reads are eventually consistent (reference §3.1)."""
    admin_mode_forbidden_seconds: float = 0.0
    """After a restore ends, the runtime-state PATCH on the target answers 403
    UserMissingRequiredPermission for this long (reference §3.5, "Bug 8047625")."""

    # --- HTTP dialect ---------------------------------------------------------------------------
    retry_after: int | None = 1
    """Retry-After (real seconds) on BAP 202s and on polls of running operations; None = omit."""
    retry_after_format: RetryAfterFormat = "seconds"
    status_header: StatusHeader = "alternate"
    """Which header carries the BAP status URL on a 202; "alternate" flips per response."""
    restore_operation_location: bool = False
    """Add Operation-Location (+ Retry-After) to the PP API restore 202 (default: bare 202)."""
    status_base_url: str | None = None
    """Base URL for BAP status URLs; None = the simulator's own URL. Set e.g. the `localhost`
    spelling to check that the client follows the URL verbatim onto another host."""
    pp_error_style: PpErrorStyle = "errorDetail"
    """PP API error envelope: documented `errorDetail`, live-seen `{"error":{"code"}}`, or
    alternating between the two."""
    page_size: int = 50
    """Page size of every list (BAP nextLink, PP continuationToken)."""
    restore_candidates_include_source: bool = False
    """List a source among its own restore candidates (when it is a valid target). The
    reference does not say whether restoreCandidates names the source itself (§3.3), so by
    default it does not: a client must not read a restore onto itself as refused for that."""
    operation_list_order: ListOrder = "oldest-first"
    """Order of the PP API operation list. The reference documents none (§3.3 only says to
    pick the newest Restore), so the default is the harder case for a client: the newest
    operations come last, on the last page."""

    # --- throttling (real time) -------------------------------------------------------------------
    throttle_rate: float | None = None
    """Token-bucket refill in requests per real second across all API requests; None = off."""
    throttle_burst: int = 10

    # --- Dataverse Web API (ppbackup/simulator/dataverse) ----------------------------------------
    dataverse_rows: int = 50
    """Seeded rows per data table of each environment's Dataverse (generated on demand)."""
    dataverse_change_tracking_days: float = 7.0
    """A delta token older than this (simulated days) is expired (`expirechangetrackingindays`)."""
    dataverse_window_seconds: float = 300.0
    """Service protection window, real seconds (reference §7.1: 300)."""
    dataverse_requests_per_window: int = 6000
    dataverse_execution_seconds_per_window: float = 1200.0
    dataverse_concurrent_requests: int = 52
    dataverse_row_cost_ms: float = 0.0
    """Execution time charged per row read or written, on top of the measured time."""
    dataverse_dop_hint: int = 8
    """The `x-ms-dop-hint` header on every Dataverse answer."""
    dataverse_restore_keeps_connections: bool = False
    """After an environment restore the target's connection references keep the connections
    they had at the point. Off by default: the reference says a restore's connection
    references need new connections (§3.3, §9.4), so every one comes back without
    `connectionid` and no flow that uses one turns on until a person gives it a connection.
    On models a person who did that before the flows were turned on again."""

    def validate(self) -> None:
        for name in (
            "backup_settle_seconds", "queued_seconds", "restore_seconds", "modify_sku_seconds",
            "runtime_state_seconds", "settle_lag_seconds", "admin_mode_forbidden_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.sandbox_retention_days < 1 or self.production_retention_days < 1:
            raise ValueError("retention days must be >= 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must be >= 0 or None")
        if self.page_size < 1:
            raise ValueError("page_size must be >= 1")
        if self.operation_list_order not in ("oldest-first", "newest-first"):
            raise ValueError("operation_list_order must be 'oldest-first' or 'newest-first'")
        if self.throttle_rate is not None and self.throttle_rate <= 0:
            raise ValueError("throttle_rate must be > 0 (or None for no throttling)")
        if self.throttle_burst < 1:
            raise ValueError("throttle_burst must be >= 1")
        if self.dataverse_rows < 0 or self.dataverse_row_cost_ms < 0:
            raise ValueError("dataverse_rows and dataverse_row_cost_ms must be >= 0")
        if self.dataverse_window_seconds <= 0 or self.dataverse_change_tracking_days <= 0:
            raise ValueError("dataverse_window_seconds and change tracking days must be > 0")
        if min(self.dataverse_requests_per_window, self.dataverse_concurrent_requests,
               self.dataverse_dop_hint) < 1 or self.dataverse_execution_seconds_per_window <= 0:
            raise ValueError("dataverse limits must be >= 1")
