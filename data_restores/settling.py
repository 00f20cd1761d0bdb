"""Settling: the plan made whole, then a dry run ends or the apply is laid out (pure).

    plan:   Settle (every planned row's lookups checked against the target; the diff written to
            the store; with apply, the recycle bin asked for the rows to create and the writes
            laid out in stages of batches)
    decide: the plan's counts on the record; a dry run -> Succeeded, nothing written; an apply
            -> Applying, one job per batch (or Succeeded when nothing needs writing)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_restores.applying import finished
from data_restores.commands import Settle, Settled
from data_restores.counts import added, only
from data_restores.faults import on_fault
from data_restores.planning import target_of
from data_restores.state import DataRestoreState, Event, Job, Phase
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, Stop
from engine.record import Finish, SetRestoreCounts, StepUpdate
from shared.operations import OperationStatus, StepStatus

STEP = "plan"
# Counts the plan settles for good: applying never changes them.
FINAL = ("unchanged", "notRestorable")


def plan(state: DataRestoreState, now: datetime, config: EngineConfig) -> Settle:
    return Settle(target_of(state), state.apply, state.batch_size)


def decide(
    state: DataRestoreState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    if isinstance(answer, Settled):
        return _settled(state, answer)
    return on_fault(state, answer, now, config, STEP)


def describe(summary: dict[str, int]) -> str:
    parts = [f"{summary[a]} {a}" for a in ("create", "update", "unchanged", "conflict", "failed",
                                           "notRestorable") if summary.get(a)]
    return ", ".join(parts) or "no rows"


def _settled(state: DataRestoreState, answer: Settled) -> Decision[DataRestoreState]:
    summary = added(state.plan, answer.counts["tables"])
    total = summary["total"]
    plan_detail = f"Plan: {describe(total)}."
    counts = SetRestoreCounts(plan=summary)
    if not state.apply:
        done = replace(state, phase=Phase.SUCCEEDED, plan=summary, jobs=(), cursor=0,
                       wake_at=None)
        return Decision(done, Event.FINISHED, (
            StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=plan_detail), counts,
            Finish(OperationStatus.SUCCEEDED,
                   skipped_detail="Dry run: nothing was written (apply: true writes the plan)."),
        ), Stop())
    jobs = tuple(Job(stage.table, n, stage.pass_name, b)
                 for n, stage in enumerate(answer.stages) for b in range(stage.batches))
    applying = replace(state, phase=Phase.APPLYING, plan=summary, applied=only(summary, FINAL),
                       jobs=jobs, cursor=0, attempts=0, wake_at=None)
    changes = (
        StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=plan_detail), counts,
        SetRestoreCounts(applied=applying.applied),
        StepUpdate("apply", status=StepStatus.RUNNING,
                   detail=f"{len(jobs)} batch(es) of writes to send."),
    )
    if not jobs:
        ended = finished(applying)
        return replace(ended, changes=changes + ended.changes)
    return Decision(applying, Event.SETTLED, changes, ContinueNow())
