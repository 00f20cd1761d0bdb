"""The record restore's Dataverse calls against the simulator: rows by id, the recycle bin, the
`Restore` message and a batch of conditional writes, through the simulator's `$batch`."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.dataverse import (
    BatchRequest,
    DataverseClient,
    TableNotFound,
    bin_rows,
    in_recycle_bin,
    navigation_property,
    restore_deleted,
    rows_by_ids,
    write_batch,
)
from shared.errors import Forbidden, OutcomeUnknown, Throttled
from shared.power_platform import recording_calls
from tests.integration.dataverse.test_client_on_simulator import ROWS, connect, read_all

NOT_IN_BIN = "0x80049959"
DUPLICATE_RESTORE = "0x80044a02"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    options = SimOptions(dataverse_rows=ROWS)
    with run_simulator(speed=0, populate=False, seed=11, options=options) as simulator:
        yield simulator


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Sandbox copy", type="Sandbox", location="europe")


@pytest.fixture
def client(sim: Simulator, env_id: str) -> Iterator[DataverseClient]:
    with connect(sim, env_id) as dataverse:
        yield dataverse


def test_rows_by_ids_gives_the_rows_as_the_paged_read_gives_them(client: DataverseClient) -> None:
    rows = {r["contactid"]: r for r in read_all(client, "contacts", 5000)}
    asked = list(rows)[:10]
    missing = [str(uuid.uuid4()) for _ in range(3)]
    found = rows_by_ids(client, "contacts", "contactid", [*asked, *missing], per_request=4)
    assert found == {i: rows[i] for i in asked}
    assert any("@Microsoft.Dynamics.CRM.lookuplogicalname" in k for r in found.values()
               for k in r)


def test_a_lookup_in_a_missing_table_or_without_the_privilege_raises_the_mapped_error(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    with pytest.raises(TableNotFound):
        rows_by_ids(client, "nosuchtables", "nosuchtableid", [str(uuid.uuid4())])
    sim.dataverse_revoke(env_id, "contact", "Read")
    with pytest.raises(Forbidden, match="security role"):
        rows_by_ids(client, "contacts", "contactid", [str(uuid.uuid4())])


def test_more_than_1000_filters_go_in_two_batches(client: DataverseClient) -> None:
    ids = [r["accountid"] for r in read_all(client, "accounts", 5000)]
    missing = [str(uuid.uuid4()) for _ in range(1000)]
    with recording_calls() as calls:
        found = rows_by_ids(client, "accounts", "accountid", [*missing, *ids], per_request=1)
    assert set(found) == set(ids)
    assert [c.path.rsplit("/", 1)[-1] for c in calls] == ["$batch", "$batch"]


def test_deleted_rows_are_found_in_the_bin_and_restored_with_their_values(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    sim.dataverse_recycle_bin(env_id)
    before = {r["accountid"]: r for r in read_all(client, "accounts", 5000)}
    deleted, kept = list(before)[:2], list(before)[2]
    for row_id in deleted:
        sim.dataverse_change(env_id, "account", "delete", row_id)
    assert rows_by_ids(client, "accounts", "accountid", [*deleted, kept]).keys() == {kept}

    held = in_recycle_bin(client, "accounts", "account", "accountid", [*deleted, kept])
    assert held == set(deleted)
    copies = bin_rows(client, "accounts", "account", "accountid", [*deleted, kept])
    assert copies.keys() == set(deleted)
    for row_id in deleted:  # every column as it was when deleted
        assert copies[row_id]["name"] == before[row_id]["name"]
        assert copies[row_id]["description"] == before[row_id]["description"]

    outcomes = restore_deleted(client, "accounts", [*deleted, kept])
    assert all(outcomes[i].ok for i in deleted)
    assert (outcomes[kept].ok, outcomes[kept].error_code) == (False, DUPLICATE_RESTORE)
    assert outcomes[kept].message

    back = rows_by_ids(client, "accounts", "accountid", deleted)
    for row_id in deleted:
        assert back[row_id]["name"] == before[row_id]["name"]
    assert in_recycle_bin(client, "accounts", "account", "accountid", deleted) == set()
    # A second Restore (a step re-run after a crash) is refused: the row exists, no second one.
    again = restore_deleted(client, "accounts", deleted)
    assert {o.error_code for o in again.values()} == {DUPLICATE_RESTORE}
    assert len(read_all(client, "accounts", 5000)) == len(before)


def test_rows_deleted_while_the_bin_is_off_are_not_in_it(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    row_id = read_all(client, "accounts", 5000)[0]["accountid"]
    sim.dataverse_change(env_id, "account", "delete", row_id)
    assert in_recycle_bin(client, "accounts", "account", "accountid", [row_id]) == set()
    (outcome,) = restore_deleted(client, "accounts", [row_id]).values()
    assert (outcome.ok, outcome.error_code) == (False, NOT_IN_BIN)


def test_conditional_writes_in_one_batch_each_get_their_outcome(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    nav = navigation_property(client.lookup_relationships("contact"), "parentcustomerid", "account")
    assert nav is not None
    accounts = read_all(client, "accounts", 5000)
    parent, fresh, stale = accounts[0], accounts[1], accounts[2]
    client.update("accounts", stale["accountid"], {"name": "changed after the plan"})
    new_contact = str(uuid.uuid4())
    logged = len(sim.dataverse_writes(env_id))
    writes = [
        BatchRequest(
            "PATCH",
            f"contacts({new_contact})",
            {"lastname": "Restored", **client.bind(nav, "accounts", parent["accountid"])},
            {"If-None-Match": "*"},
        ),
        BatchRequest("PATCH", f"accounts({parent['accountid']})", {"name": "twice"},
                     {"If-None-Match": "*"}),
        BatchRequest("PATCH", f"accounts({stale['accountid']})", {"name": "from the point"},
                     {"If-Match": stale["@odata.etag"]}),
        BatchRequest("PATCH", f"accounts({fresh['accountid']})", {"name": "from the point"},
                     {"If-Match": fresh["@odata.etag"]}),
    ]
    created, exists, conflict, updated = write_batch(client, writes)

    assert (created.status, updated.status) == (204, 204)
    assert (exists.status, conflict.status) == (412, 412)
    assert exists.message and conflict.message
    now = rows_by_ids(client, "accounts", "accountid",
                      [parent["accountid"], stale["accountid"], fresh["accountid"]])
    assert now[parent["accountid"]]["name"] == parent["name"]
    assert now[stale["accountid"]]["name"] == "changed after the plan"
    assert now[fresh["accountid"]]["name"] == "from the point"
    assert updated.etag in (None, now[fresh["accountid"]]["@odata.etag"])
    # The refused writes changed nothing: only the create and the fresh update are logged.
    log = sim.dataverse_writes(env_id)[logged:]
    assert [(w["table"], w["row_id"], w["action"]) for w in log] == [
        ("contact", new_contact, "create"), ("account", fresh["accountid"], "update")]
    (contact,) = rows_by_ids(client, "contacts", "contactid", [new_contact]).values()
    assert contact["lastname"] == "Restored"
    assert contact["_parentcustomerid_value"] == parent["accountid"]


def test_a_throttled_write_batch_is_handed_back_as_throttled() -> None:
    options = SimOptions(dataverse_rows=5, dataverse_requests_per_window=3)
    with run_simulator(speed=0, populate=False, seed=3, options=options) as sim:
        env = sim.add_environment("Busy", type="Sandbox")
        with connect(sim, env) as client:
            row_id = read_all(client, "accounts", 5000)[0]["accountid"]
            write = BatchRequest("PATCH", f"accounts({row_id})", {"name": "x"}, {"If-Match": "*"})
            throttled: Throttled | None = None
            for _ in range(10):
                try:
                    write_batch(client, [write])
                except Throttled as exc:
                    throttled = exc
                    break
    assert throttled is not None, "the simulator never refused"
    assert throttled.retry_after is not None and throttled.retry_after > 0


def test_a_lost_write_batch_answer_then_a_resend_never_creates_a_row_twice(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    row_id = str(uuid.uuid4())
    create = BatchRequest("PATCH", f"accounts({row_id})", {"name": "Restored once"},
                          {"If-None-Match": "*"})
    sim.set_faults(drop_next=1, drop_method="POST", drop_path=r"/\$batch$")
    with pytest.raises(OutcomeUnknown):
        write_batch(client, [create])
    (again,) = write_batch(client, [create])  # the resumed step sends the same batch
    assert again.status == 412
    names = [r["name"] for r in read_all(client, "accounts", 5000)]
    assert names.count("Restored once") == 1
    assert rows_by_ids(client, "accounts", "accountid", [row_id]).keys() == {row_id}
