"""Slip (issue 7): a `Retry-After: 0` must never become an immediate retry loop.

A 429 saying "retry after 0 seconds" (or an HTTP-date already past) names no wait at all. Every
place that waits on a server's word must then fall back on its own backoff, so a throttled
platform or receiver is never asked again at once, tens of times in a row.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_triggers import backing_up
from backup_triggers.state import BackupState
from engine import answers as a
from engine.decision import WaitFor
from notifications.retry_policy import Retryable, backoff_seconds, next_delay
from restore_orchestrator.decide import decide
from restore_orchestrator.phases import Phase
from restore_orchestrator.polling import poll_delay
from tests.unit.power_platform.conftest import ENV, Harness
from tests.unit.restore_orchestrator.builders import CONFIG, NOW, state

Make = Callable[..., Harness]
BACKUP = {"id": "b1", "label": "x", "backupPointDateTime": "2026-11-21T11:59:00Z"}
ZERO_WAITS = ["0", "Thu, 01 Jan 1970 00:00:00 GMT"]


@pytest.mark.parametrize("header", ZERO_WAITS)
def test_the_platform_client_backs_off_instead_of_resending_at_once(
    make: Make, header: str
) -> None:
    h = make(
        *[httpx.Response(429, headers={"Retry-After": header})] * 3,
        httpx.Response(201, json=BACKUP),
    )
    assert h.client.create_backup(ENV, "x").id == "b1"
    assert len(h.requests) == 4
    assert len(h.time.sleeps) == 3
    # The client's own backoff: jittered within [d/2, d] of 1, 2, 4 seconds.
    for slept, full in zip(h.time.sleeps, (1.0, 2.0, 4.0), strict=True):
        assert full / 2 <= slept <= full


def backing_up_state(attempts: int) -> BackupState:
    return BackupState(ENV, "x", seq=3, intent_at=NOW, tries=1, attempts=attempts)


@given(st.integers(min_value=1, max_value=39))
def test_a_throttled_backup_attempt_waits_its_backoff(attempt: int) -> None:
    throttled = a.Throttled("Rate limit exceeded", retry_after=0.0)
    decision = backing_up.decide(backing_up_state(attempt - 1), throttled, NOW, CONFIG)
    assert isinstance(decision.next, WaitFor)
    assert decision.next.seconds == CONFIG.backoff.delay(attempt)


def test_forty_throttled_backup_attempts_span_hours_not_an_instant() -> None:
    throttled = a.Throttled("Rate limit exceeded", retry_after=0.0)
    total = 0.0
    for attempt in range(1, CONFIG.backoff.max_attempts):
        decision = backing_up.decide(backing_up_state(attempt - 1), throttled, NOW, CONFIG)
        assert isinstance(decision.next, WaitFor)
        total += decision.next.seconds
    assert total >= 3 * 3600


@pytest.mark.parametrize("attempts", [0, 3, 10])
def test_a_throttled_restore_step_waits_its_backoff(attempts: int) -> None:
    given_state = state(Phase.VALIDATING, work={"attempts": attempts})
    decision = decide(given_state, a.Throttled("429", retry_after=0.0), NOW, CONFIG)
    assert isinstance(decision.next, WaitFor)
    assert decision.next.seconds == CONFIG.backoff.delay(attempts + 1)


def test_a_zero_retry_after_on_a_running_operation_polls_on_our_own_schedule() -> None:
    ours = poll_delay(now=NOW, started_at=NOW, progress=(), retry_after=None, config=CONFIG)
    zero = poll_delay(now=NOW, started_at=NOW, progress=(), retry_after=0.0, config=CONFIG)
    assert zero == ours >= CONFIG.poll_min_seconds


def test_a_notification_receiver_saying_zero_gets_the_delivery_backoff() -> None:
    verdict = Retryable("HTTP 429", 429, retry_after=0.0)
    assert next_delay(verdict, attempts=1, first_attempt_at=NOW, now=NOW) == backoff_seconds(1)
