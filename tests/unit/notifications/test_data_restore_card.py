"""A record restore's card (contract sections 8 and 10): the target named, the counts of the plan
(a dry run: nothing written) or of what was written, per table, and conflicts and failures called
out with `ppbackup data diff ID`; any counts render a valid card within the budget (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data_restores.counts import empty_summary, tally
from notifications import (
    DEFAULT_MAX_BYTES,
    MIN_MAX_BYTES,
    build_teams_message,
    encode_teams_message,
    event_for,
    message_size,
)
from notifications.webhook import build_webhook_payload
from shared.operations import (
    Operation,
    OperationError,
    OperationKind,
    OperationStatus,
    finish,
    new_operation,
)
from tests.unit.notifications.builders import ENV_ID, T0
from tests.unit.notifications.card_schema import check_message, texts

SOURCE = "0b5e3c1a-1111-2222-3333-000000000001"
OPERATION_ID = "data_restore-20261121T014500000Z-1a2b3c"
PLAN = tally([("account", "create")] * 1000 + [("account", "update")] * 20
             + [("contact", "create")] * 2400 + [("annotation", "notRestorable")] * 3)


def restore(status: OperationStatus, *, dry_run: bool, plan: Any = PLAN,
            applied: Any = None, error: OperationError | None = None) -> Operation:
    op = new_operation(
        OperationKind.DATA_RESTORE, ENV_ID, T0, operation_id=OPERATION_ID,
        environment_name="Contoso Sandbox", source_environment_id=SOURCE,
        point_id="20261120T020000000Z-1a2b3c4d", tables=("account", "contact", "annotation"),
        requested_by="maria@contoso.com", options={"mode": "missing", "dryRun": True}
        if dry_run else {"mode": "missing"},
    )
    op = replace(op, plan=plan, applied=applied if applied is not None else empty_summary())
    return finish(op, status, T0 + timedelta(minutes=9), error=error)


def card_text(op: Operation) -> str:
    event = event_for(op)
    assert event is not None
    message = build_teams_message(event)
    assert check_message(message) == []
    return " ".join(texts(message))


def test_a_dry_run_shows_the_plan_and_says_nothing_was_written() -> None:
    shown = card_text(restore(OperationStatus.SUCCEEDED, dry_run=True))
    assert "Data restore succeeded (dry run) — Contoso Sandbox" in shown
    assert "into Contoso Sandbox: nothing was written" in shown
    assert "3,400 to create, 20 to update, 3 not restorable" in shown
    assert "Planned per table" in shown and "1,000 create · 20 update" in shown
    assert "20261120T020000000Z-1a2b3c4d" in shown and SOURCE in shown
    assert "3 row(s) cannot be restored" in shown
    assert f"ppbackup data diff {OPERATION_ID}" in shown
    assert "Written per table" not in shown


def test_an_apply_counts_what_was_written_and_calls_out_conflicts_and_failures() -> None:
    applied = tally([("account", "create")] * 998 + [("account", "conflict")] * 2
                    + [("account", "update")] * 20 + [("contact", "create")] * 2399
                    + [("contact", "failed")])
    shown = card_text(restore(OperationStatus.SUCCEEDED, dry_run=False, applied=applied))
    assert "Data restore succeeded — Contoso Sandbox" in shown and "dry run" not in shown
    assert "were restored into Contoso Sandbox: 3,397 created, 20 updated, 2 conflict, " \
           "1 failed" in shown
    assert "Written per table" in shown and "998 create · 20 update · 2 conflict" in shown
    assert "2 row(s) changed in the target after the plan read them" in shown
    assert "1 row(s) failed" in shown
    assert f"See each row with: ppbackup data diff {OPERATION_ID}" in shown


def test_an_apply_that_left_rows_needs_attention_and_says_what_it_wrote() -> None:
    applied = tally([("account", "create")] * 5 + [("account", "conflict")])
    error = OperationError("RowsNotRestored", "5 row(s) created, 0 updated; 1 row(s) changed "
                           "in the target since the plan were left as they are (conflicts).")
    shown = card_text(restore(OperationStatus.NEEDS_ATTENTION, dry_run=False, error=error,
                              applied=applied))
    assert "Data restore needs attention — Contoso Sandbox" in shown
    assert "restored into Contoso Sandbox: 5 created, 1 conflict. Some rows were not restored" \
        in shown
    assert "Before it stopped" not in shown
    assert f"See each row with: ppbackup data diff {OPERATION_ID}" in shown


def test_a_clean_apply_has_nothing_to_look_at() -> None:
    applied = tally([("account", "create")] * 3)
    shown = card_text(restore(OperationStatus.SUCCEEDED, dry_run=False, applied=applied))
    assert "3 created" in shown and "ppbackup data diff" not in shown


def test_a_failed_apply_says_what_it_wrote_before_it_stopped() -> None:
    error = OperationError("Forbidden", "The application user cannot write account rows.")
    written = card_text(restore(OperationStatus.FAILED, dry_run=False, error=error,
                                applied=tally([("account", "create")] * 5)))
    assert "The record restore into Contoso Sandbox failed. Before it stopped, 5 created." \
        in written
    assert "cannot write account rows" in written
    nothing = card_text(restore(OperationStatus.FAILED, dry_run=False, error=error))
    assert "No row was written." in nothing


def test_a_rejected_request_says_nothing_changed() -> None:
    error = OperationError("ProductionNotConfirmed", "Confirm the Production target.")
    shown = card_text(restore(OperationStatus.REJECTED, dry_run=False, error=error))
    assert "rejected; nothing was changed" in shown and "per table" not in shown


def test_the_webhook_carries_the_counts() -> None:
    event = event_for(restore(OperationStatus.SUCCEEDED, dry_run=True))
    assert event is not None and event.event == "data_restore.succeeded"
    operation = json.loads(build_webhook_payload(event, occurred_at=T0))["operation"]
    assert operation["plan"] == PLAN and operation["pointId"] == "20261120T020000000Z-1a2b3c4d"
    assert operation["tables"] == ["account", "contact", "annotation"]


counts = st.fixed_dictionaries({a: st.integers(0, 10**12) | st.just(-1) | st.none()
                                for a in ("create", "update", "unchanged", "conflict",
                                          "failed", "notRestorable")})
summaries = st.fixed_dictionaries({
    "total": counts,
    "tables": st.dictionaries(st.text(min_size=1, max_size=300), counts, max_size=600),
}) | st.none() | st.just({"total": "x", "tables": []})


@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(summaries, summaries, st.booleans(),
       st.sampled_from([OperationStatus.SUCCEEDED, OperationStatus.FAILED,
                        OperationStatus.NEEDS_ATTENTION, OperationStatus.REJECTED]),
       st.sampled_from([DEFAULT_MAX_BYTES, MIN_MAX_BYTES]))
def test_any_counts_render_a_valid_card_within_budget(
    plan: Any, applied: Any, dry_run: bool, status: OperationStatus, budget: int
) -> None:
    op = replace(restore(status, dry_run=dry_run), plan=plan, applied=applied)
    event = event_for(op)
    assert event is not None
    message = build_teams_message(event, max_bytes=budget)
    assert check_message(message) == []
    assert message_size(message) <= budget and len(encode_teams_message(message)) <= budget
