"""What a record restore writes, read from the simulator's write log: `changed` puts back only
the columns that differ, a table's references to itself are set in a second pass, and a restore
into a Sandbox copy brings the rows there with their ids while the source is left alone."""

from __future__ import annotations

from typing import Any

import pytest

from ppbackup.simulator import Simulator
from shared.data_store import DataStore
from shared.data_store.restore_files import RestoreFiles
from shared.operations import OperationStatus
from shared.runtime import AppContext
from tests.integration.data_backups.conftest import Clock, live_rows
from tests.integration.data_restores.scenario import (
    Rows,
    accounts_with_contacts,
    as_data,
    delete_with_children,
    point,
    snapshot,
)
from tests.integration.data_restores.test_plan_from_a_point import make_point
from tests.integration.data_restores.test_record_restore import drive, start

PAGE = 50


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Sales", type="Sandbox", location="europe")


def by_number(rows: Rows, number: int) -> str:
    """The id of seeded account `number` (ACC-<number>)."""
    return next(i for i, r in rows["account"].items()
                if r["accountnumber"] == f"ACC-{number:07d}")


def binds(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k.endswith("@odata.bind")}


def test_changed_puts_back_only_the_columns_that_differ(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    accounts = sorted(i for i, r in at_point["account"].items() if r["statecode"] == 0)
    renamed, described, deleted, deactivated = accounts[:4]
    contact, moved_from = next(
        (i, r["_parentcustomerid_value"]) for i, r in sorted(at_point["contact"].items())
        if r["_parentcustomerid_value"] in at_point["account"]
        and r["_parentcustomerid_value"] not in (renamed, described, deleted, deactivated))
    moved_to = next(a for a in accounts[4:] if a != moved_from)
    # After the point: an import renames an account and its phone, another's description, deletes
    # a third, deactivates a fourth and moves a contact to another account; a person adds one.
    sim.dataverse_change(env_id, "account", "update", renamed,
                         {"name": "Imported name", "telephone1": "+1-555-0000"})
    sim.dataverse_change(env_id, "account", "update", described, {"description": "overwritten"})
    sim.dataverse_change(env_id, "account", "delete", deleted)
    sim.dataverse_change(env_id, "account", "update", deactivated,
                         {"statecode": 1, "statuscode": 2})
    sim.dataverse_change(env_id, "contact", "update", contact,
                         {"parentcustomerid": {"table": "account", "id": moved_to}})
    added = sim.dataverse_change(env_id, "account", "create", values={"name": "New since"})
    assert sim.dataverse_writes(env_id) == []

    # recordIds narrows: the rows not asked for stay as they are now.
    one = drive(ctx, clock, start(ctx, env_id, tables=("account", "contact"),
                                  point_id=point_id, mode="changed", record_ids=(described,),
                                  apply=True))
    assert one.status is OperationStatus.SUCCEEDED, one.error
    assert [(w["row_id"], w["action"], w["body"]) for w in sim.dataverse_writes(env_id)] == [
        (described, "update", {"description": at_point["account"][described]["description"]}),
    ]

    done = drive(ctx, clock, start(ctx, env_id, tables=("account", "contact"),
                                   point_id=point_id, mode="changed", apply=True))
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None
    assert done.applied["total"]["update"] == 3
    assert done.applied["total"]["create"] == 0, "changed never creates a row"
    writes = {w["row_id"]: w for w in sim.dataverse_writes(env_id)[1:]}
    assert set(writes) == {renamed, deactivated, contact}, "the described row is as it was"
    assert {w["action"] for w in writes.values()} == {"update"}
    point_row = at_point["account"][renamed]
    assert writes[renamed]["body"] == {"name": point_row["name"],
                                       "telephone1": point_row["telephone1"]}
    assert writes[deactivated]["body"] == {"statecode": 0, "statuscode": 1}
    contact_body = writes[contact]["body"]
    assert binds(contact_body) == contact_body, "only the lookup is written"
    assert list(binds(contact_body).values()) == [f"/accounts({moved_from})"]

    now = as_data(snapshot(sim, env_id))
    expected = as_data(at_point)
    expected["account"].pop(deleted)  # `changed` leaves a deleted row deleted
    added_row = now["account"][added]
    assert added_row["name"] == "New since", "a row made after the point is left alone"
    expected["account"][added] = added_row
    assert now == expected


def test_a_parent_account_restored_with_its_children_is_linked_in_a_second_pass(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    # The seed makes account 1 the parent of accounts 5 to 9; accounts 6 and 7 go with it.
    parent, children = by_number(at_point, 1), [by_number(at_point, 6), by_number(at_point, 7)]
    for child in children:
        assert at_point["account"][child]["_parentaccountid_value"] == parent
    for record_id in (*children, parent):
        sim.dataverse_change(env_id, "account", "delete", record_id)

    done = drive(ctx, clock, start(ctx, env_id, tables=("account",), point_id=point_id,
                                   apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.applied is not None
    assert done.applied["tables"]["account"]["create"] == 3
    assert done.applied["tables"]["account"]["update"] == 0, "the second pass is no update"
    writes = sim.dataverse_writes(env_id)
    creates = {w["row_id"]: w for w in writes if w["action"] == "create"}
    assert set(creates) == {parent, *children}
    updates = [w for w in writes if w["action"] == "update"]
    links = [w for w in updates if binds(w["body"])]
    assert {w["row_id"] for w in links} == set(children)
    for link in links:
        assert link["body"] == binds(link["body"]), "the second pass sets only the link"
        assert list(link["body"].values()) == [f"/accounts({parent})"]
        assert link["seq"] > max(w["seq"] for w in creates.values()), "after every row exists"
    # The third pass: an inactive row is deactivated last, once its other writes are done.
    inactive = {i for i in (parent, *children) if at_point["account"][i]["statecode"] != 0}
    states = [w for w in updates if not binds(w["body"])]
    assert {w["row_id"] for w in states} == inactive
    for state in states:
        row = at_point["account"][state["row_id"]]
        assert state["body"] == {"statecode": row["statecode"], "statuscode": row["statuscode"]}
        assert state["seq"] > max(w["seq"] for w in writes if w is not state
                                  and w["row_id"] == state["row_id"])
    for child in children:
        assert all(not k.startswith("parentaccountid") for k in binds(creates[child]["body"]))
    assert as_data(snapshot(sim, env_id)) == as_data(at_point)


def test_a_restore_into_a_sandbox_copy_brings_the_rows_there_with_their_ids(
    ctx: AppContext, clock: Clock, sim: Simulator
) -> None:
    production = sim.add_environment("Prod", type="Production", location="europe")
    point_id = point(ctx, clock, production, page_size=PAGE)
    at_point = snapshot(sim, production)
    gone = delete_with_children(sim, production, at_point,
                                accounts_with_contacts(at_point, 2))
    after_import = snapshot(sim, production)
    # A Sandbox copy of Production as it is now, made as the platform makes one (an environment
    # restore of Production into it: the same ids).
    sandbox = sim.add_environment("Copy", type="Sandbox", location="europe")
    sim.dataverse.on_restore(production, sandbox, sim.now())
    assert as_data(snapshot(sim, sandbox)) == as_data(after_import)

    done = drive(ctx, clock, start(ctx, production, target=sandbox, tables=("account",),
                                   point_id=point_id, with_related=True, apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.environment_id == sandbox
    assert done.applied is not None and done.applied["total"]["create"] == len(gone)
    assert as_data(snapshot(sim, sandbox)) == as_data(at_point), "same rows, same ids"
    assert {(w["table"], w["row_id"]) for w in sim.dataverse_writes(sandbox)} == gone
    assert sim.dataverse_writes(production) == [], "the source is not written"
    assert as_data(snapshot(sim, production)) == as_data(after_import)


def test_rows_that_cannot_be_restored_say_why_and_a_gone_owner_is_left_out(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str, store: DataStore
) -> None:
    point_id = point(ctx, clock, env_id, page_size=PAGE)
    at_point = snapshot(sim, env_id)
    users = {r["_ownerid_value"] for r in at_point["contact"].values()
             if r["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"}
    gone_user = sorted(users)[0]
    contacts = sorted((i, r) for i, r in at_point["contact"].items()
                      if r["_parentcustomerid_value"] in at_point["account"])
    orphan, orphan_row = next((i, r) for i, r in contacts if r["_ownerid_value"] != gone_user)
    owned = next(i for i, r in contacts if r["_ownerid_value"] == gone_user
                 and r["_parentcustomerid_value"] != orphan_row["_parentcustomerid_value"])
    # After the point: the orphan's account goes (and stays gone), the owner's user is removed,
    # and both contacts are deleted.
    sim.dataverse_change(env_id, "account", "delete", orphan_row["_parentcustomerid_value"])
    sim.dataverse_change(env_id, "systemuser", "delete", gone_user)
    for contact in (orphan, owned):
        sim.dataverse_change(env_id, "contact", "delete", contact)

    done = drive(ctx, clock, start(ctx, env_id, tables=("contact",), point_id=point_id,
                                   apply=True))

    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert done.plan is not None and done.applied is not None
    assert done.plan["tables"]["contact"]["notRestorable"] == 1
    assert done.applied["tables"]["contact"]["create"] == 1
    assert [(w["row_id"], w["action"]) for w in sim.dataverse_writes(env_id)] == [
        (owned, "create")]
    diff = {r["id"]: r for r in RestoreFiles(store, done.operation_id).diff_rows("contact")}
    assert diff[orphan]["action"] == "notRestorable"
    assert diff[orphan]["reasons"] == [
        f"lookup parentcustomerid points to account {orphan_row['_parentcustomerid_value']}, "
        "which is gone and is not being restored"]
    assert any(gone_user in note and "no longer exists" in note for note in diff[owned]["notes"])
    now = snapshot(sim, env_id)["contact"]
    assert orphan not in now
    assert now[owned]["_ownerid_value"] not in (None, gone_user), "the platform gave it an owner"
    expected = {k: v for k, v in as_data(at_point)["contact"][owned].items()
                if not k.startswith("_ownerid_value")}
    assert {k: v for k, v in as_data({"contact": now})["contact"][owned].items()
            if not k.startswith("_ownerid_value")} == expected

    # A maker removes a column the point holds values of: a deleted row can no longer be
    # created as it was, and the plan says which column.
    sim.dataverse_remove_column(env_id, "contact", "jobtitle")
    dropped = next(i for i, r in contacts if i not in (orphan, owned) and r["jobtitle"])
    sim.dataverse_change(env_id, "contact", "delete", dropped)
    dry = drive(ctx, clock, start(ctx, env_id, tables=("contact",), point_id=point_id,
                                  record_ids=(dropped,)))
    assert dry.status is OperationStatus.SUCCEEDED, dry.error
    assert dry.plan is not None and dry.plan["tables"]["contact"]["notRestorable"] == 1
    row = next(RestoreFiles(store, dry.operation_id).diff_rows("contact"))
    assert (row["id"], row["action"]) == (dropped, "notRestorable")
    assert row["reasons"] == ["column jobtitle no longer exists in contact"]


def test_an_n_to_n_intersect_table_is_rejected_saying_why(
    ctx: AppContext, clock: Clock, sim: Simulator, env_id: str
) -> None:
    # Its rows are links, which the platform takes only through the relationship's $ref: every
    # row was sent as a create and failed, after a whole plan.
    point_id = make_point(ctx, clock, env_id, ["new_project", "new_project_contact"])
    links = live_rows(sim, env_id, "new_project_contactset", "new_project_contactid")
    sim.dataverse_change(env_id, "new_project_contact", "delete", sorted(links)[0])

    done = drive(ctx, clock, start(ctx, env_id, tables=("new_project", "new_project_contact"),
                                   point_id=point_id, apply=True))

    assert done.status is OperationStatus.REJECTED
    assert done.error is not None and done.error.code == "TablesNotRestorable"
    assert "new_project_contact" in done.error.message and "N:N" in done.error.message
    assert sim.dataverse_writes(env_id) == []
