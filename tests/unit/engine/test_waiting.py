"""The engine's one way to wait out a platform that cannot serve a step (`wait_or_fail`), and the
two kinds that use it: every fault is waited for the shared backoff's delay (a throttle's
Retry-After exactly), the attempts count up, and past the budget the kind's give-up decides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from data_backups import faults as backup_faults
from data_backups.state import DataBackupState
from data_backups.state import Phase as BackupPhase
from data_restores import faults as restore_faults
from data_restores.state import DataRestoreState
from data_restores.state import Phase as RestorePhase
from engine.answers import Busy, Lost, Throttled, Unavailable
from engine.config import EngineConfig
from engine.decision import Decision, Stop, WaitFor
from engine.record import Finish, StepUpdate
from engine.waiting import Retryable, retry_delay, wait_or_fail
from shared.operations import OperationStatus, StepStatus
from shared.runtime import Backoff

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CONFIG = EngineConfig(backoff=Backoff(base_seconds=15, cap_seconds=600, max_attempts=5))


class Event(StrEnum):
    WAIT = "Wait"
    GAVE_UP = "GaveUp"


class Phase(StrEnum):
    RUNNING = "Running"

    @property
    def terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class State:
    attempts: int = 0
    seq: int = 0
    wake_at: datetime | None = None
    engine_faults: int = 0
    watchdog_nudges: int = 0
    phase: Phase = Phase.RUNNING

    def to_json(self) -> dict[str, Any]:
        return {}


def gave_up(state: State, message: str) -> Decision[State]:
    return Decision(state, Event.GAVE_UP, (StepUpdate("copy", detail=message),), Stop())


def wait(state: State, fault: Retryable) -> Decision[State]:
    return wait_or_fail(state, fault, NOW, CONFIG, "copy", what="data backup", event=Event.WAIT,
                        give_up=lambda message: gave_up(state, message))


faults = st.one_of(
    st.builds(Throttled, st.just("429"), st.none() | st.floats(1, 3000)),
    st.builds(Busy, st.just("409"), st.none() | st.floats(1, 3000)),
    st.builds(Unavailable, st.just("503"), st.none() | st.floats(1, 3000)),
    st.builds(Lost, st.just("timed out")),
)


@given(fault=faults, attempts=st.integers(0, CONFIG.backoff.max_attempts - 1))
def test_a_fault_within_the_budget_is_waited_for_the_backoffs_delay(
    fault: Retryable, attempts: int
) -> None:
    decision = wait(State(attempts=attempts), fault)
    delay = retry_delay(fault, attempts + 1, CONFIG)
    assert decision.next == WaitFor(delay)
    assert decision.state == State(attempts=attempts + 1, wake_at=NOW + timedelta(seconds=delay))
    assert decision.event is Event.WAIT
    [update] = decision.changes
    assert isinstance(update, StepUpdate) and update.name == "copy"
    assert update.status is None  # the step goes on
    assert f"(attempt {attempts + 1})" in (update.detail or "")


@given(fault=faults)
def test_past_the_budget_the_kind_gives_up_with_the_count_and_the_last_answer(
    fault: Retryable,
) -> None:
    decision = wait(State(attempts=CONFIG.backoff.max_attempts), fault)
    assert decision.event is Event.GAVE_UP and decision.next == Stop()
    [update] = decision.changes
    assert isinstance(update, StepUpdate)
    assert update.detail == (
        f"Gave up on this data backup after {CONFIG.backoff.max_attempts} attempts in a row; "
        f"the platform's last answer: {fault.message}")


def test_a_throttle_waits_exactly_its_retry_after() -> None:
    decision = wait(State(), Throttled("429", retry_after=120.0))
    assert decision.next == WaitFor(120.0)


def test_both_data_kinds_wait_the_same_way_and_fail_when_the_budget_is_spent() -> None:
    backup = DataBackupState("env", phase=BackupPhase.COPYING)
    restore = DataRestoreState("env", "env", ("account",), phase=RestorePhase.APPLYING)
    fault = Unavailable("503 Service Unavailable")
    waited = (backup_faults.wait_or_give_up(backup, fault, NOW, CONFIG, "copy"),
              restore_faults.wait_or_give_up(restore, fault, NOW, CONFIG, "apply"))
    for decision in waited:
        assert decision.next == WaitFor(retry_delay(fault, 1, CONFIG))
        assert decision.state.attempts == 1
    spent = (
        (backup_faults.wait_or_give_up(
            DataBackupState("env", phase=BackupPhase.COPYING, attempts=5), fault, NOW, CONFIG,
            "copy"), "data backup", BackupPhase.FAILED),
        (restore_faults.wait_or_give_up(
            DataRestoreState("env", "env", ("account",), phase=RestorePhase.APPLYING,
                             attempts=5), fault, NOW, CONFIG, "apply"),
         "record restore", RestorePhase.FAILED),
    )
    for decision, what, failed in spent:
        assert decision.state.phase is failed and decision.next == Stop()
        finish = next(c for c in decision.changes if isinstance(c, Finish))
        assert finish.status is OperationStatus.FAILED
        assert finish.error is not None and finish.error.code == "GaveUp"
        assert finish.error.message == (
            f"Gave up on this {what} after 5 attempts in a row; the platform's last answer: "
            "503 Service Unavailable")
        step = next(c for c in decision.changes if isinstance(c, StepUpdate))
        assert step.status is StepStatus.FAILED
