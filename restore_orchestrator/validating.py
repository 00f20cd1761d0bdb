"""Validating (and waiting for a young backup): everything that can be checked before anything
changes, and the restore point resolved; a dry run ends here with its plan recorded."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine.answers import (
    Answer,
    BackupsListed,
    EnvironmentsRead,
    FlowsRead,
    Missing,
    Proceeded,
    Refused,
    Restorable,
)
from engine.commands import (
    CheckRestorable,
    Command,
    InspectEnvironments,
    ListBackups,
    Proceed,
    ReadFlows,
)
from engine.config import EngineConfig
from engine.record import MarkRunning, RecordChange, SetFacts, SetOption, StepUpdate
from restore_orchestrator import checks
from restore_orchestrator.moves import (
    Decision,
    Entry,
    give_up,
    move,
    proceed,
    safety_backup_label,
    source_name,
    target_name,
    wait,
)
from restore_orchestrator.phases import Event
from restore_orchestrator.state import Problem, RestoreState, Selector
from shared.operations import RESTORE_STEPS, StepStatus, format_time
from shared.power_platform import Backup


def plan_validating(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    """Read the environments, then the target's cloud flows (kept for the step after the
    restore), then the source's backups, then (a dry run into a Sandbox) ask the platform
    whether it would restore; then conclude."""
    request, facts = state.request, state.facts
    target, source = request.target_id, request.source_id
    if facts.original_type is None:
        return InspectEnvironments(target, source)
    if not flows_recorded(state):
        return ReadFlows(target)  # while the target still holds its current data
    if facts.restore_point is None:
        return ListBackups(source)
    if request.dry_run and facts.original_type == checks.SANDBOX:
        return CheckRestorable(target, source, facts.restore_point, request.skip_audit_data)
    return Proceed("conclude the validation")


def plan_waiting_for_backup(state: RestoreState, now: datetime, config: EngineConfig) -> Command:
    return Proceed("the backup may be restorable now")



def enter_validating(state: RestoreState, now: datetime, config: EngineConfig) -> Entry:
    return state, None, (
        MarkRunning(),
        StepUpdate("validate", detail="Checking the environments and the restore point."),
    )


def decide_validating(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    request = state.request
    if isinstance(answer, EnvironmentsRead):
        target, source = answer.target, answer.source
        problem = checks.check_environments(target, source, request, config.allow_production)
        if problem is not None:
            return _refuse(state, now, config, problem)
        facts = replace(
            state.facts,
            target_name=target.display_name,
            original_type=target.type,
            source_name=checks.describe(source),
            source_retention_days=checks.retention_days(source),
        )
        state = replace(state, facts=facts)
        changes = (SetFacts(environment_name=target.display_name),)
        if request.selector in (Selector.POINT, Selector.LATEST):
            return _resolved(state, None, now, config, changes)
        return proceed(state, changes=changes)
    if isinstance(answer, BackupsListed):
        return _resolved(state, answer.backups, now, config, ())
    if isinstance(answer, Restorable):
        if not answer.listed:
            return _refuse(state, now, config, not_a_candidate(state))
        return _dry_run_done(state, now, config)
    if isinstance(answer, FlowsRead):
        return _flows_recorded(replace(state, facts=replace(state.facts,
                                                            flows_before=answer.seen)),
                               now, config)
    if isinstance(answer, Refused | Missing) and _reading_flows(state):
        return _flows_unreadable(state, now, config, answer.message)
    if isinstance(answer, Proceeded):
        return _conclude_validation(state, now, config)
    if isinstance(answer, Missing):
        return _refuse(state, now, config, Problem("EnvironmentNotFound", answer.message))
    if isinstance(answer, Refused):
        if answer.code in ("Forbidden", "AuthenticationFailed"):
            return give_up(state, now, config, Problem(answer.code, answer.message))
        return _refuse(state, now, config, Problem(answer.code, answer.message))
    return None  # faults: the dispatcher's (decide.py)


def _resolved(
    state: RestoreState,
    backups: tuple[Backup, ...] | None,
    now: datetime,
    config: EngineConfig,
    changes: tuple[RecordChange, ...],
) -> Decision:
    facts = state.facts
    result = checks.resolve_point(
        state.request, backups, now, config,
        target_type=facts.original_type or "",
        source_name=facts.source_name or state.request.source_id,
        source_retention_days=facts.source_retention_days or 7.0,
    )
    if isinstance(result, Problem):
        return _refuse(state, now, config, result, changes=changes)
    facts = replace(
        facts,
        restore_point=result.restore_point,
        backup_id=result.backup_id,
        restorable_at=result.restorable_at,
    )
    resolved = replace(state, facts=facts)
    more: tuple[RecordChange, ...] = (
        *changes,
        SetFacts(backup_id=result.backup_id, restore_point=result.restore_point),
        StepUpdate("validate", detail=f"Restore point: {format_time(result.restore_point)} "
                                      f"({result.description})."),
    )
    if not flows_recorded(resolved) or _platform_checks_next(resolved):
        return proceed(resolved, changes=more)  # the flows, the platform's own checks next
    return _conclude_validation(resolved, now, config, more)


def flows_recorded(state: RestoreState) -> bool:
    facts = state.facts
    return facts.flows_before is not None or facts.flows_before_unreadable is not None


def _reading_flows(state: RestoreState) -> bool:
    return state.facts.original_type is not None and not flows_recorded(state)


def _platform_checks_next(state: RestoreState) -> bool:
    return state.request.dry_run and state.facts.original_type == checks.SANDBOX


def _flows_recorded(state: RestoreState, now: datetime, config: EngineConfig) -> Decision:
    """The target's flows are on the state (its checkpoint keeps them for the step after the
    restore, however long that takes); validation goes on."""
    seen = state.facts.flows_before
    if seen is None:
        detail = f"{target_name(state)}'s cloud flows could not be read before the restore."
    else:
        on = sum(1 for f in seen.flows if f.on)
        detail = (f"Recorded {target_name(state)}'s cloud flows before the restore: {on} on, "
                  f"{len(seen.flows) - on} off.")
    changes = (StepUpdate("validate", detail=detail),)
    if state.facts.restore_point is None or _platform_checks_next(state):
        return proceed(state, changes=changes)  # the backups, or the platform's checks, next
    return _conclude_validation(state, now, config, changes)


def _flows_unreadable(
    state: RestoreState, now: datetime, config: EngineConfig, message: str
) -> Decision:
    """Flows that cannot be read never stop a restore: the step after it says so."""
    facts = replace(state.facts, flows_before_unreadable=message)
    return _flows_recorded(replace(state, facts=facts), now, config)


def give_up_validating(
    state: RestoreState, now: datetime, config: EngineConfig, message: str
) -> Decision:
    if _reading_flows(state):
        return _flows_unreadable(state, now, config, message)
    return give_up(state, now, config, Problem("ValidationFailed", message))


def _conclude_validation(
    state: RestoreState,
    now: datetime,
    config: EngineConfig,
    changes: tuple[RecordChange, ...] = (),
) -> Decision:
    facts = state.facts
    if state.request.dry_run:
        return _dry_run_done(state, now, config, changes)
    summary = _validation_summary(state)
    ready = facts.restorable_at
    if ready is not None and ready > now:
        return move(
            state, Event.BACKUP_NOT_READY, now, config, changes=changes,
            step_detail=f"{summary} The backup becomes restorable at {format_time(ready)}; "
            "waiting for it.",
        )
    return move(state, Event.DONE, now, config, changes=changes,
                step_status=StepStatus.SUCCEEDED, step_detail=summary)


def _validation_summary(state: RestoreState) -> str:
    facts = state.facts
    return (
        f"Valid: restore {source_name(state)} at {format_time(facts.restore_point)} into "
        f"{target_name(state)}, a {facts.original_type} environment."
    )


def _refuse(
    state: RestoreState,
    now: datetime,
    config: EngineConfig,
    problem: Problem,
    *,
    changes: tuple[RecordChange, ...] = (),
) -> Decision:
    return move(
        state, Event.REFUSED, now, config, changes=changes,
        step_status=StepStatus.FAILED, step_detail=problem.message, failure=problem,
    )


def not_a_candidate(state: RestoreState) -> Problem:
    return Problem(
        "NotARestoreCandidate",
        f"The platform does not list {target_name(state)} among the environments "
        f"{source_name(state)} can be restored into (same geo, same managed state, Sandbox).",
    )


def _dry_run_done(
    state: RestoreState,
    now: datetime,
    config: EngineConfig,
    changes: tuple[RecordChange, ...] = (),
) -> Decision:
    facts, request = state.facts, state.request
    name = target_name(state)
    production = facts.original_type == checks.PRODUCTION
    would = {
        "safety_backup": (
            f"take a safety backup of {name} labeled '{safety_backup_label(state)}'"
            if request.safety_backup else "take no safety backup (safetyBackup: false)"
        ),
        "switch_to_sandbox": (
            f"switch {name} from Production to Sandbox" if production
            else f"not switch: {name} is a Sandbox"
        ),
        "restore": (
            f"restore {source_name(state)} at {format_time(facts.restore_point)} into {name}"
            f" (audit data {'skipped' if request.skip_audit_data else 'kept'})"
        ),
        "switch_to_production": (
            f"switch {name} back to Production" if production else "not switch back"
        ),
        "disable_admin_mode": (
            f"turn administration mode off and background operations on in {name}"
        ),
        "verify": f"check {name}'s type, administration mode and background operations",
        "reactivate_flows": _would_reactivate(state),
    }
    if facts.restorable_at is not None and facts.restorable_at > now:
        would["restore"] += f", after waiting until {format_time(facts.restorable_at)}"
    plan_steps = [{"step": "validate", "action": "checked the request: valid"}] + [
        {"step": step, "action": f"would {would[step]}"} for step in RESTORE_STEPS[1:]
    ]
    steps = tuple(
        StepUpdate(step, status=StepStatus.SKIPPED, detail=f"Dry run: would {would[step]}.")
        for step in RESTORE_STEPS[1:]
    )
    return move(
        state, Event.DRY_RUN_DONE, now, config,
        changes=(*changes, *steps, SetOption("plan", plan_steps)),
        step_status=StepStatus.SUCCEEDED,
        step_detail=f"{_validation_summary(state)} Dry run: nothing was changed.",
    )


def _would_reactivate(state: RestoreState) -> str:
    mode, seen = state.request.reactivate_flows, state.facts.flows_before
    if mode == "none":
        return "leave every cloud flow off (reactivateFlows: none) and list them"
    if mode == "all":
        return "turn on every cloud flow that comes with the restore, child flows first"
    if seen is None:
        return ("turn on again the cloud flows that were on before (they could not be read: "
                f"{state.facts.flows_before_unreadable})")
    on = [f.name for f in seen.flows if f.on]
    if not on:
        return f"turn no cloud flow on: none is on in {target_name(state)} now"
    return (f"turn on again the {len(on)} cloud flows on in {target_name(state)} now, if the "
            f"restore has them: {', '.join(on)}")


def decide_waiting_for_backup(
    state: RestoreState, answer: Answer, now: datetime, config: EngineConfig
) -> Decision | None:
    if not isinstance(answer, Proceeded):
        return None
    ready = state.facts.restorable_at
    if ready is not None and ready > now:
        return wait(state, now, (ready - now).total_seconds(),
                    f"Waiting until the backup is restorable ({format_time(ready)}).")
    return move(state, Event.DONE, now, config, step_status=StepStatus.SUCCEEDED,
                step_detail=f"{_validation_summary(state)} The backup is restorable now.")
