"""The orchestrator's tunables: the platform's known windows and our retry budgets.

All durations are seconds of the app's clock (`AppContext.clock`); the decision function never
reads a clock of its own, so a test or benchmark may run that clock faster than real time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from shared.policy.backoff import Backoff
from shared.settings import ProductionAllowList, Settings


@dataclass(frozen=True, slots=True)
class EngineConfig:
    allow_production: ProductionAllowList = field(default_factory=ProductionAllowList)
    restore_timeout_seconds: float = 48 * 3600.0
    backoff: Backoff = field(default_factory=Backoff)

    # Polling a long-running operation without Retry-After (docs/orchestrator.md, "Waiting").
    poll_min_seconds: float = 60.0
    poll_max_seconds: float = 900.0

    # One restore per target: how often a Queued restore looks at the lock again (the holder
    # also wakes the next one when it ends; this is the backstop).
    lock_retry_seconds: float = 300.0

    # Reference 3.2: a manual backup is restorable only after 10-15 minutes: wait for the upper
    # end (the platform's refusal of a point too recent has no documented code to retry on).
    backup_settle_seconds: float = 900.0
    backup_settle_margin_seconds: float = 120.0
    # A restore point younger than the platform accepts is retried this often, this many times.
    too_recent_retry_seconds: float = 60.0
    # Production -> Sandbox cuts retention to this many days at once (reference 3.3).
    sandbox_retention_days: float = 7.0
    # An in-place restore point this close to the Sandbox retention edge would expire while the
    # switch runs; refuse it rather than lose it halfway.
    retention_margin_seconds: float = 3600.0

    # Looking before leaping: how long a started operation may stay invisible to the platform's
    # listings before we conclude the earlier call never reached it.
    reconcile_grace_seconds: float = 600.0
    reconcile_retry_seconds: float = 30.0

    # Reads after an operation ended: BAP reads are eventually consistent (reference 4.4).
    confirm_retry_seconds: float = 30.0
    confirm_max_attempts: int = 40

    # Platform operations that end Failed are started again this many times in all.
    max_operation_attempts: int = 3
    # The switch back is worth more persistence than anything else.
    switch_back_attempts: int = 6
    switch_back_budget_seconds: float = 24 * 3600.0

    # Reference 3.5: 403 UserMissingRequiredPermission for 10-15 minutes after a restore.
    forbidden_retry_seconds: float = 30.0
    forbidden_window_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings, backoff: Backoff | None = None) -> EngineConfig:
        return cls(
            allow_production=settings.restore_allow_production,
            restore_timeout_seconds=settings.restore_timeout_hours * 3600.0,
            backoff=backoff or Backoff(),
        )

    @property
    def backup_settle(self) -> timedelta:
        """How long after its point a manual backup is restorable: the platform's window and our
        margin. A restore waits this long, and the backup listing says the same."""
        return timedelta(seconds=self.backup_settle_seconds + self.backup_settle_margin_seconds)
