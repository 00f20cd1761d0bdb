"""The COUNTS shape of contract section 10, per table and in total (pure):
`{"total": COUNTS, "tables": {"<table>": COUNTS}}`, the `plan` and `applied` of the operation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

ACTIONS = ("create", "update", "unchanged", "conflict", "failed", "notRestorable")


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(ACTIONS, 0)


def empty_summary() -> dict[str, Any]:
    return {"total": empty_counts(), "tables": {}}


def count(summary: dict[str, Any], table: str, action: str, n: int = 1) -> None:
    """Add `n` rows of `table` with `action` (a table named once shows, even at zero)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown restore action {action!r}; expected one of {ACTIONS}")
    summary["tables"].setdefault(table, empty_counts())[action] += n
    summary["total"][action] += n


def tally(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The summary of (table, action) pairs."""
    summary = empty_summary()
    for table, action in pairs:
        count(summary, table, action)
    return summary
