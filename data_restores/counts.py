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


def added(summary: Any, tables: Any) -> dict[str, Any]:
    """A copy of `summary` with `tables` ({table: {action: n}}, n may be negative) added."""
    result: dict[str, Any] = {
        "total": dict(summary["total"]),
        "tables": {t: dict(c) for t, c in summary["tables"].items()},
    }
    for table, actions in tables.items():
        for action, n in actions.items():
            count(result, table, action, n)
    return result


def only(summary: Any, actions: Iterable[str]) -> dict[str, Any]:
    """The summary's counts of `actions`, the other actions at zero (tables kept)."""
    keep = set(actions)
    return added(empty_summary(), {
        t: {a: n for a, n in c.items() if a in keep} for t, c in summary["tables"].items()
    })
