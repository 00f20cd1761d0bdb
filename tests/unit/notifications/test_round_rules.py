"""A round's summary from its members: counts, freezing, the deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from notifications import build_teams_message, message_size
from notifications.cards import DEFAULT_MAX_BYTES
from notifications.round_rules import (
    ROUND_DEADLINE,
    Member,
    build_summary,
    frozen_end,
    round_deadline,
    round_slot,
)
from shared.operations import OperationStatus

ROUND = "20261121T010000Z"
SLOT = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
OK, FAILED = OperationStatus.SUCCEEDED, OperationStatus.FAILED


def member(i: int, status: OperationStatus | None = OK, minutes: int = 10,
           message: str | None = None) -> Member:
    return Member(f"env-{i:04d}", f"Env {i}", status,
                  None if status is None else SLOT + timedelta(minutes=minutes), message)


def test_round_ids_name_their_slot_and_deadline() -> None:
    assert round_slot(ROUND) == SLOT
    assert round_deadline(ROUND) == SLOT + ROUND_DEADLINE


def test_a_complete_round_is_frozen_at_its_last_result() -> None:
    members = [member(1, minutes=5), member(2, FAILED, 30, "409 busy"), member(3, minutes=12)]
    end = frozen_end(members, SLOT + timedelta(hours=9))
    assert end == SLOT + timedelta(minutes=30)
    summary = build_summary(ROUND, SLOT, end, members)
    assert (summary.total, summary.succeeded_count, summary.pending_count) == (3, 2, 0)
    assert [tuple(f) for f in summary.failures] == [("env-0002", "Env 2", "409 busy")]


def test_an_overdue_round_counts_stragglers_as_pending() -> None:
    now = SLOT + ROUND_DEADLINE
    members = [member(1), member(2, None), member(3, OperationStatus.REJECTED)]
    assert frozen_end(members, now) == now
    summary = build_summary(ROUND, SLOT, now, members)
    assert (summary.succeeded_count, len(summary.failures), summary.pending_count) == (1, 1, 1)
    assert summary.failures[0].message == "Rejected"  # no error text: the status says it


def test_results_after_the_freeze_do_not_change_the_summary() -> None:
    frozen = SLOT + timedelta(hours=6)
    late = member(2, minutes=7 * 60)
    summary = build_summary(ROUND, SLOT, frozen, [member(1), late])
    assert (summary.succeeded_count, summary.pending_count) == (1, 1)


def test_an_empty_round_is_summarised_as_nothing_to_do() -> None:
    summary = build_summary(ROUND, SLOT, SLOT, [])
    assert (summary.total, summary.pending_count) == (0, 0)


@given(st.integers(0, 1500), st.integers(0, 1500), st.integers(0, 100))
def test_summaries_of_any_size_fit_a_teams_card(ok: int, failed: int, pending: int) -> None:
    members = ([member(i) for i in range(ok)]
               + [member(ok + i, FAILED, message="The platform answered 409 " * 20)
                  for i in range(failed)]
               + [member(ok + failed + i, None) for i in range(pending)])
    summary = build_summary(ROUND, SLOT, SLOT + timedelta(hours=1), members)
    assert summary.total == ok + failed + pending
    assert message_size(build_teams_message(summary)) <= DEFAULT_MAX_BYTES
