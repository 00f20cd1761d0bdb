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
from data_restores.commands import PlanTooLarge, Settle, Settled
from data_restores.counts import added, only
from data_restores.faults import fail, on_fault, reject
from data_restores.planning import target_of
from data_restores.state import DataRestoreState, Event, Job, Phase
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, Stop
from engine.record import Finish, SetRestoreCounts, StepUpdate
from restore_orchestrator.checks import write_guardrail
from shared.operations import OperationStatus, StepStatus

STEP = "plan"
# Rows to create or update that one record restore settles: every one is held in memory while
# its lookups are checked and its writes laid out (6.6 KB measured for the plan of a row of 60
# columns, about as much again for its writes), in one invocation on an instance of 2 GB
# (infra/) that runs others beside it.
# The apply benchmark restores ~89,000 rows (bench/record_restore_bench.py).
MAX_ROWS_TO_WRITE = 100_000
# Counts the plan settles for good: applying never changes them.
FINAL = ("unchanged", "notRestorable")


def plan(state: DataRestoreState, now: datetime, config: EngineConfig) -> Settle:
    return Settle(target_of(state), state.apply, state.batch_size, MAX_ROWS_TO_WRITE,
                  target_environment_id=state.target_environment_id if state.apply else None)


def decide(
    state: DataRestoreState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    if isinstance(answer, Settled):
        # Checked at validation too; the target may have become a Production environment
        # while the plan was made, and nothing has been written yet.
        if state.apply and answer.target is not None and (problem := write_guardrail(
                answer.target, state.confirm_production, config.allow_production)) is not None:
            return reject(state, problem.code, f"Before writing: {problem.message}", STEP)
        return _settled(state, answer)
    if isinstance(answer, PlanTooLarge):
        return fail(state, "PlanTooLarge", too_large(answer), STEP)
    return on_fault(state, answer, now, config, STEP)


def too_large(answer: PlanTooLarge) -> str:
    total = sum(answer.counts.values())
    biggest = sorted(answer.counts.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{table} {rows:,}" for table, rows in biggest[:5])
    more = f" and {len(biggest) - 5} more table(s)" if len(biggest) > 5 else ""
    return (
        f"The plan has {total:,} rows to create or update ({shown}{more}); one record restore "
        f"writes at most {answer.limit:,}: its plan is checked and laid out in one step, in "
        "memory. Nothing was written. Restore in parts: fewer tables at a time (--table), "
        "chosen rows (--ids), or --mode missing or changed rather than all."
    )


def describe(summary: dict[str, int]) -> str:
    parts = [f"{summary[a]} {a}" for a in ("create", "update", "unchanged", "conflict", "failed",
                                           "notRestorable") if summary.get(a)]
    return ", ".join(parts) or "no rows"


def _settled(state: DataRestoreState, answer: Settled) -> Decision[DataRestoreState]:
    summary = added(state.plan, answer.counts["tables"])
    total = summary["total"]
    plan_detail = f"Plan: {describe(total)}."
    if state.record_ids is not None and state.matched < len(state.record_ids):
        plan_detail += (f" {len(state.record_ids) - state.matched} of the "
                        f"{len(state.record_ids)} recordIds match no row of "
                        f"{', '.join(state.tables)} at the point.")
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
