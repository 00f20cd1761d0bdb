"""Timer schedules: NCRONTAB expressions and TimeSpan intervals.

NCRONTAB, as the timer trigger reads it: six fields with seconds first
(`{second} {minute} {hour} {day} {month} {day-of-week}`), or the classic five without seconds.
Unlike Vixie cron, NCrontab requires day-of-month AND day-of-week to match when both are
restricted, hence `day_or=False`. Times are UTC unless `WEBSITE_TIME_ZONE` names an IANA zone.
An `hh:mm:ss` TimeSpan means "every interval" (App Service plans accept it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from ppbackup.host.host_config import parse_timespan


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (an aware datetime)."""
        ...


@dataclass(frozen=True, slots=True)
class CronSchedule:
    expression: str
    zone: tzinfo = UTC

    def next_after(self, moment: datetime) -> datetime:
        local = moment.astimezone(self.zone)
        result = croniter(
            self.expression, local, ret_type=datetime, day_or=False, second_at_beginning=True
        ).get_next(datetime)
        if not isinstance(result, datetime):  # croniter's stubs allow float
            raise TypeError("croniter returned a non-datetime")
        return result.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class IntervalSchedule:
    interval: timedelta
    anchor: datetime

    def next_after(self, moment: datetime) -> datetime:
        elapsed = (moment - self.anchor) // self.interval
        return self.anchor + (elapsed + 1) * self.interval


def parse_schedule(
    expression: str, environ: Mapping[str, str], *, now: datetime | None = None
) -> Schedule:
    """A schedule for a (resolved) timer expression; `ValueError` says what is wrong."""
    text = " ".join(expression.split())
    if ":" in text and " " not in text:
        seconds = parse_timespan(text, name="schedule")
        if seconds <= 0:
            raise ValueError(f"schedule '{expression}': an interval must be positive")
        return IntervalSchedule(timedelta(seconds=seconds), anchor=now or datetime.now(UTC))
    fields = text.split(" ")
    if len(fields) not in (5, 6):
        raise ValueError(
            f"schedule '{expression}': NCRONTAB needs 6 fields "
            "({second} {minute} {hour} {day} {month} {day-of-week}) or 5"
        )
    if not croniter.is_valid(text, second_at_beginning=True):
        raise ValueError(f"schedule '{expression}' is not a valid NCRONTAB expression")
    return CronSchedule(text, zone=_zone(environ))


def _zone(environ: Mapping[str, str]) -> tzinfo:
    name = environ.get("WEBSITE_TIME_ZONE", "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        # Windows zone names ("W. Europe Standard Time") only work on Windows plans.
        raise ValueError(f"WEBSITE_TIME_ZONE '{name}' is not an IANA time zone name") from error
