"""The local host's queue polling back-off: bounded by maxPollingInterval whatever the jitter."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ppbackup.host.host_config import MIN_POLLING_INTERVAL
from ppbackup.host.queue_listener import next_poll_delay

maximums = st.floats(min_value=MIN_POLLING_INTERVAL, max_value=60.0)
jitters = st.floats(min_value=0.8, max_value=1.2)


@given(maximums, st.lists(jitters, min_size=1, max_size=40))
def test_an_idle_queue_is_polled_ever_less_often_up_to_the_maximum(
    maximum: float, draws: list[float]
) -> None:
    delay = MIN_POLLING_INTERVAL
    for jitter in draws:
        following = next_poll_delay(delay, maximum=maximum, jitter=jitter)
        assert MIN_POLLING_INTERVAL <= following <= maximum
        assert following >= min(maximum, delay * 1.6)  # roughly doubles until capped
        delay = following


@given(maximums)
def test_the_cap_is_reached_and_held(maximum: float) -> None:
    delay = MIN_POLLING_INTERVAL
    for _ in range(64):
        delay = next_poll_delay(delay, maximum=maximum, jitter=0.8)
    assert delay == maximum
