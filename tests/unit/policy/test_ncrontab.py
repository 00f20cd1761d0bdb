"""One NCRONTAB reading: the host's firings and the backup rounds' slots agree, in any zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import ConfigError
from shared.policy.ncrontab import Ncrontab, time_zone
from shared.settings import Settings

SCHEDULES = [
    "0 0 1 * * *",
    "0 30 9 * * 1-5",
    "0 */5 * * * *",
    "15 10 3 13 * Fri",  # the 13th that is a Friday (AND), never every Friday or every 13th
    "0 0 1 1 * Mon",
    "*/5 * * * *",  # five fields, no seconds
]
ZONES = ["", "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(SCHEDULES),
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1),
                 timezones=st.just(UTC)),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_every_firing_until_the_next_belongs_to_its_own_occurrence(
    expression: str, zone: str, start: datetime, fraction: float
) -> None:
    schedule = Ncrontab.parse(expression, time_zone(zone))
    due = schedule.next_after(start)
    following = schedule.next_after(due)
    assert due.tzinfo is UTC and start < due < following
    late = timedelta(seconds=(following - due).total_seconds() * fraction)
    # Up to the next occurrence's early tolerance, where a firing is that occurrence's, early.
    fired = min(due + late, following - schedule.early_tolerance(following) - timedelta(seconds=1))
    assert schedule.slot_of(fired) == due
    assert schedule.slot_of(due + timedelta(milliseconds=999)) == due


def test_day_of_month_and_day_of_week_must_both_match() -> None:
    schedule = Ncrontab.parse("0 0 12 13 * Fri")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    firings = [start := schedule.next_after(start) for _ in range(3)]
    assert [f.date().isoformat() for f in firings] == ["2026-02-13", "2026-03-13", "2026-11-13"]


def test_local_time_follows_daylight_saving() -> None:
    schedule = Ncrontab.parse("0 0 1 * * *", time_zone("Europe/Berlin"))
    winter = schedule.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC))
    summer = schedule.next_after(winter)
    assert (winter.hour, summer.hour) == (0, 23)  # 01:00 CET, then 01:00 CEST


@pytest.mark.parametrize(
    "start", [datetime(2026, 3, 27, tzinfo=UTC), datetime(2026, 10, 23, tzinfo=UTC)]
)
def test_firings_in_a_skipped_or_repeated_hour_still_name_themselves(start: datetime) -> None:
    # 02:30 in Berlin does not exist on 29 March and happens twice on 25 October. Whatever the
    # firings are, each one's slot is itself: never a second slot id for one firing.
    schedule = Ncrontab.parse("0 30 2 * * *", time_zone("Europe/Berlin"))
    due = start
    for _ in range(5):
        due = schedule.next_after(due)
        assert schedule.slot_of(due + timedelta(minutes=20)) == due


@pytest.mark.parametrize(
    ("expression", "seconds", "message"),
    [
        ("every day", False, "needs six fields"),
        ("0 0 1 * *", True, "needs six fields"),
        ("0 0 25 * * *", False, "not a valid NCRONTAB"),
        ("", False, "it has 0"),
    ],
)
def test_a_bad_expression_says_what_is_wrong(
    expression: str, seconds: bool, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Ncrontab.parse(expression, seconds=seconds)


def test_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Ncrontab.parse("0 0 1 * * *").next_after(datetime(2026, 1, 1))


def test_settings_read_website_time_zone_and_name_a_bad_one() -> None:
    local = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    assert Settings.from_env(local).time_zone is UTC
    berlin = Settings.from_env({**local, "WEBSITE_TIME_ZONE": "Europe/Berlin"})
    assert berlin.time_zone == time_zone("Europe/Berlin")
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**local, "WEBSITE_TIME_ZONE": "W. Europe Standard Time",
                           "BACKUP_SCHEDULE": "0 0 1 * *"})
    text = str(caught.value)
    assert "WEBSITE_TIME_ZONE 'W. Europe Standard Time'" in text
    assert "BACKUP_SCHEDULE" in text and "six fields" in text


def test_a_firing_a_few_milliseconds_early_belongs_to_the_coming_occurrence() -> None:
    # Azure timers fire slightly early (azure-functions-host #7398, #8254): 00:59:59.995 is the
    # 01:00 firing, not a second firing of yesterday's (whose requestIds are all taken).
    schedule = Ncrontab.parse("0 0 1 * * *", seconds=True)
    due = datetime(2026, 3, 10, 1, 0, 0, tzinfo=UTC)
    assert schedule.slot_of(due - timedelta(milliseconds=5)) == due
    assert schedule.slot_of(due - timedelta(seconds=59)) == due
    assert schedule.slot_of(due - timedelta(minutes=2)) == due - timedelta(days=1)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from([*SCHEDULES, "* * * * * *", "*/10 * * * * *", "0 0 1,2 * * *"]),
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1),
                 timezones=st.just(UTC)),
    st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_any_firing_from_the_tolerance_before_until_the_next_belongs_to_the_occurrence(
    expression: str, zone: str, start: datetime, fraction: float
) -> None:
    schedule = Ncrontab.parse(expression, time_zone(zone))
    due = schedule.next_after(start)
    previous = schedule.slot_of(due - timedelta(microseconds=1) - schedule.early_tolerance(due))
    following = schedule.next_after(due)
    early, next_early = schedule.early_tolerance(due), schedule.early_tolerance(following)
    # Never a whole period: a frequent schedule's firing cannot be taken for the next one's.
    assert early <= min(timedelta(minutes=1), (due - previous) / 2)
    window = (following - next_early) - (due - early)
    fired = due - early + timedelta(microseconds=int(window / timedelta(microseconds=1) * fraction))
    assert schedule.slot_of(fired) == due
