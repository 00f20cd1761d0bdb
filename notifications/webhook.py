"""The generic webhook: payload, HMAC-SHA256 signature, and the receiver's check (contract §8).

A receiver verifies a delivery like this (`verify` is the reference implementation)::

    body = request.body                     # the raw bytes, before any JSON parsing
    verify(body, request.headers, secret, now=int(time.time()))
    event = json.loads(body)
    if already_seen(event["eventId"]):      # deliveries are at-least-once
        return 200

The signature covers `"<timestamp>." + body`, so neither the body nor the timestamp can be changed
without the secret, and the timestamp bounds how long a captured request can be replayed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from notifications.events import (
    BackupExpiringAlert,
    BackupRoundSummary,
    DataBackupOverdueAlert,
    NotificationEvent,
    OperationEvent,
    StillSandboxAlert,
)
from shared.errors import AppError
from shared.operations import format_time

TIMESTAMP_HEADER = "X-PPBackup-Timestamp"
SIGNATURE_HEADER = "X-PPBackup-Signature"
DEFAULT_TOLERANCE_SECONDS = 300

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureInvalid(AppError):
    """A webhook delivery whose signature or timestamp does not check out; answer 401."""

    code = "SignatureInvalid"


def build_webhook_payload(event: NotificationEvent, *, occurred_at: datetime) -> bytes:
    """The JSON body for `event`: event, eventId, occurredAt, operation (or null), and a
    `summary` (round summaries) or `alert` (alerts) object.

    ASCII-only JSON: any text survives (even a stray lone surrogate), and the bytes signed are
    exactly the bytes sent.
    """
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    payload: dict[str, Any] = {
        "event": event.event,
        "eventId": event.event_id,
        "occurredAt": format_time(occurred_at),
        "operation": None,
    }
    if isinstance(event, OperationEvent | StillSandboxAlert):
        payload["operation"] = event.operation.to_record()
    if isinstance(event, BackupRoundSummary):
        payload["summary"] = _summary(event)
    elif isinstance(event, StillSandboxAlert):
        payload["alert"] = _alert(
            "still_sandbox", event, since=format_time(event.since), reminder=event.reminder
        )
    elif isinstance(event, BackupExpiringAlert):
        payload["alert"] = _alert(
            "backup_expiring",
            event,
            backupLabel=event.backup_label,
            backupId=event.backup_id,
            expiresAt=format_time(event.expires_at),
        )
    elif isinstance(event, DataBackupOverdueAlert):
        payload["alert"] = _alert(
            "data_backup_overdue",
            event,
            lastPointTime=format_time(event.last_point),
            since=format_time(event.since),
            overdueSince=format_time(event.due),
        )
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode("ascii")


def _alert(
    kind: str,
    event: StillSandboxAlert | BackupExpiringAlert | DataBackupOverdueAlert,
    **fields: object,
) -> dict[str, Any]:
    """An alert's payload: its type and environment, then its own fields."""
    return {
        "type": kind,
        "environmentId": event.environment_id,
        "environmentName": event.environment_name,
        **fields,
    }


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers that go with `body`: content type, timestamp and signature."""
    if timestamp < 0:
        raise ValueError("timestamp must be unix seconds")
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"sha256={_digest(body, secret, timestamp)}",
    }


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise SignatureInvalid unless `body` was signed with `secret` within the tolerance.

    Header names are matched case-insensitively (HTTP servers normalise them differently); the
    timestamp may lie up to `tolerance_seconds` in the past or future (clock skew).
    """
    timestamp_text = _header(headers, TIMESTAMP_HEADER)
    signature_text = _header(headers, SIGNATURE_HEADER)
    if timestamp_text is None or signature_text is None:
        raise SignatureInvalid("the timestamp or signature header is missing")
    if not _TIMESTAMP.fullmatch(timestamp_text.strip()):
        raise SignatureInvalid("the timestamp header is not a number of seconds")
    timestamp = int(timestamp_text.strip())
    if abs(now - timestamp) > tolerance_seconds:
        # Checked before the signature too: a replayed old request fails here either way.
        raise SignatureInvalid("the timestamp is outside the accepted window")
    match = _SIGNATURE.fullmatch(signature_text.strip())
    if match is None:
        raise SignatureInvalid("the signature header is not of the form sha256=<hex>")
    expected = _digest(body, secret, timestamp).encode("ascii")
    # Constant time, so the comparison leaks nothing about how much of a guess was right.
    if not hmac.compare_digest(expected, match.group(1).lower().encode("ascii")):
        raise SignatureInvalid("the signature does not match the body")


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    if not secret:
        raise ValueError("the webhook secret is empty")
    message = f"{timestamp}.".encode("ascii") + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _summary(event: BackupRoundSummary) -> dict[str, Any]:
    summary = _round_summary(event)
    if event.is_data:
        summary.update(tables=event.tables_count, rows=event.rows_count, failedTables=[
            {"environmentId": f.environment_id, "environmentName": f.environment_name,
             "table": f.message.split(":", 1)[0], "message": f.message}
            for f in event.table_failures
        ])
    return summary


def _round_summary(event: BackupRoundSummary) -> dict[str, Any]:
    return {
        "roundId": event.round_id,
        "scheduledFor": format_time(event.scheduled_for),
        "startedAt": format_time(event.started_at),
        "endedAt": format_time(event.ended_at),
        "total": event.total,
        "succeeded": event.succeeded_count,
        "failedCount": len(event.failures),
        "pending": event.pending_count,
        "failed": [
            {
                "environmentId": f.environment_id,
                "environmentName": f.environment_name,
                "message": f.message,
            }
            for f in event.failures
        ],
    }
