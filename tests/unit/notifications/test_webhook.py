from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifications import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BackupExpiringAlert,
    SignatureInvalid,
    StillSandboxAlert,
    build_webhook_payload,
    event_for,
    sign,
    verify,
)
from shared.errors import AppError
from shared.operations import OperationStatus
from tests.unit.notifications.builders import ENV_ID, OPERATION_ID, T0, restore, round_summary

SECRET = "topsecret"
NOW = 1_700_000_000


def test_operation_event_payload_follows_the_contract() -> None:
    op = restore(status=OperationStatus.FAILED, error=("Transient", "503"))
    event = event_for(op)
    assert event is not None
    payload = json.loads(build_webhook_payload(event, occurred_at=T0))
    assert payload == {
        "event": "restore.failed",
        "eventId": event.event_id,
        "occurredAt": "2026-11-21T01:45:00.000Z",
        "operation": op.to_record(),
    }


def test_round_summary_payload_has_a_summary_and_no_operation() -> None:
    summary = round_summary(2, pending=1)
    payload = json.loads(build_webhook_payload(summary, occurred_at=T0))
    assert payload["event"] == "backup_round.finished"
    assert payload["eventId"] == summary.event_id
    assert payload["operation"] is None
    assert payload["summary"] == {
        "roundId": "round-20261121T010000Z",
        "scheduledFor": "2026-11-21T01:45:00.000Z",
        "startedAt": "2026-11-21T01:45:00.000Z",
        "endedAt": "2026-11-21T02:27:00.000Z",
        "total": 13,
        "succeeded": 10,
        "failedCount": 2,
        "pending": 1,
        "failed": [
            {"environmentId": f"env-0000{i}", "environmentName": f"Environment {i}",
             "message": "The platform answered 409 OperationNotStartable."}
            for i in range(2)
        ],
    }


def test_still_sandbox_payload_carries_the_operation_and_the_alert() -> None:
    op = restore(status=OperationStatus.NEEDS_ATTENTION)
    alert = StillSandboxAlert(op, ENV_ID, "Contoso Prod", T0, reminder=1)
    payload = json.loads(build_webhook_payload(alert, occurred_at=T0 + timedelta(hours=1)))
    assert payload["event"] == "alert.still_sandbox"
    assert payload["operation"]["operationId"] == OPERATION_ID
    assert payload["alert"] == {
        "type": "still_sandbox", "environmentId": ENV_ID, "environmentName": "Contoso Prod",
        "since": "2026-11-21T01:45:00.000Z", "reminder": 1,
    }


def test_backup_expiring_payload() -> None:
    alert = BackupExpiringAlert(ENV_ID, None, "Before 4.2", None, T0)
    payload = json.loads(build_webhook_payload(alert, occurred_at=T0))
    assert payload["operation"] is None
    assert payload["alert"] == {
        "type": "backup_expiring", "environmentId": ENV_ID, "environmentName": None,
        "backupLabel": "Before 4.2", "backupId": None, "expiresAt": "2026-11-21T01:45:00.000Z",
    }


def test_payload_is_ascii_even_for_unencodable_text() -> None:
    op = restore(status=OperationStatus.FAILED, environment_name="Zürich \ud800 😀")
    body = build_webhook_payload(event_for(op), occurred_at=T0)  # type: ignore[arg-type]
    assert body.isascii()
    assert json.loads(body)["operation"]["environmentName"] == "Zürich \ud800 😀"


def test_naive_occurred_at_is_refused() -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="timezone"):
        build_webhook_payload(round_summary(0), occurred_at=naive)


def test_signature_matches_an_independent_computation() -> None:
    # `printf '1700000000.{"event":"backup.succeeded"}' | openssl dgst -sha256 -hmac topsecret`
    headers = sign(b'{"event":"backup.succeeded"}', SECRET, NOW)
    assert headers == {
        "Content-Type": "application/json",
        "X-PPBackup-Timestamp": "1700000000",
        "X-PPBackup-Signature":
            "sha256=e7c9fd854d5ed979df451e02449a10a1e2c2457d4f688993eb5dabe517a11549",
    }


@given(st.binary(max_size=5_000), st.text(min_size=1, max_size=64),
       st.integers(min_value=0, max_value=4_000_000_000), st.integers(-300, 300))
def test_round_trip(body: bytes, secret: str, timestamp: int, skew: int) -> None:
    verify(body, sign(body, secret, timestamp), secret, now=timestamp + skew)


def test_round_trip_with_a_real_payload_and_lower_case_headers() -> None:
    body = build_webhook_payload(round_summary(3), occurred_at=T0)
    headers = {k.lower(): v for k, v in sign(body, SECRET, NOW).items()}
    verify(body, headers, SECRET, now=NOW + 10)


def signed(body: bytes = b'{"event":"x"}') -> tuple[bytes, dict[str, str]]:
    return body, sign(body, SECRET, NOW)


def test_tampered_body_is_rejected() -> None:
    body, headers = signed()
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(body + b" ", headers, SECRET, now=NOW)


def test_tampered_timestamp_is_rejected() -> None:
    body, headers = signed()
    headers[TIMESTAMP_HEADER] = str(NOW + 1)
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(body, headers, SECRET, now=NOW)


def test_wrong_secret_is_rejected() -> None:
    body, headers = signed()
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(body, headers, "other", now=NOW)


@pytest.mark.parametrize("now", [NOW + 301, NOW - 301, NOW + 86_400])
def test_timestamps_outside_the_tolerance_are_rejected(now: int) -> None:
    body, headers = signed()
    with pytest.raises(SignatureInvalid, match="outside the accepted window"):
        verify(body, headers, SECRET, now=now)
    verify(body, headers, SECRET, now=now, tolerance_seconds=100_000)


@pytest.mark.parametrize("missing", [TIMESTAMP_HEADER, SIGNATURE_HEADER])
def test_missing_headers_are_rejected(missing: str) -> None:
    body, headers = signed()
    del headers[missing]
    with pytest.raises(SignatureInvalid, match="missing"):
        verify(body, headers, SECRET, now=NOW)


@pytest.mark.parametrize(
    ("header", "value", "problem"),
    [
        (TIMESTAMP_HEADER, "1_700_000_000", "not a number"),
        (TIMESTAMP_HEADER, "+1700000000", "not a number"),
        (TIMESTAMP_HEADER, "\uff11\uff17" + "\uff10" * 8, "not a number"),  # full-width
        (TIMESTAMP_HEADER, "", "not a number"),
        (SIGNATURE_HEADER, "e7c9fd854d5ed979df451e02449a10a1e2c2457d4f688993eb5dabe517a11549",
         "sha256=<hex>"),
        (SIGNATURE_HEADER, "sha1=abc", "sha256=<hex>"),
        (SIGNATURE_HEADER, "sha256=" + "é" * 64, "sha256=<hex>"),
        (SIGNATURE_HEADER, "sha256=" + "0" * 64, "does not match"),
    ],
)
def test_malformed_headers_are_rejected(header: str, value: str, problem: str) -> None:
    body, headers = signed()
    headers[header] = value
    with pytest.raises(SignatureInvalid, match=problem):
        verify(body, headers, SECRET, now=NOW)


def test_upper_case_hex_is_accepted() -> None:
    body, headers = signed()
    headers[SIGNATURE_HEADER] = "sha256=" + headers[SIGNATURE_HEADER][7:].upper()
    verify(body, headers, SECRET, now=NOW)


def test_signature_invalid_is_an_app_error() -> None:
    error = SignatureInvalid("nope")
    assert isinstance(error, AppError)
    assert error.code == "SignatureInvalid"


def test_sign_refuses_an_empty_secret_and_negative_timestamps() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(b"{}", "", NOW)
    with pytest.raises(ValueError, match="timestamp"):
        sign(b"{}", SECRET, -1)
