"""Planning: which tables the point holds and how each is copied (pure).

    plan:   ReadTables (metadata, and the newest point holding each table)
    decide: a table named but unknown or unreadable -> that table Failed with the reason and the
            fix, the others go on; nothing valid -> Rejected; each table full or incremental
            (`needs_full_copy`; full too when the last point's change link names another host:
            the environment's URL was changed); a platform that cannot serve now -> wait
            (shared backoff)
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit

from data_backups.commands import ReadTables, TableFacts, TablesRead
from data_backups.faults import fail, wait_or_give_up
from data_backups.state import DataBackupState, Event, Phase, TableStatus, TableWork
from engine.answers import Missing, Refused
from engine.config import EngineConfig
from engine.decision import ContinueNow, Decision, Stop
from engine.record import Finish, MarkRunning, SetDataPoint, StepUpdate
from engine.waiting import RETRYABLE
from shared.data_store.retention import DEFAULT_CHAIN_BOUND, needs_full_copy
from shared.operations import OperationError, OperationStatus, StepStatus

STEP = "plan"
# Tables read at once in one step: the server's x-ms-dop-hint, never more than this.
MAX_CONCURRENCY = 8
# Tables whose reason a refusal names in its message (the rest are counted).
NAMED_PROBLEMS = 5
FULL, INCREMENTAL = "full", "incremental"


def plan(state: DataBackupState, now: datetime, config: EngineConfig) -> ReadTables:
    return first_read(state)


def first_read(state: DataBackupState) -> ReadTables:
    """The plan's command: it depends on the request alone (the intake may start it early)."""
    return ReadTables(state.environment_id, read_ahead=not state.full, tables=state.requested,
                      page_size=state.page_size)


def decide(
    state: DataBackupState, answer: object, now: datetime, config: EngineConfig
) -> Decision[DataBackupState]:
    if isinstance(answer, TablesRead):
        return _planned(state, answer, now)
    if isinstance(answer, RETRYABLE):
        return wait_or_give_up(state, answer, now, config, STEP)
    if isinstance(answer, Refused):
        return fail(state, answer.code, answer.message, STEP)
    if isinstance(answer, Missing):
        return fail(state, "EnvironmentNotFound", (
            f"The platform has no environment {state.environment_id} ({answer.message}); "
            "check the environment id."), STEP)
    message = getattr(answer, "message", type(answer).__name__)
    return fail(state, "EnvironmentUnavailable", f"The environment cannot be backed up: {message}",
                STEP)


def choose_tables(
    state: DataBackupState, facts: tuple[TableFacts, ...]
) -> tuple[TableWork, ...]:
    """The tables of the point, in order: asked-for names first (Failed where they cannot be
    read), or every readable table less the exclusions."""
    by_name = {f.table: f for f in facts}
    if state.requested is None:
        chosen = [f for f in sorted(facts, key=lambda f: f.table)
                  if f.readable and f.entity_set and f.table not in state.excluded]
        return tuple(_work(state, f) for f in chosen)
    works = []
    for name in state.requested:
        found = by_name.get(name)
        if found is None:
            works.append(TableWork(name, status=TableStatus.FAILED, detail=(
                f"No table named {name!r} in this environment. Check the logical name "
                "(lowercase, e.g. account) and that its solution is installed here.")))
        elif not found.readable or not found.entity_set:
            works.append(TableWork(name, status=TableStatus.FAILED, detail=(
                f"Table {name!r} has no rows the Web API serves (virtual, or no entity set): "
                "its data lives elsewhere; leave it out of the request.")))
        else:
            works.append(_work(state, found))
    return tuple(works)


def _work(state: DataBackupState, facts: TableFacts) -> TableWork:
    why_full = needs_full_copy(
        facts.chain_length, DEFAULT_CHAIN_BOUND, change_tracking=facts.change_tracking
    )
    if why_full is None and facts.delta_link is None:
        why_full = "the previous point kept no change token for it"
    if why_full is None and facts.delta_link is not None:
        why_full = _foreign_link(state, facts.delta_link)
    if state.full:
        why_full = "a full copy was asked for"
    base = TableWork(facts.table, entity_set=facts.entity_set or "", id_column=facts.id_column)
    if why_full is not None or facts.previous is None:
        return replace(base, mode=FULL, detail=f"Full copy: {why_full}.")
    return replace(base, mode=INCREMENTAL, previous=facts.previous, since=facts.delta_link,
                   detail=f"Changes since point {facts.previous}.")


def _foreign_link(state: DataBackupState, link: str) -> str | None:
    """Why a stored change link cannot be followed: it names a host that is not the
    environment's now (its URL was changed since), and the client would refuse to send it."""
    if state.api_url is None:
        return None
    host = _host(link)
    # The hosts the Dataverse client sends this environment's token to (scope_for_instance).
    if host in {_host(state.api_url), _host(state.instance_url or state.api_url)}:
        return None
    return (f"the last point's change-tracking link names {host!r}, not the environment's "
            f"current URL ({_host(state.api_url)!r}); the URL was changed since")


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower().rstrip(".")


def _planned(
    state: DataBackupState, read: TablesRead, now: datetime
) -> Decision[DataBackupState]:
    state = replace(state, api_url=read.api_url, instance_url=read.instance_url)
    tables = choose_tables(state, read.tables)
    if not any(t.status is TableStatus.PENDING for t in tables):
        # The first few said, the rest counted: a request may name 500 unknown tables, and the
        # message is kept on the record (each table's own reason is in its row of the record).
        said = [t.detail or t.table for t in tables[:NAMED_PROBLEMS]]
        more = len(tables) - len(said)
        problems = "; ".join(said) + (f"; and {more} more (see the tables)" if more else "") \
            if said else "the environment has no table this app can read"
        message = f"The request names no table that can be backed up: {problems}"
        ended = replace(state, phase=Phase.REJECTED, tables=tables, wake_at=None)
        return Decision(ended, Event.REJECTED, (
            StepUpdate(STEP, status=StepStatus.FAILED, detail=message),
            Finish(OperationStatus.REJECTED, OperationError("NoTables", message),
                   skipped_detail="Nothing to copy."),
        ), Stop())
    concurrency = state.concurrency_limit
    if read.recommended_concurrency:
        concurrency = min(MAX_CONCURRENCY, read.recommended_concurrency)
    copying = replace(
        state, phase=Phase.COPYING, point_id=read.point_id, point_time=now, tables=tables,
        concurrency=concurrency, concurrency_limit=concurrency,
        sweep_due=read.sweep_due, attempts=0, wake_at=None,
    )
    count = sum(1 for t in tables if t.status is TableStatus.PENDING)
    failed = len(tables) - count
    detail = f"{count} table(s) to copy" + (f", {failed} cannot be read" if failed else "") + "."
    return Decision(copying, Event.PLANNED, (
        MarkRunning(),
        StepUpdate(STEP, status=StepStatus.SUCCEEDED, detail=detail),
        StepUpdate("copy", status=StepStatus.RUNNING, detail="Copying pages."),
        SetDataPoint(copying.table_records()),
    ), ContinueNow())

