"""Steering an environment's Dataverse between backups over `/_sim/dataverse/...`: users change
rows, a column comes and goes, tokens expire, the app user loses read on a table; and the
memory a million seeded rows cost."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import httpx

from ppbackup.simulator import Simulator, run_simulator
from ppbackup.simulator.dataverse import Org

from .conftest import Dataverse


def control(sim: Simulator, path: str, body: dict | None = None) -> httpx.Response:
    url = f"{sim.url}/_sim/dataverse/{path}"
    return httpx.post(url, json=body or {}) if body is not None else httpx.get(url)


def test_rows_change_through_the_control_surface(sim: Simulator, dv: Dataverse) -> None:
    sync = dv.http.get("contacts?$select=lastname", headers={"Prefer": "odata.track-changes"})
    delta = sync.json()["@odata.deltaLink"]
    victim = sync.json()["value"][0]["contactid"]
    made = control(sim, f"{dv.env}/rows", {"table": "contact", "action": "create",
                                           "values": {"lastname": "Control"}})
    assert made.status_code == 200
    assert control(sim, f"{dv.env}/rows", {"table": "contact", "action": "delete",
                                           "id": victim}).status_code == 200
    changes = dv.http.get(delta).json()["value"]
    assert [c.get("lastname") for c in changes[:1]] == ["Control"]
    assert changes[1]["id"] == victim
    bad = control(sim, f"{dv.env}/rows", {"table": "contact", "action": "delete", "id": victim})
    assert bad.status_code == 400
    summary = control(sim, dv.env).json()
    assert summary["tables"]["contact"]["rows"] == 50
    assert summary["writes"] == 0  # control changes are not client writes
    assert control(sim, f"{dv.env}/writes").json() == {"writes": []}


def test_columns_come_and_go(sim: Simulator, dv: Dataverse) -> None:
    added = control(sim, f"{dv.env}/columns", {"table": "account",
                                               "add": {"name": "new_tier", "type": "String"}})
    assert added.status_code == 200
    row = dv.http.get("accounts", params={"$top": "1"}).json()["value"][0]
    assert row["new_tier"] is None
    assert dv.http.patch(f"accounts({row['accountid']})",
                         json={"new_tier": "gold"}).status_code == 204
    attrs = dv.http.get("EntityDefinitions(LogicalName='account')/Attributes",
                        params={"$select": "LogicalName"}).json()["value"]
    assert "new_tier" in {a["LogicalName"] for a in attrs}
    removed = control(sim, f"{dv.env}/columns", {"table": "account", "remove": "telephone1"})
    assert removed.status_code == 200
    again = dv.http.get(f"accounts({row['accountid']})").json()
    assert "telephone1" not in again and again["new_tier"] == "gold"
    assert dv.http.get("accounts", params={"$select": "telephone1"}).status_code == 400
    assert control(sim, f"{dv.env}/columns", {"table": "account",
                                              "remove": "accountid"}).status_code == 400


def test_revoked_read_is_the_documented_403(sim: Simulator, dv: Dataverse) -> None:
    assert control(sim, f"{dv.env}/privileges",
                   {"table": "annotation", "privilege": "Read"}).status_code == 200
    denied = dv.http.get("annotations")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "0x80040220"
    assert "prvReadannotation" in denied.json()["error"]["message"]
    assert dv.http.get("accounts").status_code == 200  # other tables still readable
    control(sim, f"{dv.env}/privileges", {"table": "annotation", "privilege": "Read",
                                          "revoked": False})
    assert dv.http.get("annotations").status_code == 200


def test_expire_tokens_over_http(sim: Simulator, dv: Dataverse) -> None:
    sync = dv.http.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"})
    assert control(sim, f"{dv.env}/expire-tokens", {}).status_code == 200
    assert dv.http.get(sync.json()["@odata.deltaLink"]).status_code == 400


def test_invalidate_tokens_over_http(sim: Simulator, dv: Dataverse) -> None:
    sync = dv.http.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"})
    assert control(sim, f"{dv.env}/invalidate-tokens", {}).status_code == 200
    refused = dv.http.get(sync.json()["@odata.deltaLink"])
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "The $deltatoken value is not valid."
    again = dv.http.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"})
    assert dv.http.get(again.json()["@odata.deltaLink"]).status_code == 200


def test_write_log_over_http_and_clearing_it(sim: Simulator, dv: Dataverse) -> None:
    dv.http.post("accounts", json={"name": "logged"})
    log = control(sim, f"{dv.env}/writes").json()["writes"]
    assert [(w["table"], w["action"], w["body"]) for w in log] == [
        ("account", "create", {"name": "logged"})]
    assert control(sim, f"{dv.env}/writes/clear", {}).json() == {"writes": []}
    assert sim.dataverse_writes(dv.env) == []


def test_reset_forgets_dataverse_changes(sim: Simulator, dv: Dataverse) -> None:
    dv.http.post("accounts", json={"name": "before reset"})
    sim.reset(populate=False)
    env = sim.add_environment("Again", type="Sandbox", env_id=dv.env)
    assert sim.dataverse_writes(env) == []


def test_a_million_rows_cost_little_memory() -> None:
    tracemalloc.start()
    try:
        org = Org("bench-environment", 200_000)  # x 5 data tables + the intersect table
        data = org.tables["account"]
        last = org.raw(data, data.id_at(199_999))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(d.count() for d in org.tables.values()) > 1_000_000
    assert last is not None and last["accountnumber"] == "ACC-0199999"
    assert peak < 2_000_000, f"{peak} bytes for seeded rows that should be generated on demand"


def test_state_file_keeps_dataverse_changes(sim: Simulator, dv: Dataverse, tmp_path: Path) -> None:
    made = dv.http.post("contacts", json={
        "lastname": "Saved", "parentcustomerid_account@odata.bind":
            f"/accounts({dv.http.get('accounts?$top=1').json()['value'][0]['accountid']})"},
        headers={"Prefer": "return=representation"}).json()
    gone = dv.http.get("contacts?$top=1").json()["value"][0]["contactid"]
    dv.http.delete(f"contacts({gone})")
    delta = dv.http.get("contacts?$select=lastname",
                        headers={"Prefer": "odata.track-changes"}).json()["@odata.deltaLink"]
    sim.dataverse_add_column(dv.env, "contact", "new_nickname", "String")
    sim.dataverse_revoke(dv.env, "annotation", "Read")
    path = tmp_path / "sim.json"
    sim.save_state(path)
    with run_simulator(speed=0, populate=False, state_file=path) as again, \
            httpx.Client(base_url=f"{again.dataverse_url(dv.env)}/api/data/v9.2/") as http:
        row = http.get(f"contacts({made['contactid']})").json()
        assert row["lastname"] == "Saved" and row["new_nickname"] is None
        assert row["_parentcustomerid_value"] == made["_parentcustomerid_value"]
        assert row["@odata.etag"] == made["@odata.etag"]
        assert http.get(f"contacts({gone})").status_code == 404
        assert http.get("annotations").status_code == 403
        assert [w["action"] for w in again.dataverse_writes(dv.env)] == ["create", "delete"]
        # Change tracking goes on from the saved versions.
        again.dataverse_change(dv.env, "contact", "update", made["contactid"],
                               {"lastname": "After restart"})
        changes = http.get(delta.replace(sim.url, again.url)).json()["value"]
        assert [c["lastname"] for c in changes] == ["After restart"]


def test_written_rows_are_stored_compactly() -> None:
    from datetime import UTC, datetime

    from ppbackup.simulator.dataverse import control as dataverse_control

    org = Org("compact", 10)
    now = datetime.now(UTC)
    tracemalloc.start()
    try:
        for i in range(5000):
            dataverse_control.change_row(org, "account", "create", None,
                                         {"name": f"Row {i}", "telephone1": "555"}, now)
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Values, version, change log and history of a 24-column row, not a dict per row.
    assert used / 5000 < 1200, f"{used / 5000:.0f} bytes per written row"
