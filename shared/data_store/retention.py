"""Which points are kept, and until when (pure): `DATA_BACKUP_RETENTION`, grandfather-father-son.

`daily=N,weekly=N,monthly=N,yearly=N`, read in UTC calendar periods:

- **daily**: every point of the last N days (today counts as one) is kept. Every point, not one a
  day: an on-demand point taken before an import must not vanish because the timer ran later that
  day, and the store's immutability (35 days by default) forbids deleting it anyway.
- **weekly / monthly / yearly**: the newest point of each of the last N ISO weeks / months /
  years is kept.

A point's expiry is the first instant none of these keeps it; the newest point of an environment
is kept whatever its age (backups that stopped must not empty the store). Nothing is deleted
before its expiry; an incremental point also holds the points its chain reads (store.sweep).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.data_store.manifest import INCREMENTAL

DEFAULT_RETENTION = "daily=35,weekly=12,monthly=24,yearly=7"
DEFAULT_CHAIN_BOUND = 30
_KINDS = ("daily", "weekly", "monthly", "yearly")
_MAX = {"daily": 3660, "weekly": 520, "monthly": 1200, "yearly": 100}


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    daily: int = 35
    weekly: int = 12
    monthly: int = 24
    yearly: int = 7

    @classmethod
    def parse(cls, text: str) -> RetentionPolicy:
        """Parse `daily=N,weekly=N,monthly=N,yearly=N` (any subset; missing ones are 0)."""
        values: dict[str, int] = {}
        problems: list[str] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            name, sep, number = (s.strip() for s in item.partition("="))
            name = name.lower()
            if not sep or name not in _KINDS:
                problems.append(f"{item!r} is not one of daily=N, weekly=N, monthly=N, yearly=N")
            elif name in values:
                problems.append(f"{name} is given twice")
            elif not (number.isascii() and number.isdigit()) or int(number) > _MAX[name]:
                problems.append(f"{name} must be a whole number from 0 to {_MAX[name]}")
            else:
                values[name] = int(number)
        if not problems and values.get("daily", 0) < 1:
            problems.append("daily must be at least 1 (the newest points are what a restore uses)")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**{kind: values.get(kind, 0) for kind in _KINDS})


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _period(kind: str, day: date) -> int:
    if kind == "daily":
        return day.toordinal()
    if kind == "weekly":
        return (day.toordinal() - 1) // 7  # ordinal 1 (0001-01-01) is a Monday
    if kind == "monthly":
        return day.year * 12 + day.month - 1
    return day.year


def _period_start(kind: str, period: int) -> datetime:
    if kind == "daily":
        start = date.fromordinal(period)
    elif kind == "weekly":
        start = date.fromordinal(period * 7 + 1)
    elif kind == "monthly":
        start = date(period // 12, period % 12 + 1, 1)
    else:
        start = date(period, 1, 1)
    return datetime(start.year, start.month, start.day, tzinfo=UTC)


def expiries(policy: RetentionPolicy, times: Mapping[str, datetime]) -> dict[str, datetime]:
    """Each point's expiry, given every point of one environment (id -> time)."""
    newest_in: dict[tuple[str, int], str] = {}
    for point_id, at in times.items():
        for kind in _KINDS[1:]:
            key = (kind, _period(kind, _day(at)))
            current = newest_in.get(key)
            if current is None or (at, point_id) > (times[current], current):
                newest_in[key] = point_id
    result: dict[str, datetime] = {}
    for point_id, at in times.items():
        day = _day(at)
        ends = [_period_start("daily", _period("daily", day) + policy.daily)]
        for kind in _KINDS[1:]:
            count = getattr(policy, kind)
            period = _period(kind, day)
            if count > 0 and newest_in[(kind, period)] == point_id:
                ends.append(_end_of(kind, period, count))
        result[point_id] = max(ends)
    return result


def _end_of(kind: str, period: int, count: int) -> datetime:
    try:
        return _period_start(kind, period + count)
    except (ValueError, OverflowError):
        return datetime.max.replace(tzinfo=UTC)


def kept(policy: RetentionPolicy, times: Mapping[str, datetime], now: datetime) -> set[str]:
    """The points the rule keeps at `now`; the newest point is always among them."""
    keep = {p for p, end in expiries(policy, times).items() if now < end}
    if times:
        keep.add(max(times, key=lambda p: (times[p], p)))
    return keep


def sweep_due(
    points: Mapping[str, tuple[datetime, Mapping[str, str]]], keep: Set[str],
    folders: Iterable[str], now: datetime, grace: timedelta,
) -> bool:
    """Whether a sweep could delete anything, judged from the catalog alone, so a point that
    expires nothing pays no sweep (a sweep reads every chained manifest).

    `points`: each complete point's time and its tables' modes; `keep`: the points the rule
    keeps; `folders`: the point ids that have files. Due when a point is neither kept nor read by
    a kept point's chain or the newest chain of a table (a chain taken as the points holding the
    table back to its last full copy: what `sweep` finds in the manifests, unless two backups of
    one environment overlapped, and then this errs towards a sweep or keeps a point a little
    longer), or when files of a point that never completed are older than `grace`.
    """
    by_table: dict[str, list[str]] = defaultdict(list)
    for point_id in sorted(points, key=lambda p: (points[p][0], p)):
        for table in points[point_id][1]:
            by_table[table].append(point_id)
    roots = set(keep) | {ids[-1] for ids in by_table.values()}
    needed = set(roots)
    for table, ids in by_table.items():
        for at in (i for i, point_id in enumerate(ids) if point_id in roots):
            while at > 0 and points[ids[at]][1][table] == INCREMENTAL:
                at -= 1
                needed.add(ids[at])
    if set(points) - needed:
        return True
    return any(f not in points and started_before(f, now - grace) for f in folders)


def started_before(point_id: str, moment: datetime) -> bool:
    """Whether a point id's time (its first 15 characters) is before `moment`."""
    try:
        stamp = datetime.strptime(point_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return False
    return stamp < moment


def needs_full_copy(
    chain_length: int | None,
    bound: int = DEFAULT_CHAIN_BOUND,
    *,
    change_tracking: bool = True,
    token_expired: bool = False,
) -> str | None:
    """Why a table must be copied in full at the next point, or None for an incremental.

    `chain_length` is the number of incremental points since the table's last full copy in the
    previous point that holds it (0 when that point is the full copy), None when no point holds
    the table yet. A long chain makes a restore read many points and holds expired points in the
    store, so past `bound` increments the next point starts a new chain.
    """
    if chain_length is None:
        return "no earlier point holds this table"
    if not change_tracking:
        return "change tracking is off for this table"
    if token_expired:
        return "the change tracking token expired"
    if chain_length + 1 > bound:
        return f"the chain since the last full copy reached {bound} increments"
    return None
