"""How long to wait out a platform that cannot serve a step now, for every kind (pure).

Busy (409), throttling (429) and outages are waited out with the shared backoff
(`shared/policy/backoff.py`): a throttle's `Retry-After` exactly, a busy or failing platform's as a
lower bound. A lost answer is looked into soon: the call may have been carried out.
"""

from __future__ import annotations

from engine.answers import Busy, Lost, Throttled, Unavailable
from engine.config import EngineConfig

Retryable = Busy | Throttled | Unavailable | Lost
RETRYABLE = (Busy, Throttled, Unavailable, Lost)


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
