"""A backup's private state on the engine: a frozen value, stored as versioned JSON beside its
record (`StoredOperation.internal`), so one ETag-guarded write commits both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from engine.state import StateUnreadableError
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

    def to_json(self) -> dict[str, Any]:
        values = {
            "version": self.version,
            "seq": self.seq,
            "phase": self.phase.value,
            "environmentId": self.environment_id,
            "label": self.label,
            "intentAt": format_time(self.intent_at),
            "tries": self.tries or None,
            "attempts": self.attempts or None,
            "wakeAt": format_time(self.wake_at),
            "engineFaults": self.engine_faults or None,
            "watchdogNudges": self.watchdog_nudges or None,
        }
        return {k: v for k, v in values.items() if v is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BackupState:
        version = data.get("version") if data else None
        if not isinstance(version, int) or not 1 <= version <= STATE_VERSION:
            raise StateUnreadableError(f"backup state without a version this app reads: {version}")
        try:
            return cls(
                environment_id=str(data["environmentId"]),
                label=str(data["label"]),
                seq=int(data["seq"]),
                phase=BackupPhase(data["phase"]),
                intent_at=parse_time(data.get("intentAt")),
                tries=int(data.get("tries", 0)),
                attempts=int(data.get("attempts", 0)),
                wake_at=parse_time(data.get("wakeAt")),
                engine_faults=int(data.get("engineFaults", 0)),
                watchdog_nudges=int(data.get("watchdogNudges", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise StateUnreadableError(f"backup state is malformed: {error}") from error
