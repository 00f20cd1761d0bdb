from __future__ import annotations

import pytest

from notifications import next_steps
from shared.operations import UNREAD_FLOWS, OperationStatus, StepStatus, update_step
from tests.unit.notifications.builders import (
    ALL_DONE,
    ENV_ID,
    OPERATION_ID,
    SWITCHED_AND_RESTORED,
    backup,
    restore,
)


def joined(advice: tuple[str, ...]) -> str:
    return "\n".join(advice)


def test_switch_back_failed_says_to_switch_back_now_and_why() -> None:
    op = restore(
        {**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
        status=OperationStatus.NEEDS_ATTENTION,
        error=("Transient", "503 from BAP after 10 attempts"),
    )
    advice = next_steps(op)
    assert advice[0].startswith("Switch Contoso Prod back to Production in the Power Platform "
                                "admin center now")
    assert "backups older than 7 days are deleted while it is a Sandbox" in advice[0]
    # The restore succeeded, so administration mode is still on as well.
    assert "Turn administration mode off for Contoso Prod" in advice[1]
    # "Request again" would repeat a restore that worked: not offered while cleanup is pending.
    assert "Request again" not in joined(advice)
    assert f"ppbackup status {OPERATION_ID}" in advice[-1]


def test_admin_mode_still_on_explains_how_to_turn_it_off() -> None:
    op = restore(
        {**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.SUCCEEDED,
         "disable_admin_mode": StepStatus.FAILED},
        status=OperationStatus.NEEDS_ATTENTION,
        error=("Transient", "timed out"),
    )
    advice = next_steps(op)
    assert "Switch" not in advice[0]
    assert "Administration mode Off" in advice[0]
    assert (f"pac admin set-runtime-state --environment {ENV_ID} --runtime-state Enabled "
            "--background-operations Enabled") in advice[0]


def test_admin_mode_forbidden_mentions_the_delay_and_the_registration() -> None:
    op = restore(
        {**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.SUCCEEDED,
         "disable_admin_mode": StepStatus.FAILED},
        status=OperationStatus.NEEDS_ATTENTION,
        error=("Forbidden", "UserMissingRequiredPermission"),
    )
    text = joined(next_steps(op))
    assert "10-15 minutes" in text
    assert "management application" in text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("EnvironmentBusy", "Another lifecycle operation"),
        ("Throttled", "429 Too Many Requests"),
        ("Forbidden", "pac admin application register --application-id"),
        ("AuthenticationFailed", "PP_CLIENT_ID"),
        ("ValidationFailed", "did not pass validation"),
        ("NotFound", "has expired"),
        ("Transient", "failed temporarily"),
        ("OutcomeUnknown", "so nothing is done twice"),
        ("ConfigError", "app setting"),
    ],
)
def test_known_error_codes_get_specific_advice(code: str, expected: str) -> None:
    op = backup(OperationStatus.FAILED, error=(code, "something went wrong"))
    assert expected in joined(next_steps(op))


def test_a_request_the_app_could_not_take_says_to_send_it_again() -> None:
    """Its storage failed on every delivery, the poison queue's too: the platform was never
    called, so no support case; fix the storage and send the request again."""
    advice = next_steps(backup(OperationStatus.FAILED, error=("IntakeFailed", "could not")))
    text = joined(advice)
    assert "AzureWebJobsStorage" in text and "send the request again" in text
    assert "support case" not in text


def test_unknown_failure_gets_the_generic_advice() -> None:
    advice = next_steps(backup(OperationStatus.FAILED, error=("Weird", "?")))
    assert advice == (
        f"See every step and the platform's request ids with: ppbackup status "
        f"{backup().operation_id}. If the cause is unclear, open a Microsoft support case with "
        "those request ids.",
    )


def test_validation_failure_in_the_validate_step() -> None:
    op = restore({"validate": StepStatus.FAILED}, status=OperationStatus.FAILED,
                 error=("TargetNotSandbox", "the target is Production"))
    assert "did not pass validation" in joined(next_steps(op))


def test_rejected_says_nothing_changed() -> None:
    op = restore(status=OperationStatus.REJECTED, error=("InvalidRequest", "backupId missing"))
    assert next_steps(op) == (
        "Nothing was changed: the request was refused before any step ran. Correct what the "
        "error names and send the request again.",
    )


def test_timed_out_restore_says_to_look_before_switching() -> None:
    op = restore(
        {"validate": StepStatus.SUCCEEDED, "switch_to_sandbox": StepStatus.SUCCEEDED,
         "restore": StepStatus.RUNNING},
        status=OperationStatus.NEEDS_ATTENTION,
    )
    advice = next_steps(op)
    assert "RESTORE_TIMEOUT_HOURS" in advice[0]
    # Switching back while the platform may still be restoring is not advised outright.
    assert not any(a.startswith("Switch") for a in advice)


def test_cancelled_after_the_switch_puts_the_switch_back_first() -> None:
    op = restore({"validate": StepStatus.SUCCEEDED, "switch_to_sandbox": StepStatus.SUCCEEDED},
                 status=OperationStatus.CANCELLED)
    advice = next_steps(op)
    assert advice[0].startswith("Switch Contoso Prod back to Production")
    assert "was not restored" in advice[1]


def test_success_and_start() -> None:
    assert next_steps(backup(OperationStatus.SUCCEEDED)) == ()
    assert next_steps(restore(status=OperationStatus.RUNNING)) == ()
    (advice,) = next_steps(restore(ALL_DONE, status=OperationStatus.SUCCEEDED))
    assert "connection references" in advice


def test_a_huge_environment_name_does_not_crowd_out_the_advice() -> None:
    op = restore({**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
                 status=OperationStatus.NEEDS_ATTENTION, environment_name="N" * 10_000)
    first = next_steps(op)[0]
    assert len(first) < 500
    assert first.endswith("backups older than 7 days are deleted while it is a Sandbox.")


def test_without_a_name_the_id_is_used() -> None:
    op = restore({**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
                 status=OperationStatus.NEEDS_ATTENTION, environment_name=None)
    assert next_steps(op)[0].startswith(f"Switch {ENV_ID} back to Production")


def test_cancelled_backup() -> None:
    assert next_steps(backup(OperationStatus.CANCELLED)) == (
        "The backup was cancelled; no backup of Contoso Prod was taken.",
    )


def test_flows_that_could_not_all_be_read_are_flagged_for_a_person_to_check() -> None:
    op = restore({**ALL_DONE, "reactivate_flows": StepStatus.FAILED},
                 status=OperationStatus.SUCCEEDED,
                 flows=({"id": "f1", "name": "Invoice approval", "before": "on", "after": "on"},))
    op = update_step(op, "reactivate_flows", op.ended_at or op.created_at,
                     detail=f"Turned on 1 cloud flow in Contoso Prod. {UNREAD_FLOWS}: ...")
    text = joined(next_steps(op))
    assert "Not every cloud flow of Contoso Prod could be read" in text
    assert "check in Power Automate which flows should be on" in text


def test_a_restore_needing_attention_names_the_flows_it_left_off() -> None:
    reason = "The restore ended NeedsAttention before its flows were turned on again."
    op = restore({**SWITCHED_AND_RESTORED, "switch_to_production": StepStatus.FAILED},
                 status=OperationStatus.NEEDS_ATTENTION, error=("Transient", "503"),
                 flows=({"id": "f1", "name": "Invoice approval", "before": "on", "after": "off",
                         "reason": reason},
                        {"id": "f2", "name": "Was off", "before": "off", "after": "off"}))
    advice = next_steps(op)
    assert advice[0].startswith("Switch Contoso Prod back to Production")  # cleanup first
    assert f"Cloud flow 'Invoice approval' in Contoso Prod is off: {reason}" in advice
    assert "Was off" not in joined(advice)
    assert f"ppbackup status {OPERATION_ID}" in advice[-1]
