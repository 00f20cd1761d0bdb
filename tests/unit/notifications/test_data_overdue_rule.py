"""When an environment's data backups are overdue (pure): more than two schedule periods
without a complete point, plus the grace the round at the deadline gets to finish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notifications.alert_rules import data_backup_overdue
from shared.policy.ncrontab import Ncrontab

ENV = "6b1c2d3e-0000-4000-8000-00000000e001"
DAILY = Ncrontab.parse("0 0 2 * * *", seconds=True)
HOURLY = Ncrontab.parse("0 30 * * * *", seconds=True)
POINT = datetime(2026, 11, 1, 2, 0, 40, tzinfo=UTC)


def overdue(schedule: Ncrontab, last: datetime | None, now: datetime,
            watched: datetime = POINT) -> bool:
    return data_backup_overdue(schedule, ENV, "Contoso", last, watched, now) is not None


def test_daily_one_missed_round_is_not_overdue_two_are_after_the_grace() -> None:
    # Nov 2 02:00 missed, Nov 3 02:00 running: two periods passed, the round has until 08:00.
    assert not overdue(DAILY, POINT, POINT + timedelta(days=2))
    assert not overdue(DAILY, POINT, POINT + timedelta(days=2, hours=6))
    assert overdue(DAILY, POINT, POINT + timedelta(days=2, hours=6, seconds=1))


def test_hourly_grace_is_a_quarter_period() -> None:
    point = datetime(2026, 11, 1, 2, 30, 5, tzinfo=UTC)
    assert not overdue(HOURLY, point, point + timedelta(hours=2, minutes=15))
    assert overdue(HOURLY, point, point + timedelta(hours=2, minutes=15, seconds=1))


def test_never_backed_up_counts_from_when_it_was_first_watched() -> None:
    alert = data_backup_overdue(DAILY, ENV, None, None, POINT, POINT + timedelta(days=3))
    assert alert is not None and alert.last_point is None and alert.since == POINT
    assert not overdue(DAILY, None, POINT + timedelta(days=1))


def test_one_event_per_episode() -> None:
    first = data_backup_overdue(DAILY, ENV, "a", POINT, POINT, POINT + timedelta(days=3))
    later = data_backup_overdue(DAILY, ENV.upper(), "b", POINT, POINT, POINT + timedelta(days=9))
    assert first is not None and later is not None
    assert first.event_id == later.event_id  # same newest point: the same situation
    newer_point = POINT + timedelta(days=4)
    after = data_backup_overdue(DAILY, ENV, "a", newer_point, POINT, POINT + timedelta(days=9))
    assert after is not None and after.event_id != first.event_id  # a new episode


@given(st.integers(0, 400 * 24 * 60), st.integers(0, 10 * 24 * 60))
def test_overdue_exactly_past_two_periods_and_the_grace(start: int, elapsed: int) -> None:
    last = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=start)
    now = last + timedelta(minutes=elapsed)
    assert overdue(DAILY, last, now) == (now - last > timedelta(days=2, hours=6))
