"""Which answers are retried, how long to wait, and when to stop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications.retry_policy import (
    MAX_AGE,
    MAX_ATTEMPTS,
    MAX_DELAY_SECONDS,
    Accepted,
    Permanent,
    Retryable,
    backoff_seconds,
    classify_response,
    classify_transport_error,
    next_delay,
)

NOW = datetime(2026, 11, 21, 1, 45, tzinfo=UTC)


@pytest.mark.parametrize("status", [200, 202, 204])
def test_2xx_is_accepted(status: int) -> None:
    assert classify_response(status, None, "", now=NOW) == Accepted(status)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_throttling_timeouts_and_server_errors_are_retried(status: int) -> None:
    verdict = classify_response(status, "7", "busy", now=NOW)
    assert isinstance(verdict, Retryable)
    assert (verdict.status, verdict.retry_after) == (status, 7.0)


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 410, 413])
def test_other_answers_are_permanent(status: int) -> None:
    assert isinstance(classify_response(status, None, "", now=NOW), Permanent)


def test_a_legacy_connector_error_inside_a_200_is_judged_by_its_inner_status() -> None:
    body = ("Webhook message delivery failed with error: Microsoft Teams endpoint returned "
            "HTTP error 413 with ContextId ...")
    assert isinstance(classify_response(200, None, body, now=NOW), Permanent)
    throttled = body.replace("413", "429")
    assert isinstance(classify_response(200, None, throttled, now=NOW), Retryable)


def test_reasons_never_echo_urls_or_signatures() -> None:
    body = 'failed for https://prod-01.westeurope.logic.azure.com/workflows/x?sig=SECRET&sv=1'
    verdict = classify_response(404, None, body, now=NOW)
    assert isinstance(verdict, Permanent)
    assert "SECRET" not in verdict.reason
    assert "logic.azure.com" not in verdict.reason
    other = classify_response(400, None, "bad sig=SECRET", now=NOW)
    assert isinstance(other, Permanent)
    assert "SECRET" not in other.reason


def test_transport_errors_are_retried() -> None:
    assert classify_transport_error("ConnectError") == Retryable("no answer (ConnectError)")


def test_retry_after_wins_over_the_backoff() -> None:
    verdict = Retryable("HTTP 429", 429, retry_after=45.0)
    assert next_delay(verdict, attempts=1, first_attempt_at=NOW, now=NOW) == 45.0
    # `Retry-After: 0` names no wait: the delivery backoff decides (tests/unit/policy).
    assert next_delay(Retryable("x", 429, 0.0), attempts=1, first_attempt_at=NOW, now=NOW) == 30.0


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_seconds(n) for n in (1, 2, 3)] == [30.0, 60.0, 120.0]
    assert backoff_seconds(40) == MAX_DELAY_SECONDS
    assert 24.0 <= backoff_seconds(1, jitter=-1) < backoff_seconds(1, jitter=1) <= 36.0


def test_retries_stop_after_the_attempt_limit() -> None:
    verdict = Retryable("HTTP 503", 503)
    assert next_delay(verdict, attempts=MAX_ATTEMPTS - 1, first_attempt_at=NOW, now=NOW)
    assert next_delay(verdict, attempts=MAX_ATTEMPTS, first_attempt_at=NOW, now=NOW) is None


def test_retries_never_reach_past_the_age_limit() -> None:
    late = NOW + MAX_AGE - timedelta(seconds=20)
    assert next_delay(Retryable("x"), attempts=1, first_attempt_at=NOW, now=late) is None
    far = Retryable("HTTP 429", 429, retry_after=MAX_AGE.total_seconds() + 1)
    assert next_delay(far, attempts=1, first_attempt_at=NOW, now=NOW) is None


@given(st.lists(st.floats(-1, 1), min_size=MAX_ATTEMPTS, max_size=MAX_ATTEMPTS))
def test_a_whole_retry_schedule_stays_within_its_bounds(jitters: list[float]) -> None:
    now, attempts = NOW, 0
    while True:
        attempts += 1
        delay = next_delay(Retryable("x"), attempts=attempts, first_attempt_at=NOW, now=now,
                           jitter=jitters[attempts - 1])
        if delay is None:
            break
        assert 1.0 <= delay <= MAX_DELAY_SECONDS * 1.2
        now += timedelta(seconds=delay)
    assert attempts <= MAX_ATTEMPTS
    assert now <= NOW + MAX_AGE


@pytest.mark.parametrize("retry_after", [1e14, 1e300])
def test_a_retry_after_too_large_for_any_date_gives_up(retry_after: float) -> None:
    verdict = Retryable("HTTP 429", 429, retry_after)
    assert next_delay(verdict, attempts=1, first_attempt_at=NOW, now=NOW) is None
