"""The guaranteed switch back, whatever happens after the switch to Sandbox was requested: a
cancel racing the switch, a step the engine abandons, transient faults during the switch back,
and a switch back that gives up (review findings, as pure decisions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from engine import answers as a
from engine import commands as c
from engine.decision import ContinueNow
from restore_orchestrator.decide import decide, plan
from restore_orchestrator.phases import Phase
from restore_orchestrator.state import RestoreState
from shared.power_platform import LifecycleKind, PlatformStatus

from .builders import CONFIG, NOW, env, handle, op, state

S = timedelta(seconds=1)


def _after(s: RestoreState, answer: a.Answer, seconds: float = 0.0) -> RestoreState:
    d = decide(s, answer, NOW + seconds * S, CONFIG)
    return replace(d.state, seq=s.seq + 1)


# --- 1. a cancel while the switch to Sandbox may be running ------------------------------------


def test_a_cancel_waits_for_a_switch_to_sandbox_in_flight_then_switches_back() -> None:
    given = state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW - S},
                  cancel_requested_at=NOW, cancel_requested_by="ops")
    # The switch that may be running is looked for first, not forgotten.
    assert isinstance(plan(given, NOW, CONFIG), c.Reconcile)
    switch = op(PlatformStatus.RUNNING, name="ModifySku")
    s = _after(given, a.Reconciled(env(state="Running"), switch))
    assert s.phase is Phase.SWITCHING_TO_SANDBOX and s.work.handle is not None
    s = _after(s, a.Polled(op(PlatformStatus.SUCCEEDED, name="ModifySku")))
    # The platform says done, the reads still show Production: keep confirming.
    s = _after(s, a.EnvironmentRead(env()))
    assert s.phase is Phase.SWITCHING_TO_SANDBOX
    s = _after(s, a.EnvironmentRead(env(type="Sandbox")))
    assert s.facts.switched_to_sandbox
    # Now the cancel is honoured, on the way to the switch back.
    assert isinstance(plan(s, NOW, CONFIG), c.Proceed)
    s = _after(s, a.Proceeded())
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION and s.cancelled
    d = decide(s, a.EnvironmentRead(env(type="Sandbox")), NOW, CONFIG)
    assert isinstance(d.next, ContinueNow) and isinstance(d.next.command, c.ChangeType)
    assert d.next.command.environment_type == "Production"


def test_a_cancel_after_the_platform_reported_the_switch_done_still_switches_back() -> None:
    given = state(Phase.SWITCHING_TO_SANDBOX, cancel_requested_at=NOW,
                  work={"intent_at": NOW - 60 * S, "confirming": True,
                        "handle": handle(LifecycleKind.CHANGE_TYPE, url="u")})
    assert isinstance(plan(given, NOW, CONFIG), c.ReadEnvironment)
    s = _after(given, a.EnvironmentRead(env()))  # reads lag behind the platform
    assert s.phase is Phase.SWITCHING_TO_SANDBOX
    s = _after(s, a.EnvironmentRead(env(type="Sandbox")))
    s = _after(s, a.Proceeded())
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION
    assert s.facts.switched_to_sandbox


def test_a_cancel_before_any_switch_was_requested_skips_the_switch_back() -> None:
    given = state(Phase.SWITCHING_TO_SANDBOX, cancel_requested_at=NOW)
    assert isinstance(plan(given, NOW, CONFIG), c.Proceed)
    s = _after(given, a.Proceeded())
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION and not s.facts.switched_to_sandbox
    s = _after(s, a.EnvironmentRead(env()))
    assert s.phase is Phase.DISABLING_ADMIN_MODE
