"""DisablingAdminMode: administration mode off and background operations on after the switch
back, through the platform's known window of 403 `UserMissingRequiredPermission`."""

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
    Refused,
    Throttled,
    Unavailable,
)
from engine.commands import Command, Poll, Proceed, ReadEnvironment, SetRuntimeState
from engine.config import EngineConfig
from restore_orchestrator.moves import (
    Decision,
    GiveUp,
    backoff,
    give_up,
    move,
    proceed,
    target_name,
    wait,
)
from restore_orchestrator.phases import Event
from restore_orchestrator.polling import poll_delay
from restore_orchestrator.state import Problem, RestoreState, Work
from restore_orchestrator.switching import busy, step_detail
from shared.operations import StepStatus, format_time


def plan_admin_mode(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    work = state.work
    if not state.facts.restore_requested:
        return Proceed("no restore ran")
    if work.handle is not None and not work.confirming:
        return Poll(work.handle)
    return ReadEnvironment(state.request.target_id)


def decide_admin_mode(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    name = target_name(state)
    work = state.work
    doing = f"turning administration mode off on {name}"
    failed = GiveUp(state, now, config, "AdminModeNotDisabled")
    if isinstance(answer, Proceeded):
        return move(
            state, Event.DONE, now, config, step_status=StepStatus.SKIPPED,
            step_detail="No restore ran, so administration mode was left as it was.",
        )
    if isinstance(answer, EnvironmentRead):
        env = answer.environment
        if not env.admin_mode and env.background_operations_enabled is not False:
            return move(
                state, Event.DONE, now, config, step_status=StepStatus.SUCCEEDED,
                step_detail=f"Administration mode is off and background operations are on in "
                f"{name}.",
            )
        if work.confirming:
            attempts = work.attempts + 1
            if attempts > config.confirm_max_attempts:
                return _admin_failed(state, now, config,
                                     f"The platform reported {doing} done, but {name} still "
                                     "reads as in administration mode.")
            return wait(state, now, config.confirm_retry_seconds,
                        f"The platform reported {doing} done; waiting for {name} to show it.",
                        work=replace(work, attempts=attempts))
        if busy(env):
            return backoff(state, now, Busy(f"{name} has a lifecycle operation running"), config,
                           doing=doing, give_up=failed)
        return proceed(
            state,
            command=SetRuntimeState(state.request.target_id),
            changes=(step_detail(state, "Turning administration mode off and background "
                                 f"operations on in {name}."),),
            work=replace(work, handle=None),
        )
    if isinstance(answer, OperationStarted):
        handle = answer.handle
        if not handle.pollable:
            # Accepted with no status URL and no operation id: nothing to poll, so confirm by
            # reading the environment (the PATCH names an end state; resending it is safe).
            return wait(state, now, config.confirm_retry_seconds,
                        f"The platform accepted {doing}; reading {name} to confirm it.",
                        work=replace(work, handle=None, confirming=True, attempts=0,
                                     forbidden_since=None))
        return wait(
            state, now,
            poll_delay(now=now, started_at=now, progress=(),
                       retry_after=handle.retry_after, config=config),
            f"The platform accepted {doing}.",
            work=replace(work, handle=handle, attempts=0, forbidden_since=None),
        )
    if isinstance(answer, Polled):
        operation = answer.operation
        if not operation.terminal:
            delay = poll_delay(now=now, started_at=work.intent_at or state.phase_since,
                               progress=(), retry_after=operation.retry_after, config=config)
            return wait(state, now, delay, f"Waiting for the platform: {doing}.",
                        work=replace(work, attempts=0))
        if operation.succeeded:
            return proceed(state, work=replace(work, confirming=True, attempts=0))
        said = ": ".join(x for x in (operation.error_code, operation.error_message) if x)
        return _admin_failed(
            state, now, config,
            f"The platform's operation for {doing} failed ({said or 'no reason given'}).",
        )
    if isinstance(answer, AdminWindow):
        since = work.forbidden_since or now
        until = since + timedelta(seconds=config.forbidden_window_seconds)
        if now >= until:
            return failed(
                f"The platform kept refusing {doing} with 403 UserMissingRequiredPermission "
                f"for {config.forbidden_window_seconds / 60:g} minutes: {answer.message}"
            )
        return wait(
            state, now, config.forbidden_retry_seconds,
            f"The platform refuses {doing} for now (403 UserMissingRequiredPermission, the known "
            f"window right after a restore); trying every {config.forbidden_retry_seconds:g}s "
            f"until {format_time(until)}.",
            work=replace(work, forbidden_since=since, handle=None),
        )
    if isinstance(answer, Refused | Missing):
        return _admin_failed(state, now, config, f"The platform refused {doing}: {answer.message}")
    if isinstance(answer, Busy | Throttled | Unavailable | Lost):
        return backoff(state, now, answer, config, doing=doing, give_up=failed)
    return None


def _admin_failed(
    state: RestoreState, now: datetime, config: EngineConfig, message: str
) -> Decision:
    failures = state.work.failures + 1
    if failures < config.max_operation_attempts:
        return wait(state, now, config.backoff.delay(failures),
                    f"{message} Trying again.", work=Work(failures=failures))
    return give_up(
        state, now, config,
        Problem(
            "AdminModeNotDisabled",
            f"{message} Turn administration mode off for {target_name(state)} in the Power "
            "Platform admin center (Environments > the environment > Edit > Administration "
            "mode), and background operations on.",
        ),
    )

