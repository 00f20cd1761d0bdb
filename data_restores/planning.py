"""Planning and Relating: the rows to write, job by job (pure).

    Planning: DiffJobs, up to `concurrency` stored chunks at once: each chunk's rows (narrowed to
              the recordIds or to the related rows found) against the target's rows with those
              ids; rows to write go to the store, unchanged rows are counted. A job that met a
              throttle or an outage is sent again later (the jobs before it are done).
    Relating: (withRelated) RelateJobs over every stored chunk of every point table, in passes;
              a pass that adds no row ends the walk. Then Planning again over the chunks of the
              tables where related rows were found, and Settling.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from data_restores.commands import (
    Diffed,
    DiffJobs,
    JobDiffed,
    Related,
    RelateJobs,
    Target,
)
from data_restores.counts import added
from data_restores.faults import fail, on_fault, reject, wait_or_give_up
from data_restores.state import IDS, RELATED, DataRestoreState, Event, Job, Phase
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision
from engine.record import SetRestoreCounts, StepUpdate
from engine.waiting import RETRYABLE

STEP = "plan"
# Related rows are found at any depth, one level per pass; a deeper chain than this is a cycle
# the walk cannot end, not data.
MAX_RELATE_PASSES = 50


def target_of(state: DataRestoreState) -> Target:
    if state.api_url is None or state.point_id is None:
        raise ValueError("a record restore plans only after it was validated")
    return Target(state.api_url, state.instance_url or state.api_url)


def next_jobs(state: DataRestoreState) -> tuple[Job, ...]:
    return state.jobs[state.cursor : state.cursor + max(1, state.concurrency)]


def plan(state: DataRestoreState, now: datetime, config: EngineConfig) -> DiffJobs | RelateJobs:
    target = target_of(state)
    point_id = state.point_id or ""
    if state.phase is Phase.RELATING:
        return RelateJobs(state.source_environment_id, point_id, target, state.tables,
                          state.record_ids, next_jobs(state))
    return DiffJobs(state.source_environment_id, point_id, target, state.mode,
                    state.record_ids, next_jobs(state))


def decide(
    state: DataRestoreState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    if isinstance(answer, Diffed):
        return _diffed(state, answer, now, config)
    if isinstance(answer, Related):
        return _related(state, answer)
    return on_fault(state, answer, now, config, STEP)


def _diffed(
    state: DataRestoreState, answer: Diffed, now: datetime, config: EngineConfig
) -> Decision[DataRestoreState]:
    done = matched = kept = 0
    unchanged: dict[str, dict[str, int]] = {}
    fault = None
    for job, result in zip(next_jobs(state), answer.results, strict=False):
        if not isinstance(result, JobDiffed):
            fault = result
            break
        done += 1
        counts = unchanged.setdefault(job.table, {"unchanged": 0})
        counts["unchanged"] += result.unchanged
        kept += result.kept
        if job.narrow == IDS:
            matched += result.matched
    moved = replace(state, cursor=state.cursor + done, plan=added(state.plan, unchanged),
                    attempts=0 if done else state.attempts, matched=state.matched + matched,
                    kept=None if state.kept is None else state.kept + kept)
    if fault is not None:
        if isinstance(fault, RETRYABLE):
            return wait_or_give_up(moved, fault, now, config, STEP)
        return fail(moved, getattr(fault, "code", "PlanFailed"),
                    getattr(fault, "message", type(fault).__name__), STEP)
    if not moved.done:
        detail = f"Compared {moved.cursor} of {len(moved.jobs)} chunk(s)."
        return Decision(moved, Event.DIFFED, (StepUpdate(STEP, detail=detail),), ContinueNow())
    return after_planning(moved)


def after_planning(state: DataRestoreState) -> Decision[DataRestoreState]:
    """The chosen rows are compared: walk to the related rows (once), else settle."""
    related_done = any(j.narrow == RELATED for j in state.jobs) or state.relate_pass > 0
    if state.record_ids is not None and not related_done and state.matched == 0:
        # Nothing was found to restore: an id of another table, or of a row made after the
        # point, is a request to correct, not a restore that succeeded.
        shown = ", ".join(state.record_ids[:3]) + (" ..." if len(state.record_ids) > 3 else "")
        return reject(state, "NoSuchRecords", (
            f"None of the {len(state.record_ids)} recordIds ({shown}) is a row of "
            f"{', '.join(state.tables)} at point {state.point_id}: check the ids and the tables "
            "(`ppbackup data record ENV_ID TABLE RECORD_ID` lists one record's versions)."), STEP)
    if state.with_related and not related_done and _walk_worth_it(state):
        jobs = tuple(Job(t, u) for t in state.point_tables for u in range(state.units.get(t, 0)))
        relating = replace(state, phase=Phase.RELATING, jobs=jobs, cursor=0, relate_pass=1,
                           relate_size=0)
        return Decision(relating, Event.DIFFED, (
            StepUpdate(STEP, detail="Looking for the rows that referenced them."),
        ), ContinueNow())
    settling = replace(state, phase=Phase.SETTLING, jobs=(), cursor=0)
    return Decision(settling, Event.DIFFED, (
        StepUpdate(STEP, detail="Checking every lookup of the rows to write."),
    ), ContinueNow())


def _walk_worth_it(state: DataRestoreState) -> bool:
    """The walk streams every table of the point, pass after pass: not when it has no seed (no
    recordIds and no row to write), nor when the plan is already past what settling takes (it
    only adds rows: settling then fails it, naming its rows, hours of passes sooner)."""
    from data_restores.settling import MAX_ROWS_TO_WRITE  # (settling imports this module)

    if state.kept is None:
        return True
    if state.record_ids is None and state.kept == 0:
        return False
    return state.kept <= MAX_ROWS_TO_WRITE


def _related(state: DataRestoreState, answer: Related) -> Decision[DataRestoreState]:
    moved = replace(state, cursor=state.cursor + len(next_jobs(state)), attempts=0)
    if not moved.done:
        detail = (f"Related rows, pass {state.relate_pass}: {answer.size} found so far "
                  f"({moved.cursor} of {len(moved.jobs)} chunk(s) read).")
        return Decision(moved, Event.RELATED, (StepUpdate(STEP, detail=detail),), ContinueNow())
    if answer.size > state.relate_size:
        if state.relate_pass >= MAX_RELATE_PASSES:
            return fail(moved, "RelatedRowsUnbounded", (
                f"Related rows were still being found after {MAX_RELATE_PASSES} passes; "
                "restore with recordIds and without withRelated."), STEP)
        again = replace(moved, cursor=0, relate_pass=state.relate_pass + 1,
                        relate_size=answer.size)
        return Decision(again, Event.RELATED, (StepUpdate(STEP, detail=(
            f"Related rows: {answer.size} found; pass {again.relate_pass} looks one level "
            "deeper.")),), ContinueNow())
    skip = set(state.tables) if state.record_ids is None else set()
    jobs = tuple(Job(t, u, RELATED) for t in state.point_tables
                 if answer.found.get(t) and t not in skip
                 for u in range(state.units.get(t, 0)))
    planning = replace(moved, phase=Phase.PLANNING, jobs=jobs, cursor=0,
                       relate_size=answer.size)
    tables = ", ".join(f"{t} {n}" for t, n in sorted(answer.found.items()) if n) or "none"
    changes = (StepUpdate(STEP, detail=f"Related rows found: {tables}."),
               SetRestoreCounts(plan=moved.plan))
    if not jobs:
        after = after_planning(planning)
        return replace(after, changes=changes + after.changes)
    return Decision(planning, Event.RELATED, changes, ContinueNow())
