"""Outbox messages: what goes on the `notifications` queue, and when an operation sends one.

A message names an event and where its data lives (ids, plus the few fields that identify an
alert); the state stays in tables. The delivery function rebuilds the event from the current
records, so a message delivered twice or late renders the same event id, and a message whose
operation has since moved on is recognised as superseded.

Pure: no I/O, no clock; the outbox and the delivery function do the sending and reading.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias

from notifications.events import (
    BackupExpiringAlert,
    DataBackupOverdueAlert,
    OperationEvent,
    Outcome,
    StillSandboxAlert,
    event_for,
    round_event_name,
)
from shared.operations import Operation, OperationKind, OperationStatus, format_time, parse_time

MESSAGE_VERSION = 1

# What the backup timer puts in requestId (backup_triggers.rounds.timer_request_id): the round
# id is the schedule slot, so a backup knows its round without a lookup. The data backup timer
# puts the same with `data-` before it (data_backups/rounds.py), and its round id is `data-<slot>`.
_TIMER_REQUEST = re.compile(r"(data-)?timer:(\d{8}T\d{6}Z):([0-9a-z][0-9a-z_.:-]{0,127})")
_ROUND_KINDS = {None: OperationKind.BACKUP, "data-": OperationKind.DATA_BACKUP}


class Target(StrEnum):
    TEAMS = "teams"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class OperationNotice:
    """An operation reached a status worth announcing. `round_id` marks a timer backup: those
    are reported once per round (the summary), not one card per environment."""

    event: str
    event_id: str
    operation_id: str
    occurred_at: datetime
    round_id: str | None = None
    environment_id: str | None = None

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.event.split(".", 1)[1])


@dataclass(frozen=True, slots=True)
class RoundNotice:
    """A backup round is over (or overdue); the summary is built from the Rounds table."""

    event_id: str
    round_id: str

    @property
    def event(self) -> str:
        return round_event_name(self.round_id)


@dataclass(frozen=True, slots=True)
class StillSandboxNotice:
    event_id: str
    operation_id: str
    environment_id: str
    environment_name: str | None
    since: datetime
    reminder: int
    occurred_at: datetime

    event = "alert.still_sandbox"

    def alert(self, operation: Operation) -> StillSandboxAlert:
        return StillSandboxAlert(
            operation, self.environment_id, self.environment_name, self.since, self.reminder
        )


@dataclass(frozen=True, slots=True)
class ExpiringNotice:
    """`operation_id` is the backup operation in history, where delivery problems are noted."""

    event_id: str
    operation_id: str | None
    environment_id: str
    environment_name: str | None
    backup_label: str | None
    backup_id: str | None
    expires_at: datetime
    occurred_at: datetime

    event = "alert.backup_expiring"

    def alert(self) -> BackupExpiringAlert:
        return BackupExpiringAlert(
            self.environment_id,
            self.environment_name,
            self.backup_label,
            self.backup_id,
            self.expires_at,
        )


@dataclass(frozen=True, slots=True)
class DataOverdueNotice:
    """The alert's facts travel in the message: they come from the store's catalog, which
    delivery need not read again."""

    event_id: str
    environment_id: str
    environment_name: str | None
    last_point: datetime | None
    since: datetime
    due: datetime
    occurred_at: datetime

    event = "alert.data_backup_overdue"

    def alert(self) -> DataBackupOverdueAlert:
        return DataBackupOverdueAlert(self.environment_id, self.environment_name,
                                      self.last_point, self.since, self.due)


Notice: TypeAlias = (
    OperationNotice | RoundNotice | StillSandboxNotice | ExpiringNotice | DataOverdueNotice
)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A notice plus which targets it is for (None: every configured one) and which attempt.

    `attempt` is the delivery attempt this message may make for its targets; a message whose
    attempt is not the one the delivery table expects is a duplicate and is dropped. `held`
    counts how often the message was put back on the queue after every try of the host failed
    (delivery.HOLD_DELAYS).
    """

    notice: Notice
    targets: tuple[Target, ...] | None = None
    attempt: int = 1
    held: int = 0


# ------------------------------------------------------------------------------- deciding


def timer_round(operation: Operation) -> tuple[str, str] | None:
    """(round id, environment id) for a backup or data backup the timer requested, else None."""
    if not operation.request_id:
        return None
    match = _TIMER_REQUEST.fullmatch(operation.request_id)
    if match is None or _ROUND_KINDS[match.group(1)] is not operation.kind:
        return None
    return (match.group(1) or "") + match.group(2), match.group(3)


def operation_notice(before: Operation | None, after: Operation) -> OperationNotice | None:
    """The notice for a checkpoint that moved `before` to `after`, or None.

    Only a change of status announces anything: a checkpoint that records a poll or a step
    detail sends nothing, which is what keeps a day-long restore to a handful of messages.
    A restore announces its start once, on its first move into Running.
    """
    if before is not None and before.status is after.status:
        return None
    event = event_for(after)
    if event is None:
        return None
    if (
        event.outcome is Outcome.STARTED
        and before is not None
        and before.status is not OperationStatus.QUEUED
    ):
        return None
    member = timer_round(after)
    return OperationNotice(
        event=event.event,
        event_id=event.event_id,
        operation_id=after.operation_id,
        occurred_at=after.ended_at or after.updated_at,
        round_id=member[0] if member else None,
        environment_id=member[1] if member else None,
    )


def current_event(notice: OperationNotice, operation: Operation) -> OperationEvent | None:
    """The event `notice` announced, rebuilt from the operation as it stands now.

    None when the record no longer has the status the notice was sent for (a restore that
    ended before its "started" message was delivered): a later notice covers the new status,
    and a card must never claim a status the record does not have.
    """
    event = event_for(operation)
    if event is None or event.event != notice.event or event.event_id != notice.event_id:
        return None
    return event


# ---------------------------------------------------------------------------- wire format


def to_payload(envelope: Envelope) -> dict[str, Any]:
    notice = envelope.notice
    payload: dict[str, Any] = {"v": MESSAGE_VERSION, "event": notice.event,
                               "eventId": notice.event_id}
    if isinstance(notice, OperationNotice):
        payload.update(type="operation", operationId=notice.operation_id,
                       occurredAt=format_time(notice.occurred_at))
        if notice.round_id:
            payload.update(roundId=notice.round_id, environmentId=notice.environment_id)
    elif isinstance(notice, RoundNotice):
        payload.update(type="round", roundId=notice.round_id)
    elif isinstance(notice, StillSandboxNotice):
        payload.update(
            type="still_sandbox", operationId=notice.operation_id,
            environmentId=notice.environment_id, environmentName=notice.environment_name,
            since=format_time(notice.since), reminder=notice.reminder,
            occurredAt=format_time(notice.occurred_at),
        )
    elif isinstance(notice, DataOverdueNotice):
        payload.update(
            type="data_backup_overdue", environmentId=notice.environment_id,
            environmentName=notice.environment_name, lastPoint=format_time(notice.last_point),
            since=format_time(notice.since), due=format_time(notice.due),
            occurredAt=format_time(notice.occurred_at),
        )
    else:
        payload.update(
            type="backup_expiring", operationId=notice.operation_id,
            environmentId=notice.environment_id, environmentName=notice.environment_name,
            backupLabel=notice.backup_label, backupId=notice.backup_id,
            expiresAt=format_time(notice.expires_at), occurredAt=format_time(notice.occurred_at),
        )
    if envelope.targets is not None:
        payload["targets"] = [t.value for t in envelope.targets]
    if envelope.attempt != 1:
        payload["attempt"] = envelope.attempt
    if envelope.held:
        payload["held"] = envelope.held
    return payload


def from_payload(payload: object) -> Envelope:
    """Parse a message this app wrote; ValueError for anything else."""
    if not isinstance(payload, Mapping):
        raise ValueError("a notification message is a JSON object")
    try:
        notice = _notice(payload)
        targets = _targets(payload.get("targets"))
        attempt = int(payload.get("attempt", 1))
        held = int(payload.get("held", 0))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"malformed notification message: {error!r}") from error
    if attempt < 1:
        raise ValueError("attempt must be at least 1")
    if held < 0:
        raise ValueError("held cannot be negative")
    return Envelope(notice, targets, attempt, held)


def _notice(p: Mapping[str, Any]) -> Notice:
    kind = p["type"]
    event_id = _text(p, "eventId")
    if kind == "operation":
        event = _text(p, "event")
        Outcome(event.split(".", 1)[1])  # validates the event name
        return OperationNotice(
            event=event, event_id=event_id, operation_id=_text(p, "operationId"),
            occurred_at=_time(p, "occurredAt"), round_id=p.get("roundId") or None,
            environment_id=p.get("environmentId") or None,
        )
    if kind == "round":
        return RoundNotice(event_id=event_id, round_id=_text(p, "roundId"))
    if kind == "still_sandbox":
        return StillSandboxNotice(
            event_id=event_id, operation_id=_text(p, "operationId"),
            environment_id=_text(p, "environmentId"),
            environment_name=p.get("environmentName"), since=_time(p, "since"),
            reminder=int(p.get("reminder", 0)), occurred_at=_time(p, "occurredAt"),
        )
    if kind == "backup_expiring":
        return ExpiringNotice(
            event_id=event_id, operation_id=p.get("operationId") or None,
            environment_id=_text(p, "environmentId"),
            environment_name=p.get("environmentName"), backup_label=p.get("backupLabel"),
            backup_id=p.get("backupId"), expires_at=_time(p, "expiresAt"),
            occurred_at=_time(p, "occurredAt"),
        )
    if kind == "data_backup_overdue":
        return DataOverdueNotice(
            event_id=event_id, environment_id=_text(p, "environmentId"),
            environment_name=p.get("environmentName"), last_point=parse_time(p.get("lastPoint")),
            since=_time(p, "since"), due=_time(p, "due"), occurred_at=_time(p, "occurredAt"),
        )
    raise ValueError(f"unknown notification type {kind!r}")


def _targets(value: object) -> tuple[Target, ...] | None:
    if value is None:
        return None
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError("targets must be a list")
    return tuple(Target(str(v)) for v in value)


def _text(p: Mapping[str, Any], name: str) -> str:
    value = p[name]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _time(p: Mapping[str, Any], name: str) -> datetime:
    value = parse_time(p[name])
    if value is None:
        raise ValueError(f"{name} is required")
    return value
