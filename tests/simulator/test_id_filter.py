"""A `$filter` that is a disjunction of `<primary id> eq <guid>` terms is answered by direct
lookups (the record-restore planner reads a million rows this way), alone or inside a `$batch`
GET; any other filter keeps the general evaluation."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppbackup.simulator import Simulator
from ppbackup.simulator.dataverse.query import parse_filter
from ppbackup.simulator.errors import SimError

from .conftest import Dataverse, read_all
from .test_dataverse_batch import ROOT, batch, http_part, responses

ALL = 'odata.include-annotations="*"'
TIME_LEFT = "x-ms-ratelimit-time-remaining-xrm-requests"
guids = st.uuids().map(str)


def disjunction(ids: list[str], *, parens: bool = False) -> str:
    terms = [f"(accountid eq {i})" if parens else f"accountid eq {i}" for i in ids]
    return " or ".join(terms)


def seeded_prefix(dv: Dataverse) -> str:
    """Seeded account `i` has the id `<prefix><i as 12 hex digits>` (store.TableData.id_at)."""
    first = dv.http.get("accounts", params={"$top": "1", "$select": "name"}).json()["value"][0]
    return str(first["accountid"][:-12])


def test_a_hundred_ids_in_a_million_rows_return_exactly_the_existing_ones(
        sim: Simulator, dv: Dataverse) -> None:
    # One simulated second per row read or written: a scan of the table would spend the whole
    # execution-time window; direct lookups spend one second per row found.
    sim.set_options(dataverse_rows=1_000_000, dataverse_row_cost_ms=1000)
    prefix = seeded_prefix(dv)
    seeded = [f"{prefix}{i:012x}" for i in [*range(0, 980_000, 20_000), 999_999]]
    deleted = seeded[:5]
    for row_id in deleted:
        assert dv.http.delete(f"accounts({row_id})").status_code == 204
    created = [dv.http.post("accounts", json={"name": f"new {n}"}).headers[
        "OData-EntityId"].rsplit("(", 1)[1].rstrip(")") for n in range(5)]
    missing = [str(uuid.uuid4()) for _ in range(45)]
    ids = seeded + created + missing
    assert len(ids) == 100
    existing = set(seeded[5:]) | set(created)

    answer = dv.http.get("accounts", params={"$filter": disjunction(ids),
                                             "$select": "name"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert sorted(r["accountid"] for r in body["value"]) == sorted(existing)
    assert "@odata.nextLink" not in body
    spent_ms = sim.options.dataverse_execution_seconds_per_window * 1000 - float(
        answer.headers[TIME_LEFT])
    assert spent_ms < (len(existing) + 200) * 1000, "rows read: the ones found, not the table"


def test_parentheses_and_case_do_not_matter(dv: Dataverse) -> None:
    ids = [r["accountid"] for r in dv.http.get("accounts", params={"$top": "5"}).json()["value"]]
    wanted = [*ids[:3], str(uuid.uuid4())]
    for text in (disjunction(wanted, parens=True), f"({disjunction(wanted)})",
                 disjunction([i.upper() for i in wanted])):
        rows = dv.http.get("accounts", params={"$filter": text}).json()["value"]
        assert sorted(r["accountid"] for r in rows) == sorted(ids[:3]), text


def test_id_filter_inside_a_batch_get_with_etags(dv: Dataverse) -> None:
    rows = dv.http.get("accounts", params={"$top": "50"}).json()["value"]
    etags = {r["accountid"]: r["@odata.etag"] for r in rows}
    ids = [*etags, *(str(uuid.uuid4()) for _ in range(50))]
    url = f"{ROOT}accounts?$filter={quote(disjunction(ids))}"
    answer = batch(dv, [http_part("GET", url, headers={"Prefer": ALL})])
    assert answer.status_code == 200
    [(status, _, text)] = responses(answer)
    assert status == 200
    found = json.loads(text)["value"]
    assert {r["accountid"]: r["@odata.etag"] for r in found} == etags
    assert all("statecode@OData.Community.Display.V1.FormattedValue" in r for r in found)


def test_id_filter_pages_like_a_scan(dv: Dataverse) -> None:
    rows = dv.http.get("accounts", params={"$top": "25"}).json()["value"]
    ids = [r["accountid"] for r in rows] + [str(uuid.uuid4()) for _ in range(5)]
    got, _ = read_all(dv.http, f"accounts?$filter={quote(disjunction(ids))}",
                      "odata.maxpagesize=10")
    assert sorted(r["accountid"] for r in got) == sorted(ids[:25])


def test_other_filters_keep_the_general_evaluation(dv: Dataverse) -> None:
    rows = dv.http.get("accounts", params={"$top": "3"}).json()["value"]
    text = f"accountid eq {rows[0]['accountid']} or name eq '{rows[1]['name']}'"
    got = dv.http.get("accounts", params={"$filter": text}).json()["value"]
    assert {r["accountid"] for r in got} >= {rows[0]["accountid"], rows[1]["accountid"]}
    none = dv.http.get("accounts", params={
        "$filter": f"accountid eq {rows[0]['accountid']} and name eq 'nobody'"}).json()
    assert none["value"] == []


@given(st.lists(guids, min_size=1, max_size=120), st.booleans(), st.booleans())
def test_key_in_is_the_disjunction_ids_in_order(ids: list[str], parens: bool,
                                                wrap: bool) -> None:
    text = disjunction(ids, parens=parens)
    parsed = parse_filter(f"({text})" if wrap else text)
    assert parsed.key_in == ("accountid", tuple(dict.fromkeys(i.lower() for i in ids)))


@given(st.lists(guids, min_size=2, max_size=10),
       st.sampled_from(["and", "ne", "other", "not"]))
def test_key_in_is_none_for_anything_else(ids: list[str], change: str) -> None:
    text = disjunction(ids)
    if change == "and":
        text = text.replace(" or ", " and ", 1)
    elif change == "ne":
        text = text.replace(" eq ", " ne ", 1)
    elif change == "other":
        text = f"{text} or contactid eq {ids[0]}"
    else:
        text = f"not ({text})"
    assert parse_filter(text).key_in is None


@given(st.lists(guids, min_size=2, max_size=10),
       st.sampled_from(["(", ")", ") or (", " or", "or "]))
def test_malformed_id_lists_are_still_refused(ids: list[str], broken: str) -> None:
    text = disjunction(ids)
    text = {"(": f"({text}", ")": f"{text})", ") or (": text.replace(" or ", ") or (", 1),
            " or": f"{text} or", "or ": f"or {text}"}[broken]
    with pytest.raises(SimError) as refused:
        parse_filter(text)
    assert refused.value.status == 400
