"""Change tracking (reference §4): an initial sync hands out a delta link on its last page; a
delta read returns new and changed rows, then `$deletedEntity` entries, then a fresh link;
paging works inside it; tokens expire with the documented error."""

from __future__ import annotations

import httpx

from ppbackup.simulator import Simulator

from .conftest import Dataverse, read_all

TRACK = "odata.track-changes,odata.maxpagesize=20"


def initial_sync(dv: Dataverse, table: str = "accounts") -> tuple[list[dict], str]:
    rows, delta = read_all(dv.http, f"{table}?$select=name", TRACK)
    assert delta is not None
    return rows, delta


def test_initial_sync_pages_then_gives_a_delta_link(dv: Dataverse) -> None:
    first = dv.http.get("accounts?$select=name", headers={"Prefer": TRACK})
    assert "odata.track-changes" in first.headers["Preference-Applied"]
    assert "@odata.nextLink" in first.json() and "@odata.deltaLink" not in first.json()
    rows, delta = initial_sync(dv)
    assert len(rows) == 50
    assert "$deltatoken=" in delta and "$select=name" in delta
    nothing = dv.http.get(delta).json()
    assert nothing["value"] == []
    assert nothing["@odata.context"].endswith("/$delta")
    assert "$deltatoken=" in nothing["@odata.deltaLink"]


def test_delta_returns_changes_then_deletes(sim: Simulator, dv: Dataverse) -> None:
    rows, delta = initial_sync(dv)
    changed, removed = rows[3]["accountid"], rows[4]["accountid"]
    sim.dataverse_change(dv.env, "account", "update", changed, {"name": "Renamed Ltd"})
    sim.dataverse_change(dv.env, "account", "delete", removed)
    created = sim.dataverse_change(dv.env, "account", "create", values={"name": "New Co"})
    short_lived = sim.dataverse_change(dv.env, "account", "create", values={"name": "Gone"})
    sim.dataverse_change(dv.env, "account", "delete", short_lived)
    body = dv.http.get(delta).json()
    upserts = [r for r in body["value"] if "$deletedEntity" not in r.get("@odata.context", "")]
    deletes = [r for r in body["value"] if "$deletedEntity" in r.get("@odata.context", "")]
    assert body["value"] == upserts + deletes, "new/updated rows first, deletes last"
    assert [(r["accountid"], r["name"]) for r in upserts] == [
        (changed, "Renamed Ltd"), (created, "New Co")]
    assert {d["id"] for d in deletes} == {removed, short_lived}
    assert all(d["reason"] == "deleted" for d in deletes)
    # The next link starts from here: the same changes are not handed out twice.
    assert dv.http.get(body["@odata.deltaLink"]).json()["value"] == []


def test_paging_inside_a_delta(sim: Simulator, dv: Dataverse) -> None:
    rows, delta = initial_sync(dv)
    for row in rows[:30]:
        sim.dataverse_change(dv.env, "account", "update", row["accountid"], {"name": "x"})
    for row in rows[30:35]:
        sim.dataverse_change(dv.env, "account", "delete", row["accountid"])
    changes, next_delta = read_all(dv.http, delta, TRACK)
    assert next_delta is not None
    assert len(changes) == 35
    assert [c.get("id") for c in changes[30:]] == [r["accountid"] for r in rows[30:35]]


def test_writes_during_a_paged_sync_come_in_the_next_delta(sim: Simulator,
                                                         dv: Dataverse) -> None:
    first = dv.http.get("accounts?$select=name", headers={"Prefer": TRACK}).json()
    early = first["value"][0]["accountid"]
    sim.dataverse_change(dv.env, "account", "update", early, {"name": "Changed mid-sync"})
    _, delta = read_all(dv.http, first["@odata.nextLink"], TRACK)
    assert delta is not None
    changes = dv.http.get(delta).json()["value"]
    assert [(c["accountid"], c["name"]) for c in changes] == [(early, "Changed mid-sync")]


def test_expired_token_is_the_documented_error(sim: Simulator, dv: Dataverse) -> None:
    _, delta = initial_sync(dv)
    sim.dataverse_expire_tokens(dv.env)
    expired = dv.http.get(delta)
    assert expired.status_code == 400
    assert expired.json()["error"]["code"] == "0x80044352"
    assert "full sync" in expired.json()["error"]["message"]
    _, fresh = initial_sync(dv)  # a full sync gives a token that works
    assert dv.http.get(fresh).status_code == 200


def test_token_expires_after_the_retention_days(sim: Simulator, dv: Dataverse) -> None:
    _, delta = initial_sync(dv)
    sim.advance(6 * 86400)
    still = dv.http.get(delta)
    assert still.status_code == 200
    sim.advance(2 * 86400)
    assert dv.http.get(delta).json()["error"]["code"] == "0x80044352"
    # A delta read hands out a new token, two days old now: it is the token's age that counts.
    assert dv.http.get(still.json()["@odata.deltaLink"]).status_code == 200


def test_filter_and_top_are_refused_with_change_tracking(dv: Dataverse) -> None:
    for params in ({"$filter": "statecode eq 0"}, {"$top": "5"}):
        refused = dv.http.get("accounts", params=params,
                              headers={"Prefer": "odata.track-changes"})
        assert refused.status_code == 400
        assert "isn't supported when Change Tracking is enabled" in refused.json()["error"][
            "message"]


def test_table_without_change_tracking_gives_no_delta_link(dv: Dataverse) -> None:
    response = dv.http.get("new_importlogs?$select=new_name",
                           headers={"Prefer": "odata.track-changes"})
    assert response.status_code == 200
    assert "odata.track-changes" not in response.headers.get("Preference-Applied", "")
    assert "@odata.deltaLink" not in response.json()


def test_garbage_tokens_are_refused(dv: Dataverse) -> None:
    for query in ("$deltatoken=nonsense", "$skiptoken=%%%"):
        response = dv.http.get(f"accounts?{query}")
        assert response.status_code == 400, query


def test_tokens_are_per_environment_and_survive_nothing_else(sim: Simulator,
                                                             dv: Dataverse) -> None:
    other = sim.add_environment("Other", type="Sandbox")
    _, delta = initial_sync(dv)
    sim.dataverse_change(other, "account", "create", values={"name": "elsewhere"})
    assert dv.http.get(delta).json()["value"] == []
    with httpx.Client() as http:
        first = http.get(f"{sim.dataverse_url(other)}/api/data/v9.2/accounts?$select=name",
                         headers={"Prefer": "odata.track-changes"}).json()
        assert any(r["name"] == "elsewhere" for r in first["value"])
