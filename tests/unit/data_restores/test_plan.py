"""The record restore plan: what each row needs, under each mode, with related rows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_restores.counts import ACTIONS
from data_restores.plan import Reference, RestorePlan, diff_table, plan_restore
from data_restores.schema import Schema, TableShape
from shared.dataverse.metadata import ColumnInfo
from tests.unit.data_restores.model import (
    ACCOUNT,
    SCHEMA,
    USER,
    Row,
    Side,
    account,
    contact,
    gid,
    lookup,
    note,
)

TABLES = ["account", "contact", "annotation"]


def plan(point: Side, target: Side, tables: list[str], **kw: Any) -> RestorePlan:
    args: dict[str, Any] = {"mode": "missing", "record_ids": None, "with_related": False,
                            "schema": SCHEMA}
    args.update(kw)
    return plan_restore(
        tables=tables, point_tables=TABLES, read_point=point.read,
        read_target=target.read, exists=target.has, **args,
    )


def crm(accounts: int, kept: int) -> tuple[Side, Side]:
    """`accounts` accounts, each with two contacts, a note on it and one on each contact; the
    target has lost all but the first `kept` accounts with their contacts and notes."""
    rows: dict[str, list[Row]] = {t: [] for t in TABLES}
    for n in range(accounts):
        a = account(n)
        rows["account"].append(a)
        rows["annotation"].append(note(3 * n, ("account", a["accountid"])))
        for k in (0, 1):
            c = contact(2 * n + k, ("account", a["accountid"]))
            rows["contact"].append(c)
            rows["annotation"].append(note(3 * n + 1 + k, ("contact", c["contactid"])))
    keep_accounts = {gid(1, n) for n in range(kept)}
    keep_contacts = {gid(2, 2 * n + k) for n in range(kept) for k in (0, 1)}
    keep = keep_accounts | keep_contacts
    now = {
        "account": [r for r in rows["account"] if r["accountid"] in keep_accounts],
        "contact": [r for r in rows["contact"] if r["contactid"] in keep_contacts],
        "annotation": [r for r in rows["annotation"] if r["_objectid_value"] in keep],
    }
    return Side(rows), Side(now)


def test_deleted_accounts_come_back_with_their_contacts_and_notes() -> None:
    point, target = crm(1050, kept=50)
    result = plan(point, target, ["account"], with_related=True)
    counts = result.counts
    assert counts["tables"]["account"] == {**dict.fromkeys(ACTIONS, 0), "create": 1000,
                                           "unchanged": 50}
    assert counts["tables"]["contact"]["create"] == 2000
    assert counts["tables"]["annotation"]["create"] == 3000
    assert counts["total"]["create"] == 6000
    assert counts["total"]["notRestorable"] == 0
    created = {(p.table, p.record_id) for p in result.rows if p.action == "create"}
    deleted = {(t, i) for t in TABLES for i in point.ids(t) - target.ids(t)}
    assert created == deleted
    first = next(p for p in result.rows if p.record_id == gid(1, 60))
    assert first.values == {"name": "Account 60", "revenue": 60.0, "statuscode": 1}
    assert first.references == (Reference("ownerid", "systemuser", USER),)
    assert "createdon" not in first.values and "versionnumber" not in first.values
    c = next(p for p in result.rows if p.record_id == gid(2, 120))
    assert c.references[0] == Reference("parentcustomerid", "account", gid(1, 60))


def test_without_related_only_the_chosen_table_is_planned() -> None:
    point, target = crm(30, kept=10)
    result = plan(point, target, ["account"])
    assert set(result.counts["tables"]) == {"account"}
    assert result.counts["total"]["create"] == 20


def test_related_rows_are_found_at_any_depth_for_chosen_ids() -> None:
    point, target = crm(5, kept=0)
    chosen = gid(1, 3)
    result = plan(point, target, ["account"], record_ids=[chosen.upper()], with_related=True)
    tables = result.counts["tables"]
    assert tables["account"]["create"] == 1
    assert tables["contact"]["create"] == 2
    # the note on the account and the notes on its contacts (depth 2)
    assert tables["annotation"]["create"] == 3
    notes = {p.record_id for p in result.rows if p.table == "annotation"}
    assert notes == {gid(3, 9), gid(3, 10), gid(3, 11)}


def test_changed_mode_writes_only_the_columns_that_differ_under_the_etag_read() -> None:
    before = account(1, telephone1="555-0100")
    now = dict(before, name="Renamed", revenue=1.0, versionnumber=99)
    now["@odata.etag"] = 'W/"777"'
    same = account(2)
    point, target = Side({"account": [before, same]}), Side({"account": [now, same]})
    result = plan(point, target, ["account"], mode="changed")
    (update,) = result.rows
    assert update.action == "update"
    assert update.values == {"name": "Account 1"}
    assert update.before == {"name": "Renamed"}
    assert update.references == () and update.state is None
    assert update.etag == 'W/"777"'
    assert result.counts["tables"]["account"]["unchanged"] == 1


def test_changed_mode_ignores_missing_rows_and_missing_mode_ignores_changed_ones() -> None:
    gone, edited = account(1), account(2)
    target = Side({"account": [dict(edited, name="x")]})
    point = Side({"account": [gone, edited]})
    changed = plan(point, target, ["account"], mode="changed")
    assert [p.action for p in changed.rows] == ["update"]
    missing = plan(point, target, ["account"], mode="missing")
    assert [p.action for p in missing.rows] == ["create"]
    both = plan(point, target, ["account"], mode="all")
    assert sorted(p.action for p in both.rows) == ["create", "update"]


def test_a_changed_lookup_and_state_are_put_back() -> None:
    parent = account(9)
    was = account(1, parent=parent["accountid"], statecode=1, statuscode=2)
    now = account(1, statecode=0, statuscode=1)
    point, target = Side({"account": [parent, was]}), Side({"account": [parent, now]})
    (update,) = plan(point, target, ["account"], mode="changed").rows
    assert update.references == (Reference("parentaccountid", "account", parent["accountid"]),)
    assert update.state == (1, 2)
    assert update.before == {"_parentaccountid_value": None, "statecode": 0, "statuscode": 1}


def test_a_lookup_cleared_since_the_point_is_set_again_and_one_set_since_is_cleared() -> None:
    parent = account(9)
    was = account(1)
    now = account(1, parent=parent["accountid"])
    point, target = Side({"account": [parent, was]}), Side({"account": [parent, now]})
    (update,) = plan(point, target, ["account"], mode="changed").rows
    assert update.references == (Reference("parentaccountid", "account", None),)


def test_a_column_gone_from_the_target_makes_the_row_not_restorable_when_it_held_a_value() -> None:
    lost = account(1, new_oldfield="kept at the point")
    empty = account(2, new_oldfield=None)
    result = plan(Side({"account": [lost, empty]}), Side({}), ["account"])
    by_id = {p.record_id: p for p in result.rows}
    assert by_id[gid(1, 1)].action == "notRestorable"
    assert by_id[gid(1, 1)].reasons == ("column new_oldfield no longer exists in account",)
    assert by_id[gid(1, 2)].action == "create"


def test_a_column_added_to_the_target_after_the_point_is_left_as_it_is() -> None:
    # The point cannot know a column made since: its value now is kept, not cleared.
    was = account(1)
    now = dict(was, name="Renamed", new_region="EMEA", versionnumber=99)
    untouched = account(2)
    filled = dict(untouched, new_region="APAC", versionnumber=98)
    grown = TableShape(ACCOUNT.info, (*ACCOUNT.columns, ColumnInfo(
        "new_region", "String", False, True, True, True, None)), ACCOUNT.relationships)
    schema = Schema({**SCHEMA.tables, "account": grown}, SCHEMA.entity_sets)
    point = Side({"account": [was, untouched]})
    target = Side({"account": [now, filled]})
    result = plan(point, target, ["account"], mode="changed", schema=schema)
    (update,) = result.rows
    assert update.record_id == gid(1, 1)
    assert update.values == {"name": "Account 1"}
    assert update.before == {"name": "Renamed"}
    assert result.counts["tables"]["account"]["unchanged"] == 1


def test_a_lookup_to_a_gone_row_not_being_restored_is_not_restorable_and_so_are_its_children(
) -> None:
    point, target = crm(3, kept=0)
    result = plan(point, target, ["contact"], with_related=True)
    contacts = [p for p in result.rows if p.table == "contact"]
    assert {p.action for p in contacts} == {"notRestorable"}
    assert contacts[0].reasons[0].startswith("lookup parentcustomerid points to account ")
    assert contacts[0].reasons[0].endswith("which is gone and is not being restored")
    notes = [p for p in result.rows if p.table == "annotation"]
    assert len(notes) == 6 and {p.action for p in notes} == {"notRestorable"}
    assert result.counts["total"]["notRestorable"] == 12


def test_an_owner_that_no_longer_exists_is_left_out_with_a_note() -> None:
    gone_user = gid(9, 1)
    row = lookup(account(1), "ownerid", "systemuser", gone_user)
    (create,) = plan(Side({"account": [row]}), Side({}), ["account"]).rows
    assert create.action == "create"
    assert create.references == ()
    assert create.notes == (f"owner systemuser {gone_user} no longer exists; left out",)


def test_an_update_whose_only_change_is_an_owner_that_no_longer_exists_writes_nothing() -> None:
    # The owner cannot be put back and nothing else differs: no update is planned (nor counted
    # as one the apply then never writes); the diff says why the row stays as it is.
    gone_user = gid(9, 1)
    was = lookup(account(1), "ownerid", "systemuser", gone_user)
    now = dict(account(1), versionnumber=99)
    result = plan(Side({"account": [was]}), Side({"account": [now]}), ["account"],
                  mode="changed")
    (row,) = result.rows
    assert row.action == "notRestorable"
    assert row.reasons == (f"owner systemuser {gone_user} no longer exists; the row is left as it "
                           "is",)
    assert result.counts["tables"]["account"]["update"] == 0


def test_rows_made_after_the_point_are_never_touched() -> None:
    newer = account(5)
    result = plan(Side({"account": []}), Side({"account": [newer]}), ["account"], mode="all")
    assert result.rows == [] and result.counts["total"] == dict.fromkeys(ACTIONS, 0)


def test_unsorted_input_and_an_unknown_mode_are_refused() -> None:
    rows = sorted([account(1), account(2)], key=lambda r: r["accountid"], reverse=True)
    from data_restores.plan import guid_order

    if guid_order(rows[0]["accountid"]) < guid_order(rows[1]["accountid"]):
        rows.reverse()
    with pytest.raises(ValueError, match="not sorted by id"):
        list(diff_table(ACCOUNT, SCHEMA, rows, [], mode="missing"))
    with pytest.raises(ValueError, match="mode must be one of"):
        list(diff_table(ACCOUNT, SCHEMA, [], [], mode="some"))  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["same", "edited", "gone"])),
             unique_by=lambda t: t[0], max_size=30),
    st.lists(st.integers(100, 140), unique=True, max_size=5),
    st.sampled_from(["missing", "changed", "all"]),
)
def test_the_sorted_merge_classifies_every_row_as_a_lookup_by_id_would(
    rows: list[tuple[int, str]], newer: list[int], mode: str
) -> None:
    point = [account(n) for n, _ in rows]
    now = [dict(account(n), name="edited") if fate == "edited" else account(n)
           for n, fate in rows if fate != "gone"] + [account(n) for n in newer]
    target = Side({"account": now})
    by_id = {r["accountid"]: r for r in now}
    got = {p.record_id: p.action
           for p in diff_table(ACCOUNT, SCHEMA, Side({"account": point}).read("account"),
                               target.read("account"), mode=mode)}  # type: ignore[arg-type]
    expected: dict[str, str] = {}
    for row in point:
        there = by_id.get(row["accountid"])
        if there is None:
            if mode != "changed":
                expected[row["accountid"]] = "create"
        elif mode == "missing" or there == row:
            expected[row["accountid"]] = "unchanged"
        else:
            expected[row["accountid"]] = "update"
    assert got == expected
