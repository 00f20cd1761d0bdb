"""Copying: pages of up to `concurrency` tables at once, a bounded run per step, then a
checkpoint (pure).

    plan:   CopyPages for the tables not done yet (their cursors; chunk numbers from the state;
            the step's bound: PAGES_PER_STEP pages per table, no read started after
            STEP_BUDGET_SECONDS)
    decide: pages written -> the cursor moves on (the last page ends the table); an expired
            change token, or a change link refused at its first request (not valid after a
            restore, another host after a URL change) -> that table starts again as a full
            copy; a table refused (no read privilege, gone) -> Failed with the reason and the
            fix, the others go on; throttled
            or unavailable -> a delayed message (Retry-After honoured), boundedly; all done ->
            Committing (or Failed when no table could be copied); and the next step's
            concurrency: halved after a refusal for execution time or concurrency, one more
            after a step without refusal, up to the server's hint (shared.policy.concurrency)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from data_backups import committing
from data_backups.commands import (
    CommitAfter,
    Committed,
    CopyPages,
    PageCopied,
    PageJob,
    PagesCopied,
    TokenExpired,
)
from data_backups.faults import fail, wait_or_give_up
from data_backups.planning import FULL, INCREMENTAL, MAX_CONCURRENCY
from data_backups.state import DataBackupState, Event, Phase, TableStatus, TableWork
from engine.answers import Missing, Refused, Throttled
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, WaitFor
from engine.record import SetDataPoint, StepUpdate
from engine.waiting import RETRYABLE, Retryable, reason, retry_delay
from shared.operations import StepStatus
from shared.policy.concurrency import next_concurrency

STEP = "copy"
# A step reads and writes up to this many pages per table (the next page is read while the last
# is written), then checkpoints: ~50,000 rows of a table per checkpoint at full pages. The time
# budget keeps a slow server's step short; the runner's invocation budget bounds the rest.
PAGES_PER_STEP = 10
STEP_BUDGET_SECONDS = 20.0


def plan(state: DataBackupState, now: datetime, config: EngineConfig) -> CopyPages:
    if state.point_id is None or state.api_url is None:
        raise ValueError("a data backup copies only after it was planned")
    left = [t for t in state.tables if not t.status.done]
    todo = left[: max(1, state.concurrency)]
    return CopyPages(
        state.environment_id, state.api_url, state.instance_url or state.api_url,
        state.point_id, state.page_size,
        tuple(PageJob(t.table, t.entity_set, t.id_column, t.mode, t.cursor, t.since,
                      t.row_chunks, t.deleted_chunks, t.previous) for t in todo),
        max_pages=PAGES_PER_STEP, budget_seconds=STEP_BUDGET_SECONDS,
        commit=_commit_after(state) if todo == left and all(
            t.status is TableStatus.FAILED
            or (t.status is TableStatus.PENDING and not t.row_chunks and not t.deleted_chunks)
            for t in state.tables) else None,
    )


def _commit_after(state: DataBackupState) -> CommitAfter:
    """A point whose every table is read in one step (an incremental of a few changes, mostly)
    may commit in that step: no commit step, no listing of what the step itself wrote. Only a
    step that starts them all: the commit holds the step's own tables, so one copied by an
    earlier step (more tables than a step reads at once) would be left out of the point. (So an
    incremental whose first step was refused for execution time, and reads fewer tables at once
    after it, commits in a step of its own: one step more, the same point.)"""
    if state.point_time is None:
        raise ValueError("a data backup copies only after it was planned")
    return CommitAfter(state.point_time, state.label, committing.failed_tables(state))


def decide(
    state: DataBackupState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataBackupState]:
    if isinstance(answer, RETRYABLE):
        return wait_or_give_up(state, answer, now, config, STEP)
    if isinstance(answer, Refused | Missing):
        return fail(state, getattr(answer, "code", "Missing"), answer.message, STEP)
    if not isinstance(answer, PagesCopied):
        raise ValueError(f"{type(answer).__name__} is no answer to copying pages")
    if isinstance(answer.committed, Committed) and not answer.results:
        return _committed_before(state, answer.committed, now, config)
    copied = _decide_pages(state, answer, now, config)
    if answer.committed is None or copied.state.phase is not Phase.COMMITTING:
        return copied
    # The step committed the point too: the commit's decision follows at once.
    then = committing.decide(copied.state, answer.committed, now, config)
    return replace(then, changes=copied.changes + then.changes)


def _committed_before(
    state: DataBackupState, committed: Committed, now: datetime, config: EngineConfig
) -> Decision[DataBackupState]:
    """An earlier run of this step committed the point and crashed before its checkpoint: the
    manifest says what each table holds."""
    tables = tuple(
        replace(t, status=TableStatus.COPIED, cursor=None,
                changed=committed.counts.get(t.table, (t.changed, t.deleted))[0],
                deleted=committed.counts.get(t.table, (t.changed, t.deleted))[1])
        if t.table in committed.tables else t
        for t in state.tables
    )
    done = replace(state, tables=tables, phase=Phase.COMMITTING, attempts=0, wake_at=None)
    then = committing.decide(done, committed, now, config)
    copy_done = StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=_summary(done))
    return replace(then, changes=(copy_done, *then.changes))


def _decide_pages(
    state: DataBackupState, answer: PagesCopied, now: datetime, config: EngineConfig
) -> Decision[DataBackupState]:
    tables: list[TableWork] = []
    faults: list[Retryable] = []
    progressed = False
    hint: int | None = None
    # Refusals met this step: a table's own answer, or what stopped its pages.
    met = (getattr(result, "stopped", result) for result in answer.results.values())
    throttled = [fault for fault in met if isinstance(fault, Throttled)]
    for work in state.tables:
        result = answer.results.get(work.table)
        # A refusal that stopped later pages is not the link's: the link was answered.
        first_of_link = _follows_link(work) and not isinstance(result, PageCopied)
        if isinstance(result, PageCopied):
            work = _copied(work, result)
            hint = result.dop_hint or hint
            progressed = True
            result = result.stopped  # what ended this step's reads early, if anything
            if isinstance(result, Throttled) and result.retry_after == 0:
                result = None  # its Retry-After passed while the other tables' pages were written
        if result is None:
            tables.append(work)
        elif isinstance(result, TokenExpired):
            tables.append(restart_full(work, "the change tracking token expired"))
            progressed = True
        elif first_of_link and isinstance(result, Refused | Missing):
            tables.append(restart_full(work, _refused_link(result)))
            progressed = True
        elif isinstance(result, RETRYABLE):
            faults.append(result)
            tables.append(work)
        else:
            message = getattr(result, "message", type(result).__name__)
            tables.append(replace(work, status=TableStatus.FAILED, cursor=None, detail=message))
            progressed = True
    limit = min(MAX_CONCURRENCY, hint) if hint else state.concurrency_limit
    slowed = any(fault.fewer for fault in throttled)
    # Halved from what this step ran (fewer tables than the concurrency when fewer were left);
    # fewer left is no reason to read fewer at once later, so otherwise from the concurrency.
    current = min(state.concurrency, max(1, len(answer.results))) if slowed \
        else state.concurrency
    concurrency = next_concurrency(current, limit, slowed=slowed,
                                   clean=progressed and not throttled and not faults)
    moved = replace(state, tables=tuple(tables), concurrency=concurrency,
                    concurrency_limit=limit,
                    attempts=0 if progressed else state.attempts, wake_at=None)
    if faults:
        return _wait(moved, faults, now, config)
    return after_copy(moved)


def _copied(work: TableWork, page: PageCopied) -> TableWork:
    done = page.next_cursor is None
    changed = work.changed + page.rows
    return replace(
        work,
        row_chunks=work.row_chunks + page.row_chunks,
        deleted_chunks=work.deleted_chunks + page.deleted_chunks,
        changed=changed, deleted=work.deleted + page.deleted, bytes=work.bytes + page.bytes,
        cursor=page.next_cursor, delta_link=page.delta_link if done else None,
        rewritten={**work.rewritten, **page.rewritten},
        status=TableStatus.COPIED if done else TableStatus.COPYING,
        rows=changed if work.mode == FULL and done else work.rows,
    )


def _follows_link(work: TableWork) -> bool:
    """Whether the table's next request is the first of its incremental: the last point's
    change link, which a refusal then names (a full copy has no link to drop)."""
    return work.mode == INCREMENTAL and work.since is not None and work.cursor is None


def _refused_link(refusal: Refused | Missing) -> str:
    # The link is the one thing a full copy does without: a restore or a copy into the
    # environment leaves tokens it calls not valid, a URL change links to the old host. Kept
    # it, every later backup would be refused the same way.
    said = refusal.message.rstrip(". ")
    return f"the change-tracking link of the last point was refused ({said})"


def restart_full(work: TableWork, why: str) -> TableWork:
    """Start the table again as a full copy of this point (chunks from 0 are written again,
    beside the ones the incremental wrote; the commit reads only as many as it declares)."""
    return replace(
        work, mode=FULL, previous=None, since=None, cursor=None, delta_link=None, row_chunks=0,
        deleted_chunks=0, rewritten={}, rows=None, changed=0, deleted=0, bytes=0,
        status=TableStatus.PENDING,
        detail=f"Full copy: {why}.",
    )


def _wait(
    state: DataBackupState, faults: list[Retryable], now: datetime, config: EngineConfig
) -> Decision[DataBackupState]:
    attempts = state.attempts + 1
    if attempts > config.backoff.max_attempts:
        # Nothing moved for the whole budget: those tables fail, the others are done already.
        stuck = tuple(
            work if work.status.done else replace(
                work, status=TableStatus.FAILED, cursor=None,
                detail=f"Gave up after {attempts - 1} attempts: {faults[-1].message}")
            for work in state.tables
        )
        return after_copy(replace(state, tables=stuck, attempts=0))
    delay = max(retry_delay(fault, attempts, config) for fault in faults)
    waiting = replace(state, attempts=attempts, wake_at=now + timedelta(seconds=delay))
    detail = f"Waiting: {reason(faults[0])}; going on in {delay:.0f}s.{_paced(state)}"
    return Decision(waiting, Event.WAIT, (
        StepUpdate(STEP, detail=detail), SetDataPoint(waiting.table_records()),
    ), WaitFor(delay))


def after_copy(state: DataBackupState) -> Decision[DataBackupState]:
    records = SetDataPoint(state.table_records())
    if not all(t.status.done for t in state.tables):
        copied = sum(t.changed for t in state.tables)
        return Decision(state, Event.COPIED, (
            StepUpdate(STEP, detail=f"{copied} row(s) read so far.{_paced(state)}"), records,
        ), ContinueNow())
    failed = [t for t in state.tables if t.status is TableStatus.FAILED]
    if len(failed) == len(state.tables):
        reasons = "; ".join(f"{t.table}: {t.detail}" for t in failed)
        return fail(state, "NoTableCopied", f"No table could be copied: {reasons}", STEP)
    committing = replace(state, phase=Phase.COMMITTING)
    return Decision(committing, Event.COPIED, (
        StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=_summary(state)), records,
    ), ContinueNow())


def _paced(state: DataBackupState) -> str:
    """What a person watching a slow backup should know: it reads fewer tables at once than the
    server recommends, because the server asked for it."""
    if state.concurrency >= state.concurrency_limit:
        return ""
    return (f" Reading {state.concurrency} table(s) at a time (Dataverse asked for fewer "
            f"requests at once; up to {state.concurrency_limit} again as it allows).")


def _summary(state: DataBackupState) -> str:
    copied = [t for t in state.tables if t.status is TableStatus.COPIED]
    failed = len(state.tables) - len(copied)
    text = f"{len(copied)} table(s) copied, {sum(t.changed for t in copied)} row(s) written"
    return text + (f"; {failed} table(s) failed." if failed else ".")
