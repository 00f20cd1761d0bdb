from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from notifications import (
    DEFAULT_MAX_BYTES,
    MIN_MAX_BYTES,
    BackupExpiringAlert,
    NotificationEvent,
    OperationEvent,
    StillSandboxAlert,
    build_teams_message,
    encode_teams_message,
    event_for,
    message_size,
)
from shared.operations import Operation, OperationStatus, StepStatus
from tests.unit.notifications.builders import (
    ALL_DONE,
    BACKUP_OPERATION_ID,
    ENV_ID,
    OPERATION_ID,
    SWITCHED_AND_RESTORED,
    T0,
    backup,
    restore,
    round_summary,
)
from tests.unit.notifications.card_schema import check_message, texts


def render(event: NotificationEvent | Operation, **kwargs: Any) -> dict[str, Any]:
    if isinstance(event, Operation):
        found = event_for(event)
        assert found is not None
        event = found
    message = build_teams_message(event, **kwargs)
    assert check_message(message) == []
    return message


def card(message: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = message["attachments"][0]["content"]
    return content


def facts(message: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in card(message)["body"]:
        if element["type"] == "FactSet":
            found.update({f["title"]: f["value"] for f in element["facts"]})
    return found


def title(message: dict[str, Any]) -> str:
    text: str = card(message)["body"][0]["items"][0]["text"]
    return text


def test_envelope_is_what_the_workflows_template_expects() -> None:
    message = render(backup())
    assert message["type"] == "message"
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    assert card(message)["type"] == "AdaptiveCard"
    assert card(message)["version"] == "1.4"
    assert card(message)["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert "actions" not in card(message)


def test_failed_restore_card_tells_the_whole_story() -> None:
    op = restore(
        {**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
        status=OperationStatus.FAILED,
        error=("Transient", "BAP answered 503 Service Unavailable"),
        reason="Bad deployment of 4.2",
    )
    message = render(op)
    assert title(message) == "Restore failed — Contoso Prod"
    shown = facts(message)
    assert shown["Environment"] == "Contoso Prod"
    assert shown["Environment id"] == ENV_ID
    assert shown["Backup label"] == "Before release 4.2"
    assert shown["Requested by"] == "ops@contoso.com"
    assert shown["Reason"] == "Bad deployment of 4.2"
    assert shown["Duration"] == "4 h 30 min"
    assert shown["Operation id"] == OPERATION_ID
    # The step timeline, Skipped included.
    assert shown["Safety backup"] == "↷ Skipped"
    assert shown["Switch to Sandbox"].startswith("✔ Succeeded at 2026-11-21")
    assert shown["Switch back to Production"].startswith("✖ Failed at")
    assert shown["Verify"] == "· Not run"
    all_text = "\n".join(texts(message))
    assert "The restore of Contoso Prod failed at step “Switch back to Production”." in all_text
    assert "It is still a Sandbox." in all_text
    assert "BAP answered 503 Service Unavailable (code: Transient)" in all_text
    assert "What to do next" in all_text
    assert "• Switch Contoso Prod back to Production" in all_text


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        (backup(), "Backup succeeded — Contoso Prod"),
        (backup(OperationStatus.FAILED, error=("Throttled", "429")),
         "Backup failed — Contoso Prod"),
        (backup(OperationStatus.REJECTED), "Backup rejected — Contoso Prod"),
        (restore(status=OperationStatus.RUNNING), "Restore started — Contoso Prod"),
        (restore(ALL_DONE, status=OperationStatus.SUCCEEDED), "Restore succeeded — Contoso Prod"),
        (restore(status=OperationStatus.CANCELLED), "Restore cancelled — Contoso Prod"),
        (restore(status=OperationStatus.NEEDS_ATTENTION),
         "Restore needs attention — Contoso Prod"),
        (restore(status=OperationStatus.REJECTED, environment_name=None),
         f"Restore rejected — {ENV_ID}"),
        (restore(ALL_DONE, status=OperationStatus.SUCCEEDED, options={"dryRun": True}),
         "Restore succeeded (dry run) — Contoso Prod"),
    ],
)
def test_titles(op: Operation, expected: str) -> None:
    assert title(render(op)) == expected


def test_successful_restore_says_what_state_the_environment_is_in() -> None:
    all_text = "\n".join(texts(render(restore(ALL_DONE, status=OperationStatus.SUCCEEDED))))
    assert ("Contoso Prod was restored. It was switched back to Production. Administration mode "
            "is off.") in all_text


def test_backup_card_has_no_timeline() -> None:
    message = render(backup())
    assert "Steps" not in texts(message)
    assert facts(message)["Operation id"] == BACKUP_OPERATION_ID


def test_status_url_becomes_the_only_action() -> None:
    message = render(backup(), status_url="https://ppbackup.example/api/operations/x?code=1")
    assert card(message)["actions"] == [{
        "type": "Action.OpenUrl", "title": "Open status",
        "url": "https://ppbackup.example/api/operations/x?code=1",
    }]


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "https://a b", "ftp://x", "https://ü.example", "https://" + "a" * 3000],
)
def test_bad_status_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="status_url"):
        build_teams_message(event_for(backup()), status_url=url)  # type: ignore[arg-type]


def test_a_budget_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        build_teams_message(event_for(backup()), max_bytes=MIN_MAX_BYTES - 1)  # type: ignore[arg-type]


def test_markdown_in_input_cannot_make_links_or_lists() -> None:
    op = backup(OperationStatus.FAILED, environment_name="[Click me](https://evil.example)",
                label="- **urgent**", error=("X", "see\n\n1. [here](https://evil.example)"))
    shown = texts(render(op))
    assert not any("\n" in t for t in shown)
    all_text = "\n".join(shown)
    assert "[Click me](" not in all_text.replace("\\[Click me\\](", "")
    assert "\\[Click me\\](https://evil.example)" in all_text
    assert "\\- \\*\\*urgent\\*\\*" in all_text
    assert "see 1. \\[here\\](https://evil.example)" in all_text


def test_round_summary_lists_failures() -> None:
    message = render(round_summary(3, pending=1))
    assert title(message) == "Backup round finished — 3 of 14 failed"
    shown = facts(message)
    assert shown["Environments"] == "14"
    assert shown["Failed"] == "3"
    assert shown["Still running"] == "1"
    assert shown["Round id"] == "round-20261121T010000Z"
    assert shown["Environment 2"] == (
        "The platform answered 409 OperationNotStartable. (env-00002)"
    )
    assert "and" not in "".join(t for t in texts(message) if t.startswith("…"))


def test_a_round_with_many_failures_is_summarised_not_cut() -> None:
    message = render(round_summary(1_200, message="E" * 400))
    all_text = texts(message)
    more = [t for t in all_text if t.startswith("…and ")]
    assert len(more) == 1
    shown = sum(1 for t in facts(message) if t.startswith("Environment "))
    assert more[0] == (f"…and {1_200 - shown} more. See every result with: "
                       "ppbackup history --kind backup")
    assert shown >= 5
    assert message_size(message) <= DEFAULT_MAX_BYTES


def test_successful_and_empty_rounds() -> None:
    assert title(render(round_summary(0))) == "Backup round finished — all 10 succeeded"
    empty = render(round_summary(0, succeeded=0))
    assert title(empty) == "Backup round finished — nothing to back up"
    assert any("BACKUP_SCOPE" in t for t in texts(empty))


def test_still_sandbox_alert_card() -> None:
    op = restore({**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
                 status=OperationStatus.NEEDS_ATTENTION)
    message = render(StillSandboxAlert(op, ENV_ID, "Contoso Prod", T0, reminder=2))
    assert title(message) == "Still a Sandbox — Contoso Prod"
    shown = facts(message)
    assert shown["Operation id"] == OPERATION_ID
    assert shown["Sandbox since"] == "2026-11-21 01:45 UTC"
    assert shown["Reminder"] == "2"
    assert any("Convert to production" in t for t in texts(message))


def test_backup_expiring_alert_card() -> None:
    alert = BackupExpiringAlert(ENV_ID, "Contoso Prod", "Before 4.2", "b-1",
                                T0 + timedelta(hours=6))
    message = render(alert)
    assert title(message) == "Backup expiring — Contoso Prod"
    assert facts(message)["Expires"] == "2026-11-21 07:45 UTC"
    assert "The backup “Before 4.2” of Contoso Prod expires at 2026-11-21 07:45 UTC." in texts(
        message)


def test_the_footer_names_the_event_and_its_id() -> None:
    event = event_for(backup())
    assert event is not None
    footer = card(render(event))["body"][-1]
    assert footer["text"] == f"backup.succeeded · event {event.event_id}"
    assert footer["isSubtle"] is True


def test_oversized_input_falls_back_to_coarser_levels_then_to_the_minimal_card() -> None:
    huge = "😀" * 5_000
    op = restore(
        {**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
        status=OperationStatus.NEEDS_ATTENTION, error=("Transient", huge),
        environment_name=huge, label=huge, reason=huge, notes=huge, requested_by=huge,
    )
    event = OperationEvent(op, event_for(op).outcome)  # type: ignore[union-attr]
    for budget in (DEFAULT_MAX_BYTES, MIN_MAX_BYTES):
        message = render(event, max_bytes=budget, status_url="https://x.example/" + "a" * 2000)
        assert message_size(message) <= budget
        assert len(encode_teams_message(message)) <= budget
        assert facts(message)["Operation id"] == OPERATION_ID
    minimal = render(event, max_bytes=MIN_MAX_BYTES)
    assert ("The details did not fit in a Teams message. Read them with: ppbackup status "
            f"{OPERATION_ID}") in texts(minimal)
    assert title(minimal).startswith("Restore needs attention — 😀")


def test_same_event_renders_identically() -> None:
    op = restore(ALL_DONE, status=OperationStatus.SUCCEEDED)
    assert encode_teams_message(render(op)) == encode_teams_message(render(op))


def test_encoding_is_compact_utf8_json() -> None:
    message = render(backup(environment_name="Zürich 中文"))
    body = encode_teams_message(message)
    assert json.loads(body) == message
    assert "Zürich 中文".encode() in body
    assert len(body) <= message_size(message)


def test_a_card_too_small_for_every_flow_left_off_counts_the_rest_and_says_where_they_are() -> None:
    reason = ("Its connection reference contoso_sharedoffice365_9a8b7 has no connection. In Power "
              "Apps open the solution's connection references, give it a connection, then turn "
              "the flow on.")
    flows = tuple({"id": f"id-{i}", "name": f"Invoice flow {i:03d}", "before": "on",
                   "after": "off", "reason": reason} for i in range(80))
    op = restore({**ALL_DONE, "reactivate_flows": StepStatus.FAILED},
                 status=OperationStatus.SUCCEEDED, flows=flows)
    text = json.dumps(render(op))
    named = sum(f"Invoice flow {i:03d}" in text for i in range(80))
    assert named < 80  # the case this is about: the advice does not fit
    assert f"and {80 - named} more" in text
    assert f"ppbackup status {OPERATION_ID}" in text


def test_a_data_backup_with_hundreds_of_failed_tables_keeps_its_error_and_advice() -> None:
    # The application user without a security role: every table answers 403. The card names a
    # few and counts the rest, rather than falling back to the minimal card.
    from dataclasses import replace

    from shared.operations import OperationError, OperationKind, finish, new_operation

    op = new_operation(OperationKind.DATA_BACKUP, ENV_ID, T0, status=OperationStatus.RUNNING,
                       environment_name="Contoso Prod")
    failed = tuple({"table": f"msdyn_customerassetattachment{i}", "mode": "full", "rows": 0,
                    "status": "Failed", "detail": "HTTP 403"} for i in range(900))
    op = finish(replace(op, tables=failed), OperationStatus.FAILED, T0 + timedelta(minutes=5),
                error=OperationError("TablesFailed", "900 tables could not be copied"))
    message = render(op)
    all_text = " ".join(texts(message))
    assert "did not fit" not in all_text
    assert "900 tables could not be copied" in all_text
    assert "What to do next" in all_text
    summary = card(message)["body"][0]["items"][1]["text"]
    assert "Not copied: msdyn_customerassetattachment0, " in summary
    assert "msdyn_customerassetattachment9 and 890 more (" in summary
