"""Settling refuses a plan too large to hold in one step, with what to do instead (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from data_restores import settling
from data_restores.commands import PlanTooLarge, Settle
from data_restores.state import DataRestoreState, Phase
from engine.config import EngineConfig
from engine.record import Finish
from shared.operations import OperationStatus

NOW = datetime(2026, 12, 5, tzinfo=UTC)
STATE = DataRestoreState("src", "dst", ("account",), point_id="p", api_url="https://x/api/data/v9.2",
                         phase=Phase.SETTLING, apply=True)


def test_the_settle_command_carries_the_limit() -> None:
    command = settling.plan(STATE, NOW, EngineConfig())
    assert isinstance(command, Settle)
    assert command.max_rows == settling.MAX_ROWS_TO_WRITE


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
