"""The polling schedule, driven against a model of a staged platform operation (pure)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from restore_orchestrator.polling import end_window, poll_delay
from restore_orchestrator.state import ProgressMark

from .builders import CONFIG, NOW

SIMULATOR_STAGES = (0.05, 0.15, 0.70, 0.10)  # ppbackup.simulator.model.STAGE_WEIGHTS


def follow(duration: float, weights: tuple[float, ...] = SIMULATOR_STAGES,
           retry_after: float | None = None) -> tuple[int, float]:
    """Poll an operation of `duration` seconds as the engine would: (polls, seconds late)."""
    ends, total = [], 0.0
    for weight in weights:
        total += duration * weight
        ends.append(total)
    t, polls, marks = 0.0, 0, []
    last = None
    while True:
        polls += 1
        if t >= ends[-1]:
            return polls, t - ends[-1]
        now = NOW + timedelta(seconds=t)
        done = sum(1 for end in ends if t >= end)
        if not marks or marks[-1].done != done:
            marks.append(ProgressMark(done, len(weights), now, last))
        last = now
        t += poll_delay(now=now, started_at=NOW, progress=marks, retry_after=retry_after,
                        config=CONFIG)


def test_retry_after_is_honoured_exactly() -> None:
    assert poll_delay(now=NOW, started_at=NOW, progress=(), retry_after=60.0,
                      config=CONFIG) == 60.0
    polls, late = follow(6 * 3600, retry_after=60.0)
    assert polls <= 1.1 * (6 * 3600 / 60)
    assert late <= 60


@pytest.mark.parametrize("hours", [1, 6, 20, 24, 48])
def test_without_retry_after_few_polls_and_a_prompt_end(hours: int) -> None:
    polls, late = follow(hours * 3600)
    fixed_5s = hours * 3600 / 5
    assert polls <= 120 if hours <= 6 else polls <= fixed_5s / 50
    assert late <= 90


def test_intervals_stay_between_one_and_fifteen_minutes() -> None:
    marks = (ProgressMark(1, 4, NOW + timedelta(hours=1), NOW + timedelta(minutes=50)),)
    for minutes in (0, 5, 60, 600, 6000):
        delay = poll_delay(now=NOW + timedelta(minutes=minutes), started_at=NOW,
                           progress=marks if minutes >= 60 else (), retry_after=None,
                           config=CONFIG)
        assert 60 <= delay <= 900


def test_the_end_window_brackets_the_last_stage() -> None:
    marks = (
        ProgressMark(1, 3, NOW + timedelta(minutes=10), NOW + timedelta(minutes=9)),
        ProgressMark(2, 3, NOW + timedelta(minutes=40), NOW + timedelta(minutes=35)),
    )
    window = end_window(marks, NOW)
    assert window is not None
    earliest, latest = window
    # Stages took 9..10 and 25..31 minutes; the last started between minute 35 and 40.
    assert earliest == NOW + timedelta(minutes=35 + 9)
    assert latest == NOW + timedelta(minutes=40 + 31)
