"""A backup's BackingUp phase: what it plans and how it decides (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backup_triggers.backing_up import decide, plan, started
from backup_triggers.state import BackupPhase, BackupState
from engine import answers as a
from engine import commands as c
from engine.config import EngineConfig
from engine.decision import ContinueNow, Stop, WaitFor
from engine.record import Finish, MarkRunning, SetBackup
from shared.operations import OperationStatus
from shared.policy.backoff import Backoff
from shared.policy.clock_skew import CLOCK_SKEW
from shared.power_platform import Backup

ENV = "11111111-2222-3333-4444-555555555555"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CONFIG = EngineConfig(backoff=Backoff(max_attempts=4))
BACKUP = Backup("b1", "Pre-update", NOW, NOW + timedelta(days=7), created_by_type="User")


def backing_up(**fields: object) -> BackupState:
    return BackupState(ENV, "Pre-update", seq=2, **fields)  # type: ignore[arg-type]


def finish_of(changes: tuple[object, ...]) -> Finish:
    return next(change for change in changes if isinstance(change, Finish))


def test_the_first_call_is_made_only_after_its_intent_is_checkpointed() -> None:
    state = backing_up()
    assert isinstance(plan(state, NOW, CONFIG), c.Proceed)
    decision = decide(state, a.Proceeded(), NOW, CONFIG)
    assert decision.state.intent_at == NOW and decision.state.tries == 1
    assert decision.next == ContinueNow(c.CreateBackup(ENV, "Pre-update"))


def test_a_step_with_an_intent_looks_before_it_leaps() -> None:
    command = plan(backing_up(intent_at=NOW, tries=1), NOW, CONFIG)
    assert command == c.FindBackup(ENV, "Pre-update", NOW - CLOCK_SKEW)


@pytest.mark.parametrize("answer", [a.BackupMade(BACKUP), a.BackupFound(BACKUP)])
def test_a_backup_made_or_found_ends_it_succeeded_with_the_backup_on_the_record(
    answer: a.Answer,
) -> None:
    decision = decide(backing_up(intent_at=NOW, tries=1), answer, NOW, CONFIG)
    assert decision.state.phase is BackupPhase.SUCCEEDED
    assert decision.next == Stop()
    assert SetBackup("b1", NOW, BACKUP.expiry) in decision.changes
    assert finish_of(decision.changes).status is OperationStatus.SUCCEEDED


def test_tries_are_bounded_whatever_the_answers() -> None:
    again = decide(backing_up(intent_at=NOW, tries=3), a.BackupFound(None), NOW, CONFIG)
    assert again.next == ContinueNow(c.CreateBackup(ENV, "Pre-update"))
    assert again.state.tries == 4
    stop = decide(backing_up(intent_at=NOW, tries=4), a.BackupFound(None), NOW, CONFIG)
    assert stop.state.phase is BackupPhase.FAILED and stop.next == Stop()
    error = finish_of(stop.changes).error
    assert error is not None and error.code == "GaveUp" and "4 attempts" in error.message


def test_a_lost_answer_keeps_the_intent_so_the_next_step_looks_first() -> None:
    decision = decide(backing_up(intent_at=NOW, tries=1), a.Lost("timeout"), NOW, CONFIG)
    assert isinstance(decision.next, WaitFor) and decision.next.seconds > 0
    assert decision.state.intent_at == NOW
    assert isinstance(plan(decision.state, NOW, CONFIG), c.FindBackup)


def test_a_busy_environment_made_nothing_so_the_next_step_makes_it_again() -> None:
    decision = decide(backing_up(intent_at=NOW, tries=1), a.Busy("busy", 30.0), NOW, CONFIG)
    assert isinstance(decision.next, WaitFor) and decision.next.seconds >= 30.0
    assert decision.state.intent_at is None and decision.state.attempts == 1
    assert isinstance(plan(decision.state, NOW, CONFIG), c.Proceed)


def test_waits_are_bounded_too() -> None:
    decision = decide(backing_up(tries=1, attempts=4), a.Busy("busy"), NOW, CONFIG)
    error = finish_of(decision.changes).error
    assert error is not None and error.code == "GaveUp" and "4 attempts" in error.message


@pytest.mark.parametrize(
    ("answer", "code"),
    [(a.Missing("no such environment"), "EnvironmentNotFound"), (a.Refused("Forbidden", "no"),
                                                                  "Forbidden")],
)
def test_a_refusal_ends_it_failed_with_the_platform_reason(answer: a.Answer, code: str) -> None:
    decision = decide(backing_up(intent_at=NOW, tries=1), answer, NOW, CONFIG)
    assert decision.state.phase is BackupPhase.FAILED
    error = finish_of(decision.changes).error
    assert error is not None and error.code == code


def test_the_state_reads_back_what_it_wrote() -> None:
    state = backing_up(intent_at=NOW, tries=2, attempts=1, wake_at=NOW, watchdog_nudges=1)
    assert BackupState.from_json(state.to_json()) == state


def test_a_backup_admitted_started_has_its_intent_so_anyone_but_its_admitter_looks_first() -> None:
    state, changes, first = started(ENV, "Pre-update", NOW)
    assert first == c.CreateBackup(ENV, "Pre-update")
    assert state.intent_at == NOW and state.tries == 1
    assert MarkRunning() in changes
    assert plan(state, NOW, CONFIG) == c.FindBackup(ENV, "Pre-update", NOW - CLOCK_SKEW)
