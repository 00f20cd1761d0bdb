"""Record restores end to end on the engine: Azurite (tables, queues, blobs) and the simulator's
Dataverse. An import deletes accounts with their contacts and notes and edits others; a record
restore brings back what was lost, as it was at the point, and nothing else."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from data_restores.kind import read_state
from data_restores.state import DataRestoreState
from engine.runner import RunnerConfig, run_steps
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.restore_files import RestoreFiles
from shared.intake import admit
from shared.operations import Operation, OperationKind, OperationStatus, new_operation
from shared.runtime import AppContext
from shared.settings import ProductionAllowList
from tests.integration.data_backups.conftest import FAST_BACKOFF, Clock, live_rows
from tests.integration.data_restores.test_plan_from_a_point import TABLES, make_point

SYSTEM = ("modifiedon", "versionnumber", "@odata.etag", "createdon")


def allowing(ctx: AppContext, env_id: str) -> AppContext:
    """The same app with the target on RESTORE_ALLOW_PRODUCTION."""
    settings = replace(ctx.settings,
                       restore_allow_production=ProductionAllowList(frozenset({env_id})))
    return AppContext.from_settings(settings, backoff=FAST_BACKOFF, clock=ctx.clock)


def start(ctx: AppContext, source: str, **request: Any) -> str:
    state = DataRestoreState(source, request.pop("target", source), **request)
    operation = new_operation(OperationKind.DATA_RESTORE, state.target_environment_id,
                              ctx.clock(), source_environment_id=source)
    stored, _ = admit(ctx, operation, dedup_key=None, internal=state.to_json())
    return stored.operation.operation_id


def drive(ctx: AppContext, clock: Clock, operation_id: str, *, max_steps: int = 500) -> Operation:
    for _ in range(max_steps):
        stored = ctx.history.get(operation_id)
        if stored.operation.status.terminal:
            return stored.operation
        state = read_state(stored)
        clock.reach(state.wake_at)
        run_steps(ctx, operation_id, state.seq)
    raise AssertionError(f"{operation_id} did not end in {max_steps} steps")


def gone_with_children(
    at_point: dict[str, dict[str, Any]], accounts: list[str]
) -> set[tuple[str, str]]:
    gone = {("account", a) for a in accounts}
    grew = True
    while grew:
        grew = False
        for table in ("contact", "annotation"):
            key = "_parentcustomerid_value" if table == "contact" else "_objectid_value"
            for record_id, row in at_point[table].items():
                if (table, record_id) not in gone and any(row.get(key) == i for _, i in gone):
                    gone.add((table, record_id))
                    grew = True
    return gone


def data(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in SYSTEM and not k.startswith("@")
            and "@odata.etag" not in k}


def test_deleted_accounts_come_back_with_their_contacts_and_notes(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = make_point(ctx, clock, env_id, list(TABLES))
    at_point = {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}
    parents = sorted({r["_parentcustomerid_value"] for r in at_point["contact"].values()
                      if r.get("_parentcustomerid_value") in at_point["account"]})[:3]
    gone = gone_with_children(at_point, parents)
    for table in ("annotation", "contact", "account"):
        for t, record_id in sorted(gone):
            if t == table:
                sim.dataverse_change(env_id, table, "delete", record_id)

    dry = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                  with_related=True))
    assert dry.status is OperationStatus.SUCCEEDED, dry.error
    assert dry.plan is not None
    assert dry.plan["total"]["create"] == len(gone)
    assert sim.dataverse_writes(env_id) == [], "a dry run writes nothing"
    diff = list(RestoreFiles(store, dry.operation_id).diff_rows())
    assert {(r["table"], r["id"]) for r in diff} == {(t, i.lower()) for t, i in gone}

    refused = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                      with_related=True, apply=True))
    assert refused.status is OperationStatus.REJECTED
    assert refused.error is not None and refused.error.code == "ProductionNotAllowed"
    assert sim.dataverse_writes(env_id) == [], "refused before any write"

    allowed = allowing(ctx, env_id)
    done = drive(allowed, clock, start(allowed, env_id, tables=("account",),
                                       point_id=point_id, with_related=True, apply=True,
                                       confirm_production=env_id))
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None
    assert done.applied["total"]["create"] == len(gone)
    now = {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}
    for table in TABLES:
        assert {i: data(r) for i, r in now[table].items()} == \
            {i: data(r) for i, r in at_point[table].items()}, table


@pytest.mark.parametrize("asked", [{"at": datetime(2026, 1, 1, tzinfo=UTC)},
                                   {"point_id": "20261203T020000123Z-1a2b3c4d"}])
def test_a_restore_from_an_environment_never_backed_up_is_rejected_at_once(
    ctx: AppContext, clock: Clock, env_id: str, asked: dict[str, Any]
) -> None:
    # No data backup was ever taken: the store's container does not exist yet.
    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), **asked))
    assert done.status is OperationStatus.REJECTED
    assert done.error is not None and done.error.code == "NoSuchPoint"
    assert "has no complete data backup point" in done.error.message


def test_a_plan_past_the_settling_limit_fails_before_anything_is_written(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from data_restores import settling

    point_id = make_point(ctx, clock, env_id, list(TABLES))
    at_point = {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}
    gone = sorted(at_point["account"])[:4]
    for record_id in gone:
        sim.dataverse_change(env_id, "account", "delete", record_id)
    monkeypatch.setattr(settling, "MAX_ROWS_TO_WRITE", 3)

    allowed = allowing(ctx, env_id)
    done = drive(allowed, clock, start(allowed, env_id, tables=("account",), point_id=point_id,
                                       apply=True, confirm_production=env_id))

    assert done.status is OperationStatus.FAILED
    assert done.error is not None and done.error.code == "PlanTooLarge"
    assert "4 rows to create or update (account 4)" in done.error.message
    assert sim.dataverse_writes(env_id) == []
    assert list(RestoreFiles(store, done.operation_id).diff_rows()) == []


def test_record_ids_that_are_no_rows_of_the_tables_at_the_point_are_said_so(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = make_point(ctx, clock, env_id, list(TABLES))
    at_point = {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}
    account = sorted(at_point["account"])[0]
    contact = sorted(at_point["contact"])[0]
    sim.dataverse_change(env_id, "account", "delete", account)
    ctx = allowing(ctx, env_id)

    # A contact's id asked of the accounts (a wrong table): nothing to restore, and it says why.
    wrong = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                    record_ids=(contact,), apply=True,
                                    confirm_production=env_id))
    assert wrong.status is OperationStatus.REJECTED
    assert wrong.error is not None and wrong.error.code == "NoSuchRecords"
    assert contact in wrong.error.message and "account" in wrong.error.message
    assert sim.dataverse_writes(env_id) == []

    # One found, one not: the found one is restored and the plan names the other.
    some = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   record_ids=(account, contact), apply=True,
                                   confirm_production=env_id))
    assert some.status is OperationStatus.SUCCEEDED, some.error
    assert some.applied is not None and some.applied["total"]["create"] == 1
    plan_step = next(s for s in some.steps if s.name == "plan")
    assert "1 of the 2 recordIds" in (plan_step.detail or ""), plan_step.detail


def phases_of(ctx: AppContext, clock: Clock, operation_id: str) -> tuple[Operation, set[str]]:
    """Drive the operation to its end, noting every phase it went through."""
    seen: set[str] = set()
    for _ in range(500):
        stored = ctx.history.get(operation_id)
        state = read_state(stored)
        seen.add(str(state.phase))
        if stored.operation.status.terminal:
            return stored.operation, seen
        clock.reach(state.wake_at)
        run_steps(ctx, operation_id, state.seq, config=RunnerConfig(invocation_budget_seconds=0))
    raise AssertionError(f"{operation_id} did not end")


def test_the_related_rows_walk_is_not_made_for_nothing(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from data_restores import settling

    # The walk streams every table of the point, pass after pass: not when the chosen rows need
    # no write (no seed), nor when they are already past the settling limit (it only adds rows).
    point_id = make_point(ctx, clock, env_id, list(TABLES))
    nothing, seen = phases_of(ctx, clock, start(ctx, env_id, tables=("account",),
                                                 point_id=point_id, with_related=True))
    assert nothing.status is OperationStatus.SUCCEEDED, nothing.error
    assert "Relating" not in seen

    for record_id in sorted(live_rows(sim, env_id, "accounts", "accountid"))[:4]:
        sim.dataverse_change(env_id, "account", "delete", record_id)
    monkeypatch.setattr(settling, "MAX_ROWS_TO_WRITE", 3)
    large, seen = phases_of(ctx, clock, start(ctx, env_id, tables=("account",),
                                               point_id=point_id, with_related=True))
    assert large.status is OperationStatus.FAILED
    assert large.error is not None and large.error.code == "PlanTooLarge"
    assert "Relating" not in seen
