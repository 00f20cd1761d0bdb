"""A data backup round's summary: its members are the timer's data backups (request ids
`data-timer:<slot>:<env>`), and the summary counts tables, rows and failed tables (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from notifications import build_teams_message
from notifications.events import DATA_ROUND_FINISHED, ROUND_FINISHED
from notifications.messages import RoundNotice, timer_round
from notifications.round_rules import Member, build_summary, round_deadline
from notifications.webhook import build_webhook_payload
from shared.operations import OperationKind, OperationStatus, new_operation
from tests.unit.notifications.builders import ENV_ID, T0
from tests.unit.notifications.card_schema import texts

SLOT = "20261121T020000Z"


def test_the_timers_data_backups_are_members_of_the_data_round() -> None:
    data = new_operation(OperationKind.DATA_BACKUP, ENV_ID, T0,
                         request_id=f"data-timer:{SLOT}:{ENV_ID}")
    assert timer_round(data) == (f"data-{SLOT}", ENV_ID)
    backup = new_operation(OperationKind.BACKUP, ENV_ID, T0, request_id=f"timer:{SLOT}:{ENV_ID}")
    assert timer_round(backup) == (SLOT, ENV_ID)
    # A kind that does not match its request id's round is no member of either.
    assert timer_round(replace(data, kind=OperationKind.BACKUP)) is None
    assert timer_round(replace(backup, kind=OperationKind.DATA_BACKUP)) is None
    assert round_deadline(f"data-{SLOT}") == round_deadline(SLOT)
    assert RoundNotice("e", f"data-{SLOT}").event == DATA_ROUND_FINISHED
    assert RoundNotice("e", SLOT).event == ROUND_FINISHED


def test_summary_counts_tables_rows_and_failed_tables() -> None:
    end = T0 + timedelta(hours=1)
    members = [
        Member(ENV_ID, "Contoso", OperationStatus.SUCCEEDED, end, None, 5, 1_200_000,
               ("salesorder: 403 Forbidden: assign a security role",)),
        Member(ENV_ID[:-1] + "9", "Fabrikam", OperationStatus.SUCCEEDED, end, None, 6, 300),
        Member(ENV_ID[:-1] + "8", "Litware", OperationStatus.FAILED, end, "Dataverse unreachable"),
        Member(ENV_ID[:-1] + "7", "Tailspin"),  # still running
    ]
    summary = build_summary(f"data-{SLOT}", T0, end, members)
    assert summary.is_data and summary.event == DATA_ROUND_FINISHED
    assert (summary.total, summary.succeeded_count, len(summary.failures),
            summary.pending_count) == (4, 2, 1, 1)
    assert (summary.tables_count, summary.rows_count) == (11, 1_200_300)
    assert [(f.environment_name, f.message) for f in summary.table_failures] == [
        ("Contoso", "salesorder: 403 Forbidden: assign a security role")]

    shown = texts(build_teams_message(summary))
    assert any("Data backup round finished — 1 of 4 failed" in t for t in shown)
    assert any("11 tables, 1,200,300 rows copied" in t for t in shown)
    assert any("salesorder: 403" in t for t in shown)
    payload = build_webhook_payload(summary, occurred_at=end)
    assert b'"event":"data_backup_round.finished"' in payload
    assert b'"rows":1200300' in payload and b'"table":"salesorder"' in payload


def test_an_on_demand_data_backup_card_says_what_was_copied_and_what_was_not() -> None:
    from notifications import event_for
    from shared.operations import finish

    op = replace(new_operation(OperationKind.DATA_BACKUP, ENV_ID, T0, label="Before import"),
                 point_id="20261121T020000000Z-1a2b3c4d", tables=(
                     {"table": "account", "status": "Succeeded", "changed": 1200},
                     {"table": "salesorder", "status": "Failed", "detail": "403"}))
    event = event_for(finish(op, OperationStatus.SUCCEEDED, T0 + timedelta(minutes=5)))
    assert event is not None
    shown = " ".join(texts(build_teams_message(event)))
    assert "Data backup succeeded" in shown
    assert "1 table(s), 1,200 row(s) copied" in shown and "Not copied: salesorder" in shown
    assert "restored" not in shown


def test_a_member_whose_point_lacks_a_table_is_not_said_to_have_no_point() -> None:
    # The data backup engine ends a point that is complete without a table as Failed: the round
    # must not tell the reader that environment got no new point at all.
    end = T0 + timedelta(hours=1)
    members = [
        Member(ENV_ID, "Contoso", OperationStatus.SUCCEEDED, end, None, 2, 2_000),
        Member(ENV_ID[:-1] + "9", "Fabrikam", OperationStatus.FAILED, end,
               "Point p1 is complete without 1 table(s): contact: 403", 1, 1_000,
               ("contact: 403",)),
    ]
    summary = build_summary(f"data-{SLOT}", T0, end, members)
    banner = texts(build_teams_message(summary))[1]
    assert "have a new data backup point" not in banner
    assert banner.startswith("1 of 2 environments had every table copied, 1 failed.")
