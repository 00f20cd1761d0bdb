"""A record restore under faults and races (Azurite and the simulator): a row edited between the
plan and its write is a conflict and keeps the edit (a lookup-only update too), rows the platform
refuses are recorded with its message while the others are written, a crash at any checkpoint of
the apply or of the plan never creates a row twice, and a 429 storm is waited out until every row
is written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import count
from typing import Any

import pytest

import shared.dataverse
from data_restores.state import Phase
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.restore_files import RestoreFiles
from shared.operations import Operation, OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock
from tests.integration.data_restores.scenario import (
    accounts_with_contacts,
    as_data,
    creates_per_id,
    delete_again,
    delete_with_children,
    point,
    snapshot,
    through_a_storm,
    until_applying,
)
from tests.integration.data_restores.test_record_restore import drive, start

PAGE = 50


class Crash(RuntimeError):
    pass


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Sales", type="Sandbox", location="europe")


def test_a_row_edited_between_plan_and_apply_is_a_conflict_and_keeps_the_edit(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 1))
    kept = sorted(set(at_point["account"]) - {i for _, i in gone})
    raced, recreated, plain = kept[:3]
    for record_id in (raced, plain):
        sim.dataverse_change(env_id, "account", "update", record_id, {"name": "Imported"})
    sim.dataverse_change(env_id, "account", "delete", recreated)

    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id, mode="all",
                         with_related=True, apply=True)
    until_applying(ctx, clock, operation_id)
    # Planned: `raced` to get its name back, `recreated` to be created. Meanwhile a person edits
    # the first in another column, and makes a row with the second's id.
    sim.dataverse_change(env_id, "account", "update", raced, {"telephone1": "+1-555-7777"})
    sim.dataverse_change(env_id, "account", "create", recreated, {"name": "Made by a person"})
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.NEEDS_ATTENTION
    assert done.error is not None and done.error.code == "RowsNotRestored"
    assert "2 row(s) changed in the target since the plan" in done.error.message
    assert "conflicts" in done.error.message
    assert done.applied is not None
    account = done.applied["tables"]["account"]
    assert account["conflict"] == 2
    assert account["update"] == 1, "the other edited row is put back"
    assert account["create"] == sum(1 for t, _ in gone if t == "account")
    assert done.applied["total"]["create"] == len(gone)
    now = snapshot(sim, env_id)["account"]
    assert now[raced]["name"] == "Imported", "not overwritten"
    assert now[raced]["telephone1"] == "+1-555-7777", "the person's edit stays"
    assert now[recreated]["name"] == "Made by a person"
    assert now[plain]["name"] == at_point["account"][plain]["name"]
    written = {(w["row_id"], w["action"]) for w in sim.dataverse_writes(env_id)}
    assert (raced, "update") not in written and (recreated, "create") not in written
    outcomes = {i: o for batch in RestoreFiles(store, operation_id).outcomes()
                for i, o in batch.items()}
    assert {i for i, o in outcomes.items() if o["action"] == "conflict"} == {raced, recreated}
    assert "changed in the target after the plan" in outcomes[raced]["message"]
    assert "exists in the target" in outcomes[recreated]["message"]


def test_a_lookup_to_put_back_on_a_row_edited_since_the_plan_is_a_conflict(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    contact, row = next((i, r) for i, r in sorted(at_point["contact"].items())
                        if r["_parentcustomerid_value"] in at_point["account"])
    elsewhere = next(a for a in sorted(at_point["account"]) if a != row["_parentcustomerid_value"])
    sim.dataverse_change(env_id, "contact", "update", contact,
                         {"parentcustomerid": {"table": "account", "id": elsewhere}})
    operation_id = start(ctx, env_id, tables=("contact",), point_id=point_id, mode="changed",
                         apply=True)
    until_applying(ctx, clock, operation_id)
    # Planned: only the lookup goes back. Meanwhile a person edits the contact's phone.
    sim.dataverse_change(env_id, "contact", "update", contact, {"telephone1": "+44-20-0000000"})
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.applied
    assert done.applied is not None
    assert done.applied["tables"]["contact"]["conflict"] == 1
    assert done.applied["tables"]["contact"]["update"] == 0, "nothing was written"
    assert sim.dataverse_writes(env_id) == []
    now = snapshot(sim, env_id)["contact"][contact]
    assert now["_parentcustomerid_value"] == elsewhere
    assert now["telephone1"] == "+44-20-0000000"
    outcomes = {i: o for batch in RestoreFiles(store, operation_id).outcomes()
                for i, o in batch.items()}
    assert outcomes[contact]["action"] == "conflict"


def test_rows_the_platform_refuses_are_recorded_with_its_message_and_the_others_written(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 3))
    notes = {i for t, i in gone if t == "annotation"}
    assert notes and len(notes) < len(gone)
    # An admin took the app user's right to create notes: every note's create fails.
    sim.dataverse_revoke(env_id, "annotation", "Create")
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True)
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.error
    assert done.error is not None and f"{len(notes)} could not be written" in done.error.message
    assert done.applied is not None
    assert done.applied["tables"]["annotation"]["failed"] == len(notes)
    assert done.applied["tables"]["annotation"]["create"] == 0
    assert done.applied["total"]["create"] == len(gone) - len(notes)
    now = as_data(snapshot(sim, env_id))
    expected = as_data(at_point)
    for note in notes:
        expected["annotation"].pop(note)
    assert now == expected, "every other row is back"
    outcomes = {i: o for batch in RestoreFiles(store, operation_id).outcomes()
                for i, o in batch.items()}
    assert set(outcomes) == notes
    for outcome in outcomes.values():
        assert outcome["action"] == "failed" and outcome["table"] == "annotation"
        # The platform's own words: its code, and the privilege it says is missing.
        assert outcome["message"].startswith("403 0x80040220"), outcome["message"]
        assert "prvCreateannotation" in outcome["message"]


def test_each_pass_reads_the_outcomes_of_those_before_once(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 4))
    notes = {i for t, i in gone if t == "annotation"}
    sim.dataverse_revoke(env_id, "annotation", "Create")  # the first pass records failures
    steps: list[str] = []
    reads: list[str] = []
    stage, outcomes = RestoreFiles.stage, RestoreFiles.outcomes

    def stage_read(files: RestoreFiles, number: int) -> dict[str, Any]:
        value = stage(files, number)
        steps.append(str(value["pass"]))  # once per apply step
        return value

    def outcomes_read(files: RestoreFiles) -> Iterator[dict[str, Any]]:
        reads.append("outcomes")
        return outcomes(files)

    monkeypatch.setattr(RestoreFiles, "stage", stage_read)
    monkeypatch.setattr(RestoreFiles, "outcomes", outcomes_read)
    # Batches of two rows: the later passes (a parent account's link, inactive rows' states)
    # take several steps.
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True, batch_size=2)
    done = drive(ctx, clock, operation_id)

    assert done.status is OperationStatus.NEEDS_ATTENTION, done.error
    assert done.applied is not None
    assert done.applied["tables"]["annotation"]["failed"] == len(notes)
    later = [p for p in steps if p in ("references", "states")]
    assert len(later) >= 3, steps
    assert reads == ["outcomes"] * 3, "read once per pass after the bin stage, not once per step"
    assert as_data(snapshot(sim, env_id))["account"] == as_data(at_point)["account"]


@pytest.fixture
def hooked(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Callable[[str], None]], None]:
    """Install `hook(what)`, called around every checkpoint and after every batch of writes was
    sent (its answer then lost with the crash)."""
    current: list[Callable[[str], None]] = [lambda _what: None]
    update = ctx.history.update
    send = shared.dataverse.write_batch

    def checkpoint(*args: Any, **kwargs: Any) -> Any:
        current[0]("before checkpoint")
        result = update(*args, **kwargs)
        current[0]("after checkpoint")
        return result

    def write_batch(*args: Any, **kwargs: Any) -> Any:
        answers = send(*args, **kwargs)
        current[0]("after a batch was sent")
        return answers

    monkeypatch.setattr(ctx.history, "update", checkpoint)
    monkeypatch.setattr(shared.dataverse, "write_batch", write_batch)
    return lambda hook: current.__setitem__(0, hook)


def test_a_crash_at_any_checkpoint_of_an_apply_never_creates_a_row_twice(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    hooked: Callable[[Callable[[str], None]], None],
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 1))
    assert {t for t, _ in gone} == {"account", "contact", "annotation"}
    per_table = {t: sum(1 for g, _ in gone if g == t) for t in at_point}
    edited = sorted(set(at_point["account"]) - {i for _, i in gone})[:2]

    def restore(run: str) -> str:
        """An import deleted `gone` (again) and renamed the `edited` accounts: restore all."""
        for record_id in edited:
            sim.dataverse_change(env_id, "account", "update", record_id,
                                 {"name": f"Imported {run}"})
        operation_id = start(ctx, env_id, tables=("account",), point_id=point_id, mode="all",
                             with_related=True, apply=True)
        until_applying(ctx, clock, operation_id)
        return operation_id

    seen: list[str] = []
    operation_id = restore("clean")
    hooked(seen.append)
    clean = drive(ctx, clock, operation_id)
    hooked(lambda _what: None)
    assert clean.status is OperationStatus.SUCCEEDED, clean.error
    assert seen.count("after a batch was sent") >= 3, "rows, references and states passes"
    total = len(seen)

    for crash_at in range(total):
        delete_again(sim, env_id, gone)
        log_start = len(sim.dataverse_writes(env_id))
        operation_id = restore(str(crash_at))
        counter = count()

        def crash(what: str, crash_at: int = crash_at, counter: Iterator[int] = counter) -> None:
            if next(counter) == crash_at:
                raise Crash(what)

        hooked(crash)
        with pytest.raises(Crash):
            drive(ctx, clock, operation_id)
        hooked(lambda _what: None)
        done = drive(ctx, clock, operation_id)

        where = f"crash {crash_at} ({seen[crash_at]})"
        assert done.status is OperationStatus.SUCCEEDED, (where, done.error)
        assert done.applied is not None
        for table, rows in per_table.items():
            assert done.applied["tables"][table]["create"] == rows, (where, table)
        # An update sent again meets its own write (412 on the old ETag): counted once, no
        # conflict.
        assert done.applied["total"]["update"] == len(edited), where
        assert done.applied["total"]["conflict"] == 0, where
        made = creates_per_id(sim.dataverse_writes(env_id)[log_start:])
        assert set(made) == gone, where
        assert set(made.values()) == {1}, (where, "a row created twice")
        assert as_data(snapshot(sim, env_id)) == as_data(at_point), where


def test_a_429_storm_during_the_apply_is_waited_out_until_every_row_is_written(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 3))
    operation_id = start(ctx, env_id, tables=("account",), point_id=point_id,
                         with_related=True, apply=True)
    until_applying(ctx, clock, operation_id)

    done, throttled, waits = through_a_storm(ctx, clock, sim, operation_id)

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert throttled >= 3, "the storm throttled the apply"
    assert len(waits) >= 3 and min(waits) >= 29, "each 429 waited its Retry-After"
    assert done.applied is not None and done.applied["total"]["create"] == len(gone)
    made = creates_per_id(sim.dataverse_writes(env_id))
    assert set(made) == gone and set(made.values()) == {1}
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)


@pytest.fixture
def hooked_plan(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> Callable[[Callable[[str], None]], None]:
    """Install `hook(what)`, called around every checkpoint and before every write of the
    restore's files, until the plan is laid out (the phase is Applying)."""
    current: list[Callable[[str], None]] = [lambda _what: None]
    planning = [True]
    update = ctx.history.update

    def hook(what: str) -> None:
        if planning[0]:
            current[0](what)

    def checkpoint(*args: Any, **kwargs: Any) -> Any:
        hook("before checkpoint")
        result = update(*args, **kwargs)
        planning[0] = kwargs.get("internal", {}).get("phase") not in (
            Phase.APPLYING.value, Phase.SUCCEEDED.value)
        hook("after checkpoint")
        return result

    monkeypatch.setattr(ctx.history, "update", checkpoint)
    # The restore's own files are written straight to the container, not through the store's
    # before_write: hook their two writers.
    for writer in ("_put_rows", "_put_json"):
        real = getattr(RestoreFiles, writer)

        def write(files: RestoreFiles, name: str, value: Any, real: Any = real) -> Any:
            hook(f"write {name}")
            return real(files, name, value)

        monkeypatch.setattr(RestoreFiles, writer, write)

    def install(new: Callable[[str], None]) -> None:
        planning[0] = True
        current[0] = new

    return install


def test_a_crash_at_any_checkpoint_of_the_plan_resumes_to_the_same_plan_and_restore(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str,
    hooked_plan: Callable[[Callable[[str], None]], None],
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    gone = delete_with_children(sim, env_id, at_point, accounts_with_contacts(at_point, 1))

    def restore() -> str:
        return start(ctx, env_id, tables=("account",), point_id=point_id, with_related=True,
                     apply=True)

    seen: list[str] = []
    hooked_plan(seen.append)
    clean: Operation = drive(ctx, clock, restore())
    assert clean.status is OperationStatus.SUCCEEDED, clean.error
    for file in ("plan/", "related.json", "diff/", "writes/"):
        assert any(w.startswith(f"write {file}") for w in seen), file
    assert "after checkpoint" in seen

    for crash_at in range(len(seen)):
        delete_again(sim, env_id, gone)
        log_start = len(sim.dataverse_writes(env_id))
        counter = count()

        def crash(what: str, crash_at: int = crash_at, counter: Iterator[int] = counter) -> None:
            if next(counter) == crash_at:
                raise Crash(what)

        operation_id = restore()
        hooked_plan(crash)
        with pytest.raises(Crash):
            drive(ctx, clock, operation_id)
        hooked_plan(lambda _what: None)
        done = drive(ctx, clock, operation_id)

        where = f"crash {crash_at} ({seen[crash_at]})"
        assert done.status is OperationStatus.SUCCEEDED, (where, done.error)
        assert done.plan == clean.plan, where
        assert done.applied == clean.applied, where
        made = creates_per_id(sim.dataverse_writes(env_id)[log_start:])
        assert set(made) == gone and set(made.values()) == {1}, where
        assert as_data(snapshot(sim, env_id)) == as_data(at_point), where
