"""The plan streams a table: memory follows the rows that differ, never the table."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

import pytest

from data_restores.counts import tally
from data_restores.plan import plan_restore
from tests.unit.data_restores.model import SCHEMA, Row


def _rows(n: int, *, now: bool) -> Iterator[Row]:
    # ids in the order Dataverse pages them (the last group first): a counter in the last group
    for i in range(n):
        differs = now and i % 100 == 0  # 1% of the rows changed since the point
        yield {"@odata.etag": f'W/"{i}"', "accountid": f"00000000-0000-0000-0000-{i:012x}",
               "name": f"renamed {i}" if differs else f"Account {i}", "revenue": float(i),
               "statecode": 0, "statuscode": 1}


def _peak(n: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        result = plan_restore(
            tables=["account"], mode="changed", record_ids=None, with_related=False,
            schema=SCHEMA, point_tables=["account"],
            read_point=lambda _t: _rows(n, now=False), read_target=lambda _t: _rows(n, now=True),
            exists=lambda _t, _i: True,
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.counts["tables"]["account"]["update"] == n // 100
    assert result.counts["tables"]["account"]["unchanged"] == n - n // 100
    return peak, len(result.rows)


def test_memory_follows_the_differing_rows_not_the_table() -> None:
    small, _ = _peak(2_000)
    large, kept = _peak(40_000)
    assert kept == 400
    # 20x the rows, 20x the differing rows: the table itself (~40,000 dicts, >15 MB) is never
    # held; what grows is the 400 kept plans (about 1 kB each).
    assert large < 2_000_000
    assert large - small < kept * 4_000


def test_tally_counts_per_table_and_in_total_and_refuses_an_unknown_action() -> None:
    summary = tally([("account", "create"), ("contact", "create"), ("account", "conflict")])
    assert summary["total"] == {"create": 2, "update": 0, "unchanged": 0, "conflict": 1,
                                "failed": 0, "notRestorable": 0}
    assert summary["tables"]["account"]["conflict"] == 1
    with pytest.raises(ValueError, match="unknown restore action 'deleted'"):
        tally([("account", "deleted")])
