"""Timer schedules read as the Azure Functions timer trigger reads them: one reading for the
host that fires the timer and for the backup round that names its slot.

The Functions host uses the NCrontab library, so:

* Six fields, seconds first: `{second} {minute} {hour} {day} {month} {day-of-week}`; the classic
  five (no seconds) are accepted too, as the host accepts them.
* Day-of-month AND day-of-week must both match when both are restricted (`0 0 1 1 * Mon` is a
  Monday that is the 1st), unlike Vixie cron's OR.
* Local time of `WEBSITE_TIME_ZONE` (a tz database name on Linux, where Python apps run), UTC
  when unset. Occurrences are returned in UTC. In the hour a daylight-saving change skips or
  repeats, croniter's answer is taken (a skipped time fires at the change, a repeated one twice);
  whether the host does the same there is not verified, but firing and slot always agree.

Two readings that disagree give one firing two slot ids, and so a second backup of every
environment: hence this one module. croniter does the arithmetic; it is imported on first use,
not with this module, so the function app's start does not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SIX_FIELDS = "{second} {minute} {hour} {day} {month} {day-of-week}"


def time_zone(name: str | None) -> tzinfo:
    """The zone `WEBSITE_TIME_ZONE` names; UTC when it is empty or unset."""
    text = (name or "").strip()
    if not text:
        return UTC
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(
            f"WEBSITE_TIME_ZONE '{text}' is not an IANA time zone name such as 'Europe/Berlin' "
            "(Windows names like 'W. Europe Standard Time' work only on Windows plans, which "
            "do not run Python)"
        ) from error


@dataclass(frozen=True, slots=True)
class Ncrontab:
    expression: str
    zone: tzinfo = UTC

    @classmethod
    def parse(cls, expression: str, zone: tzinfo = UTC, *, seconds: bool = False) -> Ncrontab:
        """A schedule; `ValueError` says what is wrong. `seconds`: only the six-field form."""
        from croniter import croniter

        text = " ".join(expression.split())
        count = len(text.split(" ")) if text else 0
        allowed = (6,) if seconds else (5, 6)
        if count not in allowed:
            five = "" if seconds else " (or five, without seconds)"
            raise ValueError(
                f"'{expression}' is not NCRONTAB: it needs six fields{five}, {SIX_FIELDS}; "
                f"it has {count}"
            )
        if not croniter.is_valid(text, second_at_beginning=True):
            raise ValueError(f"'{expression}' is not a valid NCRONTAB expression")
        return cls(text, zone)

    def next_after(self, moment: datetime) -> datetime:
        """The first occurrence strictly after `moment` (an aware datetime), in UTC."""
        return self._iterator(moment).get_next(datetime).astimezone(UTC)

    def slot_of(self, fired_at: datetime) -> datetime:
        """The occurrence a firing at `fired_at` belongs to, in UTC: the newest one not after it,
        or the coming one when the firing is at most `early_tolerance` before it.

        A firing lands a little after its occurrence, or much later when the host runs a missed
        one as past due after a restart; either way it belongs to the newest occurrence. NCRONTAB
        counts whole seconds, so a firing within its occurrence's second belongs to it. Azure
        timers also fire a few milliseconds early (azure-functions-host #7398, #8254), and the
        binding gives no scheduled time to read instead: without the tolerance a firing at
        00:59:59.995 would name yesterday's 01:00, whose requestIds are all taken, and the day's
        backups would be skipped.
        """
        just_after = fired_at.replace(microsecond=0) + timedelta(seconds=1)
        newest = self._iterator(just_after).get_prev(datetime).astimezone(UTC)
        coming = self.next_after(newest)
        if coming - fired_at <= _tolerance(coming - newest):
            return coming
        return newest

    def early_tolerance(self, occurrence: datetime) -> timedelta:
        """How long before `occurrence` a firing still belongs to it: a minute, or half the gap
        from the occurrence before when that is shorter, so a frequent schedule's firing is never
        taken for the next one's."""
        previous = self._iterator(occurrence).get_prev(datetime).astimezone(UTC)
        return _tolerance(occurrence - previous)

    def _iterator(self, moment: datetime) -> _Occurrences:
        from croniter import croniter

        if moment.tzinfo is None:
            raise ValueError("schedule times must be timezone-aware")
        found: _Occurrences = croniter(
            self.expression,
            moment.astimezone(self.zone),
            ret_type=datetime,
            day_or=False,
            second_at_beginning=True,
        )
        return found


EARLY_FIRING = timedelta(minutes=1)


def _tolerance(gap: timedelta) -> timedelta:
    return min(EARLY_FIRING, gap / 2)


class _Occurrences(Protocol):
    """What is used of croniter's iterator (croniter ships no types)."""

    def get_next(self, ret_type: type[datetime]) -> datetime: ...

    def get_prev(self, ret_type: type[datetime]) -> datetime: ...
