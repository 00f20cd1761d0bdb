"""A plan made from a real data backup point (Azurite) against the simulator's Dataverse: an
account deleted with its contacts and notes comes back as creates, an edited one as an update of
only what changed, and the writes put every parent first."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pytest

from data_backups.intake import handle_data_backup_message
from data_restores.apply_order import write_stages
from data_restores.plan import guid_order, plan_restore
from data_restores.schema import Schema, TableShape
from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.point_units import PointUnits
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import PAGE, Clock, dataverse, drive, live_rows

TABLES = {"account": ("accounts", "accountid"), "contact": ("contacts", "contactid"),
          "annotation": ("annotations", "annotationid")}


def _sorted(rows: Iterable[dict[str, Any]], id_column: str) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: guid_order(r[id_column]))


def make_point(ctx: AppContext, clock: Clock, env_id: str, tables: list[str]) -> str:
    body = json.dumps({"environmentId": env_id, "tables": tables, "requestId": "point"})
    operation = handle_data_backup_message(ctx, body, message_id="m-point", page_size=PAGE)
    assert operation is not None
    done = drive(ctx, clock, operation.operation_id)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    return done.point_id or ""


def target_schema(sim: Simulator, env_id: str, tables: Iterable[str]) -> Schema:
    with dataverse(sim, env_id) as client:
        return Schema(
            {t: TableShape(client.table(t), tuple(client.columns(t)),
                           tuple(client.lookup_relationships(t))) for t in tables},
            {t.logical_name: t.entity_set for t in client.tables() if t.entity_set},
        )


def test_a_deleted_account_with_its_contacts_and_notes_and_an_edited_one(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = make_point(ctx, clock, env_id, list(TABLES))
    at_point = {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}

    # An import deletes one account, the contacts under it (at any depth) and their notes.
    gone_account = next(
        r["_parentcustomerid_value"] for _, r in sorted(at_point["contact"].items())
        if r.get("_parentcustomerid_value") in at_point["account"])
    edited = next(i for i in sorted(at_point["account"]) if i != gone_account)
    gone = {("account", gone_account)}
    grew = True
    while grew:
        grew = False
        for table in ("contact", "annotation"):
            for record_id, row in at_point[table].items():
                key = "_parentcustomerid_value" if table == "contact" else "_objectid_value"
                parent = row.get(key)
                if (table, record_id) not in gone and any(parent == i for _, i in gone):
                    gone.add((table, record_id))
                    grew = True
    assert any(t == "contact" for t, _ in gone), "the seed gives the account a contact"
    for table in ("annotation", "contact", "account"):
        for t, record_id in sorted(gone):
            if t == table:
                sim.dataverse_change(env_id, table, "delete", record_id)
    sim.dataverse_change(env_id, "account", "update", edited, {"name": "Renamed by an import"})

    now = {t: live_rows(sim, env_id, s, i) for t, (s, i) in TABLES.items()}
    schema = target_schema(sim, env_id, TABLES)
    owners = {t: live_rows(sim, env_id, schema.entity_sets[t], f"{t}id")
              for t in ("systemuser", "team")}

    def exists(table: str, record_id: str) -> bool:
        rows = now.get(table) or owners.get(table) or {}
        return record_id in {i.lower() for i in rows}

    result = plan_restore(
        tables=["account"], mode="all", record_ids=None, with_related=True, schema=schema,
        point_tables=list(TABLES),
        read_point=lambda t: _sorted(store.read_table(env_id, point_id, t), TABLES[t][1]),
        read_target=lambda t: _sorted(now[t].values(), TABLES[t][1]),
        exists=exists,
    )
    created = {(p.table, p.record_id) for p in result.rows if p.action == "create"}
    assert created == {(t, i.lower()) for t, i in gone}
    (update,) = [p for p in result.rows if p.action == "update"]
    assert (update.table, update.record_id) == ("account", edited.lower())
    assert update.values == {"name": at_point["account"][edited]["name"]}
    assert update.before == {"name": "Renamed by an import"}
    assert update.etag == now["account"][edited]["@odata.etag"]
    counts = result.counts
    assert counts["total"]["notRestorable"] == 0
    assert counts["tables"]["account"]["unchanged"] == len(at_point["account"]) - 2
    for plan in result.rows:
        if plan.action == "create":
            row = at_point[plan.table][next(i for i in at_point[plan.table]
                                            if i.lower() == plan.record_id)]
            assert all(row[k] == v for k, v in plan.values.items() if k != "statuscode")

    stages = write_stages(result.rows, schema)
    order = [s.table for s in stages if s.pass_name == "rows"]
    assert order.index("account") < order.index("contact") < order.index("annotation")
    assert sim.dataverse_writes(env_id) == [], "a plan writes nothing"


def test_rows_that_held_a_column_the_target_no_longer_has_are_not_restorable(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = make_point(ctx, clock, env_id, ["account"])
    at_point = live_rows(sim, env_id, "accounts", "accountid")
    gone = sorted(at_point)[:2]
    for record_id in gone:
        sim.dataverse_change(env_id, "account", "delete", record_id)
    sim.dataverse_remove_column(env_id, "account", "telephone1")
    now = live_rows(sim, env_id, "accounts", "accountid")
    result = plan_restore(
        tables=["account"], mode="missing", record_ids=None, with_related=False,
        schema=target_schema(sim, env_id, ["account"]), point_tables=["account"],
        read_point=lambda t: _sorted(store.read_table(env_id, point_id, t), "accountid"),
        read_target=lambda t: _sorted(now.values(), "accountid"),
        exists=lambda t, i: True,
    )
    assert {p.record_id: p.action for p in result.rows} == dict.fromkeys(gone, "notRestorable")
    assert {p.reasons for p in result.rows} == {
        ("column telephone1 no longer exists in account",)}
    assert result.counts["total"]["notRestorable"] == 2
    assert result.counts["total"]["unchanged"] == len(now)


def test_a_point_is_counted_in_units_from_its_manifests_alone(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Validating counts the units of every table of the point; reading their increments' rows
    # for it was work without bound in one step (and a bad file of any table stopped it).
    make_point(ctx, clock, env_id, list(TABLES))
    accounts = sorted(live_rows(sim, env_id, "accounts", "accountid"))
    sim.dataverse_change(env_id, "account", "update", accounts[0], {"name": "Renamed"})
    sim.dataverse_change(env_id, "account", "delete", accounts[1])
    body = json.dumps({"environmentId": env_id, "tables": list(TABLES), "requestId": "inc"})
    operation = handle_data_backup_message(ctx, body, message_id="m-inc", page_size=PAGE)
    assert operation is not None
    done = drive(ctx, clock, operation.operation_id)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    incremental = done.point_id or ""
    assert store.manifest(env_id, incremental).tables["account"].chain, "an incremental point"

    reads: list[str] = []
    read = PointUnits._read

    def counted(units: PointUnits, table: str, point_id: str, f: Any) -> bytes:
        reads.append(f"{point_id}/{table}/{f.name}")
        return read(units, table, point_id, f)

    monkeypatch.setattr(PointUnits, "_read", counted)
    units = PointUnits(store, env_id, incremental)
    counts = {t: units.count(t) for t in TABLES}
    assert reads == []
    for table, (_, id_column) in TABLES.items():
        rows = [r for u in range(counts[table]) for r in units.rows(table, u)]
        expected = list(store.read_table(env_id, incremental, table))
        assert sorted(r[id_column] for r in rows) == sorted(r[id_column] for r in expected)
        assert _sorted(rows, id_column) == _sorted(expected, id_column)
