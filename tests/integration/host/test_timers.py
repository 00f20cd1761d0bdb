"""Timer trigger: NCRONTAB schedules, %SETTING% resolution, no retry, one run at a time."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest

from ppbackup.host import HostConfigError, LocalHost
from ppbackup.host.schedules import IntervalSchedule, parse_schedule
from shared.policy.ncrontab import Ncrontab
from tests.integration.host.helpers import wait_for

# No queue triggers: storage is never contacted, so no Azurite is needed.
NO_STORAGE = "UseDevelopmentStorage=true"


EVERY_SECOND = Ncrontab.parse("* * * * * *")


class Ticks:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[datetime] = []
        self.past_due: list[bool] = []
        self.running = 0
        self.peak = 0

    def count(self) -> int:
        with self.lock:
            return len(self.times)

    def occurrences(self) -> list[datetime]:
        """The every-second occurrence each firing belongs to, in firing order."""
        with self.lock:
            return [EVERY_SECOND.slot_of(moment) for moment in self.times]


def timer_app(
    ticks: Ticks, schedule: str, *, run_on_startup: bool = False, fail: bool = False,
    duration: float = 0.0,
) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule=schedule, run_on_startup=run_on_startup)
    def tick(timer: func.TimerRequest) -> None:
        with ticks.lock:
            ticks.times.append(datetime.now(UTC))
            ticks.past_due.append(timer.past_due)
            ticks.running += 1
            ticks.peak = max(ticks.peak, ticks.running)
        try:
            time.sleep(duration)
            if fail:
                raise RuntimeError("timer failure")
        finally:
            with ticks.lock:
                ticks.running -= 1

    return app


def test_every_second_schedule_fires_every_second() -> None:
    ticks = Ticks()
    with LocalHost(timer_app(ticks, "* * * * * *"), storage_connection=NO_STORAGE, http_port=None):
        assert wait_for(lambda: ticks.count() >= 3, timeout=30)
    # One firing per occurrence, in order, none early (a firing names the second it belongs to).
    occurrences = ticks.occurrences()
    assert all(a < b for a, b in itertools.pairwise(occurrences)), occurrences
    assert not any(ticks.past_due)


def test_schedule_from_an_app_setting() -> None:
    ticks = Ticks()
    app = timer_app(ticks, "%TICK_SCHEDULE%")
    environ = {"TICK_SCHEDULE": "*/1 * * * * *"}
    with LocalHost(app, storage_connection=NO_STORAGE, http_port=None, environ=environ):
        assert wait_for(lambda: ticks.count() >= 2, timeout=30)


def test_missing_schedule_setting_fails_at_start_up() -> None:
    app = timer_app(Ticks(), "%TICK_SCHEDULE%")
    with pytest.raises(HostConfigError, match="TICK_SCHEDULE"):
        LocalHost(app, storage_connection=NO_STORAGE, http_port=None, environ={})


def test_invalid_schedule_fails_at_start_up() -> None:
    app = timer_app(Ticks(), "every monday")
    with pytest.raises(HostConfigError, match="NCRONTAB"):
        LocalHost(app, storage_connection=NO_STORAGE, http_port=None, environ={})


def test_failing_timer_is_not_retried_and_keeps_its_schedule() -> None:
    ticks = Ticks()
    app = timer_app(ticks, "* * * * * *", fail=True)
    with LocalHost(app, storage_connection=NO_STORAGE, http_port=None) as host:
        assert wait_for(lambda: ticks.count() >= 3, timeout=30)
    # Read once the host has stopped and drained: a firing still running has not failed yet.
    counters = host.function_counters("tick")
    # One invocation per occurrence, never an immediate retry of the same one.
    occurrences = ticks.occurrences()
    assert len(set(occurrences)) == len(occurrences), occurrences
    assert counters.failures == counters.invocations >= 3


def test_run_on_startup_fires_at_once() -> None:
    ticks = Ticks()
    # Once a year: only run_on_startup can fire it during the test.
    app = timer_app(ticks, "0 0 0 1 1 *", run_on_startup=True)
    with LocalHost(app, storage_connection=NO_STORAGE, http_port=None):
        assert wait_for(lambda: ticks.count() == 1, timeout=30)
    # Stopping the host ends its timers and drains what they started: a second firing would
    # have been counted by now.
    assert ticks.count() == 1
    assert ticks.past_due == [False]


def test_a_timer_runs_one_invocation_at_a_time() -> None:
    ticks = Ticks()
    app = timer_app(ticks, "* * * * * *", duration=1.6)
    with LocalHost(app, storage_connection=NO_STORAGE, http_port=None):
        assert wait_for(lambda: ticks.count() >= 3, timeout=30)
    assert ticks.peak == 1
    # The real TimerListener computes the next occurrence from when the invocation started, so
    # an occurrence that fell while the previous run was busy (1.6 s) fires as soon as it
    # returns (several collapse into one); it is a scheduled firing, not a past-due one.
    with ticks.lock:
        times, past_due = list(ticks.times), list(ticks.past_due)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(1.55 <= gap < 1.9 for gap in gaps), gaps
    assert not any(past_due)


def test_ncrontab_six_fields_seconds_first_and_day_and_weekday_both_apply() -> None:
    start = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)  # a Monday
    every_five_minutes = parse_schedule("0 */5 * * * *", {})
    assert every_five_minutes.next_after(start) == start + timedelta(minutes=5)
    five_fields = parse_schedule("*/5 * * * *", {})
    assert five_fields.next_after(start) == start + timedelta(minutes=5)
    # NCrontab requires both day-of-month and day-of-week: the 13th that is a Friday.
    friday_13th = parse_schedule("0 0 12 13 * 5", {})
    assert friday_13th.next_after(start) == datetime(2024, 9, 13, 12, tzinfo=UTC)
    assert isinstance(friday_13th, Ncrontab)


def test_timespan_schedule_and_time_zone() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    interval = parse_schedule("00:00:30", {}, now=start)
    assert isinstance(interval, IntervalSchedule)
    assert interval.next_after(start) == start + timedelta(seconds=30)
    daily = parse_schedule("0 0 9 * * *", {"WEBSITE_TIME_ZONE": "Europe/Berlin"})
    assert daily.next_after(start) == datetime(2024, 1, 1, 8, tzinfo=UTC)
    with pytest.raises(ValueError, match="IANA"):
        parse_schedule("0 0 9 * * *", {"WEBSITE_TIME_ZONE": "Not/AZone"})
