"""What a step asks the runner to do: one platform call (or one storage action) per command.

Commands are values; `plan` and `decide` produce them without doing anything, and the runner
(`execute.py`) is the only code that carries them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.power_platform import OperationHandle


@dataclass(frozen=True, slots=True)
class Proceed:
    """No I/O: the step decides on what the state already knows (skips, waits that ended)."""

    reason: str


@dataclass(frozen=True, slots=True)
class AcquireLock:
    """Take the per-target lock, oldest Queued restore first; take over a lock of an ended one."""

    target_id: str


@dataclass(frozen=True, slots=True)
class InspectEnvironments:
    target_id: str
    source_id: str


@dataclass(frozen=True, slots=True)
class ListBackups:
    environment_id: str


@dataclass(frozen=True, slots=True)
class ReadEnvironment:
    environment_id: str


@dataclass(frozen=True, slots=True)
class CreateBackup:
    """Not idempotent: only sent after the intent is checkpointed."""

    environment_id: str
    label: str


@dataclass(frozen=True, slots=True)
class FindBackup:
    environment_id: str
    label: str
    since: datetime


@dataclass(frozen=True, slots=True)
class ChangeType:
    """Not idempotent (modifySku): only sent after the intent is checkpointed."""

    environment_id: str
    environment_type: str


@dataclass(frozen=True, slots=True)
class Reconcile:
    """After a crash between intent and handle: read the environment and look for an operation
    named `operation_name` that started since the intent."""

    environment_id: str
    operation_name: str
    since: datetime


@dataclass(frozen=True, slots=True)
class Poll:
    handle: OperationHandle


@dataclass(frozen=True, slots=True)
class CheckRestorable:
    """The checks the platform answers only for a Sandbox target: ValidateOnly + candidates."""

    target_id: str
    source_id: str
    restore_point: datetime
    skip_audit_data: bool


@dataclass(frozen=True, slots=True)
class StartRestore:
    """Not idempotent: only sent after the intent is checkpointed."""

    target_id: str
    source_id: str
    restore_point: datetime
    skip_audit_data: bool


@dataclass(frozen=True, slots=True)
class SetRuntimeState:
    """Administration mode off, background operations on (a PATCH of an end state: resendable)."""

    environment_id: str


@dataclass(frozen=True, slots=True)
class ReadFlows:
    """The environment's solution cloud flows (a read)."""

    environment_id: str


@dataclass(frozen=True, slots=True)
class TurnFlowOn:
    """Turn one cloud flow on, looking first (an end state: resendable, written once)."""

    environment_id: str
    flow_id: str


Command = (
    Proceed
    | AcquireLock
    | InspectEnvironments
    | ListBackups
    | ReadEnvironment
    | CreateBackup
    | FindBackup
    | ChangeType
    | Reconcile
    | Poll
    | CheckRestorable
    | StartRestore
    | SetRuntimeState
    | ReadFlows
    | TurnFlowOn
)
