"""The client's own resends: which answers may be resent, and its bounds (wire page: errors,
idempotency). The waits come from the shared backoff (`shared.policy.backoff`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from shared.jitter import draw
from shared.policy.backoff import Backoff

# Resent for idempotent calls (with every 5xx); 429 is resent for every call, the server refused it.
_RETRYABLE_4XX = frozenset({408, 425, 429})
# "Full-ish" jitter: each wait lies in [d/2, d], so a burst of refused calls spreads out.
_JITTER = (0.5, 1.0)


def is_retryable_status(status: int) -> bool:
    return status in _RETRYABLE_4XX or 500 <= status <= 599


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds on the client's own retries: whichever of attempts or total time runs out first.

    The total-time bound is small on purpose: a function invocation must not sleep for minutes;
    a longer wait goes back to the caller (error.retry_after) to reschedule with a delayed message.
    """

    max_attempts: int = 4
    max_total_seconds: float = 20.0
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 8.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.max_total_seconds < 0 or self.backoff_base_seconds < 0:
            raise ValueError("retry times must not be negative")
        self.schedule()  # the backoff's own checks, at construction

    def schedule(self) -> Backoff:
        return Backoff(
            base_seconds=self.backoff_base_seconds,
            cap_seconds=self.backoff_max_seconds,
            max_attempts=self.max_attempts,
            jitter=_JITTER,
        )

    def backoff(self, attempt: int, rand: Callable[[], float] = draw) -> float:
        """Delay after failed attempt `attempt` (1-based): exponential, jittered in [d/2, d]."""
        return self.schedule().backoff(attempt, draw=rand())

    def wait(
        self, attempt: int, retry_after: float | None, rand: Callable[[], float] = draw
    ) -> float:
        """Before resending: the server's Retry-After when it names a wait, else the backoff."""
        return self.schedule().delay(attempt, retry_after, draw=rand())
