"""The retention rule (pure): which points are kept, until when, and when a copy must be full."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.data_store.retention import (
    RetentionPolicy,
    expiries,
    kept,
    needs_full_copy,
    sweep_due,
)
from shared.errors import ConfigError
from shared.settings import Settings

START = datetime(2024, 1, 1, tzinfo=UTC)


def reference_kept(policy: RetentionPolicy, times: dict[str, datetime], now: datetime) -> set[str]:
    """The rule as the README states it, written the slow way."""
    def newest_in(same_period: object) -> set[str]:
        groups: dict[object, str] = {}
        for p, t in sorted(times.items(), key=lambda item: (item[1], item[0])):
            groups[same_period(t.date())] = p  # type: ignore[operator]
        return set(groups.values())

    today = now.date()
    keep = {p for p, t in times.items() if (today - t.date()).days < policy.daily}
    rules = [
        (policy.weekly, lambda d: d.isocalendar()[:2],
         lambda d: (today - timedelta(days=today.weekday()) - (d - timedelta(days=d.weekday())))
         .days // 7),
        (policy.monthly, lambda d: (d.year, d.month),
         lambda d: (today.year - d.year) * 12 + today.month - d.month),
        (policy.yearly, lambda d: d.year, lambda d: today.year - d.year),
    ]
    for count, period, distance in rules:
        for p in newest_in(period):
            if distance(times[p].date()) < count:
                keep.add(p)
    if times:
        keep.add(max(times, key=lambda p: (times[p], p)))
    return keep


policies = st.builds(RetentionPolicy, daily=st.integers(1, 40), weekly=st.integers(0, 15),
                     monthly=st.integers(0, 30), yearly=st.integers(0, 8))
point_times = st.lists(st.integers(0, 4 * 365 * 24), min_size=0, max_size=60, unique=True).map(
    lambda hours: {f"p{h:06d}": START + timedelta(hours=h) for h in hours})


@settings(max_examples=300, deadline=None)
@given(policies, point_times, st.integers(0, 5 * 365 * 24))
def test_kept_is_the_rule_as_written(
    policy: RetentionPolicy, times: dict[str, datetime], now_hours: int
) -> None:
    now = max([START + timedelta(hours=now_hours), *times.values()])
    assert kept(policy, times, now) == reference_kept(policy, times, now)


@settings(max_examples=200, deadline=None)
@given(policies, point_times, st.integers(0, 5 * 365 * 24))
def test_a_point_is_kept_exactly_until_its_expiry_and_sweeping_again_keeps_the_same(
    policy: RetentionPolicy, times: dict[str, datetime], now_hours: int
) -> None:
    now = max([START + timedelta(hours=now_hours), *times.values()])
    keep = kept(policy, times, now)
    ends = expiries(policy, times)
    newest = max(times, key=lambda p: (times[p], p)) if times else None
    for p in times:
        assert (p in keep) == (now < ends[p] or p == newest)
        assert ends[p] >= times[p] + timedelta(days=policy.daily - 1)  # never before `daily`
    survivors = {p: times[p] for p in keep}
    assert kept(policy, survivors, now) == keep


def test_three_years_of_daily_points_keep_the_documented_set() -> None:
    times = {f"d{n:04d}": START + timedelta(days=n, hours=2) for n in range(3 * 365)}
    now = max(times.values()) + timedelta(hours=1)  # Wednesday 30 December 2026
    days = sorted(times[p].date() for p in kept(RetentionPolicy(), times, now))
    daily = [date(2026, 12, 30) - timedelta(days=n) for n in range(34, -1, -1)]  # from 26 Nov
    # The newest of each of the 12 ISO weeks back to the one of Monday 12 October: Sundays.
    weekly = [date(2026, 10, 18) + timedelta(weeks=n) for n in range(6)]  # 18 Oct .. 22 Nov
    monthly = [date(y, m + 1, 1) - timedelta(days=1) if m < 12 else date(y, 12, 31)
               for y, m in [(2025, m) for m in range(1, 13)] + [(2026, m) for m in range(1, 11)]]
    yearly = [date(2024, 12, 31)]  # 2025's is a month end, 2026's the newest point
    assert days == sorted(set(daily + weekly + monthly + yearly))
    assert len(days) == 35 + 6 + 22 + 1


def test_needs_full_copy_says_why() -> None:
    assert needs_full_copy(None) == "no earlier point holds this table"
    assert needs_full_copy(3, 30) is None
    assert needs_full_copy(29, 30) is None
    assert needs_full_copy(30, 30) == "the chain since the last full copy reached 30 increments"
    assert needs_full_copy(2, change_tracking=False) == "change tracking is off for this table"
    assert needs_full_copy(2, token_expired=True) == "the change tracking token expired"


@pytest.mark.parametrize(("text", "expected"), [
    ("daily=35,weekly=12,monthly=24,yearly=7", RetentionPolicy(35, 12, 24, 7)),
    (" daily = 7 , yearly=10", RetentionPolicy(7, 0, 0, 10)),
    ("DAILY=1", RetentionPolicy(1, 0, 0, 0)),
])
def test_policy_parses(text: str, expected: RetentionPolicy) -> None:
    assert RetentionPolicy.parse(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("weekly=4", "daily must be at least 1"),
    ("daily=7,hourly=3", "'hourly=3' is not one of"),
    ("daily=7,daily=8", "daily is given twice"),
    ("daily=-1", "daily must be a whole number from 0 to 3660"),
    ("daily=٣", "daily must be a whole number"),
    ("daily", "'daily' is not one of"),
])
def test_bad_policies_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        RetentionPolicy.parse(text)


def test_settings_read_the_data_backup_settings() -> None:
    base = {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    default = Settings.from_env(base)
    assert default.data_backup_storage.reveal() == "UseDevelopmentStorage=true"
    assert default.data_backup_container == "ppbackup-data"
    assert default.data_backup_retention == RetentionPolicy(35, 12, 24, 7)
    assert default.data_backup_blob_service_uri is None
    custom = Settings.from_env({
        **base, "DATA_BACKUP_STORAGE": "AccountName=stdbx", "DATA_BACKUP_CONTAINER": "backups-1",
        "DATA_BACKUP_RETENTION": "daily=40", "DATA_BACKUP_STORAGE__blobServiceUri":
        "https://stdbx.blob.core.windows.net/"})
    assert custom.data_backup_storage.reveal() == "AccountName=stdbx"
    assert custom.data_backup_blob_service_uri == "https://stdbx.blob.core.windows.net"
    assert (custom.data_backup_container, custom.data_backup_retention.daily) == ("backups-1", 40)
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**base, "DATA_BACKUP_CONTAINER": "Bad_Name",
                           "DATA_BACKUP_RETENTION": "weekly=2",
                           "DATA_BACKUP_STORAGE__blobServiceUri": "http://example.com"})
    text = str(error.value)
    assert "DATA_BACKUP_CONTAINER 'Bad_Name' is not a blob container name" in text
    assert "DATA_BACKUP_RETENTION: daily must be at least 1" in text
    assert "DATA_BACKUP_STORAGE__blobServiceUri must use https" in text


def exact_deletable(
    times: dict[str, datetime], modes: dict[str, dict[str, str]], keep: set[str]
) -> set[str]:
    """What `DataStore.sweep` deletes, from the chains a data backup writes: each incremental of
    a table is read on top of the point before it that holds the table, back to a full copy."""
    order = sorted(times, key=lambda p: (times[p], p))
    chains: dict[tuple[str, str], tuple[str, ...]] = {}  # (point, table) -> the table's chain
    last: dict[str, str] = {}
    for point in order:
        for table, mode in modes[point].items():
            before = last.get(table)
            chains[(point, table)] = (
                (*chains[(before, table)], before) if mode == "incremental" and before else ())
            last[table] = point
    roots = keep | set(last.values())
    held = roots | {p for (point, _), chain in chains.items() if point in roots for p in chain}
    return set(times) - held


point_modes = st.lists(
    st.dictionaries(st.sampled_from(["account", "contact"]),
                    st.sampled_from(["full", "incremental"]), min_size=1),
    min_size=1, max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(policies, point_modes, st.lists(st.integers(1, 72), min_size=40, max_size=40),
       st.integers(0, 400 * 24))
def test_a_sweep_is_due_exactly_when_it_would_delete_a_point(
    policy: RetentionPolicy, modes_list: list[dict[str, str]], gaps: list[int], later: int
) -> None:
    times: dict[str, datetime] = {}
    at = START
    for number, gap in enumerate(gaps[: len(modes_list)]):
        at += timedelta(hours=gap)
        times[f"p{number:03d}"] = at
    modes = dict(zip(sorted(times), modes_list, strict=True))
    # A chain starts at a full copy: a table's first point is one.
    seen: set[str] = set()
    for point in sorted(times):
        modes[point] = {t: ("full" if t not in seen else m) for t, m in modes[point].items()}
        seen |= set(modes[point])
    now = at + timedelta(hours=later)
    keep = kept(policy, times, now)
    points = {p: (times[p], modes[p]) for p in times}
    due = sweep_due(points, keep, [], now, timedelta(days=7))
    assert due == bool(exact_deletable(times, modes, keep))


def test_files_of_a_point_that_never_completed_make_a_sweep_due_once_past_the_grace() -> None:
    at = datetime(2026, 12, 3, 2, tzinfo=UTC)
    points = {"20261203T020000000Z-00000001": (at, {"account": "full"})}
    keep = set(points)
    abandoned = "20261201T020000000Z-00000002"
    grace = timedelta(days=7)
    assert not sweep_due(points, keep, [*points, abandoned], at, grace)
    assert sweep_due(points, keep, [*points, abandoned], at + timedelta(days=7), grace)
