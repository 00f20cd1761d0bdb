"""Pure decisions about one backup attempt: what a platform answer means for the operation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import errors
from shared.policy.backoff import Backoff


@dataclass(frozen=True, slots=True)
class RetryLater:
    """Try again after `delay_seconds`; `may_exist` when the platform may have made the backup."""

    delay_seconds: float
    detail: str
    may_exist: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    code: str
    message: str


Outcome = RetryLater | GiveUp


def after_platform_error(
    error: errors.PowerPlatformError, *, attempt: int, backoff: Backoff
) -> Outcome:
    """Classify a failed create-backup call. Waiting is always a delayed message, never a sleep."""
    if attempt >= backoff.max_attempts and not isinstance(error, errors.OutcomeUnknown):
        return GiveUp(
            "GaveUp",
            f"The platform kept refusing the backup for {attempt} attempts; last answer: "
            f"{error.message}",
        )
    if isinstance(error, errors.Busy):
        delay = backoff.delay_at_least(attempt, error.retry_after)
        return RetryLater(
            delay,
            "The environment is busy with another lifecycle operation; "
            f"trying again in {delay:.0f}s (attempt {attempt}).",
        )
    if isinstance(error, errors.Throttled):
        delay = backoff.delay(attempt, error.retry_after)
        return RetryLater(
            delay, f"The platform is throttling requests; trying again in {delay:.0f}s."
        )
    if isinstance(error, errors.OutcomeUnknown):
        # The request may have been carried out. The next attempt first looks for the backup.
        delay = min(backoff.backoff(1), 30.0)
        return RetryLater(
            delay,
            "The platform's answer was lost; checking in "
            f"{delay:.0f}s whether the backup was made before trying again.",
            may_exist=True,
        )
    if isinstance(error, errors.Transient):
        delay = backoff.delay_at_least(attempt, error.retry_after)
        return RetryLater(
            delay, f"The platform is unavailable ({error.message}); trying again in {delay:.0f}s."
        )
    if isinstance(error, errors.NotFound):
        return GiveUp(
            "EnvironmentNotFound",
            "The platform does not know this environment (deleted, or a wrong id?): "
            f"{error.message}",
        )
    return GiveUp(error.code, error.message)


def attempts_exhausted(attempt: int, backoff: Backoff) -> GiveUp | None:
    """Stop before attempt `backoff.max_attempts + 1`, whatever the earlier answers were.

    Every earlier kind of failure either gave up itself or asked for a retry; a platform that
    keeps losing its answers (OutcomeUnknown) would otherwise be asked forever.
    """
    if attempt <= backoff.max_attempts:
        return None
    return GiveUp(
        "GaveUp",
        f"No backup was confirmed after {backoff.max_attempts} attempts; the platform's answers "
        "were lost or refused. Check the environment's backups for this label before asking "
        "again: one of the attempts may have made it.",
    )


def in_flight_wait(
    *, started: datetime, in_flight: bool, now: datetime, grace: timedelta
) -> timedelta | None:
    """How long to leave an attempt that another delivery may still be making; None: take over.

    An attempt whose answer was lost (`in_flight` False) is reconciled at once; one that is
    still marked in flight belongs to its worker until its grace has passed (then it is presumed
    dead: its worker crashed between the call and the checkpoint).
    """
    if not in_flight or now >= started + grace:
        return None
    return started + grace - now
