"""Notifications: what an operation's end, a backup round and an alert tell people, and how.

The feature has triggers of its own (blueprint.py: the outbox queue's delivery, the alerts
timer). `outbox.announce` is what the other features call; delivery, its store, the transport and
the round/alert sweeps do the I/O. Events, Teams cards and signed webhook payloads (the names
exported here) are pure functions of their inputs, so the same event always renders to the same
message and the same event id (tests/unit/notifications/test_package_is_pure.py, .importlinter).

The package itself imports nothing up front: the function app imports its blueprint at start-up,
and these names load on first use (PEP 562), which keeps indexing the app fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from notifications.advice import next_steps
    from notifications.cards import (
        DEFAULT_MAX_BYTES,
        MIN_MAX_BYTES,
        build_teams_message,
        encode_teams_message,
        message_size,
    )
    from notifications.events import (
        BackupExpiringAlert,
        BackupRoundSummary,
        DataBackupOverdueAlert,
        NotificationEvent,
        OperationEvent,
        Outcome,
        RoundFailure,
        StillSandboxAlert,
        event_for,
        outcome_for,
    )
    from notifications.webhook import (
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        SignatureInvalid,
        build_webhook_payload,
        sign,
        verify,
    )

_EXPORTS = {
    "BackupExpiringAlert": "notifications.events",
    "BackupRoundSummary": "notifications.events",
    "DEFAULT_MAX_BYTES": "notifications.cards",
    "DataBackupOverdueAlert": "notifications.events",
    "MIN_MAX_BYTES": "notifications.cards",
    "NotificationEvent": "notifications.events",
    "OperationEvent": "notifications.events",
    "Outcome": "notifications.events",
    "RoundFailure": "notifications.events",
    "SIGNATURE_HEADER": "notifications.webhook",
    "SignatureInvalid": "notifications.webhook",
    "StillSandboxAlert": "notifications.events",
    "TIMESTAMP_HEADER": "notifications.webhook",
    "build_teams_message": "notifications.cards",
    "build_webhook_payload": "notifications.webhook",
    "encode_teams_message": "notifications.cards",
    "event_for": "notifications.events",
    "message_size": "notifications.cards",
    "next_steps": "notifications.advice",
    "outcome_for": "notifications.events",
    "sign": "notifications.webhook",
    "verify": "notifications.webhook",
}

__all__ = [
    "DEFAULT_MAX_BYTES",
    "MIN_MAX_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "BackupExpiringAlert",
    "BackupRoundSummary",
    "DataBackupOverdueAlert",
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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'notifications' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
