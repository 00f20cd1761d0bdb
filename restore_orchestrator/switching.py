"""The phases that change the target through a platform lifecycle operation and follow it: the
switch to Sandbox, the switch back to Production, and administration mode off.

Each looks before it leaps: it reads the environment first (already of the wanted type? busy?),
starts the change only when it is still needed, follows the operation, and then reads the
environment again until it shows the change (BAP reads are eventually consistent).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from engine.answers import (
    AdminWindow,
    Answer,
    Busy,
    EnvironmentRead,
    Lost,
    Missing,
    OperationStarted,
    Polled,
    Proceeded,
    Reconciled,
    Refused,
    Throttled,
    Unavailable,
)
from engine.commands import ChangeType, Command, Poll, Proceed, ReadEnvironment, Reconcile
from engine.config import EngineConfig
from engine.record import StepUpdate
from restore_orchestrator.checks import PRODUCTION, SANDBOX
from restore_orchestrator.moves import (
    Decision,
    GiveUp,
    UnexpectedAnswerError,
    backoff,
    give_up,
    move,
    proceed,
    target_name,
    wait,
)
from restore_orchestrator.phases import Event, Phase
from restore_orchestrator.polling import poll_delay
from restore_orchestrator.state import Problem, RestoreState, Work
from shared.operations import StepStatus, format_time
from shared.power_platform import Environment, OperationHandle, PlatformOperation
from shared.power_platform import LifecycleKind as PlatformKind

MODIFY_SKU = "ModifySku"
_BUSY_STATE = "Running"


def busy(environment: Environment) -> bool:
    """BAP shows a lifecycle operation in progress as management state Running (reference 3.1)."""
    return (environment.state or "").lower() == _BUSY_STATE.lower()


def adopt(kind: PlatformKind, environment_id: str, operation: PlatformOperation,
          since: datetime) -> OperationHandle:
    """A handle for an operation found in the environment's list (after a crash)."""
    if operation.id is None:
        raise UnexpectedAnswerError("an operation found in a list has no id")
    return OperationHandle(
        kind=kind,
        environment_id=environment_id,
        status_url=None,
        operation_id=operation.id,
        retry_after=None,
        request_id=None,
        accepted_at=operation.started_at or since,
    )


# --- switching the environment type ----------------------------------------------------------



def plan_switch(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """A Sandbox target needs no switch; otherwise follow the change, reconcile an intent
    without a handle (a crash), or read the environment (to start or to confirm)."""
    target, facts, work = state.request.target_id, state.facts, state.work
    if facts.original_type != PRODUCTION:
        return Proceed("no switch needed")
    if work.handle is not None and not work.confirming:
        return Poll(work.handle)
    if work.intent_at is not None and work.handle is None and not work.confirming:
        return Reconcile(target, MODIFY_SKU, work.intent_at)
    return ReadEnvironment(target)


def decide_switch(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    back = state.phase is Phase.SWITCHING_TO_PRODUCTION
    wanted = PRODUCTION if back else SANDBOX
    name = target_name(state)
    work = state.work
    doing = f"switching {name} to {wanted}"
    if back and _past_budget(state, now, config):
        return _switch_failed(
            state, now, config,
            f"{name} could not be switched back to Production within "
            f"{config.switch_back_budget_seconds / 3600:g} hours.",
            final=True,
        )
    if isinstance(answer, Proceeded):
        return move(
            state, Event.DONE, now, config, step_status=StepStatus.SKIPPED,
            step_detail=f"{name} is a {state.facts.original_type or 'Sandbox'}: no switch needed.",
        )
    if isinstance(answer, EnvironmentRead | Reconciled):
        env = answer.environment
        found = answer.operation if isinstance(answer, Reconciled) else None
        if found is not None and not (env.type == wanted and not busy(env)):
            handle = adopt(PlatformKind.CHANGE_TYPE, state.request.target_id, found,
                           work.intent_at or now)
            adopted = replace(state, work=replace(work, handle=handle, attempts=0))
            return _followed(adopted, found, now, config, doing)
        if busy(env):
            # Whatever runs may change the type (our own earlier switch, or the restore): read
            # the environment again once it is done, before deciding anything.
            if work.intent_at is not None and (
                (now - work.intent_at).total_seconds() < config.reconcile_grace_seconds
            ):
                return wait(state, now, config.reconcile_retry_seconds,
                            f"{name} is busy; looking for the switch to {wanted} requested at "
                            f"{format_time(work.intent_at)}.")
            # The switch back waits out a restore still running after its timeout for as long as
            # its own budget allows (checked above), not just for a backoff's worth of tries.
            return backoff(
                state, now, Busy(f"{name} has a lifecycle operation running"), config,
                doing=doing, give_up=_switch_give_up(state, now, config), bounded=not back,
            )
        if env.type == wanted:
            return _switched(state, now, config, env)
        if work.confirming:
            return _confirm_again(state, now, config, env, doing)
        if isinstance(answer, Reconciled) and work.intent_at is not None and (
            (now - work.intent_at).total_seconds() < config.reconcile_grace_seconds
        ):
            return wait(
                state, now, config.reconcile_retry_seconds,
                f"Looking for the switch to {wanted} requested at "
                f"{format_time(work.intent_at)}; the platform does not show it yet.",
            )
        detail = f"Switching {name} from {env.type} to {wanted}."
        started = replace(state, work=Work(intent_at=now, failures=work.failures))
        if back and not state.facts.switched_to_sandbox:
            # A Sandbox the switch to Sandbox never saw land (it gave up while the reads still
            # showed Production): if this switch back gives up too, the target must be kept as
            # the Production it was for its next restore (`locks.keep_original_type`).
            started = replace(started, facts=replace(state.facts, switched_to_sandbox=True))
        return proceed(
            started,
            command=ChangeType(state.request.target_id, wanted),
            changes=(step_detail(state, detail),),
        )
    if isinstance(answer, OperationStarted):
        handle = answer.handle
        if not handle.pollable:
            # Accepted with no status URL and no operation id (the reference allows a 200, or a
            # bare 202): nothing to poll, so look for the operation in the environment's list
            # and read the environment, as after a crash; the intent stays.
            return wait(state, now, config.reconcile_retry_seconds,
                        f"The platform accepted the switch to {wanted} without a status to "
                        "follow; looking for it on the environment.",
                        work=replace(work, handle=None, attempts=0))
        detail = f"The platform accepted the switch to {wanted}."
        return wait(
            state, now,
            poll_delay(now=now, started_at=work.intent_at or now, progress=(),
                       retry_after=handle.retry_after, config=config),
            detail, work=replace(work, handle=handle, attempts=0),
        )
    if isinstance(answer, Polled):
        return _followed(state, answer.operation, now, config, doing)
    if isinstance(answer, Refused):
        if answer.code == "EnvironmentSkuUnchanged":
            # Already of that type: the read that follows proves it.
            return proceed(state, work=Work(confirming=True, failures=work.failures))
        return _switch_failed(state, now, config, f"The platform refused {doing}: {answer.message}")
    if isinstance(answer, Missing):
        if work.handle is not None and not work.confirming:
            # The operation's status is gone (404 past the grace), not the environment: read
            # the environment to see what the switch did; the confirmation's bound still holds.
            return proceed(state, work=replace(work, confirming=True, attempts=0))
        return _switch_failed(state, now, config, f"{doing}: {answer.message}", final=True)
    if isinstance(answer, Busy):
        # 409 to the modifySku itself: nothing was started, so no intent to reconcile.
        return backoff(state, now, answer, config, doing=doing,
                       give_up=_switch_give_up(state, now, config),
                       work=replace(work, intent_at=None), bounded=not back)
    if isinstance(answer, Throttled | Unavailable | Lost | AdminWindow):
        fault = answer if not isinstance(answer, AdminWindow) else Unavailable(answer.message)
        # The switch back's own budget (checked above) bounds it: a count of tries would end it
        # after a long busy wait at the first 503, or after an hour of throttling.
        return backoff(state, now, fault, config, doing=doing,
                       give_up=_switch_give_up(state, now, config), bounded=not back)
    return None


def _followed(
    state: RestoreState, operation: PlatformOperation, now: datetime, config: EngineConfig,
    doing: str,
) -> Decision:
    work = state.work
    if operation.terminal:
        if operation.succeeded:
            # Confirm by reading the environment: the operation can end before reads show it.
            return proceed(state, work=replace(work, confirming=True, attempts=0))
        said = ": ".join(x for x in (operation.error_code, operation.error_message) if x)
        return _switch_failed(
            state, now, config,
            f"The platform's operation for {doing} ended {operation.state or 'Failed'}"
            + (f" ({said})" if said else "") + ".",
        )
    started = work.intent_at or state.phase_since  # the app's clock (see restoring.py)
    delay = poll_delay(now=now, started_at=started, progress=(),
                       retry_after=operation.retry_after, config=config)
    return wait(state, now, delay, f"Waiting for the platform: {doing}.",
                work=replace(work, attempts=0))


def _confirm_again(
    state: RestoreState, now: datetime, config: EngineConfig, env: Environment, doing: str
) -> Decision:
    attempts = state.work.attempts + 1
    if attempts > config.confirm_max_attempts:
        return _switch_failed(
            state, now, config,
            f"The platform reported {doing} done, but the environment still reads as {env.type}.",
        )
    return wait(
        state, now, config.confirm_retry_seconds,
        f"The platform reported {doing} done; waiting for the environment to show it "
        f"(it reads {env.type}).",
        work=replace(state.work, attempts=attempts),
    )


def _switched(
    state: RestoreState, now: datetime, config: EngineConfig, env: Environment
) -> Decision:
    name = target_name(state)
    facts = state.facts
    if state.phase is Phase.SWITCHING_TO_SANDBOX:
        return move(
            state, Event.DONE, now, config, step_status=StepStatus.SUCCEEDED,
            step_detail=f"{name} is a Sandbox now (it was {facts.original_type}).",
            facts=replace(facts, switched_to_sandbox=True),
        )
    if not facts.switched_to_sandbox and state.work.intent_at is None:
        return move(
            state, Event.DONE, now, config, step_status=StepStatus.SKIPPED,
            step_detail=f"{name} is still {env.type}: it was never switched.",
        )
    return move(
        state, Event.DONE, now, config, step_status=StepStatus.SUCCEEDED,
        step_detail=f"{name} is {env.type} again.",
        facts=replace(facts, switched_back=True),
    )


def switch_in_flight(state: RestoreState) -> bool:
    """A switch to Sandbox may have been sent and not yet be seen done (its intent checkpointed,
    its operation followed, or its end being confirmed): it may still land."""
    work = state.work
    return state.phase is Phase.SWITCHING_TO_SANDBOX and (
        work.intent_at is not None or work.handle is not None or work.confirming
    )


def may_have_switched(state: RestoreState) -> RestoreState:
    """Leaving the switch to Sandbox with a switch in flight: the switch back must not take the
    target for one never switched (it would read Production, and skip)."""
    if not switch_in_flight(state):
        return state
    return replace(state, facts=replace(state.facts, switched_to_sandbox=True))


def _switch_give_up(state: RestoreState, now: datetime, config: EngineConfig) -> GiveUp:
    return GiveUp(may_have_switched(state), now, config,
                  "SwitchBackFailed" if state.phase is Phase.SWITCHING_TO_PRODUCTION
                  else "SwitchToSandboxFailed")


def _switch_failed(
    state: RestoreState, now: datetime, config: EngineConfig, message: str, *, final: bool = False
) -> Decision:
    back = state.phase is Phase.SWITCHING_TO_PRODUCTION
    failures = state.work.failures + 1
    limit = config.switch_back_attempts if back else config.max_operation_attempts
    if not final and failures < limit:
        delay = config.backoff.delay(failures)
        return wait(state, now, delay,
                    f"{message} Trying again ({failures} of {limit - 1} retries).",
                    work=Work(failures=failures))
    if back:
        original = state.facts.original_type or PRODUCTION
        problem = Problem(
            "SwitchBackFailed",
            f"{message} {target_name(state)} may still be a Sandbox, where the platform keeps "
            f"backups for only 7 days: switch it back to {original} in the Power Platform admin "
            "center (Environments > the environment > Edit > Type) as soon as possible.",
        )
        if state.attention is not None:
            # What the person must do now comes first; what went wrong before stays on record.
            problem = Problem(problem.code,
                              f"{problem.message} Before that: {state.attention.message}")
            state = replace(state, attention=problem)
    else:
        problem = Problem("SwitchToSandboxFailed", message)
    return give_up(state, now, config, problem)


def _past_budget(state: RestoreState, now: datetime, config: EngineConfig) -> bool:
    since = state.phase_since
    return since is not None and now - since > timedelta(seconds=config.switch_back_budget_seconds)


def step_detail(state: RestoreState, text: str) -> StepUpdate:
    step = state.phase.step
    if step is None:
        raise UnexpectedAnswerError("a terminal phase has no step")
    return StepUpdate(step, detail=text)


# --- administration mode ----------------------------------------------------------------------
