"""The recycle bin (reference §8): off by default; while on, a deleted row (Web API, `$batch` or
the control surface) is kept with its last values; FetchXML `datasource="bin"` lists it; `POST
Restore` brings it back with its id and values, once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.dataverse import Org

from .conftest import API_BAP_READ, ENVS, Dataverse
from .test_dataverse_batch import ROOT, batch, change_set, http_part, responses

ALL = 'odata.include-annotations="*"'
NOT_IN_BIN = "0x80049959"
DUPLICATE = "0x80044a02"
REMAINING = "x-ms-ratelimit-burst-remaining-xrm-requests"


def set_bin(sim: Simulator, env: str, enabled: bool) -> dict[str, Any]:
    answer = httpx.post(f"{sim.url}/_sim/dataverse/{env}/recycle-bin",
                        json={"enabled": enabled})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def summary(sim: Simulator, env: str) -> dict[str, Any]:
    return dict(httpx.get(f"{sim.url}/_sim/dataverse/{env}").json())


def in_bin(sim: Simulator, env: str, table: str) -> int:
    return int(summary(sim, env)["tables"][table]["inRecycleBin"])


def bin_fetch(entity: str, ids: list[str] | None = None, attributes: tuple[str, ...] = (),
              quote_char: str = '"') -> str:
    q = quote_char
    attrs = "".join(f"<attribute name={q}{a}{q}/>" for a in attributes)
    where = ""
    if ids is not None:
        values = "".join(f"<value>{i}</value>" for i in ids)
        where = (f"<filter><condition attribute={q}{entity}id{q} operator={q}in{q}>{values}"
                 "</condition></filter>")
    return (f"<fetch datasource={q}bin{q}><entity name={q}{entity}{q}>{attrs}{where}</entity>"
            "</fetch>")


def query_bin(dv: Dataverse, entity_set: str, fetch: str) -> httpx.Response:
    return dv.http.get(f"{entity_set}?fetchXml={quote(fetch)}")


def restore(dv: Dataverse, target: dict[str, Any]) -> httpx.Response:
    return dv.http.post("Restore", json={"Target": target})


def first_id(dv: Dataverse, entity_set: str, skip: int = 0) -> str:
    rows = dv.http.get(entity_set, params={"$top": str(skip + 1)}).json()["value"]
    return str(rows[skip][f"{entity_set[:-1]}id"])


def without_version(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items()
            if k not in ("@odata.etag", "versionnumber", "@odata.context")}


def test_bin_is_off_by_default_and_keeps_nothing(sim: Simulator, dv: Dataverse) -> None:
    assert summary(sim, dv.env)["recycleBin"] is False
    row_id = first_id(dv, "accounts")
    assert dv.http.delete(f"accounts({row_id})").status_code == 204
    assert in_bin(sim, dv.env, "account") == 0
    listed = query_bin(dv, "accounts", bin_fetch("account", [row_id]))
    assert listed.status_code == 200 and listed.json()["value"] == []
    refused = restore(dv, {"@odata.id": f"accounts({row_id})"})
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == NOT_IN_BIN
    assert "recycle bin" in refused.json()["error"]["message"]


def test_delete_query_restore_brings_the_row_back_as_it_was(sim: Simulator,
                                                            dv: Dataverse) -> None:
    assert set_bin(sim, dv.env, True)["recycleBin"] is True
    row_id, parent = first_id(dv, "accounts"), first_id(dv, "accounts", 1)
    contact = first_id(dv, "contacts")
    # Lookups and state: everything the bin must keep.
    assert dv.http.patch(f"accounts({row_id})", json={
        "name": "Kept Co", "parentaccountid@odata.bind": f"accounts({parent})",
        "primarycontactid@odata.bind": f"contacts({contact})", "statecode": 1,
    }).status_code == 204
    before = dv.http.get(f"accounts({row_id})", headers={"Prefer": ALL}).json()
    synced = dv.http.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"})
    assert dv.http.delete(f"accounts({row_id})").status_code == 204
    assert in_bin(sim, dv.env, "account") == 1

    missing = str(uuid.uuid4())
    listed = query_bin(dv, "accounts", bin_fetch("account", [missing, row_id.upper()],
                                                 ("accountid", "name", "parentaccountid")))
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["value"]
    assert (row["accountid"], row["name"], row["_parentaccountid_value"]) == (
        row_id, "Kept Co", parent)
    assert "telephone1" not in row, "only the attributes asked for"

    delta = dv.http.get(synced.json()["@odata.deltaLink"]).json()["@odata.deltaLink"]
    done = restore(dv, {"@odata.id": f"{dv.url}{ROOT}accounts({row_id})"})
    assert done.status_code == 200, done.text
    assert done.json()["id"] == row_id
    assert done.json()["@odata.context"].endswith(
        "$metadata#Microsoft.Dynamics.CRM.RestoreResponse")

    after = dv.http.get(f"accounts({row_id})", headers={"Prefer": ALL}).json()
    assert without_version(after) == without_version(before)
    assert after["versionnumber"] > before["versionnumber"]
    changed = dv.http.get(delta).json()["value"]
    assert [r["accountid"] for r in changed] == [row_id], "change tracking sees the restore"
    assert in_bin(sim, dv.env, "account") == 0
    assert sim.dataverse_writes(dv.env)[-1]["action"] == "restore"
    assert sim.dataverse_writes(dv.env)[-1]["row_id"] == row_id

    again = restore(dv, {"@odata.id": f"accounts({row_id})"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == DUPLICATE


def test_every_delete_path_fills_the_bin_while_it_is_on(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    ids = [first_id(dv, "contacts", n) for n in range(4)]
    assert dv.http.delete(f"contacts({ids[0]})").status_code == 204
    assert batch(dv, [http_part("DELETE", f"{ROOT}contacts({ids[1]})")]).status_code == 200
    sim.dataverse_change(dv.env, "contact", "delete", ids[2])
    assert in_bin(sim, dv.env, "contact") == 3
    listed = query_bin(dv, "contacts", bin_fetch("contact", quote_char="'"))
    assert {r["contactid"] for r in listed.json()["value"]} == set(ids[:3])
    set_bin(sim, dv.env, False)
    assert dv.http.delete(f"contacts({ids[3]})").status_code == 204
    assert in_bin(sim, dv.env, "contact") == 3, "off: later deletes are not kept"
    # What the bin held stays restorable after it is turned off.
    assert restore(dv, {"@odata.id": f"contacts({ids[2]})"}).status_code == 200


def test_rolled_back_change_set_leaves_nothing_in_the_bin(sim: Simulator,
                                                          dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    row_id = first_id(dv, "accounts")
    failed = batch(dv, [change_set([
        http_part("DELETE", f"{ROOT}accounts({row_id})", None, 1),
        http_part("POST", f"{ROOT}accounts", {"nosuch": 1}, 2),
    ])])
    assert failed.status_code == 400
    assert dv.http.get(f"accounts({row_id})").status_code == 200
    assert in_bin(sim, dv.env, "account") == 0


def test_restore_errors(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    never = restore(dv, {"@odata.id": f"accounts({uuid.uuid4()})"})
    assert (never.status_code, never.json()["error"]["code"]) == (404, NOT_IN_BIN)
    live = first_id(dv, "accounts")
    exists = restore(dv, {"@odata.id": f"accounts({live})"})
    assert (exists.status_code, exists.json()["error"]["code"]) == (400, DUPLICATE)
    assert restore(dv, {"@odata.id": f"nosuchset({live})"}).status_code == 404
    no_target = dv.http.post("Restore", json={})
    assert no_target.status_code == 400 and "Target" in no_target.json()["error"]["message"]
    no_key = restore(dv, {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "x"})
    assert no_key.status_code == 400 and "accountid" in no_key.json()["error"]["message"]
    assert dv.http.get("Restore").status_code == 405
    assert sim.dataverse_writes(dv.env) == []


def test_override_form_sets_values_while_restoring(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    row_id = first_id(dv, "accounts")
    before = dv.http.get(f"accounts({row_id})").json()
    dv.http.delete(f"accounts({row_id})")
    done = restore(dv, {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": row_id,
                        "name": "Renamed on restore"})
    assert done.status_code == 200, done.text
    after = dv.http.get(f"accounts({row_id})").json()
    assert after["name"] == "Renamed on restore"
    assert after["telephone1"] == before["telephone1"]


def delete_parent_and_child(sim: Simulator, dv: Dataverse) -> tuple[str, str]:
    """(account, contact): a contact of an account, both deleted into the bin."""
    sim.dataverse_recycle_bin(dv.env)
    account = first_id(dv, "accounts")
    contact = dv.http.post("contacts", json={
        "lastname": "Child", "parentcustomerid_account@odata.bind": f"accounts({account})"},
    ).headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    dv.http.delete(f"contacts({contact})")
    dv.http.delete(f"accounts({account})")
    return account, contact


def test_lookup_to_a_gone_row_comes_back_cleared(sim: Simulator, dv: Dataverse) -> None:
    _, contact = delete_parent_and_child(sim, dv)
    assert restore(dv, {"@odata.id": f"contacts({contact})"}).status_code == 200
    assert dv.http.get(f"contacts({contact})").json()["_parentcustomerid_value"] is None


def test_parent_first_keeps_the_lookup(sim: Simulator, dv: Dataverse) -> None:
    account, contact = delete_parent_and_child(sim, dv)
    assert restore(dv, {"@odata.id": f"accounts({account})"}).status_code == 200
    assert restore(dv, {"@odata.id": f"contacts({contact})"}).status_code == 200
    assert dv.http.get(f"contacts({contact})").json()["_parentcustomerid_value"] == account


def test_bin_query_and_restore_inside_a_batch(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    gone, never = first_id(dv, "accounts"), str(uuid.uuid4())
    dv.http.delete(f"accounts({gone})")
    fetch = quote(bin_fetch("account", [gone, never], ("accountid",), quote_char="'"))
    answer = batch(dv, [
        http_part("GET", f"{ROOT}accounts?fetchXml={fetch}", headers={"Prefer": ALL}),
        http_part("POST", f"{ROOT}Restore", {"Target": {"@odata.id": f"accounts({gone})"}}),
        http_part("POST", f"{ROOT}Restore", {"Target": {"@odata.id": f"accounts({never})"}}),
    ], prefer="odata.continue-on-error")
    assert answer.status_code == 200
    (listed, _, listed_body), (ok, _, ok_body), (missing, _, missing_body) = responses(answer)
    assert listed == 200 and [r["accountid"] for r in json.loads(listed_body)["value"]] == [gone]
    assert ok == 200 and json.loads(ok_body)["id"] == gone
    assert missing == 404 and json.loads(missing_body)["error"]["code"] == NOT_IN_BIN
    assert dv.http.get(f"accounts({gone})").status_code == 200


def test_restore_counts_toward_service_protection(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    row_id = first_id(dv, "accounts")
    left = int(dv.http.delete(f"accounts({row_id})").headers[REMAINING])
    done = restore(dv, {"@odata.id": f"accounts({row_id})"})
    assert int(done.headers[REMAINING]) == left - 1
    deleted = dv.http.delete(f"accounts({row_id})")
    # The window is full: the next request, a Restore, is refused like any other.
    used = sim.options.dataverse_requests_per_window - int(deleted.headers[REMAINING])
    sim.set_options(dataverse_requests_per_window=used)
    refused = restore(dv, {"@odata.id": f"accounts({row_id})"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "0x80072322"
    assert in_bin(sim, dv.env, "account") == 1, "a refused Restore restores nothing"


def test_fetch_other_than_the_bin_is_refused_clearly(dv: Dataverse) -> None:
    plain = query_bin(dv, "accounts", "<fetch><entity name='account'/></fetch>")
    assert plain.status_code == 400
    assert "not supported by the simulator" in plain.json()["error"]["message"]
    broken = query_bin(dv, "accounts", "<fetch datasource='bin'><entity")
    assert broken.status_code == 400 and "XML" in broken.json()["error"]["message"]
    other = query_bin(dv, "accounts", bin_fetch("contact"))
    assert other.status_code == 400 and "contact" in other.json()["error"]["message"]
    bad_column = query_bin(dv, "accounts", bin_fetch("account", attributes=("nosuch",)))
    assert bad_column.status_code == 400 and "nosuch" in bad_column.json()["error"]["message"]
    by_name = query_bin(dv, "accounts", "<fetch datasource='bin'><entity name='account'><filter>"
                        "<condition attribute='name' operator='like' value='A%'/></filter>"
                        "</entity></fetch>")
    assert by_name.status_code == 400
    assert "primary id" in by_name.json()["error"]["message"]


def test_bin_survives_save_and_load(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with run_simulator(speed=0, populate=False, seed=1234) as first:
        env = first.add_environment("Prod", type="Production")
        first.dataverse_recycle_bin(env)
        with httpx.Client(base_url=first.url) as http:
            record = http.get(f"{ENVS}/{env}", params={"api-version": API_BAP_READ}).json()
        url = record["properties"]["linkedEnvironmentMetadata"]["instanceApiUrl"]
        with httpx.Client(base_url=f"{url}{ROOT}") as http:
            dv = Dataverse(env, url, http)
            account, parent = first_id(dv, "accounts"), first_id(dv, "accounts", 1)
            dv.http.patch(f"accounts({account})",
                          json={"parentaccountid@odata.bind": f"accounts({parent})"})
            before = dv.http.get(f"accounts({account})").json()
            dv.http.delete(f"accounts({account})")
        first.save_state(path)
    with run_simulator(speed=0, populate=False, state_file=path) as second:
        url = second.dataverse_url(env)
        with httpx.Client(base_url=f"{url}{ROOT}") as http:
            dv = Dataverse(env, url, http)
            assert summary(second, env)["recycleBin"] is True
            assert restore(dv, {"@odata.id": f"accounts({account})"}).status_code == 200
            after = dv.http.get(f"accounts({account})").json()
    assert without_version(after) == without_version(before)
    assert after["_parentaccountid_value"] == parent


def test_environment_restore_copies_the_bin_as_it_stood() -> None:
    org = Org("source", 10)
    org.recycle_bin = True
    accounts = org.tables["account"]
    row_id = accounts.id_at(3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    org.remove(accounts, row_id, start + timedelta(hours=1))
    raw = accounts.binned(row_id)
    assert raw is not None
    org.undelete(accounts, row_id, raw, start + timedelta(hours=2))

    before_delete = org.as_of("copy", start).tables["account"]
    assert before_delete.exists(row_id) and row_id not in before_delete.bin
    while_deleted = org.as_of("copy", start + timedelta(hours=1))
    assert not while_deleted.tables["account"].exists(row_id)
    assert while_deleted.tables["account"].binned(row_id) == raw
    assert while_deleted.recycle_bin is True
    after = org.as_of("copy", start + timedelta(hours=3)).tables["account"]
    assert after.exists(row_id) and row_id not in after.bin


def test_fetch_top_eq_and_or_conditions(sim: Simulator, dv: Dataverse) -> None:
    sim.dataverse_recycle_bin(dv.env)
    ids = [first_id(dv, "accounts", n) for n in range(3)]
    for row_id in ids:
        dv.http.delete(f"accounts({row_id})")
    top = query_bin(dv, "accounts", "<fetch top='2' datasource='bin'><entity name='account'>"
                    "<all-attributes/></entity></fetch>").json()
    assert [r["accountid"] for r in top["value"]] == ids[:2], "in the order deleted"
    assert top["@Microsoft.Dynamics.CRM.morerecords"] is True
    assert "telephone1" in top["value"][0]
    either = query_bin(dv, "accounts", (
        "<fetch datasource='bin'><entity name='account'><filter type='or'>"
        f"<condition attribute='accountid' operator='eq' value='{ids[2]}'/>"
        f"<condition attribute='accountid' operator='in'><value>{{{ids[0].upper()}}}</value>"
        "</condition></filter></entity></fetch>")).json()
    assert sorted(r["accountid"] for r in either["value"]) == sorted([ids[0], ids[2]])
    assert "@Microsoft.Dynamics.CRM.morerecords" not in either
    both = query_bin(dv, "accounts", (
        "<fetch datasource='bin'><entity name='account'><filter>"
        f"<condition attribute='accountid' operator='eq' value='{ids[2]}'/>"
        f"<condition attribute='accountid' operator='in'><value>{ids[0]}</value></condition>"
        "</filter></entity></fetch>")).json()
    assert both["value"] == []
