"""The one backoff: exponential, capped, jittered within its range, a floor under the server's
word; and the platform client's use of it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.policy.backoff import MIN_WAIT_SECONDS, Backoff
from shared.power_platform import RetryPolicy

attempts = st.integers(min_value=1, max_value=200)
draws = st.floats(min_value=0.0, max_value=1.0)
server_waits = st.none() | st.floats(min_value=0.0, max_value=10**7, allow_nan=False)
policies = st.builds(
    Backoff,
    base_seconds=st.floats(min_value=0.01, max_value=100.0),
    cap_seconds=st.just(3600.0),
    max_attempts=st.integers(min_value=1, max_value=50),
    jitter=st.tuples(st.floats(0.1, 1.0), st.floats(1.0, 2.0)),
)


def test_doubles_from_the_base_up_to_the_cap() -> None:
    policy = Backoff(base_seconds=15.0, cap_seconds=600.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [15, 30, 60, 120, 240, 480, 600]
    assert policy.backoff(10**6) == 600.0


@given(policies, attempts, draws)
def test_every_wait_lies_in_the_jitter_range_of_the_capped_delay(
    policy: Backoff, attempt: int, draw: float
) -> None:
    full = min(policy.cap_seconds, policy.base_seconds * 2.0 ** min(attempt - 1, 64))
    low, high = policy.jitter
    wait = policy.backoff(attempt, draw=draw)
    assert full * low * (1 - 1e-9) <= wait <= full * high * (1 + 1e-9)
    assert wait > 0


@given(policies, attempts, draws, server_waits)
def test_no_wait_is_ever_shorter_than_the_floor_or_zero(
    policy: Backoff, attempt: int, draw: float, retry_after: float | None
) -> None:
    for wait in (
        policy.delay(attempt, retry_after, draw=draw),
        policy.delay_at_least(attempt, retry_after, draw=draw),
    ):
        assert wait > 0
        assert wait >= min(policy.floor_seconds, policy.backoff(attempt, draw=draw))


@given(policies, attempts, st.floats(min_value=MIN_WAIT_SECONDS, max_value=10**7))
def test_a_usable_retry_after_is_honoured_exactly_or_as_a_lower_bound(
    policy: Backoff, attempt: int, retry_after: float
) -> None:
    assert policy.delay(attempt, retry_after) == retry_after
    assert policy.delay_at_least(attempt, retry_after) == max(retry_after, policy.backoff(attempt))


@pytest.mark.parametrize("retry_after", [0.0, 0.4, math.inf, math.nan, None])
def test_a_retry_after_naming_no_wait_leaves_the_backoff_to_decide(
    retry_after: float | None,
) -> None:
    policy = Backoff()
    assert policy.server_wait(retry_after) is None
    assert policy.delay(3, retry_after) == policy.backoff(3) == 60.0


def test_a_benchmark_may_lower_the_floor_to_zero() -> None:
    assert Backoff(floor_seconds=0.0).delay(1, 0.0) == 0.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base_seconds": 0.0}, "base_seconds"),
        ({"cap_seconds": 1.0}, "cap_seconds"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"jitter": (1.2, 0.8)}, "jitter"),
        ({"floor_seconds": -1.0}, "floor_seconds"),
    ],
)
def test_nonsense_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(**changes)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=50))
def test_the_client_backoff_is_jittered_within_half_to_full_capped_delay(attempt: int) -> None:
    policy = RetryPolicy(backoff_base_seconds=1.0, backoff_max_seconds=8.0)
    full = min(8.0, 2.0 ** (attempt - 1))
    assert policy.backoff(attempt, rand=lambda: 0.0) == pytest.approx(full / 2)
    assert policy.backoff(attempt, rand=lambda: 1.0) == pytest.approx(full)
    assert full / 2 <= policy.backoff(attempt) <= full


def test_the_client_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
