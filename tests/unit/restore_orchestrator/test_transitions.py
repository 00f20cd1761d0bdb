"""The transition table, checked as data (issue 3): the guarantees are properties of the graph."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from restore_orchestrator.phases import (
    INITIAL,
    PHASE_STEP,
    TERMINAL_STATUS,
    Event,
    Phase,
)
from restore_orchestrator.transitions import (
    TRANSITIONS,
    IllegalTransitionError,
    exits,
    next_phase,
)
from shared.operations import RESTORE_STEPS

SWITCHED = {Phase.SWITCHING_TO_SANDBOX, Phase.PRECHECKING, Phase.RESTORING}


def successors(phase: Phase, *, without: Phase | None = None) -> set[Phase]:
    return {
        target for target in exits(phase).values() if target is not without and target is not phase
    }


def reachable(start: Phase, *, without: Phase | None = None) -> set[Phase]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in successors(queue.popleft(), without=without):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def test_exactly_one_initial_phase_and_it_is_queued() -> None:
    targets = set(TRANSITIONS.values())
    sources = {phase for phase, _ in TRANSITIONS}
    # A phase nothing leads to (other than itself) can only be where a restore begins.
    entry = {
        phase
        for phase in sources | targets
        if not any(t is phase and s is not phase for (s, _), t in TRANSITIONS.items())
    }
    assert entry == {INITIAL} == {Phase.QUEUED}


def test_terminal_phases_have_no_exits() -> None:
    for phase in TERMINAL_STATUS:
        assert phase.terminal
        assert exits(phase) == {}


def test_every_phase_is_used_and_every_working_phase_reaches_a_terminal_one() -> None:
    assert reachable(INITIAL) == set(Phase)
    for phase in Phase:
        assert any(p.terminal for p in reachable(phase)), phase


def test_no_path_from_a_switched_phase_ends_without_the_switch_back() -> None:
    # Remove SwitchingToProduction from the graph: from every phase where the target may be a
    # Sandbox, no terminal phase is reachable any more.
    for phase in SWITCHED:
        ends = {p for p in reachable(phase, without=Phase.SWITCHING_TO_PRODUCTION) if p.terminal}
        assert ends == set(), f"{phase} can end in {ends} without switching back"


def test_nothing_leads_back_into_the_switch_to_sandbox_after_the_switch_back() -> None:
    assert Phase.SWITCHING_TO_SANDBOX not in reachable(Phase.SWITCHING_TO_PRODUCTION)


def test_wait_keeps_every_working_phase_and_nothing_else_does() -> None:
    for (source, event), target in TRANSITIONS.items():
        assert (event is Event.WAIT) == (source is target), (source, event)
    for phase in Phase:
        if not phase.terminal:
            assert next_phase(phase, Event.WAIT) is phase


def test_an_illegal_move_raises() -> None:
    with pytest.raises(IllegalTransitionError):
        next_phase(Phase.RESTORING, Event.CANCEL)  # a running restore is never cancelled
    with pytest.raises(IllegalTransitionError):
        next_phase(Phase.SUCCEEDED, Event.WAIT)


def test_every_working_phase_reports_on_a_contract_step_in_order() -> None:
    working = [p for p in Phase if not p.terminal]
    assert set(PHASE_STEP) == set(working)
    assert set(PHASE_STEP.values()) == set(RESTORE_STEPS)
    order = [RESTORE_STEPS.index(PHASE_STEP[p]) for p in working]
    assert order == sorted(order)


def test_cancel_is_legal_exactly_before_the_restore_starts() -> None:
    cancellable = {phase for (phase, event) in TRANSITIONS if event is Event.CANCEL}
    assert cancellable == {
        Phase.QUEUED, Phase.VALIDATING, Phase.WAITING_FOR_BACKUP, Phase.SAFETY_BACKUP,
        Phase.SWITCHING_TO_SANDBOX, Phase.PRECHECKING,
    }


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(list(Event)), max_size=60))
def test_random_event_sequences_never_skip_the_switch_back(events: list[Event]) -> None:
    """Walk the table with arbitrary events (illegal ones are ignored, as decide never makes
    them): whenever a walk that entered SwitchingToSandbox ends, it passed the switch back."""
    phase = INITIAL
    entered_sandbox = switched_back = False
    for event in events:
        target = TRANSITIONS.get((phase, event))
        if target is None:
            continue
        phase = target
        entered_sandbox |= phase is Phase.SWITCHING_TO_SANDBOX
        switched_back |= entered_sandbox and phase is Phase.SWITCHING_TO_PRODUCTION
        if phase.terminal:
            break
    if phase.terminal and entered_sandbox:
        assert switched_back
    # Once the switch back began, the walk never returns to a phase before it.
    if switched_back:
        assert phase not in {Phase.SWITCHING_TO_SANDBOX, Phase.PRECHECKING, Phase.RESTORING}


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_random_legal_walks_end_and_respect_the_switch_back(data: st.DataObject) -> None:
    """Walks that only take legal, phase-changing moves always end within the table's size."""
    phase = INITIAL
    path = [phase]
    for _ in range(len(Phase) + 1):
        options = sorted((e for e, t in exits(phase).items() if t is not phase), key=str)
        if not options:
            break
        phase = next_phase(phase, data.draw(st.sampled_from(options)))
        path.append(phase)
    assert phase.terminal, path
    if Phase.SWITCHING_TO_SANDBOX in path:
        assert path.index(Phase.SWITCHING_TO_PRODUCTION) > path.index(Phase.SWITCHING_TO_SANDBOX)
