"""A backup's private state on the engine: a frozen value, stored as versioned JSON beside its
record (`StoredOperation.internal`), so one ETag-guarded write commits both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.state import engine_fields, reading, state_json
from shared.operations import format_time, parse_time

STATE_VERSION = 1


class BackupPhase(StrEnum):
    BACKING_UP = "BackingUp"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        return self is not BackupPhase.BACKING_UP


class Event(StrEnum):
    """What a step concluded (for the log; a backup has one working phase)."""

    WAIT = "Wait"
    MAKE = "Make"
    DONE = "Done"
    GAVE_UP = "GaveUp"


@dataclass(frozen=True, slots=True)
class BackupState:
    environment_id: str
    label: str
    version: int = STATE_VERSION
    seq: int = 0
    phase: BackupPhase = BackupPhase.BACKING_UP
    # The platform may have been asked since then (checkpointed before every create call).
    intent_at: datetime | None = None
    # Create calls sent so far, and consecutive waits for a platform that could not serve one.
    tries: int = 0
    attempts: int = 0
    wake_at: datetime | None = None
    engine_faults: int = 0
    watchdog_nudges: int = 0
    # The queue message whose invocation admitted the backup (None: HTTP, CLI, or admitted
    # before this was kept): only its redelivery may drive the backup again at once.
    admitted_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return state_json(self, {
            "environmentId": self.environment_id,
            "label": self.label,
            "intentAt": format_time(self.intent_at),
            "tries": self.tries or None,
            "attempts": self.attempts or None,
            "admittedBy": self.admitted_by,
        })

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackupState:
        with reading(data, "backup", STATE_VERSION):
            return cls(
                environment_id=str(data["environmentId"]),
                label=str(data["label"]),
                phase=BackupPhase(data["phase"]),
                intent_at=parse_time(data.get("intentAt")),
                tries=int(data.get("tries", 0)),
                attempts=int(data.get("attempts", 0)),
                admitted_by=data.get("admittedBy"),
                **engine_fields(data),
            )
