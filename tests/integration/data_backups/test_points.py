"""A full point, then an incremental one after creates, updates and deletes: each reconstructs
exactly the simulator's rows at its time (every column, row by row)."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from typing import Any

import pytest

from data_backups import execute, intake
from data_backups.intake import handle_data_backup_message
from ppbackup.simulator import Simulator
from shared.data_store import DataStore, record_index
from shared.dataverse import DataverseClient
from shared.operations import Operation, OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import (
    PAGE,
    Clock,
    drive,
    live_rows,
    stored_rows,
)

TABLES = {"account": ("accounts", "accountid"), "contact": ("contacts", "contactid")}


def request(ctx: AppContext, env_id: str, request_id: str, *, dequeue_count: int | None = None,
            **extra: object) -> str:
    """A request on the queue; with `dequeue_count` as the queue trigger takes it (its steps run
    in the intake's invocation), else its steps are left to `drive`."""
    body = json.dumps({"environmentId": env_id, "tables": list(TABLES), "requestId": request_id,
                       **extra})
    operation = handle_data_backup_message(ctx, body, message_id=f"m-{request_id}",
                                           dequeue_count=dequeue_count, page_size=PAGE)
    assert operation is not None
    return operation.operation_id


def snapshot(sim: Simulator, env_id: str) -> dict[str, dict[str, object]]:
    return {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}


def point_rows(store: DataStore, env_id: str, done: Operation) -> dict[str, dict[str, object]]:
    """What the operation's point holds of each table, as `snapshot` reads the simulator."""
    return {table: stored_rows(store, env_id, done.point_id or "", table, id_column)
            for table, (_, id_column) in TABLES.items()}


def test_full_then_incremental_points_reconstruct_the_rows(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    before = snapshot(sim, env_id)
    first = drive(ctx, clock, request(ctx, env_id, "first"))
    assert first.status is OperationStatus.SUCCEEDED, first.error
    record = first.to_record()
    assert record["pointId"] and record["pointTime"]
    by_table = {t["table"]: t for t in record["tables"]}
    assert {t: by_table[t]["mode"] for t in TABLES} == {"account": "full", "contact": "full"}
    assert by_table["account"]["rows"] == len(before["account"]) == by_table["account"]["changed"]
    assert all(t["status"] == "Succeeded" and t["bytes"] > 0 for t in record["tables"])
    assert point_rows(store, env_id, first) == before

    accounts = sorted(before["account"])
    created = sim.dataverse_change(env_id, "account", "create", values={"name": "Nouveau ✓"})
    sim.dataverse_change(env_id, "account", "update", accounts[0], {"name": "Renamed"})
    sim.dataverse_change(env_id, "account", "delete", accounts[1])
    sim.dataverse_change(env_id, "contact", "delete", sorted(before["contact"])[0])
    after = snapshot(sim, env_id)
    assert created in after["account"] and accounts[1] not in after["account"]

    clock.reach(clock.now + timedelta(hours=1))
    second = drive(ctx, clock, request(ctx, env_id, "second"))
    assert second.status is OperationStatus.SUCCEEDED, second.error
    by_table = {t["table"]: t for t in second.to_record()["tables"]}
    assert by_table["account"]["mode"] == "incremental"
    assert (by_table["account"]["changed"], by_table["account"]["deleted"]) == (2, 1)
    assert (by_table["contact"]["changed"], by_table["contact"]["deleted"]) == (0, 1)
    for table, (_, id_column) in TABLES.items():
        assert stored_rows(store, env_id, second.point_id or "", table, id_column) == after[table]
        # The earlier point is unchanged by the later one.
        assert stored_rows(store, env_id, first.point_id or "", table, id_column) == before[table]
    points = [p.point_id for p in store.list_points(env_id)]
    assert points == [second.point_id, first.point_id]


def test_a_request_seen_twice_is_one_backup(
    ctx: AppContext, clock: Clock, env_id: str
) -> None:
    one = request(ctx, env_id, "same")
    assert request(ctx, env_id, "same") == one
    assert drive(ctx, clock, one).status is OperationStatus.SUCCEEDED


def test_every_step_delivered_twice_at_once_makes_one_correct_point(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from data_backups.kind import read_state
    from engine.runner import run_steps

    before = snapshot(sim, env_id)
    operation_id = request(ctx, env_id, "twice")
    with ThreadPoolExecutor(2) as pool:
        for _ in range(500):
            stored = ctx.history.get(operation_id)
            if stored.operation.status.terminal:
                break
            state = read_state(stored)
            clock.reach(state.wake_at)
            # Two workers take the same message: one wins each checkpoint, the other stops.
            list(pool.map(lambda seq: run_steps(ctx, operation_id, seq), [state.seq] * 2))
    done = ctx.history.get(operation_id).operation
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert [p.point_id for p in store.list_points(env_id)] == [done.point_id]
    assert point_rows(store, env_id, done) == before


def test_a_step_copies_a_bounded_run_of_pages_reading_the_next_while_writing_the_last(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ROWS=23 at PAGE=7 is 4 pages per table; at 2 pages per step each table takes 2 copy
    steps, and while page n is written the read of page n+1 is already under way."""
    import threading

    from data_backups import copying, execute

    monkeypatch.setattr(copying, "PAGES_PER_STEP", 2)
    before = snapshot(sim, env_id)
    steps: list[dict[str, int]] = []
    copy_pages = execute._copy_pages

    def counted(context: AppContext, command: Any) -> Any:
        answer = copy_pages(context, command)
        assert command.max_pages == 2
        steps.append({table: result.rows for table, result in answer.results.items()})
        return answer

    reads_started = {table: 0 for table in TABLES}
    second_read = {table: threading.Event() for table in TABLES}
    read_page = execute._read_page

    def reading(client: Any, cursor: Any, id_column: str) -> Any:
        table = next(t for t, (entity_set, _) in TABLES.items() if f"/{entity_set}" in cursor.url)
        reads_started[table] += 1
        if reads_started[table] == 2:
            second_read[table].set()
        return read_page(client, cursor, id_column)

    def before_write(name: str) -> None:
        for table in TABLES:
            if f"/{table}/rows-000000" in name:
                # Without the read ahead, page 2 would be asked for only after this write.
                assert second_read[table].wait(timeout=30), f"{table}: no read ahead"

    monkeypatch.setattr(execute, "_copy_pages", counted)
    monkeypatch.setattr(execute, "_read_page", reading)
    monkeypatch.setattr(execute, "store_for",
                        lambda _ctx: DataStore(store.container, before_write=before_write))
    done = drive(ctx, clock, request(ctx, env_id, "bounded"))
    assert done.status is OperationStatus.SUCCEEDED, done.error
    rows = {table: len(before[table]) for table in TABLES}
    assert steps == [{t: 2 * PAGE for t in TABLES}, {t: rows[t] - 2 * PAGE for t in TABLES}]
    for table, (_, id_column) in TABLES.items():
        assert stored_rows(store, env_id, done.point_id or "", table, id_column) == before[table]
        # A step's pages append their index blocks together: per index blob at most one
        # append per step (2), not one per page (4); and every row is found through them.
        chunks: set[str] = set()
        for blob in store.container.list_blobs(name_starts_with=f"{env_id}/index/{table}/"):
            client = store.container.get_blob_client(blob.name)
            appends = client.get_blob_properties().append_blob_committed_block_count
            assert appends is not None and appends <= 2, (blob.name, appends)
            data = client.download_blob().readall()
            chunks |= {b.chunk for b in record_index.decode_blocks(data)}
        assert chunks == {f"rows-{seq:06d}" for seq in range(4)}
        for record_id in before[table]:
            versions = store.record_versions(env_id, table, record_id)
            assert [(v.point_id, v.row) for v in versions] == \
                [(done.point_id, before[table][record_id])]


def dataverse_requests(sim: Simulator) -> int:
    return sum(int(e["count"]) for name, e in sim.stats()["endpoints"].items()
               if name.startswith("dv."))


def test_an_incremental_of_a_few_changes_reads_each_change_once_and_commits_in_its_copy_step(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert drive(ctx, clock, request(ctx, env_id, "base")).status is OperationStatus.SUCCEEDED
    accounts = sorted(snapshot(sim, env_id)["account"])
    sim.dataverse_change(env_id, "account", "update", accounts[0], {"name": "Renamed"})
    sim.dataverse_change(env_id, "contact", "create", values={"lastname": "New"})
    after = snapshot(sim, env_id)
    clock.reach(clock.now + timedelta(hours=1))
    before = dataverse_requests(sim)
    taken: list[object] = []
    take = execute.take_read_ahead
    monkeypatch.setattr(execute, "take_read_ahead",
                        lambda cursor, column: taken.append(take(cursor, column)) or taken[-1])

    second = drive(ctx, clock, request(ctx, env_id, "second"))

    assert second.status is OperationStatus.SUCCEEDED, second.error
    # The metadata, then one delta page per table: the plan step's read-ahead of each page is
    # what the copy step writes, not read a second time.
    assert dataverse_requests(sim) - before == 1 + len(TABLES)
    assert len(taken) == len(TABLES) and None not in taken
    steps = {s.name: s for s in second.steps}
    assert all(steps[n].status.value == "Succeeded" for n in ("plan", "copy", "commit"))
    assert "Nothing to delete" in (steps["retention"].detail or "")
    assert point_rows(store, env_id, second) == after


def test_pages_read_early_from_a_web_api_the_platform_no_longer_names_are_never_used(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
) -> None:
    """The plan asks for the remembered pages before the platform names the environment's Web
    API. Remembered at a URL that is now another environment's (a renamed URL, taken since),
    those reads go there and are wasted: the point is read from the URL the platform names."""
    first = drive(ctx, clock, request(ctx, env_id, "first"))
    assert first.status is OperationStatus.SUCCEEDED, first.error
    other = sim.add_environment("Took the old URL", type="Sandbox")
    here, there = sim.dataverse_url(env_id), sim.dataverse_url(other)
    remember_elsewhere(ctx, env_id, here, there)

    accounts = sorted(snapshot(sim, env_id)["account"])
    sim.dataverse_change(env_id, "account", "update", accounts[0], {"name": "After the move"})
    sim.dataverse_change(other, "account", "update",
                         sorted(live_rows(sim, other, "accounts", "accountid"))[0],
                         {"name": "Not this environment's"})
    after = snapshot(sim, env_id)
    clock.reach(clock.now + timedelta(hours=1))
    before = dataverse_requests(sim)
    second = drive(ctx, clock, request(ctx, env_id, "second"))

    assert second.status is OperationStatus.SUCCEEDED, second.error
    # Read twice over: the other environment's metadata and pages early, then this one's.
    assert dataverse_requests(sim) - before == 2 * (1 + len(TABLES))
    assert tables_changed(store, env_id, second.point_id or "") == {"account": 1, "contact": 0}
    assert point_rows(store, env_id, second) == after
    # And what this process remembers now is the URL the platform named.
    now = execute._resume_of(ctx, env_id)
    assert now is not None and here in now.api_url


def test_with_a_point_remembered_the_platform_is_asked_before_anything_else_is_done(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The queue intake's plan read asks the remembered Web API for its metadata and then the
    likely pages before the plan reads the store or looks the environment up, and before the
    admission is written: on a busy interpreter those would slow the platform's requests. They
    hold back for at most `HEAD_START_SECONDS`; here that is long, so that the order seen is the
    code's and not the machine's."""
    first = drive(ctx, clock, request(ctx, env_id, "first"))
    assert first.status is OperationStatus.SUCCEEDED, first.error
    accounts = sorted(snapshot(sim, env_id)["account"])
    sim.dataverse_change(env_id, "account", "update", accounts[0], {"name": "Renamed"})
    after = snapshot(sim, env_id)
    clock.reach(clock.now + timedelta(hours=1))
    order: list[str] = []
    for module in (execute, intake):
        monkeypatch.setattr(module, "HEAD_START_SECONDS", 60.0)
    _record(monkeypatch, order, execute, "read_ahead", "page")
    _record(monkeypatch, order, execute, "_previous_points", "store")
    _record(monkeypatch, order, intake, "_admit", "admission")
    _record(monkeypatch, order, ctx.platform, "get_environment", "environment")

    second = queue_intake(ctx, env_id, "second")

    assert second.status is OperationStatus.SUCCEEDED, second.error
    assert order[:len(TABLES)] == ["page"] * len(TABLES), order
    assert {"store", "environment", "admission"} <= set(order[len(TABLES):]), order
    assert point_rows(store, env_id, second) == after


def test_a_remembered_web_api_that_does_not_answer_holds_the_backup_back_only_briefly(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The head start is a bound, not a wait for the answer: remembered at a URL where something
    listens and never answers, the metadata asked for there is still unanswered when the
    admission is written and the backup is read from the URL the platform names."""
    first = drive(ctx, clock, request(ctx, env_id, "first"))
    assert first.status is OperationStatus.SUCCEEDED, first.error
    sim.dataverse_change(env_id, "contact", "create", values={"lastname": "Later"})
    after = snapshot(sim, env_id)
    clock.reach(clock.now + timedelta(hours=1))
    here = sim.dataverse_url(env_id)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        there = f"http://127.0.0.1:{silent.getsockname()[1]}/silent"
        remember_elsewhere(ctx, env_id, here, there)
        answered: list[str] = []
        tables = DataverseClient.tables

        def recorded(client: DataverseClient) -> Any:
            try:
                return tables(client)
            finally:
                answered.append(client._root)

        monkeypatch.setattr(DataverseClient, "tables", recorded)
        at_admission: list[list[str]] = []
        _record(monkeypatch, at_admission, intake, "_admit", lambda: list(answered))

        second = queue_intake(ctx, env_id, "second")

        assert second.status is OperationStatus.SUCCEEDED, second.error
        # Held back for the head start, not for the silent URL's answer (there is none).
        [seen] = at_admission
        assert not any(there in url for url in seen)
        assert not any(there in url for url in answered)
    assert tables_changed(store, env_id, second.point_id or "") == {"account": 0, "contact": 1}
    assert point_rows(store, env_id, second) == after


def queue_intake(ctx: AppContext, env_id: str, request_id: str) -> Operation:
    """A request as the queue trigger takes it, and the operation it ran."""
    return ctx.history.get(request(ctx, env_id, request_id, dequeue_count=1)).operation


def _record(monkeypatch: pytest.MonkeyPatch, seen: list[Any], owner: object, name: str,
            what: Any) -> None:
    """`owner.name`, noting `what` (or what it returns) in `seen` each time it is called."""
    original = getattr(owner, name)

    def noted(*args: Any, **kwargs: Any) -> Any:
        seen.append(what() if callable(what) else what)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, noted)


def remember_elsewhere(ctx: AppContext, env_id: str, here: str, there: str) -> None:
    """This process remembers the environment's newest point as read from `there`, not `here`."""
    from dataclasses import replace

    remembered = execute._resume_of(ctx, env_id)
    assert remembered is not None and here in remembered.api_url
    stale = replace(
        remembered, api_url=remembered.api_url.replace(here, there),
        instance_url=remembered.instance_url.replace(here, there),
        links=tuple((t, link.replace(here, there), c) for t, link, c in remembered.links))
    with execute._resumes_lock:
        execute._resumes[execute._resume_key(ctx, env_id)] = stale


def tables_changed(store: DataStore, env_id: str, point_id: str) -> dict[str, int]:
    return {t: e.changed for t, e in store.manifest(env_id, point_id).tables.items()}


def test_where_this_process_left_the_tables_is_a_hint_a_newer_point_elsewhere_overrides(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
) -> None:
    first = drive(ctx, clock, request(ctx, env_id, "first"))
    assert first.status is OperationStatus.SUCCEEDED, first.error
    # The commit left where each table's next read starts: the manifest's delta links.
    manifest = store.manifest(env_id, first.point_id or "")
    remembered = execute._resume_of(ctx, env_id)
    assert remembered is not None
    assert sorted(remembered.links) == sorted(
        (table, str(entry.delta_link), entry.id_column) for table, entry in manifest.tables.items())

    accounts = sorted(snapshot(sim, env_id)["account"])
    sim.dataverse_change(env_id, "account", "update", accounts[0], {"name": "Second"})
    clock.reach(clock.now + timedelta(hours=1))
    second = drive(ctx, clock, request(ctx, env_id, "second"))
    assert second.status is OperationStatus.SUCCEEDED, second.error
    # As if another process had taken the second point: this one still remembers the first.
    with execute._resumes_lock:
        execute._resumes[execute._resume_key(ctx, env_id)] = remembered

    sim.dataverse_change(env_id, "account", "update", accounts[1], {"name": "Third"})
    sim.dataverse_change(env_id, "contact", "create", values={"lastname": "Third"})
    after = snapshot(sim, env_id)
    clock.reach(clock.now + timedelta(hours=1))
    third = drive(ctx, clock, request(ctx, env_id, "third"))

    assert third.status is OperationStatus.SUCCEEDED, third.error
    # Read on top of the store's newest point, not the hint's: only the third point's changes.
    tables = store.manifest(env_id, third.point_id or "").tables
    assert {t: tables[t].chain[-1] for t in TABLES} == {t: second.point_id for t in TABLES}
    assert (tables["account"].changed, tables["contact"].changed) == (1, 1)
    assert point_rows(store, env_id, third) == after


def test_only_a_redelivery_of_the_admitting_message_runs_a_backup_again(
    ctx: AppContext, env_id: str,
) -> None:
    # Admitted by m-twice and left Queued (its step message is the engine's to take).
    operation_id = request(ctx, env_id, "twice")
    body = json.dumps({"environmentId": env_id, "tables": list(TABLES), "requestId": "twice"})

    # A second message with the same request, on its second delivery: not this one's to run.
    handle_data_backup_message(ctx, body, message_id="another", dequeue_count=2, page_size=PAGE)
    assert ctx.history.get(operation_id).operation.status is OperationStatus.QUEUED

    # The admitting message delivered again: its first run failed, so it runs the backup.
    handle_data_backup_message(ctx, body, message_id="m-twice", dequeue_count=2, page_size=PAGE)
    assert ctx.history.get(operation_id).operation.status is OperationStatus.SUCCEEDED
