"""The transition table: the only place where the legal moves of a restore are written.

`(phase, event) -> phase`. `decide` asks `next_phase` for every move it makes, so a move missing
here is a bug that raises instead of silently taking the orchestration somewhere unplanned. The
table is checked as data by tests/unit/restore_orchestrator/test_transitions.py: one initial
phase, terminal phases have no exits, every phase reaches a terminal one, and every path through
SwitchingToSandbox passes SwitchingToProduction before it ends (the guaranteed switch back).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from restore_orchestrator.phases import Event, Phase

P, E = Phase, Event

_WORKING = tuple(p for p in Phase if not p.terminal)

_MOVES: dict[tuple[Phase, Event], Phase] = {
    # Waiting (for the lock, the platform, a delay) keeps any working phase where it is.
    **{(phase, E.WAIT): phase for phase in _WORKING},
    (P.QUEUED, E.STARTED): P.VALIDATING,
    (P.QUEUED, E.CANCEL): P.CANCELLED,
    # Nothing has changed yet in these phases: refusals, give-ups and cancels end right here.
    (P.VALIDATING, E.DONE): P.SAFETY_BACKUP,
    (P.VALIDATING, E.BACKUP_NOT_READY): P.WAITING_FOR_BACKUP,
    (P.VALIDATING, E.DRY_RUN_DONE): P.SUCCEEDED,
    (P.VALIDATING, E.REFUSED): P.REJECTED,
    (P.VALIDATING, E.GAVE_UP): P.FAILED,
    (P.VALIDATING, E.CANCEL): P.CANCELLED,
    (P.WAITING_FOR_BACKUP, E.DONE): P.SAFETY_BACKUP,
    (P.WAITING_FOR_BACKUP, E.CANCEL): P.CANCELLED,
    (P.SAFETY_BACKUP, E.DONE): P.SWITCHING_TO_SANDBOX,
    (P.SAFETY_BACKUP, E.GAVE_UP): P.FAILED,
    (P.SAFETY_BACKUP, E.CANCEL): P.CANCELLED,
    # From here on the target may be a Sandbox: every exit leads through the switch back.
    (P.SWITCHING_TO_SANDBOX, E.DONE): P.PRECHECKING,
    (P.SWITCHING_TO_SANDBOX, E.GAVE_UP): P.SWITCHING_TO_PRODUCTION,
    (P.SWITCHING_TO_SANDBOX, E.CANCEL): P.SWITCHING_TO_PRODUCTION,
    (P.PRECHECKING, E.DONE): P.RESTORING,
    (P.PRECHECKING, E.REFUSED): P.SWITCHING_TO_PRODUCTION,
    (P.PRECHECKING, E.GAVE_UP): P.SWITCHING_TO_PRODUCTION,
    (P.PRECHECKING, E.CANCEL): P.SWITCHING_TO_PRODUCTION,
    (P.RESTORING, E.DONE): P.SWITCHING_TO_PRODUCTION,
    (P.RESTORING, E.GAVE_UP): P.SWITCHING_TO_PRODUCTION,
    (P.RESTORING, E.TIMED_OUT): P.SWITCHING_TO_PRODUCTION,
    (P.SWITCHING_TO_PRODUCTION, E.DONE): P.DISABLING_ADMIN_MODE,
    # A switch back that gives up still turns administration mode off: a Sandbox left in it is
    # worse than one that is not, and the attention it records ends the restore NeedsAttention.
    (P.SWITCHING_TO_PRODUCTION, E.GAVE_UP): P.DISABLING_ADMIN_MODE,
    # Administration mode that will not turn off is reported by the verification that follows.
    (P.DISABLING_ADMIN_MODE, E.DONE): P.VERIFYING,
    (P.DISABLING_ADMIN_MODE, E.GAVE_UP): P.VERIFYING,
    (P.VERIFYING, E.VERIFIED): P.REACTIVATING_FLOWS,
    # Flows that will not turn on are listed on the record; they never fail the restore.
    (P.REACTIVATING_FLOWS, E.DONE): P.SUCCEEDED,
    (P.VERIFYING, E.CONCLUDED_FAILED): P.FAILED,
    (P.VERIFYING, E.CONCLUDED_CANCELLED): P.CANCELLED,
    (P.VERIFYING, E.NEEDS_ATTENTION): P.NEEDS_ATTENTION,
}

TRANSITIONS: Mapping[tuple[Phase, Event], Phase] = MappingProxyType(_MOVES)


class IllegalTransitionError(RuntimeError):
    """`decide` tried a move the table does not have: a bug, never a platform condition."""


def next_phase(phase: Phase, event: Event) -> Phase:
    try:
        return TRANSITIONS[(phase, event)]
    except KeyError:
        raise IllegalTransitionError(f"no transition from {phase} on {event}") from None


def exits(phase: Phase) -> dict[Event, Phase]:
    return {event: target for (source, event), target in TRANSITIONS.items() if source is phase}
