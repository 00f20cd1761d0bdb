"""The suite's size is part of its contract: at least 10,000 hostile inputs a CI run."""

from __future__ import annotations

from tests.fuzz.budget import BUDGETS


def test_a_ci_run_generates_at_least_ten_thousand_inputs() -> None:
    assert sum(BUDGETS.values()) >= 10_000
