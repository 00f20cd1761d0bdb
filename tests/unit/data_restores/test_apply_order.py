"""The apply order: conditional writes, parents first, self references in a second pass."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_restores.apply_order import BATCH_SIZE, Stage, Write, table_order, write_stages
from data_restores.counts import ACTIONS
from data_restores.plan import RowPlan, plan_restore
from tests.unit.data_restores.model import (
    SCHEMA,
    USER,
    Row,
    Side,
    account,
    contact,
    gid,
    note,
)

TABLES = ["account", "contact", "annotation"]


def stages_of(point: Side, target: Side, tables: list[str], **kw: Any) -> tuple[list[RowPlan],
                                                                                list[Stage]]:
    args: dict[str, Any] = {"mode": "missing", "record_ids": None, "with_related": True}
    args.update(kw)
    result = plan_restore(
        tables=tables, schema=SCHEMA, point_tables=TABLES, read_point=point.read,
        read_target=target.read, exists=target.has, **args,
    )
    return result.rows, write_stages(result.rows, SCHEMA)


def writes(stages: list[Stage]) -> list[tuple[int, Any]]:
    return [(n, w) for n, s in enumerate(stages) for b in s.batches for w in b]


def test_a_parent_account_and_its_child_restore_in_two_passes() -> None:
    parent = account(1)
    child = account(2, parent=parent["accountid"])
    _, stages = stages_of(Side({"account": [parent, child]}), Side({}), ["account"])
    assert [(s.pass_name, s.table) for s in stages] == [("rows", "account"),
                                                        ("references", "account")]
    created = {w.record_id: w for w in stages[0].batches[0]}
    assert set(created) == {parent["accountid"], child["accountid"]}
    assert all(w.headers == {"If-None-Match": "*"} for w in created.values())
    assert "parentaccountid@odata.bind" not in created[child["accountid"]].body
    assert created[child["accountid"]].body["ownerid@odata.bind"] == f"/systemusers({USER})"
    assert created[child["accountid"]].url == f"accounts({child['accountid']})"
    (second,) = stages[1].batches[0]
    assert second.record_id == child["accountid"]
    assert second.headers == {"If-Match": "*"}
    assert second.body == {"parentaccountid@odata.bind": f"/accounts({parent['accountid']})"}


def test_a_child_of_a_parent_that_still_exists_is_written_in_one_pass() -> None:
    parent = account(1)
    child = account(2, parent=parent["accountid"])
    _, stages = stages_of(Side({"account": [parent, child]}), Side({"account": [parent]}),
                          ["account"])
    assert [(s.pass_name, s.table) for s in stages] == [("rows", "account")]
    (write,) = stages[0].batches[0]
    assert write.body["parentaccountid@odata.bind"] == f"/accounts({parent['accountid']})"


def test_an_update_carries_the_etag_read_and_an_inactive_row_is_deactivated_last() -> None:
    was = account(1, name="Old")
    now = dict(account(1, name="New"), **{"@odata.etag": 'W/"42"'})
    inactive = account(2, statecode=1, statuscode=2)
    _, stages = stages_of(Side({"account": [was, inactive]}), Side({"account": [now]}),
                             ["account"], mode="all")
    assert [(s.pass_name, s.table) for s in stages] == [("rows", "account"),
                                                        ("states", "account")]
    first = {w.record_id: w for w in stages[0].batches[0]}
    assert first[was["accountid"]].headers == {"If-Match": 'W/"42"'}
    assert first[was["accountid"]].body == {"name": "Old"}
    assert "statecode" not in first[inactive["accountid"]].body
    (state,) = stages[1].batches[0]
    assert state.record_id == inactive["accountid"]
    assert state.body == {"statecode": 1, "statuscode": 2} and state.headers == {"If-Match": "*"}


def test_contacts_and_notes_of_1000_accounts_come_after_their_parents_in_full_batches() -> None:
    rows: dict[str, list[Row]] = {t: [] for t in TABLES}
    for n in range(1000):
        a = account(n)
        c = contact(n, ("account", a["accountid"]))
        rows["account"].append(a)
        rows["contact"].append(c)
        rows["annotation"] += [note(2 * n, ("account", a["accountid"])),
                               note(2 * n + 1, ("contact", c["contactid"]))]
    plans, stages = stages_of(Side(rows), Side({}), ["account"])
    assert [(s.pass_name, s.table) for s in stages] == [
        ("rows", "account"), ("rows", "contact"), ("rows", "annotation")]
    assert [len(s.batches) for s in stages] == [1000 // BATCH_SIZE, 1000 // BATCH_SIZE,
                                                2000 // BATCH_SIZE]
    assert all(len(b) == BATCH_SIZE for s in stages for b in s.batches)
    assert sum(len(b) for s in stages for b in s.batches) == len(plans) == 4000


def test_batch_sizes_stay_within_the_batch_limit() -> None:
    with pytest.raises(ValueError, match="batch size must be 1 to 1000"):
        write_stages([], SCHEMA, batch_size=1001)
    with pytest.raises(ValueError, match="batch size must be 1 to 1000"):
        write_stages([], SCHEMA, batch_size=0)


def test_table_order_puts_parents_first_and_breaks_a_cycle_deterministically() -> None:
    assert table_order(["annotation", "contact", "account"],
                       [("contact", "account"), ("annotation", "contact"),
                        ("annotation", "account"), ("account", "account")]) == [
        "account", "contact", "annotation"]
    cycle = table_order(["contact", "account"], [("contact", "account"), ("account", "contact")])
    assert sorted(cycle) == ["account", "contact"]
    assert cycle == table_order(["account", "contact"],
                                [("account", "contact"), ("contact", "account")])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Side, Side, list[str], str]:
    """Accounts (with parent accounts and primary contacts: a cycle between the tables),
    contacts (of an account or of another contact) and notes, some of each gone now."""
    n_accounts = draw(st.integers(1, 12))
    n_contacts = draw(st.integers(0, 12))
    accounts = [gid(1, i) for i in range(n_accounts)]
    contacts = [gid(2, i) for i in range(n_contacts)]
    rows: dict[str, list[Row]] = {t: [] for t in TABLES}
    for i in range(n_contacts):
        if draw(st.booleans()) or i == 0:
            parent: tuple[str, str] | None = ("account", draw(st.sampled_from(accounts)))
        else:
            parent = ("contact", contacts[draw(st.integers(0, i - 1))])
        rows["contact"].append(contact(i, parent))
    for i in range(n_accounts):
        parent_id = draw(st.none() | st.sampled_from(accounts))
        primary = draw(st.none() | st.sampled_from(contacts)) if contacts else None
        rows["account"].append(account(i, parent=parent_id, contact=primary,
                                       statecode=draw(st.sampled_from([0, 1])), statuscode=2))
    everyone = [("account", a) for a in accounts] + [("contact", c) for c in contacts]
    for i in range(draw(st.integers(0, 10))):
        rows["annotation"].append(note(i, draw(st.sampled_from(everyone))))
    now = {t: [r for r in rs if draw(st.booleans())] for t, rs in rows.items()}
    for r in now["account"]:
        if draw(st.booleans()):
            r.update(name="edited", **{"@odata.etag": 'W/"1"'})
    tables = draw(st.sets(st.sampled_from(TABLES), min_size=1))
    return (Side(rows), Side({t: [dict(r) for r in rs] for t, rs in now.items()}),
            sorted(tables), draw(st.sampled_from(["missing", "changed", "all"])))


@settings(max_examples=150, deadline=None)
@given(worlds(), st.booleans(), st.integers(1, 5))
def test_no_write_ever_points_to_a_row_not_yet_written(
    world: tuple[Side, Side, list[str], str], related: bool, size: int
) -> None:
    point, target, tables, mode = world
    result = plan_restore(
        tables=tables, schema=SCHEMA, point_tables=TABLES, read_point=point.read,
        read_target=target.read, exists=target.has, mode=mode,  # type: ignore[arg-type]
        record_ids=None, with_related=related,
    )
    stages = write_stages(result.rows, SCHEMA, batch_size=size)
    sets = {"accounts": "account", "contacts": "contact", "annotations": "annotation",
            "systemusers": "systemuser"}
    written_at: dict[tuple[str, str], int] = {}
    first_write: set[tuple[str, str]] = set()
    for n, write in writes(stages):
        key = (write.table, write.record_id)
        if key not in first_write:
            first_write.add(key)
            expected = ({"If-None-Match": "*"} if write.action == "create"
                        else {"If-Match": next(p.etag for p in result.rows if
                                               (p.table, p.record_id) == key)})
            assert write.headers == expected
            if write.action == "create":
                written_at[key] = n
        else:
            assert write.headers == {"If-Match": "*"}
        for name, value in write.body.items():
            if name.endswith("@odata.bind") and value is not None:
                entity_set, _, rest = value[1:].partition("(")
                ref = (sets.get(entity_set, entity_set), rest[:-1])
                if ref in written_at:
                    assert written_at[ref] < n, "a child written in the stage of its parent"
                else:
                    assert target.has(*ref), "a lookup to a row that is neither there nor made"
    # every create and update is written, each row's create exactly once
    creates = [w for _, w in writes(stages) if w.headers == {"If-None-Match": "*"}]
    assert len(creates) == len({(w.table, w.record_id) for w in creates})
    acting = {(p.table, p.record_id) for p in result.rows if p.action in ("create", "update")}
    assert first_write == acting
    assert all(len(b) <= size for s in stages for b in s.batches)
    # counts add up: the tables sum to the total, and every point row is counted at most once
    for action in ACTIONS:
        assert result.counts["total"][action] == sum(
            c[action] for c in result.counts["tables"].values())
    for table, counts in result.counts["tables"].items():
        assert sum(counts.values()) <= len(point.rows[table])
        if not related or table in tables:
            # missing counts present rows as unchanged; changed never looks at gone rows
            considered = (point.ids(table) & target.ids(table) if mode == "changed"
                          else point.ids(table))
            assert sum(counts.values()) == len(considered)


def test_an_update_of_the_state_alone_is_one_write_under_the_etag_read() -> None:
    was = account(1, statecode=1, statuscode=2)
    now = dict(account(1), **{"@odata.etag": 'W/"8"'})
    _, stages = stages_of(Side({"account": [was]}), Side({"account": [now]}), ["account"],
                          mode="changed")
    assert [(s.pass_name, s.table) for s in stages] == [("rows", "account")]
    (write,) = stages[0].batches[0]
    assert write.headers == {"If-Match": 'W/"8"'}
    assert write.body == {"statecode": 1, "statuscode": 2}


def test_an_update_of_only_a_link_to_a_row_created_has_its_first_write_in_the_second_pass() -> None:
    parent = account(1)
    child = account(2, parent=parent["accountid"])
    now = dict(account(2), **{"@odata.etag": 'W/"5"'})
    _, stages = stages_of(Side({"account": [parent, child]}), Side({"account": [now]}),
                          ["account"], mode="all")
    assert [(s.pass_name, s.table) for s in stages] == [("rows", "account"),
                                                        ("references", "account")]
    (link,) = stages[1].batches[0]
    assert (link.record_id, link.action) == (child["accountid"], "update")
    assert link.headers == {"If-Match": 'W/"5"'} and link.first
    assert Write.from_json(link.to_json()) == link


def test_a_write_read_from_a_batch_file_without_first_is_first_unless_if_match_any() -> None:
    old = {"table": "account", "id": "a", "action": "create", "url": "accounts(a)", "body": {}}
    assert Write.from_json({**old, "headers": {"If-None-Match": "*"}}).first
    assert Write.from_json({**old, "headers": {"If-Match": 'W/"5"'}}).first
    assert not Write.from_json({**old, "headers": {"If-Match": "*"}}).first
    assert Write.from_json({**old, "headers": {}}).from_bin
    assert not Write.from_json({**old, "headers": {"If-None-Match": "*"}}).from_bin


def test_a_row_from_the_bin_is_written_equal_to_the_point_whatever_the_bin_gave_back() -> None:
    active, inactive = account(1), account(2, statecode=1, statuscode=2)
    rows, _ = stages_of(Side({"account": [active, inactive]}), Side({}), ["account"])
    in_bin = {("account", active["accountid"]), ("account", inactive["accountid"])}
    stages = write_stages(rows, SCHEMA, in_bin=in_bin)
    assert [s.pass_name for s in stages] == ["bin", "rows", "states"]
    first = {w.record_id: w for w in stages[1].batches[0]}
    for row in (active, inactive):
        write = first[row["accountid"]]
        assert write.from_bin and write.first and write.headers == {}
        # The point's empty columns and lookups are written empty, over the bin's values.
        assert write.body["telephone1"] is None
        assert write.body["parentaccountid@odata.bind"] is None
        assert write.body["primarycontactid@odata.bind"] is None
        assert write.body["statecode"] == 0
    assert first[active["accountid"]].body["statuscode"] == 1
    assert "statuscode" not in first[inactive["accountid"]].body
    (state,) = stages[2].batches[0]
    assert (state.record_id, state.body) == (inactive["accountid"],
                                             {"statecode": 1, "statuscode": 2})
    # The same rows not in the bin: a create leaves them out, a new row starts empty.
    plain = {w.record_id: w for w in write_stages(rows, SCHEMA)[0].batches[0]}
    assert "telephone1" not in plain[active["accountid"]].body
    assert not plain[active["accountid"]].from_bin
