"""Pure decisions about one backup attempt."""

from __future__ import annotations

from backup_triggers.outcomes import GiveUp, attempts_exhausted
from shared.policy.backoff import Backoff


def test_attempts_are_bounded_whatever_the_answers() -> None:
    backoff = Backoff(max_attempts=4)
    assert attempts_exhausted(4, backoff) is None
    stop = attempts_exhausted(5, backoff)
    assert isinstance(stop, GiveUp)
    assert stop.code == "GaveUp" and "4 attempts" in stop.message
