"""Timer schedules: NCRONTAB expressions and TimeSpan intervals.

NCRONTAB is read by `shared.policy.ncrontab`, the reading the app's backup rounds use to name
their slots (six fields with seconds first, or five; day-of-month AND day-of-week; local time of
`WEBSITE_TIME_ZONE`), so a firing of this host and the slot it is attributed to never disagree.
An `hh:mm:ss` TimeSpan means "every interval" (App Service plans accept it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ppbackup.host.host_config import parse_timespan
from shared.policy.ncrontab import Ncrontab, time_zone


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (an aware datetime)."""
        ...


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
    try:
        return Ncrontab.parse(text, time_zone(environ.get("WEBSITE_TIME_ZONE")))
    except ValueError as error:
        raise ValueError(f"schedule {error}") from None
