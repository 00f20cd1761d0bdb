"""The record restore's Dataverse calls: rows by id, the recycle bin, `Restore`, and a batch of
conditional writes, each checked for the requests it sends (read back by a MIME parser, not our
encoder's twin) and for what it makes of the answers."""

from __future__ import annotations

import json
import logging
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.dataverse import (
    BatchRequest,
    in_recycle_bin,
    restore_deleted,
    rows_by_ids,
    write_batch,
)
from shared.errors import Forbidden, OutcomeUnknown, PowerPlatformError, Throttled
from tests.unit.dataverse.conftest import (
    ACCOUNT,
    CONTACT,
    BatchServer,
    Harness,
    Part,
    PartAnswer,
    batch_answer,
    error_body,
)

Make = Callable[..., Harness]
API_PATH = "/api/data/v9.2/"
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def guids(n: int) -> list[str]:
    return [str(uuid.UUID(int=i + 1)) for i in range(n)]


def query_value(part: Part, name: str) -> str:
    """The decoded value of one query option of a part's URL."""
    query = part.url.partition("?")[2]
    options = dict(o.split("=", 1) for o in query.split("&"))
    return unquote(options[name])


def filtered_ids(part: Part) -> list[str]:
    """The ids of `<col> eq <g1> or <col> eq <g2> ...`, checking the disjunction's shape."""
    text = query_value(part, "$filter")
    terms = text.split(" or ")
    assert all(re.fullmatch(rf"accountid eq {_GUID.pattern}", t) for t in terms), text
    return [t.rsplit(" ", 1)[1] for t in terms]


def table_server(rows: dict[str, dict[str, object]]) -> Callable[[Part], PartAnswer]:
    """Answers each filter part with the rows among `rows` (id -> row) it names."""

    def answer(part: Part) -> PartAnswer:
        return 200, {}, {"value": [rows[g] for g in filtered_ids(part) if g in rows]}

    return answer


def account(row_id: str, **values: object) -> dict[str, object]:
    return {"@odata.etag": 'W/"7"', "accountid": row_id, **values}


# --- rows_by_ids ---------------------------------------------------------------------------------


def test_rows_by_ids_sends_one_batch_of_filters_of_at_most_per_request_ids(make: Make) -> None:
    server = BatchServer(table_server({}))
    h = make(route=server)
    ids = guids(120)
    rows_by_ids(h.client, "accounts", "accountid", ids)
    (parts,) = server.batches
    assert [len(filtered_ids(p)) for p in parts] == [50, 50, 20]
    assert [g for p in parts for g in filtered_ids(p)] == ids
    for part in parts:
        assert part.method == "GET"
        assert part.url.startswith(f"{API_PATH}accounts?$filter=accountid%20eq%20")
        assert " " not in part.url
        assert part.headers["Prefer"] == 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'
    assert server.prefers == ["odata.continue-on-error"]


def test_rows_by_ids_gives_the_rows_found_by_lower_case_id_as_the_paged_read_does(
    make: Make,
) -> None:
    upper = ACCOUNT.upper()
    row = account(
        upper,
        name="Contoso",
        statecode=0,
        **{
            "statecode@OData.Community.Display.V1.FormattedValue": "Active",
            "_primarycontactid_value": CONTACT,
            "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
        },
    )
    server = BatchServer(lambda part: (200, {}, {"value": [row]}))
    h = make(route=server)
    gone = str(uuid.uuid4())
    found = rows_by_ids(h.client, "accounts", "accountid", [ACCOUNT, gone])
    assert list(found) == [ACCOUNT]
    assert found[ACCOUNT] == {
        "@odata.etag": 'W/"7"',
        "accountid": upper,
        "name": "Contoso",
        "statecode": 0,
        "_primarycontactid_value": CONTACT,
        "_primarycontactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
    }


def test_rows_by_ids_asks_each_id_once_and_more_than_1000_parts_take_two_batches(
    make: Make,
) -> None:
    server = BatchServer(table_server({}))
    h = make(route=server)
    ids = guids(1001)
    rows_by_ids(h.client, "accounts", "accountid", [*ids, ids[0].upper()], per_request=1)
    assert [len(b) for b in server.batches] == [1000, 1]
    assert [filtered_ids(p)[0] for b in server.batches for p in b] == ids


def test_rows_by_ids_sends_nothing_for_no_ids(make: Make) -> None:
    h = make()
    assert rows_by_ids(h.client, "accounts", "accountid", []) == {}
    assert h.requests == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: rows_by_ids(c, "accounts", "accountid", ["not-a-guid"]), "must be a GUID"),
        (lambda c: rows_by_ids(c, "accounts", "accountid", ACCOUNT), "not one string"),
        (lambda c: rows_by_ids(c, "accounts x", "accountid", [ACCOUNT]), "entity set name"),
        (lambda c: rows_by_ids(c, "accounts", "id eq 1", [ACCOUNT]), "id column"),
        (lambda c: rows_by_ids(c, "accounts", "accountid", [ACCOUNT], per_request=0), "1..500"),
        (lambda c: rows_by_ids(c, "accounts", "accountid", [ACCOUNT], per_request=501), "1..500"),
    ],
)
def test_rows_by_ids_refuses_bad_input_before_sending(
    make: Make, call: Callable[..., object], message: str
) -> None:
    h = make()
    with pytest.raises(ValueError, match=message):
        call(h.client)
    assert h.requests == []


def test_a_failed_part_raises_its_mapped_error(make: Make) -> None:
    def answer(part: Part) -> PartAnswer:
        if filtered_ids(part)[0] == guids(1)[0]:
            return 200, {}, {"value": []}
        return 403, {"REQ_ID": "r-403"}, error_body("0x80040220", "Principal user is missing "
                                                    "prvReadAccount privilege")

    h = make(route=BatchServer(answer))
    with pytest.raises(Forbidden, match="prvReadAccount") as raised:
        rows_by_ids(h.client, "accounts", "accountid", guids(2), per_request=1)
    assert raised.value.error_code == "0x80040220"
    assert raised.value.request_id == "r-403"


def test_a_throttled_part_raises_throttled_with_its_retry_after(make: Make) -> None:
    h = make(route=BatchServer(
        lambda part: (429, {"Retry-After": "37"}, error_body("0x80072322", "Number of requests "
                                                             "exceeded the limit"))
    ))
    with pytest.raises(Throttled) as raised:
        rows_by_ids(h.client, "accounts", "accountid", [ACCOUNT])
    assert raised.value.retry_after == 37


def test_a_429_on_the_whole_batch_raises_throttled_at_once(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "120"},
                            json=error_body("0x80072321", "Combined execution time exceeded")))
    with pytest.raises(Throttled) as raised:
        rows_by_ids(h.client, "accounts", "accountid", [ACCOUNT])
    assert raised.value.retry_after == 120
    assert len(h.requests) == 1
    assert h.time.sleeps == []


def test_a_row_without_its_id_column_is_an_error_not_a_silent_miss(make: Make) -> None:
    h = make(route=BatchServer(lambda part: (200, {}, {"value": [{"name": "no id"}]})))
    with pytest.raises(PowerPlatformError, match="without its id column"):
        rows_by_ids(h.client, "accounts", "accountid", [ACCOUNT])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    asked=st.lists(st.integers(1, 400), max_size=150),
    present=st.sets(st.integers(1, 400)),
    per_request=st.integers(1, 60),
)
def test_rows_by_ids_finds_exactly_the_asked_ids_the_table_holds(
    make: Make, asked: list[int], present: set[int], per_request: int
) -> None:
    table = {str(uuid.UUID(int=i)): account(str(uuid.UUID(int=i))) for i in present}
    server = BatchServer(table_server(table))
    h = make(route=server)
    ids = [str(uuid.UUID(int=i)) for i in asked]
    found = rows_by_ids(h.client, "accounts", "accountid", ids, per_request=per_request)
    assert set(found) == set(ids) & set(table)
    sent = [g for b in server.batches for p in b for g in filtered_ids(p)]
    assert sorted(sent) == sorted(set(ids))
    assert all(len(filtered_ids(p)) <= per_request for b in server.batches for p in b)


# --- in_recycle_bin ------------------------------------------------------------------------------


def fetch_of(part: Part) -> ET.Element:
    assert part.url.startswith(f"{API_PATH}accounts?fetchXml=")
    # The XML is the client's own, written in this test run (no untrusted input).
    return ET.fromstring(query_value(part, "fetchXml"))  # noqa: S314


def bin_ids(part: Part) -> list[str]:
    fetch = fetch_of(part)
    condition = fetch.find("./entity/filter/condition")
    assert condition is not None
    return [v.text or "" for v in condition.findall("value")]


def test_the_bin_is_asked_with_fetchxml_of_at_most_100_ids_a_part(make: Make) -> None:
    server = BatchServer(lambda part: (200, {}, {"value": []}))
    h = make(route=server)
    ids = guids(250)
    assert in_recycle_bin(h.client, "accounts", "account", "accountid", ids) == set()
    (parts,) = server.batches
    assert [len(bin_ids(p)) for p in parts] == [100, 100, 50]
    assert [g for p in parts for g in bin_ids(p)] == ids
    fetch = fetch_of(parts[0])
    assert fetch.attrib == {"datasource": "bin"}
    entity = fetch.find("entity")
    assert entity is not None and entity.attrib == {"name": "account"}
    assert [a.attrib for a in entity.findall("attribute")] == [{"name": "accountid"}]
    condition = fetch.find("./entity/filter/condition")
    assert condition is not None
    assert condition.attrib == {"attribute": "accountid", "operator": "in"}
    assert all(" " not in p.url and "<" not in p.url for p in parts)
    assert server.prefers == ["odata.continue-on-error"]


def test_the_bin_answer_names_the_ids_it_holds(make: Make) -> None:
    held = guids(3)[1]

    def answer(part: Part) -> PartAnswer:
        return 200, {}, {"value": [{"accountid": g.upper()} for g in bin_ids(part) if g == held]}

    h = make(route=BatchServer(answer))
    assert in_recycle_bin(h.client, "accounts", "account", "accountid", guids(3)) == {held}


@pytest.mark.parametrize("status", [400, 404])
def test_a_table_without_a_recycle_bin_holds_none_and_is_logged(
    make: Make, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    h = make(route=BatchServer(
        lambda part: (status, {}, error_body("0x80040203", "Recycle bin is not enabled"))
    ))
    with caplog.at_level(logging.INFO, logger="shared.dataverse.restore_calls"):
        assert in_recycle_bin(h.client, "accounts", "account", "accountid", guids(250)) == set()
    (record,) = caplog.records  # three parts answered alike: one line
    assert "Recycle bin is not enabled" in record.getMessage()


def test_other_bin_failures_raise(make: Make) -> None:
    h = make(route=BatchServer(
        lambda part: (403, {}, error_body("0x80040220", "missing prvReadRecycleBin"))
    ))
    with pytest.raises(Forbidden, match="prvReadRecycleBin"):
        in_recycle_bin(h.client, "accounts", "account", "accountid", [ACCOUNT])


def test_a_429_on_the_bin_batch_raises_throttled(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "5"}, json=error_body("", "busy")))
    with pytest.raises(Throttled):
        in_recycle_bin(h.client, "accounts", "account", "accountid", [ACCOUNT])


# --- restore_deleted -----------------------------------------------------------------------------


def test_restore_sends_the_restore_message_per_id_100_a_batch(make: Make) -> None:
    server = BatchServer(lambda part: (200, {}, {"id": "x"}))
    h = make(route=server)
    ids = guids(250)
    outcomes = restore_deleted(h.client, "accounts", ids)
    assert [len(b) for b in server.batches] == [100, 100, 50]
    assert server.prefers == ["odata.continue-on-error"] * 3
    sent = [p for b in server.batches for p in b]
    assert {(p.method, p.url) for p in sent} == {("POST", f"{API_PATH}Restore")}
    assert [json.loads(p.body) for p in sent] == [
        {"Target": {"@odata.id": f"accounts({g})"}} for g in ids
    ]
    assert list(outcomes) == ids
    assert all(o.ok and o.error_code is None for o in outcomes.values())


def test_each_restore_gets_its_own_outcome_with_the_platforms_code_and_message(
    make: Make,
) -> None:
    restored, gone, duplicate = guids(3)

    def answer(part: Part) -> PartAnswer:
        target = json.loads(part.body)["Target"]["@odata.id"]
        if gone in target:
            return 404, {"REQ_ID": "r-1"}, error_body(
                "0x80049959", "The record cannot be restored: it is not in the recycle bin.")
        if duplicate in target:
            return 412, {}, error_body("0x80044a02", "A record with this id already exists.")
        return 200, {}, {"id": restored}

    h = make(route=BatchServer(answer))
    outcomes = restore_deleted(h.client, "accounts", [restored, gone.upper(), duplicate])
    assert outcomes[restored].ok
    assert (outcomes[gone].status, outcomes[gone].error_code, outcomes[gone].request_id) == (
        404, "0x80049959", "r-1")
    assert outcomes[gone].message == "The record cannot be restored: it is not in the recycle bin."
    assert (outcomes[duplicate].ok, outcomes[duplicate].error_code) == (False, "0x80044a02")


def test_a_429_on_a_restore_batch_raises_throttled(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "60"}, json=error_body("", "slow down")))
    with pytest.raises(Throttled) as raised:
        restore_deleted(h.client, "accounts", [ACCOUNT])
    assert raised.value.retry_after == 60


def test_a_throttled_restore_part_raises_throttled_not_an_outcome(make: Make) -> None:
    # Service protection refused that row's Restore, not the row: taken as "not restored", the
    # row would be written from the backup without what only the bin gives back.
    restored, throttled = guids(2)

    def answer(part: Part) -> PartAnswer:
        if throttled in json.loads(part.body)["Target"]["@odata.id"]:
            return 429, {"Retry-After": "41"}, error_body("0x80072321", "Combined execution time")
        return 200, {}, {"id": restored}

    h = make(route=BatchServer(answer))
    with pytest.raises(Throttled) as raised:
        restore_deleted(h.client, "accounts", [restored, throttled])
    assert raised.value.retry_after == 41


def test_a_lost_restore_answer_is_not_resent(make: Make) -> None:
    h = make(httpx.ReadTimeout("lost"), batch_answer([(200, {}, {})]))
    with pytest.raises(OutcomeUnknown):
        restore_deleted(h.client, "accounts", [ACCOUNT])
    assert len(h.requests) == 1


# --- write_batch ---------------------------------------------------------------------------------


def test_writes_go_as_one_batch_with_their_conditions_and_binds(make: Make) -> None:
    server = BatchServer(lambda part: (204, {"ETag": 'W/"8"'}, None))
    h = make(route=server)
    writes = [
        BatchRequest("PATCH", f"accounts({ACCOUNT})",
                     {"name": "Contoso", **h.client.bind("primarycontactid", "contacts", CONTACT)},
                     {"If-None-Match": "*"}),
        BatchRequest("PATCH", f"contacts({CONTACT})", {"lastname": "B"}, {"If-Match": 'W/"5"'}),
    ]
    outcomes = write_batch(h.client, writes)
    (parts,) = server.batches
    assert server.prefers == ["odata.continue-on-error"]
    assert [(p.method, p.url) for p in parts] == [
        ("PATCH", f"{API_PATH}accounts({ACCOUNT})"), ("PATCH", f"{API_PATH}contacts({CONTACT})")]
    assert parts[0].headers["If-None-Match"] == "*"
    assert parts[1].headers["If-Match"] == 'W/"5"'
    assert json.loads(parts[0].body) == {
        "name": "Contoso", "primarycontactid@odata.bind": f"/contacts({CONTACT})"}
    assert [(o.status, o.ok, o.etag) for o in outcomes] == [(204, True, 'W/"8"')] * 2


def test_each_write_gets_its_outcome_in_order(make: Make) -> None:
    answers: list[PartAnswer] = [
        (204, {"ETag": 'W/"9"'}, None),
        (412, {"REQ_ID": "r-412"}, error_body(
            "", "The version of the existing record doesn't match the RowVersion property "
            "provided.")),
        (429, {"Retry-After": "12"}, error_body("0x80072322", "Number of requests exceeded")),
        (200, {}, {"@odata.etag": 'W/"10"', "accountid": ACCOUNT}),
    ]
    h = make(batch_answer(answers))
    writes = [BatchRequest("PATCH", f"accounts({g})", {"name": "x"}, {"If-Match": "*"})
              for g in guids(4)]
    first, conflict, throttled, represented = write_batch(h.client, writes)
    assert (first.status, first.etag) == (204, 'W/"9"')
    assert (conflict.ok, conflict.status, conflict.error_code) == (False, 412, None)
    assert conflict.message is not None and conflict.message.startswith("The version")
    assert conflict.request_id == "r-412"
    assert (throttled.status, throttled.error_code, throttled.retry_after) == (
        429, "0x80072322", 12)
    assert (represented.ok, represented.etag) == (True, 'W/"10"')


def test_a_short_answer_to_writes_is_outcome_unknown(make: Make) -> None:
    h = make(batch_answer([(204, {}, None)]))
    writes = [BatchRequest("PATCH", f"accounts({g})", {"name": "x"}) for g in guids(2)]
    with pytest.raises(OutcomeUnknown, match="1 parts for 2 writes"):
        write_batch(h.client, writes)


@pytest.mark.parametrize("reply", [httpx.Response(503), httpx.ReadTimeout("lost")])
def test_a_writing_batch_is_sent_once(make: Make, reply: httpx.Response | Exception) -> None:
    h = make(reply, batch_answer([(204, {}, None)]))
    with pytest.raises(OutcomeUnknown):
        write_batch(h.client, [BatchRequest("PATCH", f"accounts({ACCOUNT})", {"name": "x"})])
    assert len(h.requests) == 1


def test_a_429_on_the_write_batch_raises_throttled(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "30"}, json=error_body("", "slow")))
    with pytest.raises(Throttled) as raised:
        write_batch(h.client, [BatchRequest("PATCH", f"accounts({ACCOUNT})", {"name": "x"})])
    assert raised.value.retry_after == 30


def test_write_batch_takes_writes_only_and_sends_nothing_for_none(make: Make) -> None:
    h = make()
    assert write_batch(h.client, []) == []
    with pytest.raises(ValueError, match="writes only"):
        write_batch(h.client, [BatchRequest("GET", "accounts")])
    assert h.requests == []


def test_the_batch_answer_updates_the_recommended_concurrency(make: Make) -> None:
    answer = batch_answer([(204, {}, None)])
    answer.headers["x-ms-dop-hint"] = "12"
    h = make(answer)
    write_batch(h.client, [BatchRequest("PATCH", f"accounts({ACCOUNT})", {"name": "x"})])
    assert h.client.recommended_concurrency == 12
