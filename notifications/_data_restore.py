"""What a record restore's card says (contract section 10): the counts of its plan (a dry run)
or of what it wrote, per table, and its conflicts and failures called out with where to see each
row. Pure: the operation record in, sentences and card elements out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notifications import _elements as el
from notifications._parts import Detail
from notifications.events import Outcome
from notifications.text import inert
from shared.operations import Operation

# Tables listed one per fact before "…and N more" (a request may name up to 500).
_MAX_TABLES = 12
# The error of an apply that ended with rows it could not write (data_restores/applying.py).
ROWS_NOT_RESTORED = "RowsNotRestored"
# COUNTS of contract section 10, in the record's order.
_ACTIONS = ("create", "update", "unchanged", "conflict", "failed", "notRestorable")
_WORDS = (("create", "created", "to create"), ("update", "updated", "to update"),
          ("unchanged", "unchanged", "unchanged"), ("notRestorable", "not restorable",
                                                    "not restorable"))


def is_dry_run(op: Operation) -> bool:
    return op.options.get("dryRun") is True


def counts_of(op: Operation) -> Mapping[str, Any]:
    """The summary that tells what happened: the plan of a dry run, else what was written."""
    summary = op.plan if is_dry_run(op) else op.applied
    return summary if isinstance(summary, Mapping) else {}


def data_restore_outcome(op: Operation, outcome: Outcome, env: str) -> str:
    total = _numbers(counts_of(op).get("total"))
    tables = ", ".join(inert(t, 60) for t in op.tables[:5]) + (
        f" and {len(op.tables) - 5} more" if len(op.tables) > 5 else "")
    if is_dry_run(op):
        if outcome is Outcome.SUCCEEDED:
            return (f"Dry run of a record restore of {tables} into {env}: nothing was written. "
                    f"The plan: {_phrase(total, dry_run=True)}.")
        ended = "failed" if outcome is Outcome.FAILED else "needs a person"
        return f"The dry run of a record restore into {env} {ended}; nothing was written."
    if outcome is Outcome.SUCCEEDED or _ended_with_rows_left(op, outcome):
        text = f"Rows of {tables} were restored into {env}: {_phrase(total, dry_run=False)}."
        if outcome is Outcome.NEEDS_ATTENTION:
            text += " Some rows were not restored and need a person to look at them."
        return text
    ended = "failed" if outcome is Outcome.FAILED else "needs a person"
    written = total["create"] + total["update"]
    so_far = (f" Before it stopped, {_phrase(total, dry_run=False)}." if written
              else " No row was written.")
    return f"The record restore into {env} {ended}.{so_far}"


def _ended_with_rows_left(op: Operation, outcome: Outcome) -> bool:
    """The apply ran to its end, but rows conflicted or failed (the engine's NeedsAttention)."""
    return (outcome is Outcome.NEEDS_ATTENTION and op.error is not None
            and op.error.code == ROWS_NOT_RESTORED)


def data_restore_sections(op: Operation, d: Detail) -> list[el.Element]:
    """Per table counts, then the conflicts and failures with the command that lists them."""
    summary = counts_of(op)
    per_table: Mapping[str, Any] = summary.get("tables") or {}
    body: list[el.Element] = []
    if per_table:
        shown = list(per_table.items())[:_MAX_TABLES]
        facts = [(inert(table, 60) or "(table)", _table_line(_numbers(counts)))
                 for table, counts in shown]
        if len(per_table) > _MAX_TABLES:
            facts.append(("…", f"and {len(per_table) - _MAX_TABLES} more tables"))
        body += [el.heading("Planned per table" if is_dry_run(op) else "Written per table"),
                 el.fact_set(facts)]
    total = _numbers(summary.get("total"))
    trouble = []
    if total["conflict"]:
        trouble.append(
            f"{total['conflict']:,} row(s) changed in the target after the plan read them and "
            "were not overwritten (conflicts)."
        )
    if total["failed"]:
        trouble.append(f"{total['failed']:,} row(s) failed; the platform's message is kept "
                       "with each.")
    if total["notRestorable"]:
        trouble.append(f"{total['notRestorable']:,} row(s) cannot be restored (a column that no "
                       "longer exists, a lookup whose target is gone).")
    if trouble:
        trouble.append(f"See each row with: ppbackup data diff {inert(op.operation_id, 200)}")
        body.append(el.container(
            [el.heading("Rows that need a look"),
             *(el.text_block(t, spacing="Small") for t in (trouble[-2:] if d.brief
                                                           else trouble))],
            style="warning",
        ))
    return body


def _numbers(counts: object) -> dict[str, int]:
    """COUNTS as numbers whatever the record holds (a count never breaks a card)."""
    given = counts if isinstance(counts, Mapping) else {}
    return {name: _int(given.get(name)) for name in _ACTIONS}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _phrase(total: Mapping[str, int], *, dry_run: bool) -> str:
    parts = [f"{total[key]:,} {planned if dry_run else done}"
             for key, done, planned in _WORDS if total[key]]
    parts += [f"{total[key]:,} {key}" for key in ("conflict", "failed") if total[key]]
    return ", ".join(parts) or "no rows"


def _table_line(counts: Mapping[str, int]) -> str:
    return " · ".join(f"{counts[n]:,} {n}" for n in _ACTIONS if counts[n]) or "no rows"
