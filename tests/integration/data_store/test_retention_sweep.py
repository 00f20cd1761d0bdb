"""Three simulated years of daily points, swept as the retention timer would: exactly the points
the rule keeps (and the chains they read) remain, and every kept point still reconstructs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.data_store import (
    FULL,
    INCREMENTAL,
    DataStore,
    RetentionPolicy,
    TableCommit,
    kept,
    needs_full_copy,
    new_point_id,
)
from tests.integration.data_store.conftest import ENV

pytestmark = [pytest.mark.azurite, pytest.mark.slow]

START = datetime(2024, 1, 1, 2, 0, tzinfo=UTC)
BOUND = 7  # a full copy at least once a week, so chains stay short


def canonical(rows: Any) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def test_three_years_of_daily_points_leave_exactly_what_the_rule_keeps(store: DataStore) -> None:
    policy = RetentionPolicy()
    state: dict[str, dict[str, Any]] = {f"id-{n}": {"accountid": f"id-{n}", "name": "new"}
                                        for n in range(3)}
    expected: dict[str, list[str]] = {}
    chains: dict[str, list[str]] = {}
    times: dict[str, datetime] = {}
    previous: str | None = None
    chain: list[str] = []
    for day in range(3 * 365):
        at = START + timedelta(days=day)
        point = new_point_id(at)
        why_full = needs_full_copy(None if previous is None else len(chain) - 1, BOUND)
        changed = dict(state[f"id-{day % 3}"], name=f"day {day}")
        state[changed["accountid"]] = changed
        rows = list(state.values()) if why_full else [changed]
        store.write_rows(ENV, point, "account", 0, rows, id_column="accountid")
        store.commit_point(ENV, point, at, None, [TableCommit(
            "account", FULL if why_full else INCREMENTAL, "accountid", 1,
            previous=None if why_full else previous)])
        chain = [point] if why_full else [*chain, point]
        chains[point] = chain[:-1]
        expected[point] = canonical(state.values())
        times[point] = at
        previous = point
        if day % 182 == 181:  # the retention timer, now and then
            store.sweep(ENV, policy, at + timedelta(hours=1))
    now = START + timedelta(days=3 * 365 - 1, hours=3)
    result = store.sweep(ENV, policy, now)

    keep = kept(policy, times, now)
    held = {p for k in keep for p in chains[k]} - keep
    remaining = {e.point_id for e in store.list_points(ENV, now=now)}
    assert remaining == keep | held
    assert set(result.kept) == keep and set(result.held) == held
    assert len(keep) == 64 and not result.failures
    for point in sorted(keep | held):
        assert canonical(store.read_table(ENV, point, "account")) == expected[point], point
    # Nothing of a deleted point is left behind.
    leftover = {n.split("/")[2] for n in store.container.list_blob_names(
        name_starts_with=f"{ENV}/points/")}
    assert leftover == keep | held
