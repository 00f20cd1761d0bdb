"""The Dataverse client against the simulator's Web API, found from the environment record."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.options import SimOptions
from shared.dataverse import (
    BatchRequest,
    ChangeSet,
    ChangeTokenExpired,
    DataverseClient,
    PreconditionFailed,
    TableNotFound,
    navigation_property,
)
from shared.errors import Forbidden, NotFound, OutcomeUnknown, Throttled
from shared.power_platform import (
    NoTokenProvider,
    PowerPlatformClient,
    RetryPolicy,
    recording_calls,
)

ROWS = 23


def connect(sim: Simulator, env_id: str, retry: RetryPolicy | None = None) -> DataverseClient:
    """The client as the app builds it: environment record first, then its Web API."""
    with PowerPlatformClient(sim.url, sim.url, token_provider=NoTokenProvider()) as platform:
        environment = platform.get_environment(env_id)
    return DataverseClient.for_environment(
        environment, token_provider=NoTokenProvider(), retry=retry or RetryPolicy()
    )


@pytest.fixture
def sim() -> Iterator[Simulator]:
    options = SimOptions(dataverse_rows=ROWS)
    with run_simulator(speed=0, populate=False, seed=7, options=options) as simulator:
        yield simulator


@pytest.fixture
def env_id(sim: Simulator) -> str:
    return sim.add_environment("Prod", type="Production", location="europe")


@pytest.fixture
def client(sim: Simulator, env_id: str) -> Iterator[DataverseClient]:
    with connect(sim, env_id) as dataverse:
        yield dataverse


def read_all(client: DataverseClient, entity_set: str, page_size: int) -> list[dict[str, Any]]:
    cursor = client.first_page(entity_set, page_size=page_size)
    return [dict(row) for page in client.pages(cursor) for row in page.rows]


def test_the_environment_record_leads_to_its_web_api(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    assert client.root.startswith(f"{sim.url.rstrip('/')}/orgs/{env_id}")
    assert client.root.endswith("/api/data/v9.2")


def test_tables_describe_the_schema(client: DataverseClient) -> None:
    tables = {t.logical_name: t for t in client.tables()}
    assert tables["account"].entity_set == "accounts"
    assert tables["account"].primary_id == "accountid"
    assert tables["account"].change_tracking
    assert tables["new_project_contact"].is_intersect
    assert not tables["new_importlog"].change_tracking
    assert all(t.readable for t in tables.values() if t.entity_set)


def test_columns_and_relationships_give_what_a_restore_needs(client: DataverseClient) -> None:
    columns = {c.logical_name: c for c in client.columns("contact")}
    assert columns["parentcustomerid"].is_lookup
    assert set(columns["parentcustomerid"].targets) == {"account", "contact"}
    assert not columns["createdon"].creatable
    relationships = client.lookup_relationships("contact")
    nav = navigation_property(relationships, "parentcustomerid", "account")
    assert nav is not None


def test_unknown_table_is_table_not_found(client: DataverseClient) -> None:
    with pytest.raises(TableNotFound):
        client.table("nosuchtable")
    with pytest.raises(TableNotFound):
        client.read_page(client.first_page("nosuchtables"))


@pytest.mark.parametrize("page_size", [1, 5, ROWS, 5000])
def test_paged_read_returns_every_row_once_whatever_the_page_size(
    client: DataverseClient, page_size: int
) -> None:
    cursor = client.first_page("accounts", page_size=page_size)
    pages = list(client.pages(cursor))
    rows = [row for page in pages for row in page.rows]
    ids = [row["accountid"] for row in rows]
    assert len(ids) == len(set(ids)) == ROWS
    assert len(pages) == math.ceil(ROWS / page_size)
    assert all(len(page.rows) == page_size for page in pages[:-1])
    # The same rows, column for column, as one big page gives.
    assert sorted(rows, key=lambda r: r["accountid"]) == sorted(
        read_all(client, "accounts", 5000), key=lambda r: r["accountid"]
    )


def test_rows_keep_lookup_annotations_and_etags_not_formatted_values(
    client: DataverseClient,
) -> None:
    rows = read_all(client, "contacts", 5000)
    assert all("@odata.etag" in row for row in rows)
    assert not any(k.endswith("FormattedValue") for row in rows for k in row)
    with_parent = [r for r in rows if r.get("_parentcustomerid_value")]
    assert with_parent, "the seeded contacts should have parent customers"
    row = with_parent[0]
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] in {
        "account",
        "contact",
    }
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]


def test_dop_hint_is_seen(client: DataverseClient) -> None:
    page = client.read_page(client.first_page("accounts"))
    assert page.dop_hint == SimOptions().dataverse_dop_hint
    assert client.recommended_concurrency == page.dop_hint


def test_change_tracking_sees_creates_updates_and_deletes(
    sim: Simulator, client: DataverseClient
) -> None:
    cursor = client.first_page("accounts", page_size=10, track_changes=True)
    pages = list(client.pages(cursor))
    delta_link = pages[-1].delta_link
    assert delta_link is not None
    existing = [row for page in pages for row in page.rows]

    created = client.create("accounts", {"name": "New after the full read"})
    updated_id = existing[0]["accountid"]
    client.update("accounts", updated_id, {"name": "Renamed"})
    deleted_id = existing[1]["accountid"]
    httpx.delete(f"{client.root}/accounts({deleted_id})").raise_for_status()

    delta = list(client.pages(client.delta_page(delta_link, page_size=1)))
    changed = {row["accountid"]: row for page in delta for row in page.rows}
    gone = [d.id for page in delta for d in page.deleted]
    assert set(changed) == {created.id, updated_id}
    assert changed[updated_id]["name"] == "Renamed"
    assert gone == [deleted_id]
    assert delta[-1].delta_link not in (None, delta_link)

    # Nothing changed since: an empty delta and a new link.
    again = client.read_page(client.delta_page(delta[-1].delta_link or ""))
    assert (again.rows, again.deleted) == ((), ())


def test_an_old_delta_link_is_change_token_expired(sim: Simulator, client: DataverseClient) -> None:
    pages = list(client.pages(client.first_page("accounts", track_changes=True)))
    delta_link = pages[-1].delta_link
    assert delta_link is not None
    sim.advance(8 * 24 * 3600)  # past the 7-day change-tracking window
    with pytest.raises(ChangeTokenExpired):
        client.read_page(client.delta_page(delta_link))


def test_conditional_writes(client: DataverseClient) -> None:
    row = read_all(client, "accounts", 1)[0]
    row_id, etag = row["accountid"], row["@odata.etag"]
    with pytest.raises(PreconditionFailed):
        client.upsert("accounts", row_id, {"name": "x"}, only="create")
    client.update("accounts", row_id, {"name": "first"}, if_match=etag)
    with pytest.raises(PreconditionFailed):
        client.update("accounts", row_id, {"name": "second"}, if_match=etag)
    missing = "00000000-0000-4000-8000-00000000abcd"
    with pytest.raises(NotFound):
        client.upsert("accounts", missing, {"name": "x"}, only="update")
    client.upsert("accounts", missing, {"name": "made with its id"}, only="create")
    assert client.read_page(client.first_page("accounts")).rows  # still readable


def test_batch_change_set_binds_a_new_contact_to_a_new_account(client: DataverseClient) -> None:
    nav = navigation_property(client.lookup_relationships("contact"), "parentcustomerid", "account")
    assert nav is not None
    responses = client.batch(
        [
            ChangeSet(
                (
                    BatchRequest("POST", "accounts", {"name": "Batch account"}),
                    BatchRequest(
                        "POST", "contacts", {"lastname": "Batch", f"{nav}@odata.bind": "$1"}
                    ),
                )
            ),
            BatchRequest("GET", "accounts?$select=name"),
        ]
    )
    assert [r.status for r in responses[:2]] == [204, 204]
    assert responses[2].status == 200
    contacts = [r for r in read_all(client, "contacts", 5000) if r.get("lastname") == "Batch"]
    account = [r for r in read_all(client, "accounts", 5000) if r["name"] == "Batch account"]
    assert len(contacts) == len(account) == 1
    assert contacts[0]["_parentcustomerid_value"] == account[0]["accountid"]


def test_flow_state_change(client: DataverseClient) -> None:
    flows = read_all(client, "workflows", 5000)
    flow = flows[0]
    client.set_state("workflows", flow["workflowid"], 0, 1)
    after = {r["workflowid"]: r for r in read_all(client, "workflows", 5000)}
    assert (after[flow["workflowid"]]["statecode"], after[flow["workflowid"]]["statuscode"]) == (
        0,
        1,
    )


def test_service_protection_is_handed_back_as_throttled() -> None:
    options = SimOptions(dataverse_rows=5, dataverse_requests_per_window=3)
    with run_simulator(speed=0, populate=False, seed=3, options=options) as sim:
        env = sim.add_environment("Busy", type="Sandbox")
        with connect(sim, env) as client, recording_calls() as calls:
            cursor = client.first_page("accounts")
            answered = 0
            throttled: Throttled | None = None
            while throttled is None and answered < 10:
                try:
                    client.read_page(cursor)
                    answered += 1
                except Throttled as exc:
                    throttled = exc
    assert throttled is not None, "the simulator never refused"
    assert answered >= 3
    assert throttled.retry_after is not None and throttled.retry_after > 0
    # Handed back at once: one request per read, none resent in-process.
    assert len(calls) == answered + 1
    assert calls[-1].status == 429


def test_hostile_text_round_trips_through_a_write_and_a_read(client: DataverseClient) -> None:
    piece = 'Zoë \U0001d518\U0001f600 \u202e\u0000 "quotes" \\ \r\n--batch_x\n'
    text = (piece * 30_000)[: 1 << 20]
    account = client.create("accounts", {"name": "Ünïcødé ✓", "description": text})
    assert account.id is not None
    rows = {r["accountid"]: r for r in read_all(client, "accounts", 5000)}
    row = rows[account.id]
    assert row["description"] == text
    assert row["name"] == "Ünïcødé ✓"
    assert row["telephone1"] is None


def test_a_revoked_privilege_names_the_fix_and_other_tables_go_on(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    sim.dataverse_revoke(env_id, "contact", "Read")
    with pytest.raises(Forbidden) as caught:
        client.read_page(client.first_page("contacts"))
    assert "security role" in caught.value.message
    assert "application user" in caught.value.message
    assert caught.value.request_id
    assert client.read_page(client.first_page("accounts")).rows


def test_tokens_expired_by_the_control_surface(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    pages = list(client.pages(client.first_page("contacts", track_changes=True)))
    sim.dataverse_expire_tokens(env_id)
    with pytest.raises(ChangeTokenExpired):
        client.read_page(client.delta_page(pages[-1].delta_link or ""))


def test_what_people_change_between_reads_comes_in_the_delta(
    sim: Simulator, env_id: str, client: DataverseClient
) -> None:
    pages = list(client.pages(client.first_page("contacts", track_changes=True)))
    ids = [row["contactid"] for page in pages for row in page.rows]
    new_id = sim.dataverse_change(env_id, "contact", "create", values={"lastname": "New"})
    sim.dataverse_change(env_id, "contact", "update", ids[2], {"lastname": "Changed"})
    sim.dataverse_change(env_id, "contact", "delete", ids[3])

    delta = list(client.pages(client.delta_page(pages[-1].delta_link or "")))
    changed = {row["contactid"]: row["lastname"] for page in delta for row in page.rows}
    assert changed == {new_id: "New", ids[2]: "Changed"}
    assert [d.id for page in delta for d in page.deleted] == [ids[3]]


FAST = RetryPolicy(backoff_base_seconds=0.01, backoff_max_seconds=0.02)


def test_a_read_is_resent_after_server_errors(sim: Simulator, env_id: str) -> None:
    sim.set_faults(error_next=2, error_status=503, error_path="/orgs/")
    with connect(sim, env_id, FAST) as client, recording_calls() as calls:
        page = client.read_page(client.first_page("accounts"))
    assert len(page.rows) == ROWS
    assert [c.status for c in calls] == [503, 503, 200]


def test_a_create_whose_answer_is_lost_is_outcome_unknown_and_not_resent(
    sim: Simulator, env_id: str
) -> None:
    sim.set_faults(drop_next=1, drop_method="POST", drop_path="/orgs/")
    with connect(sim, env_id, FAST) as client:
        with pytest.raises(OutcomeUnknown):
            client.create("accounts", {"name": "Maybe made"})
        names = [r["name"] for r in read_all(client, "accounts", 5000)]
    # The server did act: exactly one row, which is why the caller must look before retrying.
    assert names.count("Maybe made") == 1


def test_a_failing_change_set_member_rolls_the_set_back(client: DataverseClient) -> None:
    before = len(read_all(client, "accounts", 5000))
    responses = client.batch(
        [
            ChangeSet(
                (
                    BatchRequest("POST", "accounts", {"name": "Rolled back"}),
                    BatchRequest("POST", "accounts", {"nosuchcolumn": 1}),
                )
            )
        ]
    )
    assert not responses[-1].ok
    assert responses[-1].status == 400
    assert isinstance(responses[-1].body, dict) and "error" in responses[-1].body
    assert len(read_all(client, "accounts", 5000)) == before


def test_continue_on_error_answers_every_request(client: DataverseClient) -> None:
    row_id = read_all(client, "accounts", 1)[0]["accountid"]
    responses = client.batch(
        [
            BatchRequest("PATCH", f"accounts({row_id})", {"name": "One"}, {"If-Match": "*"}),
            BatchRequest("POST", "accounts", {"nosuchcolumn": 1}),
            BatchRequest("POST", "accounts", {"name": "Three"}),
        ],
        continue_on_error=True,
    )
    assert [r.ok for r in responses] == [True, False, True]
    names = {r["name"] for r in read_all(client, "accounts", 5000)}
    assert {"One", "Three"} <= names
