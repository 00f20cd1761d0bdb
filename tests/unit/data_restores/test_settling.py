"""Settling refuses a plan too large to hold in one step, with what to do instead (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from data_restores import settling
from data_restores.commands import PlanTooLarge, Settle, Settled, StagePlan
from data_restores.state import DataRestoreState, Phase
from engine.config import EngineConfig
from engine.record import Finish
from shared.operations import OperationStatus
from tests.unit.restore_orchestrator.builders import CONFIG, TARGET, env

NOW = datetime(2026, 12, 5, tzinfo=UTC)
STATE = DataRestoreState("src", TARGET, ("account",), point_id="p", api_url="https://x/api/data",
                         phase=Phase.SETTLING, apply=True)
COUNTS = {"total": {"create": 1}, "tables": {"account": {"create": 1}}}
STAGES = (StagePlan("rows", "account", 1),)


def test_the_settle_command_carries_the_limit_and_for_an_apply_the_target_to_read_again() -> None:
    command = settling.plan(STATE, NOW, EngineConfig())
    assert isinstance(command, Settle)
    assert command.max_rows == settling.MAX_ROWS_TO_WRITE
    assert command.target_environment_id == TARGET
    dry = settling.plan(replace(STATE, apply=False), NOW, EngineConfig())
    assert dry.target_environment_id is None


def test_a_target_that_became_production_while_planning_is_not_written_without_the_guardrail(
) -> None:
    became = env(type="Production", name="Contoso Sales")
    refused = settling.decide(STATE, Settled(COUNTS, STAGES, became), NOW, CONFIG)
    assert refused.state.phase is Phase.REJECTED
    [finish] = [c for c in refused.changes if isinstance(c, Finish)]
    assert finish.error is not None and finish.error.code == "ConfirmationRequired"
    assert finish.error.message.startswith("Before writing: ")

    confirmed = replace(STATE, confirm_production=TARGET)
    assert settling.decide(confirmed, Settled(COUNTS, STAGES, became), NOW,
                           CONFIG).state.phase is Phase.APPLYING
    # Not on the allow-list: refused whatever the confirmation says.
    assert settling.decide(confirmed, Settled(COUNTS, STAGES, became), NOW,
                           EngineConfig()).state.phase is Phase.REJECTED
    # Still a Sandbox: no guardrail.
    sandbox = env(type="Sandbox")
    assert settling.decide(STATE, Settled(COUNTS, STAGES, sandbox), NOW,
                           EngineConfig()).state.phase is Phase.APPLYING


def test_a_plan_past_the_limit_fails_naming_its_biggest_tables_and_the_ways_to_split_it() -> None:
    counts = {"account": 90_000, "contact": 30_000, **{f"t{n}": 10 - n for n in range(6)}}
    decision = settling.decide(STATE, PlanTooLarge(counts, 100_000), NOW, EngineConfig())

    assert decision.state.phase is Phase.FAILED
    [finish] = [c for c in decision.changes if isinstance(c, Finish)]
    assert finish.status is OperationStatus.FAILED
    assert finish.error is not None and finish.error.code == "PlanTooLarge"
    message = finish.error.message
    assert "120,045 rows" in message and "at most 100,000" in message
    assert "account 90,000, contact 30,000, t0 10, t1 9, t2 8 and 3 more table(s)" in message
    assert "Nothing was written" in message and "--table" in message and "--ids" in message
