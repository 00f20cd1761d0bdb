"""How long to wait out a platform that cannot serve a step now, for every kind (pure).

Busy (409), throttling (429) and outages are waited out with the shared backoff
(`shared/policy/backoff.py`): a throttle's `Retry-After` exactly, a busy or failing platform's as a
lower bound. A lost answer is looked into soon: the call may have been carried out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from engine.answers import Busy, Lost, Throttled, Unavailable
from engine.config import EngineConfig
from engine.decision import Decision, WaitFor
from engine.record import StepUpdate
from engine.state import EngineState

Retryable = Busy | Throttled | Unavailable | Lost
RETRYABLE = (Busy, Throttled, Unavailable, Lost)


class Attempting(EngineState, Protocol):
    """A state that counts the steps in a row that could not go on (0 after any progress)."""

    @property
    def attempts(self) -> int: ...


A = TypeVar("A", bound=Attempting)


def retry_delay(fault: Retryable, attempt: int, config: EngineConfig) -> float:
    """Seconds (of the app's clock) before attempt `attempt` (1-based) after `fault`."""
    if isinstance(fault, Lost):
        return min(config.backoff.backoff(1), config.reconcile_retry_seconds)
    if isinstance(fault, Throttled):
        return config.backoff.delay(attempt, fault.retry_after)
    return config.backoff.delay_at_least(attempt, fault.retry_after)


def reason(fault: Retryable) -> str:
    if isinstance(fault, Busy):
        return "another lifecycle operation is running on the environment"
    if isinstance(fault, Throttled):
        return "the platform is throttling requests"
    if isinstance(fault, Lost):
        return f"the platform's answer was lost ({fault.message})"
    return f"the platform is unavailable ({fault.message})"


def wait_or_fail(
    state: A, fault: Retryable, now: datetime, config: EngineConfig, step: str, *,
    what: str, event: StrEnum, give_up: Callable[[str], Decision[A]],
) -> Decision[A]:
    """Wait out `fault`: a delayed message spaced by the shared backoff (a throttle's Retry-After
    exactly), so a 429 storm that lets anything through is waited out, never failed; after
    `Backoff.max_attempts` steps in a row without progress, `give_up` with the reason (`what`:
    the operation as its user calls it)."""
    attempts = state.attempts + 1
    if attempts > config.backoff.max_attempts:
        return give_up(
            f"Gave up on this {what} after {attempts - 1} attempts in a row; the platform's "
            f"last answer: {fault.message}"
        )
    delay = retry_delay(fault, attempts, config)
    waiting = replace(state, attempts=attempts, wake_at=now + timedelta(seconds=delay))
    detail = f"Waiting: {reason(fault)}; trying again in {delay:.0f}s (attempt {attempts})."
    return Decision(waiting, event, (StepUpdate(step, detail=detail),), WaitFor(delay))
