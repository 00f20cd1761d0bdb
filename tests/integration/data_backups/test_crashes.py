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
from tests.integration.data_backups.conftest import (
    Clock,
    drive,
    live_rows,
    stored_rows,
    unnamed_files,
)


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
        # What the crashed run wrote, the run that counted wrote again beside it, and then
        # deleted the crashed run's files: the point holds only what its manifest names.
        assert unnamed_files(store, env_id, done.point_id or "") == set(), (crash_at, seen)


def run_aside(ctx: AppContext, clock: Clock, store: DataStore, operation_id: str,
              monkeypatch: pytest.MonkeyPatch, *, dies_at: str) -> None:
    """Another run of the operation's current copy step (a duplicate message, the watchdog
    driving a step that was only slow): it dies before its first write whose name holds
    `dies_at`, and its checkpoint never happens."""
    from data_backups import copying
    from data_backups.kind import read_state

    def before_write(name: str) -> None:
        if dies_at in name:
            raise Crash(f"the other run dies before {name}")

    state = read_state(ctx.history.get(operation_id))
    command = copying.plan(state, clock(), None)
    with monkeypatch.context() as patch:
        patch.setattr(execute, "store_for",
                      lambda _ctx: DataStore(store.container, before_write=before_write))
        with pytest.raises(Crash):
            execute._copy_pages(ctx, command)


def test_a_step_run_twice_at_once_commits_the_files_of_the_run_that_counted(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The other run wrote its chunks (from an older read) and died before their index blocks
    and its checkpoint; the run that counts finds the chunk names taken and writes beside them:
    the point holds its rows, and every row's version is found in the record index."""
    from data_backups import copying
    from data_backups.kind import read_state
    from data_backups.state import Phase

    # A page a step: the point is committed by a step of its own, from a listing of the files.
    monkeypatch.setattr(copying, "PAGES_PER_STEP", 1)
    row = sorted(live_rows(sim, env_id, "accounts", "accountid"))[0]
    update = ctx.history.update
    raced: list[bool] = []

    def checkpoint(*args: Any, **kwargs: Any) -> Any:
        result = update(*args, **kwargs)
        if not raced and read_state(result).phase is Phase.COPYING:
            raced.append(True)  # planned: the copy step is about to run, and runs twice
            run_aside(ctx, clock, store, result.operation.operation_id, monkeypatch,
                      dies_at="/index/")
            sim.dataverse_change(env_id, "account", "update", row, {"name": "edited meanwhile"})
        return result

    monkeypatch.setattr(ctx.history, "update", checkpoint)
    done = drive(ctx, clock, start(ctx, env_id, "full", full=True))
    assert raced
    assert done.status is OperationStatus.SUCCEEDED, done.error
    rows = live_rows(sim, env_id, "accounts", "accountid")
    assert stored_rows(store, env_id, done.point_id or "", "account", "accountid") == rows
    for record_id, stored in rows.items():
        [version] = store.record_versions(env_id, "account", record_id)
        assert version.row == stored
    # The other run's chunks, which the run that counted found under their names, are gone.
    assert unnamed_files(store, env_id, done.point_id or "") == set()


def test_a_committing_step_run_twice_at_once_leaves_a_point_that_reads_back(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An incremental's one step, which commits the point itself, run again while the first
    run is about to write the manifest, after the row changed again: the other run writes
    beside the first's chunk and dies before its own commit; the point is the first run's."""
    base = drive(ctx, clock, start(ctx, env_id, "base", full=True))
    assert base.status is OperationStatus.SUCCEEDED
    row = sorted(live_rows(sim, env_id, "accounts", "accountid"))[0]
    sim.dataverse_change(env_id, "account", "update", row, {"name": "first edit"})
    clock.reach(clock.now + timedelta(days=1))
    operation_id = start(ctx, env_id, "incremental", full=False)
    read = live_rows(sim, env_id, "accounts", "accountid")
    raced: list[str] = []

    def before_write(name: str) -> None:
        if "/manifests/" in name and not raced:
            raced.append(name)
            sim.dataverse_change(env_id, "account", "update", row, {"name": "second edit"})
            run_aside(ctx, clock, store, operation_id, monkeypatch, dies_at="/manifests/")

    monkeypatch.setattr(execute, "store_for",
                        lambda _ctx: DataStore(store.container, before_write=before_write))
    done = drive(ctx, clock, operation_id)
    assert raced and done.status is OperationStatus.SUCCEEDED, done.error
    assert stored_rows(store, env_id, done.point_id or "", "account", "accountid") == read
    [latest, _] = store.record_versions(env_id, "account", row)
    assert latest.point_id == done.point_id and latest.row == read[row]


def test_a_committing_step_run_again_when_its_table_cannot_be_read_finds_its_point(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    hooked: Callable[[Callable[[str], None]], None],
) -> None:
    """The step committed the point and crashed before its checkpoint; when it runs again the
    table is refused (403): no write meets the committed point, yet the backup is its point."""
    base = drive(ctx, clock, start(ctx, env_id, "base", full=True))
    assert base.status is OperationStatus.SUCCEEDED
    sim.dataverse_change(env_id, "account", "create", values={"name": "one more"})
    rows = live_rows(sim, env_id, "accounts", "accountid")
    clock.reach(clock.now + timedelta(days=1))
    seen: list[str] = []

    def crash_after_the_manifest(what: str) -> None:
        seen.append(what)
        if what == "before checkpoint" and any("/manifests/" in w for w in seen):
            raise Crash(what)

    hooked(crash_after_the_manifest)
    operation_id = start(ctx, env_id, "incremental", full=False)
    with pytest.raises(Crash):
        drive(ctx, clock, operation_id)
    hooked(lambda _what: None)
    [point] = [p.point_id for p in store.list_points(env_id) if p.point_id != base.point_id]
    sim.dataverse_revoke(env_id, "account")
    done = drive(ctx, clock, operation_id)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.point_id == point
    assert stored_rows(store, env_id, point, "account", "accountid") == rows


def full_copy_a_day_after_a_base(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, key: str
) -> tuple[Any, dict[str, Any], str]:
    """A complete full point, then, a day later, a full copy started (not run): the base, the
    rows, and the new operation's id."""
    base = drive(ctx, clock, start(ctx, env_id, "base", full=True))
    assert base.status is OperationStatus.SUCCEEDED
    rows = live_rows(sim, env_id, "accounts", "accountid")
    assert len(rows) > 12  # more than one page of 12: two chunks at least
    clock.reach(clock.now + timedelta(days=1))
    return base, rows, start(ctx, env_id, key, full=True)


def dies_before_the_second_chunk(what: str) -> None:
    """A run that dies once it wrote the table's first chunk."""
    if what.startswith("write ") and what.endswith("/account/rows-000001.zz"):
        raise Crash(what)


def test_a_late_run_that_finds_the_point_committed_deletes_what_it_wrote(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    hooked: Callable[[Callable[[str], None]], None],
) -> None:
    """A first run dies after its first chunk; the second writes that chunk beside it, commits
    (deleting the first run's file) and dies before its checkpoint; the third writes the freed
    first chunk, then finds the second chunk's name held by a counted file: the point is
    committed, and the third run deletes the chunk it wrote."""
    _, rows, operation_id = full_copy_a_day_after_a_base(ctx, clock, sim, env_id, "late")
    seen: list[str] = []

    def second(what: str) -> None:
        seen.append(what)
        if what == "before checkpoint" and any("/manifests/" in w for w in seen):
            raise Crash(what)

    writes: list[str] = []
    for hook in (dies_before_the_second_chunk, second):
        hooked(hook)
        with pytest.raises(Crash):
            drive(ctx, clock, operation_id)
    hooked(writes.append)
    done = drive(ctx, clock, operation_id)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert any(w.endswith("/account/rows-000000.zz") for w in writes)  # the freed name, written
    assert unnamed_files(store, env_id, done.point_id or "") == set()
    assert stored_rows(store, env_id, done.point_id or "", "account", "accountid") == rows


def test_a_crash_among_the_deletes_is_made_good_by_the_next_run(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    hooked: Callable[[Callable[[str], None]], None],
) -> None:
    """The run that commits dies before deleting the file it wrote beside; the run after it
    finds the point committed and deletes it."""
    base, rows, operation_id = full_copy_a_day_after_a_base(ctx, clock, sim, env_id,
                                                            "dies-deleting")
    first_chunk: list[str] = []

    def second(what: str) -> None:
        # The chunk's name is met twice: its write (taken: written beside), then its delete.
        if what.startswith("write ") and what.endswith("/account/rows-000000.zz"):
            first_chunk.append(what)
            if len(first_chunk) == 2:
                raise Crash(what)

    for hook in (dies_before_the_second_chunk, second):
        hooked(hook)
        with pytest.raises(Crash):
            drive(ctx, clock, operation_id)
    [point] = [p.point_id for p in store.list_points(env_id) if p.point_id != base.point_id]
    assert unnamed_files(store, env_id, point)  # left by the crash
    hooked(lambda _what: None)
    done = drive(ctx, clock, operation_id)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.point_id == point
    assert unnamed_files(store, env_id, point) == set()
    assert stored_rows(store, env_id, point, "account", "accountid") == rows
