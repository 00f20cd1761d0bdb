"""Slip (issue 7): the timer's firing and its backup round's slot read BACKUP_SCHEDULE alike.

The host fires the timer by NCRONTAB (day-of-month AND day-of-week, in WEBSITE_TIME_ZONE); the
round names its slot, and so its requestIds, from the same schedule. Both firings of one slot (on
time on one instance, past due on another after a restart) must name that slot, and only that
one: a second slot id is a second backup of every environment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backup_triggers.service import run_backup_round
from ppbackup.host.schedules import parse_schedule
from ppbackup.simulator import Simulator
from shared.runtime import AppContext, use_context
from tests.integration.backup.conftest import app_settings

pytestmark = pytest.mark.azurite


def round_ids(
    storage: str, sim: Simulator, schedule: str, zone: str, fired: list[datetime]
) -> set[str]:
    extra = {"BACKUP_SCHEDULE": schedule}
    if zone:
        extra["WEBSITE_TIME_ZONE"] = zone
    ctx = AppContext.from_settings(app_settings(storage, sim, **extra))
    with use_context(ctx):
        return {run_backup_round(ctx, fired_at=moment).round_id for moment in fired}


@pytest.mark.parametrize(
    ("schedule", "zone", "after", "late", "slot"),
    [
        # 01:00 in Berlin is midnight UTC in winter and 23:00 UTC the day before in summer.
        ("0 0 1 * * *", "Europe/Berlin", "2026-01-10T12:00:00", timedelta(minutes=5),
         "20260111T000000Z"),
        ("0 0 1 * * *", "Europe/Berlin", "2026-07-10T12:00:00", timedelta(minutes=5),
         "20260710T230000Z"),
        ("0 30 22 * * Sun", "America/New_York", "2026-11-01T00:00:00", timedelta(hours=3),
         "20261102T033000Z"),
        # The 1st of a month that is a Monday: 2026-06-01. Past due by nine days (the app was
        # down), the firing still belongs to that slot, not to a Monday or a 1st in between.
        ("0 0 1 1 * Mon", "", "2026-01-01T00:00:00", timedelta(days=9), "20260601T010000Z"),
    ],
)
def test_every_firing_of_a_slot_names_that_slot_and_only_it(
    storage: str, sim: Simulator, schedule: str, zone: str, after: str, late: timedelta,
    slot: str,
) -> None:
    environ = {"WEBSITE_TIME_ZONE": zone} if zone else {}
    due = parse_schedule(schedule, environ).next_after(datetime.fromisoformat(after + "+00:00"))
    assert due.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") == slot
    on_time, past_due = due + timedelta(milliseconds=20), due + late
    # Azure timers fire a few milliseconds early too (azure-functions-host #7398): still this slot.
    early = due - timedelta(milliseconds=5)
    assert round_ids(storage, sim, schedule, zone, [early, on_time, past_due]) == {slot}
