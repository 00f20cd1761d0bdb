"""Notifications without I/O: events, Teams cards and signed webhook payloads.

Sending them (through the outbox queue) lives elsewhere; everything here is a pure function of
its inputs, so the same event always renders to the same message and the same event id.
"""

from __future__ import annotations

from shared.notifications.advice import next_steps
from shared.notifications.cards import (
    DEFAULT_MAX_BYTES,
    MIN_MAX_BYTES,
    build_teams_message,
    encode_teams_message,
    message_size,
)
from shared.notifications.events import (
    BackupExpiringAlert,
    BackupRoundSummary,
    NotificationEvent,
    OperationEvent,
    Outcome,
    RoundFailure,
    StillSandboxAlert,
    event_for,
    outcome_for,
)
from shared.notifications.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureInvalid,
    build_webhook_payload,
    sign,
    verify,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MIN_MAX_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BackupExpiringAlert",
    "BackupRoundSummary",
    "NotificationEvent",
    "OperationEvent",
    "Outcome",
    "RoundFailure",
    "SignatureInvalid",
    "StillSandboxAlert",
    "build_teams_message",
    "build_webhook_payload",
    "encode_teams_message",
    "event_for",
    "message_size",
    "next_steps",
    "outcome_for",
    "sign",
    "verify",
]
