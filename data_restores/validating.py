"""Validating: the target, the point and the tables, and the Production guardrail (pure).

    plan:   Validate (the target environment; the point named, or the newest at or before `at`;
            the tables the point holds and the target knows)
    decide: no such point, a table the point lacks or the target does not know, or an apply into
            a Production target without the allow-list and the confirmation -> Rejected before
            anything is read from the target's rows or written; else Planning, one job per
            stored chunk of each chosen table
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_restores.commands import NoPoint, Validate, Validated
from data_restores.faults import fail, reject, wait_or_give_up
from data_restores.planning import after_planning
from data_restores.state import ALL, IDS, DataRestoreState, Event, Job, Phase
from engine.answers import Missing, Refused
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision
from engine.record import MarkRunning, SetRestoreCounts, StepUpdate
from engine.waiting import RETRYABLE
from restore_orchestrator.checks import write_guardrail
from shared.operations import StepStatus, format_time

STEP = "validate"
# Batches (and chunks) at once: the server's x-ms-dop-hint, never more than this.
MAX_CONCURRENCY = 8


def plan(state: DataRestoreState, now: datetime, config: EngineConfig) -> Validate:
    return Validate(state.source_environment_id, state.target_environment_id, state.tables,
                    state.point_id, state.at)


def decide(
    state: DataRestoreState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    if isinstance(answer, Validated):
        return _validated(state, answer, config)
    if isinstance(answer, NoPoint):
        return reject(state, "NoSuchPoint", answer.message, STEP)
    if isinstance(answer, RETRYABLE):
        return wait_or_give_up(state, answer, now, config, STEP)
    if isinstance(answer, Missing):
        return reject(state, "EnvironmentNotFound", (
            f"The platform has no environment {state.target_environment_id} ({answer.message}); "
            "check targetEnvironmentId."), STEP)
    if isinstance(answer, Refused):
        return fail(state, answer.code, answer.message, STEP)
    message = getattr(answer, "message", type(answer).__name__)
    return fail(state, "TargetUnavailable", f"The target cannot be read: {message}", STEP)


def _validated(
    state: DataRestoreState, found: Validated, config: EngineConfig
) -> Decision[DataRestoreState]:
    if state.apply and (problem := write_guardrail(
            found.target, state.confirm_production, config.allow_production)) is not None:
        return reject(state, problem.code, problem.message, STEP)
    problems = []
    for table in state.tables:
        if table in found.unknown_in_target:
            problems.append(f"the target has no table {table!r} (its solution is not installed "
                            "there, or the name is wrong)")
        elif table not in found.units:
            problems.append(f"point {found.point_id} does not hold table {table!r}; "
                            "`ppbackup data points` lists what each point holds")
        elif table in found.intersect:
            # Its rows are links, which the platform takes only through the relationship's
            # $ref (never as rows): each would be sent and fail.
            problems.append(f"{table!r} is the intersect table of an N:N relationship, whose "
                            "links a record restore does not write; restore the rows at either "
                            "end (the recycle bin brings a row back with its links while it "
                            "holds it)")
    if problems:
        return reject(state, "TablesNotRestorable", "Nothing can be restored: "
                      + "; ".join(problems) + ".", STEP)
    narrow = IDS if state.record_ids is not None else ALL
    jobs = tuple(Job(t, u, narrow) for t in state.tables for u in range(found.units[t]))
    planning = replace(
        state, phase=Phase.PLANNING, point_id=found.point_id, point_time=found.point_time,
        api_url=found.api_url, instance_url=found.instance_url,
        point_tables=tuple(sorted(found.units)), units=dict(found.units), jobs=jobs, cursor=0,
        attempts=0, wake_at=None,
        concurrency=min(MAX_CONCURRENCY, found.recommended_concurrency or state.concurrency),
    )
    detail = (f"Point {found.point_id} ({format_time(found.point_time)}) into "
              f"{found.target.display_name}; {len(jobs)} chunk(s) to compare.")
    changes = (
        MarkRunning(),
        StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=detail),
        StepUpdate("plan", status=StepStatus.RUNNING, detail="Comparing rows."),
        SetRestoreCounts(point_id=found.point_id, tables=state.tables),
    )
    if not jobs:
        moved = after_planning(planning)
        return replace(moved, changes=changes + moved.changes)
    return Decision(planning, Event.VALIDATED, changes, ContinueNow())
