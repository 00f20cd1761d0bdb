"""Every kind's state is stored one way (engine/state.py): its fields and the engine's round-trip
through JSON, and a state this app cannot read is a StateUnreadableError saying why. Every kind
that fails its own way when the engine gives up (engine/kind.py `abandon_by`) ends Failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_triggers.kind import BACKUP
from backup_triggers.state import BackupPhase, BackupState
from data_backups.kind import DATA_BACKUP
from data_backups.state import DataBackupState, TableWork
from data_backups.state import Phase as BackupDataPhase
from data_restores.kind import DATA_RESTORE
from data_restores.state import DataRestoreState, Job
from data_restores.state import Phase as RestorePhase
from engine.kind import Kind
from engine.record import Finish, StepUpdate
from engine.state import StateUnreadableError
from restore_orchestrator.state import RestoreState
from shared.operations import OperationStatus, StepStatus

moments = st.none() | st.integers(0, 10**6).map(
    lambda s: datetime(2026, 12, 3, tzinfo=UTC) + timedelta(milliseconds=s * 1000))
counters = st.integers(0, 50)
engine = st.fixed_dictionaries({
    "seq": counters, "wake_at": moments, "engine_faults": counters,
    "watchdog_nudges": counters, "attempts": counters,
})


@given(fields=engine, phase=st.sampled_from(BackupDataPhase))
def test_a_data_backup_state_round_trips(fields: dict[str, Any], phase: BackupDataPhase) -> None:
    state = DataBackupState("env", label="before", requested=("account",), phase=phase,
                            tables=(TableWork("account", rows=3),), **fields)
    assert DataBackupState.from_json(state.to_json()) == state


@given(fields=engine, phase=st.sampled_from(RestorePhase))
def test_a_record_restore_state_round_trips(fields: dict[str, Any], phase: RestorePhase) -> None:
    state = DataRestoreState("a", "b", ("account",), phase=phase, jobs=(Job("account", 2),),
                             units={"account": 3}, **fields)
    assert DataRestoreState.from_json(state.to_json()) == state


@given(fields=engine, phase=st.sampled_from(BackupPhase))
def test_a_backup_state_round_trips(fields: dict[str, Any], phase: BackupPhase) -> None:
    state = BackupState("env", "nightly", phase=phase, tries=2, **fields)
    assert BackupState.from_json(state.to_json()) == state


def test_an_empty_counter_is_left_out_of_the_stored_json() -> None:
    stored = DataRestoreState("a", "b", ("account",)).to_json()
    assert {"version", "seq", "phase"} <= set(stored)
    assert not {"wakeAt", "engineFaults", "watchdogNudges", "attempts"} & set(stored)


READERS = [
    (DataBackupState.from_json, "data backup", DataBackupState("env").to_json()),
    (DataRestoreState.from_json, "record restore", DataRestoreState("a", "b", ("t",)).to_json()),
    (BackupState.from_json, "backup", BackupState("env", "x").to_json()),
]


@pytest.mark.parametrize(("read", "what", "stored"), READERS)
def test_a_state_this_app_cannot_read_says_why(read: Any, what: str, stored: dict[str, Any]
                                               ) -> None:
    with pytest.raises(StateUnreadableError, match=f"the operation has no {what} state"):
        read({})
    with pytest.raises(StateUnreadableError, match=f"{what} state without a valid version"):
        read({**stored, "version": "1"})
    with pytest.raises(StateUnreadableError, match="written by a newer version of the app"):
        read({**stored, "version": 99})
    with pytest.raises(StateUnreadableError, match=f"{what} state is malformed: KeyError..seq"):
        read({k: v for k, v in stored.items() if k != "seq"})
    with pytest.raises(StateUnreadableError, match=f"{what} state is malformed: ValueError"):
        read({**stored, "phase": "Sleeping"})


def test_the_restore_orchestrations_state_is_read_the_same_way() -> None:
    with pytest.raises(StateUnreadableError, match="the operation has no orchestration state"):
        RestoreState.from_json({})
    with pytest.raises(StateUnreadableError, match="newer version"):
        RestoreState.from_json({"version": 99})


@pytest.mark.parametrize(("kind", "state"), [
    (DATA_BACKUP, DataBackupState("env", phase=BackupDataPhase.COPYING)),
    (DATA_RESTORE, DataRestoreState("a", "b", ("t",), phase=RestorePhase.APPLYING)),
    (BACKUP, BackupState("env", "x")),
])
def test_the_engine_giving_up_ends_the_operation_failed_as_the_kind_fails(
    kind: Kind[Any], state: Any
) -> None:
    message = "The host gave up on the step's message 5 times."
    ended, changes = kind.abandon(state, message)
    assert ended.phase.terminal and ended.phase.value == "Failed" and ended.wake_at is None
    step = next(c for c in changes if isinstance(c, StepUpdate))
    assert (step.name, step.status, step.detail) == (
        kind.step_of(state), StepStatus.FAILED, message)
    finish = next(c for c in changes if isinstance(c, Finish))
    assert finish.status is OperationStatus.FAILED
    assert finish.error is not None and (finish.error.code, finish.error.message) == (
        "GaveUp", message)
