"""The guaranteed switch back, whatever happens after the switch to Sandbox was requested: a
cancel racing the switch, a step the engine abandons, transient faults during the switch back,
and a switch back that gives up (review findings, as pure decisions)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from engine import answers as a
from engine import commands as c
from engine.decision import ContinueNow
from engine.record import Finish
from restore_orchestrator.decide import decide, plan
from restore_orchestrator.kind import RESTORE
from restore_orchestrator.phases import Phase
from restore_orchestrator.state import Problem, RestoreState
from shared.operations import StepStatus
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


# --- 2. a step the engine gives up on, after the switch -----------------------------------------


def test_a_restore_the_engine_gives_up_on_while_restoring_switches_back_first() -> None:
    given = state(Phase.RESTORING, work={"intent_at": NOW - 3600 * S, "handle": handle()})
    assert RESTORE.rescue is not None
    rescued = RESTORE.rescue(given, "step poisoned 3 times", NOW)
    assert rescued is not None
    s, changes = rescued
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION and s.phase_since == NOW
    assert s.attention is not None and s.attention.code == "EngineFault"
    assert not any(isinstance(change, Finish) for change in changes)
    assert isinstance(plan(s, NOW, CONFIG), c.ReadEnvironment)
    # The switch back, administration mode off, verification: then NeedsAttention, not before.
    s = _after(s, a.EnvironmentRead(env(type="Sandbox")))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION and s.work.intent_at is not None
    s = _after(s, a.OperationStarted(handle(LifecycleKind.CHANGE_TYPE, url="u")))
    s = _after(s, a.Polled(op(PlatformStatus.SUCCEEDED, name="ModifySku")))
    s = _after(s, a.EnvironmentRead(env(admin_mode=True, background=False)))
    assert s.phase is Phase.DISABLING_ADMIN_MODE


def test_a_switch_to_sandbox_in_flight_is_not_skipped_by_the_rescue() -> None:
    given = state(Phase.SWITCHING_TO_SANDBOX, work={"intent_at": NOW - 60 * S})
    assert RESTORE.rescue is not None
    rescued = RESTORE.rescue(given, "lost 20 times", NOW)
    assert rescued is not None
    s = rescued[0]
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION and s.facts.switched_to_sandbox
    # Still Production to the reads: the switch that may land later is not marked never made.
    d = decide(s, a.EnvironmentRead(env()), NOW, CONFIG)
    assert d.state.phase is Phase.DISABLING_ADMIN_MODE
    assert all(getattr(ch, "status", None) is not StepStatus.SKIPPED for ch in d.changes)
    d = decide(s, a.EnvironmentRead(env(type="Sandbox")), NOW, CONFIG)
    assert isinstance(d.next, ContinueNow) and isinstance(d.next.command, c.ChangeType)


def test_nothing_to_switch_back_before_the_switch_ends_the_restore() -> None:
    assert RESTORE.rescue is not None
    assert RESTORE.rescue(state(Phase.SAFETY_BACKUP), "poisoned", NOW) is None
    ended, _ = RESTORE.abandon(state(Phase.SAFETY_BACKUP), "poisoned")
    assert ended.phase is Phase.NEEDS_ATTENTION


def test_giving_up_in_the_switch_back_says_what_the_target_may_be_left_as() -> None:
    assert RESTORE.rescue is not None
    given = state(Phase.SWITCHING_TO_PRODUCTION)
    assert RESTORE.rescue(given, "poisoned", NOW) is None
    ended, changes = RESTORE.abandon(given, "poisoned")
    assert ended.phase is Phase.NEEDS_ATTENTION
    finish = next(change for change in changes if isinstance(change, Finish))
    assert finish.error is not None
    assert "may still be a Sandbox" in finish.error.message
    assert "administration mode" in finish.error.message
    _, changes = RESTORE.abandon(state(Phase.DISABLING_ADMIN_MODE), "poisoned")
    finish = next(change for change in changes if isinstance(change, Finish))
    assert finish.error is not None and "administration mode" in finish.error.message


# --- 4. transient faults during the switch back --------------------------------------------------


def test_the_switch_back_waits_out_throttling_within_its_budget() -> None:
    given = state(Phase.SWITCHING_TO_PRODUCTION, phase_since=NOW - 41 * 60 * S,
                  work={"attempts": CONFIG.backoff.max_attempts})
    for fault in (a.Throttled("429 Too Many Requests", 60.0), a.Unavailable("503"),
                  a.Lost("timed out"), a.AdminWindow("403 UserMissingRequiredPermission")):
        d = decide(given, fault, NOW, CONFIG)
        assert d.state.phase is Phase.SWITCHING_TO_PRODUCTION, fault
        assert d.state.attention is None


def test_one_transient_fault_after_a_long_busy_wait_does_not_end_the_switch_back() -> None:
    s = state(Phase.SWITCHING_TO_PRODUCTION, phase_since=NOW - 6 * 3600 * S)
    for _ in range(CONFIG.backoff.max_attempts + 5):
        s = _after(s, a.EnvironmentRead(env(type="Sandbox", state="Running")))
        assert s.phase is Phase.SWITCHING_TO_PRODUCTION
    s = _after(s, a.Unavailable("503 Service Unavailable"))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION


def test_the_switch_back_budget_still_ends_it() -> None:
    over = timedelta(seconds=CONFIG.switch_back_budget_seconds + 60)
    given = state(Phase.SWITCHING_TO_PRODUCTION, phase_since=NOW - over)
    d = decide(given, a.Throttled("429", 60.0), NOW, CONFIG)
    assert d.state.phase is not Phase.SWITCHING_TO_PRODUCTION
    assert d.state.attention is not None and d.state.attention.code == "SwitchBackFailed"


# --- 5. a switch back that gives up still turns administration mode off ------------------------


def test_a_switch_back_that_gives_up_still_turns_administration_mode_off() -> None:
    given = state(Phase.SWITCHING_TO_PRODUCTION, phase_since=NOW - 25 * 3600 * S)
    assert given.facts.restore_requested
    s = _after(given, a.EnvironmentRead(env(type="Sandbox", admin_mode=True, background=False)))
    assert s.phase is Phase.DISABLING_ADMIN_MODE
    assert s.attention is not None and s.attention.code == "SwitchBackFailed"
    assert "Sandbox" in s.attention.message
    d = decide(s, a.EnvironmentRead(env(type="Sandbox", admin_mode=True, background=False)),
               NOW, CONFIG)
    assert isinstance(d.next, ContinueNow) and isinstance(d.next.command, c.SetRuntimeState)
    # Administration mode off, verified: the restore still ends NeedsAttention, for the switch.
    s = _after(s, a.EnvironmentRead(env(type="Sandbox")))
    assert s.phase is Phase.VERIFYING
    d = decide(s, a.EnvironmentRead(env(type="Sandbox")), NOW, CONFIG)
    assert d.state.phase is Phase.NEEDS_ATTENTION
    finish = next(change for change in d.changes if isinstance(change, Finish))
    assert finish.error is not None and finish.error.code == "SwitchBackFailed"


def test_giving_up_on_admin_mode_after_a_failed_switch_back_names_the_sandbox() -> None:
    given = state(Phase.DISABLING_ADMIN_MODE, facts={"switched_to_sandbox": True})
    _, changes = RESTORE.abandon(given, "poisoned")
    finish = next(change for change in changes if isinstance(change, Finish))
    assert finish.error is not None and "may still be a Sandbox" in finish.error.message
    switched_back = state(Phase.DISABLING_ADMIN_MODE, facts={"switched_back": True})
    _, changes = RESTORE.abandon(switched_back, "poisoned")
    finish = next(change for change in changes if isinstance(change, Finish))
    assert finish.error is not None and "Sandbox" not in finish.error.message


def test_a_switch_to_sandbox_given_up_while_followed_is_switched_back() -> None:
    # Throttled past the backoff while following the accepted switch: it may still land.
    given = state(Phase.SWITCHING_TO_SANDBOX,
                  work={"intent_at": NOW - 3600 * S, "attempts": CONFIG.backoff.max_attempts,
                        "handle": handle(LifecycleKind.CHANGE_TYPE, url="u")})
    s = _after(given, a.Throttled("429", 60.0))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION
    assert s.facts.switched_to_sandbox
    s = _after(s, a.EnvironmentRead(env(type="Sandbox", state="Running")))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION  # waits for it, then switches back


# --- looking for a restore while the environment reads busy -------------------------------------


def test_looking_for_a_restore_while_the_environment_stays_busy_ends_at_the_timeout() -> None:
    """After a crash the restore is looked for; while the environment reads busy (a lifecycle
    operation running) the step waits, but not past RESTORE_TIMEOUT_HOURS: then the switch back."""
    intent = NOW - timedelta(seconds=CONFIG.restore_timeout_seconds + 60)
    given = state(Phase.RESTORING, facts={"restore_requested_at": intent,
                                          "restore_started_at": None},
                  work={"intent_at": intent})
    busy = a.Reconciled(env(type="Sandbox", state="Running"), None)
    d = decide(given, busy, NOW, CONFIG)
    assert d.state.phase is Phase.SWITCHING_TO_PRODUCTION
    assert d.state.attention is not None and d.state.attention.code == "RestoreTimedOut"
    # Within the timeout it waits, as before.
    recent = state(Phase.RESTORING, facts={"restore_requested_at": NOW - 3600 * S,
                                           "restore_started_at": None},
                   work={"intent_at": NOW - 3600 * S})
    assert decide(recent, busy, NOW, CONFIG).state.phase is Phase.RESTORING


def test_giving_up_in_verification_after_a_failed_switch_back_keeps_what_to_do() -> None:
    # The switch back gave up (its attention says how to switch back by hand), administration
    # mode went off, then the verification's step kept failing and the engine gave up on it:
    # the record must still say the target may be a Sandbox, and keep the earlier instruction.
    switch_back = Problem("SwitchBackFailed", "Switch it back to Production by hand.")
    given = state(Phase.VERIFYING, facts={"switched_to_sandbox": True}, attention=switch_back)
    ended, changes = RESTORE.abandon(given, "poisoned")
    assert ended.phase is Phase.NEEDS_ATTENTION
    finish = next(change for change in changes if isinstance(change, Finish))
    assert finish.error is not None
    assert "may still be a Sandbox" in finish.error.message
    assert switch_back.message in finish.error.message
    switched_back = state(Phase.VERIFYING, facts={"switched_back": True})
    _, changes = RESTORE.abandon(switched_back, "poisoned")
    finish = next(change for change in changes if isinstance(change, Finish))
    assert finish.error is not None and "Sandbox" not in finish.error.message


# --- 6. a restore whose outcome became unknown ---------------------------------------------------


def test_a_restore_whose_outcome_is_unknown_ends_needs_attention_not_failed() -> None:
    # The platform's restore was accepted and is being followed; then its status is lost (404 on
    # the status URL), or cannot be read for the whole backoff. It may still run, or have
    # overwritten the target: "Failed" would tell the user nothing changed.
    following = state(Phase.RESTORING, work={"intent_at": NOW - 3600 * S, "handle": handle()})
    exhausted = replace(following, work=replace(following.work,
                                                attempts=CONFIG.backoff.max_attempts))
    for given, answer in ((following, a.Missing("404 operation not found")),
                          (exhausted, a.Unavailable("503 Service Unavailable"))):
        s = _after(given, answer)
        assert s.phase is Phase.SWITCHING_TO_PRODUCTION, answer
        assert s.attention is not None and s.failure is None, answer
        # Switched back, administration mode off, verified: still handed to a person.
        s = _after(s, a.EnvironmentRead(env(type="Production")))
        s = _after(s, a.EnvironmentRead(env(type="Production")))
        assert s.phase is Phase.VERIFYING
        d = decide(s, a.EnvironmentRead(env(type="Production")), NOW, CONFIG)
        assert d.state.phase is Phase.NEEDS_ATTENTION, answer
        finish = next(change for change in d.changes if isinstance(change, Finish))
        assert finish.error is not None and "admin center" in finish.error.message


# --- 7. a lifecycle call answered without a status to poll ------------------------------------


def test_a_switch_back_accepted_without_a_status_url_is_followed_through_the_environment() -> None:
    # modifySku may answer without Location / Operation-Location (Terraform accepts a 200):
    # such a handle cannot be polled (the client raises), so the step must not ask to poll it,
    # or every delivery fails and the switch back is abandoned.
    given = state(Phase.SWITCHING_TO_PRODUCTION, work={"intent_at": NOW})
    bare = handle(LifecycleKind.CHANGE_TYPE)
    assert not bare.pollable
    s = _after(given, a.OperationStarted(bare))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION
    command = plan(s, NOW, CONFIG)
    assert not (isinstance(command, c.Poll) and not command.handle.pollable)
    assert isinstance(command, c.Reconcile)
    s = _after(s, a.Reconciled(env(type="Production"), None))
    assert s.phase is Phase.DISABLING_ADMIN_MODE and s.facts.switched_back


def test_administration_mode_off_accepted_without_a_status_url_is_confirmed_by_reading() -> None:
    given = state(Phase.DISABLING_ADMIN_MODE, facts={"switched_back": True})
    s = _after(given, a.OperationStarted(handle(LifecycleKind.RUNTIME_STATE)))
    command = plan(s, NOW, CONFIG)
    assert isinstance(command, c.ReadEnvironment)
    s = _after(s, a.EnvironmentRead(env(type="Production")))
    assert s.phase is Phase.VERIFYING


def test_a_switch_back_whose_operation_status_vanished_reads_the_environment() -> None:
    # The lifecycle operation's status URL answers 404 after the grace (purged, say, while the
    # step waited its poll interval): that says nothing about the environment, which may well
    # have been switched. Giving up there ended the restore "may still be a Sandbox".
    given = state(Phase.SWITCHING_TO_PRODUCTION,
                  work={"intent_at": NOW - 600 * S,
                        "handle": handle(LifecycleKind.CHANGE_TYPE, url="u")})
    s = _after(given, a.Missing("404 lifecycle operation not found"))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION and s.attention is None
    assert isinstance(plan(s, NOW, CONFIG), c.ReadEnvironment)
    s = _after(s, a.EnvironmentRead(env(type="Production")))
    assert s.phase is Phase.DISABLING_ADMIN_MODE and s.attention is None
    assert s.facts.switched_back


def test_a_refused_poll_of_an_accepted_restore_is_an_unknown_outcome() -> None:
    # The restore was accepted; reading its status is then refused (a 403 on the status URL's
    # host, say): the restore may run on. Only a refused request to start it is a plain failure.
    following = state(Phase.RESTORING, work={"intent_at": NOW - 3600 * S, "handle": handle()})
    s = _after(following, a.Refused("Forbidden", "403 on the operation status"))
    assert s.phase is Phase.SWITCHING_TO_PRODUCTION
    assert s.attention is not None and s.failure is None
    requested = state(Phase.RESTORING, work={"intent_at": NOW})
    s = _after(requested, a.Refused("RestoreBlocked", "400 not allowed"))
    assert s.failure is not None and s.attention is None


def test_a_switch_back_that_finds_a_sandbox_it_did_not_know_of_remembers_it() -> None:
    # The switch to Sandbox gave up without seeing its switch land (the platform said done, the
    # reads still showed Production), yet the switch back reads a Sandbox: when it gives up in
    # turn, the target must be kept as the Production it was (`keep_original_type` reads
    # `switched_to_sandbox`), or its next restore would take it for a Sandbox and skip the
    # Production guardrail.
    given = state(Phase.SWITCHING_TO_PRODUCTION, facts={"switched_to_sandbox": False})
    s = _after(given, a.EnvironmentRead(env(type="Sandbox")))
    assert s.facts.switched_to_sandbox
    late = replace(s, phase_since=NOW - timedelta(seconds=CONFIG.switch_back_budget_seconds + 60))
    s = _after(late, a.Refused("EnvironmentSkuChangeBlocked", "not now"))
    assert s.phase is Phase.DISABLING_ADMIN_MODE
    assert s.attention is not None and s.attention.code == "SwitchBackFailed"
    assert s.facts.switched_to_sandbox and not s.facts.switched_back
