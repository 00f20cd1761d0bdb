"""The COUNTS shape of contract section 10, per table and in total (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

ACTIONS = ("create", "update", "unchanged", "conflict", "failed", "notRestorable")


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(ACTIONS, 0)


def tally(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """`{"total": COUNTS, "tables": {table: COUNTS}}` from (table, action) pairs."""
    tables: dict[str, dict[str, int]] = {}
    total = empty_counts()
    for table, action in pairs:
        if action not in total:
            raise ValueError(f"unknown restore action {action!r}; expected one of {ACTIONS}")
        tables.setdefault(table, empty_counts())[action] += 1
        total[action] += 1
    return {"total": total, "tables": tables}


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two summaries added up (a plan streamed in parts)."""
    total = {k: a["total"][k] + b["total"][k] for k in ACTIONS}
    tables: dict[str, dict[str, int]] = {}
    for part in (a, b):
        for table, counts in part["tables"].items():
            row = tables.setdefault(table, empty_counts())
            for k in ACTIONS:
                row[k] += counts[k]
    return {"total": total, "tables": tables}
