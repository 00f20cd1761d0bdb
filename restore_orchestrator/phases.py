"""The phases of a restore and the events that move it between them.

A phase is where the orchestration stands (stored in its private state); an event is what a step
concluded (the decision function names it). Both are plain vocabularies: the legal moves live in
`transitions.py`, and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum

from shared.operations import OperationStatus


class Phase(StrEnum):
    QUEUED = "Queued"
    VALIDATING = "Validating"
    WAITING_FOR_BACKUP = "WaitingForBackup"
    SAFETY_BACKUP = "SafetyBackup"
    SWITCHING_TO_SANDBOX = "SwitchingToSandbox"
    PRECHECKING = "Prechecking"
    RESTORING = "Restoring"
    SWITCHING_TO_PRODUCTION = "SwitchingToProduction"
    DISABLING_ADMIN_MODE = "DisablingAdminMode"
    VERIFYING = "Verifying"
    REACTIVATING_FLOWS = "ReactivatingFlows"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    NEEDS_ATTENTION = "NeedsAttention"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUS

    @property
    def step(self) -> str | None:
        """The record's step (contract section 6) this phase reports on; None when terminal."""
        return PHASE_STEP.get(self)


class Event(StrEnum):
    """What a step concluded. `WAIT` keeps the phase: the step is not done yet."""

    WAIT = "Wait"
    STARTED = "Started"
    DONE = "Done"
    BACKUP_NOT_READY = "BackupNotReady"
    DRY_RUN_DONE = "DryRunDone"
    REFUSED = "Refused"
    GAVE_UP = "GaveUp"
    CANCEL = "Cancel"
    TIMED_OUT = "TimedOut"
    VERIFIED = "Verified"
    CONCLUDED_FAILED = "ConcludedFailed"
    CONCLUDED_CANCELLED = "ConcludedCancelled"
    NEEDS_ATTENTION = "NeedsAttention"


INITIAL = Phase.QUEUED

# Terminal phases and the operation status each one ends in.
TERMINAL_STATUS: dict[Phase, OperationStatus] = {
    Phase.SUCCEEDED: OperationStatus.SUCCEEDED,
    Phase.FAILED: OperationStatus.FAILED,
    Phase.NEEDS_ATTENTION: OperationStatus.NEEDS_ATTENTION,
    Phase.CANCELLED: OperationStatus.CANCELLED,
    Phase.REJECTED: OperationStatus.REJECTED,
}

# docs/orchestrator.md, "States": which step of the record each working phase reports on.
PHASE_STEP: dict[Phase, str] = {
    Phase.QUEUED: "validate",
    Phase.VALIDATING: "validate",
    Phase.WAITING_FOR_BACKUP: "validate",
    Phase.SAFETY_BACKUP: "safety_backup",
    Phase.SWITCHING_TO_SANDBOX: "switch_to_sandbox",
    Phase.PRECHECKING: "restore",
    Phase.RESTORING: "restore",
    Phase.SWITCHING_TO_PRODUCTION: "switch_to_production",
    Phase.DISABLING_ADMIN_MODE: "disable_admin_mode",
    Phase.VERIFYING: "verify",
    Phase.REACTIVATING_FLOWS: "reactivate_flows",
}

# Before the platform restore is requested a cancel is honoured; from then on it is refused.
CANCELLABLE = frozenset(
    {
        Phase.QUEUED,
        Phase.VALIDATING,
        Phase.WAITING_FOR_BACKUP,
        Phase.SAFETY_BACKUP,
        Phase.SWITCHING_TO_SANDBOX,
        Phase.PRECHECKING,
    }
)
