"""A crash at any checkpoint of a data backup (before or after each engine checkpoint, before each
row file and manifest write) leaves no point that looks complete, and the run carried on ends
complete: a crash after the manifest and before the checkpoint of the step that wrote it too.
(A crash before each record index append is the store's own test:
tests/integration/data_store/test_points.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from itertools import count
from typing import Any

import pytest

from data_backups import execute
from data_backups.intake import handle_data_backup_message
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock, drive, live_rows, stored_rows


class Crash(RuntimeError):
    pass


def start(ctx: AppContext, env_id: str, request_id: str, *, full: bool) -> str:
    body = json.dumps({"environmentId": env_id, "tables": ["account"], "requestId": request_id,
                       "full": full})
    operation = handle_data_backup_message(ctx, body, message_id=request_id, page_size=12)
    assert operation is not None
    return operation.operation_id


@pytest.fixture
def hooked(
    ctx: AppContext, store: DataStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[str], None]], None]]:
    """Install `hook(what)`, called before every store write and around every checkpoint."""
    current: list[Callable[[str], None]] = [lambda _what: None]
    def before_write(name: str) -> None:
        if "/index/" not in name:
            current[0](f"write {name}")

    monkeypatch.setattr(execute, "store_for",
                        lambda _ctx: DataStore(store.container, before_write=before_write))
    update = ctx.history.update

    def checkpoint(*args: Any, **kwargs: Any) -> Any:
        current[0]("before checkpoint")
        result = update(*args, **kwargs)
        current[0]("after checkpoint")
        return result

    monkeypatch.setattr(ctx.history, "update", checkpoint)
    return lambda hook: current.__setitem__(0, hook)


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_a_crash_anywhere_leaves_no_complete_looking_point_and_the_run_completes(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    hooked: Callable[[Callable[[str], None]], None], full: bool,
) -> None:
    base = drive(ctx, clock, start(ctx, env_id, "base", full=True))
    assert base.status is OperationStatus.SUCCEEDED
    sim.dataverse_change(env_id, "account", "create", values={"name": "one more"})
    rows = live_rows(sim, env_id, "accounts", "accountid")
    seen: list[str] = []
    hooked(seen.append)
    clock.reach(clock.now + timedelta(days=1))
    clean = drive(ctx, clock, start(ctx, env_id, "clean", full=full))
    assert clean.status is OperationStatus.SUCCEEDED
    assert {t["mode"] for t in clean.tables} == {"full" if full else "incremental"}
    total = len(seen)
    # Row files, the manifest, and every checkpoint: the plan's, and the copy step's, which
    # commits too (every table is read in it), and no sweep step (nothing has expired).
    assert total >= 6

    for crash_at in range(total):
        clock.reach(clock.now + timedelta(days=1))  # a point a day: each one is kept
        # Each run has a change to copy, so an incremental run makes the same writes.
        sim.dataverse_change(env_id, "account", "create", values={"name": f"row {crash_at}"})
        rows = live_rows(sim, env_id, "accounts", "accountid")
        complete_before = {p.point_id for p in store.list_points(env_id)}
        counter = count()

        def crash(what: str, crash_at: int = crash_at, counter: Iterator[int] = counter) -> None:
            if next(counter) == crash_at:
                raise Crash(what)

        hooked(crash)
        operation_id = start(ctx, env_id, f"crash-{crash_at}", full=full)
        with pytest.raises(Crash):
            drive(ctx, clock, operation_id)
        hooked(lambda _what: None)
        # Whatever is complete now is either an earlier point or this run's, whole.
        for point in store.list_points(env_id):
            if point.point_id not in complete_before:
                assert stored_rows(store, env_id, point.point_id, "account", "accountid") == rows
        done = drive(ctx, clock, operation_id)
        assert done.status is OperationStatus.SUCCEEDED, (crash_at, done.error)
        assert stored_rows(store, env_id, done.point_id or "", "account", "accountid") == rows
