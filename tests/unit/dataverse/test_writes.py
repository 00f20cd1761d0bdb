"""Conditional writes, state changes, lookups by @odata.bind, and the $batch envelope."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import Message
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.dataverse import (
    BatchRequest,
    ChangeSet,
    decode_batch,
    encode_batch,
)
from shared.errors import OutcomeUnknown, PowerPlatformError
from tests.unit.dataverse.conftest import (
    ACCOUNT,
    API,
    CONTACT,
    ROOT,
    Harness,
    inner_request,
    parse_request,
)

Make = Callable[..., Harness]


def created(row_id: str = ACCOUNT, entity_set: str = "accounts") -> httpx.Response:
    return httpx.Response(204, headers={"OData-EntityId": f"{ROOT}/{entity_set}({row_id})"})


def sent_json(request: httpx.Request) -> Any:
    return json.loads(request.content)


def test_create_posts_the_row_and_reads_the_new_id(make: Make) -> None:
    h = make(created())
    result = h.client.create("accounts", {"name": "Contoso"})
    assert (h.requests[0].method, str(h.requests[0].url)) == ("POST", f"{ROOT}/accounts")
    assert sent_json(h.requests[0]) == {"name": "Contoso"}
    assert h.requests[0].headers["Content-Type"] == "application/json"
    assert result.id == ACCOUNT
    assert result.row is None


def test_create_with_return_row_gets_the_row_and_its_etag(make: Make) -> None:
    row = {"@odata.etag": 'W/"12"', "accountid": ACCOUNT, "name": "Contoso"}
    h = make(httpx.Response(201, json=row))
    result = h.client.create("accounts", {"name": "Contoso"}, return_row=True)
    assert "return=representation" in h.requests[0].headers["Prefer"]
    assert result.row == row
    assert result.etag == 'W/"12"'


def test_update_never_creates_unless_asked(make: Make) -> None:
    h = make(httpx.Response(204), httpx.Response(204))
    h.client.update("accounts", ACCOUNT, {"name": "x"})
    h.client.update("accounts", ACCOUNT, {"name": "y"}, if_match='W/"915244"')
    assert h.requests[0].method == "PATCH"
    assert str(h.requests[0].url) == f"{ROOT}/accounts({ACCOUNT})"
    assert h.requests[0].headers["If-Match"] == "*"
    assert h.requests[1].headers["If-Match"] == 'W/"915244"'


def test_an_etag_guarded_update_is_not_resent(make: Make) -> None:
    h = make(httpx.Response(503), httpx.Response(204))
    with pytest.raises(OutcomeUnknown):
        h.client.update("accounts", ACCOUNT, {"name": "x"}, if_match='W/"1"')
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    "write",
    [
        lambda c: c.update("accounts", ACCOUNT, {"name": "x"}),
        lambda c: c.upsert("accounts", ACCOUNT, {"name": "x"}),
        lambda c: c.upsert("accounts", ACCOUNT, {"name": "x"}, only="update"),
        lambda c: c.set_state("workflows", ACCOUNT, 1, 2),
    ],
    ids=["update", "upsert", "upsert-update-only", "set_state"],
)
@pytest.mark.parametrize(
    "failure", [httpx.Response(503), httpx.ReadTimeout("no answer")], ids=["503", "timeout"]
)
def test_no_write_is_resent_once_it_may_have_arrived(
    make: Make, write: Callable[..., object], failure: httpx.Response | Exception
) -> None:
    h = make(failure, httpx.Response(204))
    with pytest.raises(OutcomeUnknown):
        write(h.client)
    assert len(h.requests) == 1
    assert h.time.sleeps == []


def test_a_write_that_never_left_is_sent_again(make: Make) -> None:
    h = make(httpx.ConnectError("refused"), httpx.Response(204))
    h.client.update("accounts", ACCOUNT, {"name": "x"})
    assert len(h.requests) == 2


@pytest.mark.parametrize(
    ("only", "header", "value"),
    [("create", "If-None-Match", "*"), ("update", "If-Match", "*"), (None, None, None)],
)
def test_upsert_conditions(make: Make, only: Any, header: str | None, value: str | None) -> None:
    h = make(httpx.Response(204))
    h.client.upsert("accounts", ACCOUNT, {"name": "x"}, only=only)
    request = h.requests[0]
    assert (request.method, str(request.url)) == ("PATCH", f"{ROOT}/accounts({ACCOUNT})")
    if header is None:
        assert "If-Match" not in request.headers and "If-None-Match" not in request.headers
    else:
        assert request.headers[header] == value


def test_set_state_sends_both_codes(make: Make) -> None:
    flow = "3c2b1a0e-9d87-4d6e-a5f4-7d1f3e2a9b8c"
    h = make(httpx.Response(204))
    h.client.set_state("workflows", flow, 1, 2)
    assert str(h.requests[0].url) == f"{ROOT}/workflows({flow})"
    assert sent_json(h.requests[0]) == {"statecode": 1, "statuscode": 2}


def test_bind_sets_a_lookup(make: Make) -> None:
    h = make(created(CONTACT, "contacts"))
    row = {"lastname": "Doe", **h.client.bind("parentcustomerid_account", "accounts", ACCOUNT)}
    h.client.create("contacts", row)
    assert sent_json(h.requests[0]) == {
        "lastname": "Doe",
        "parentcustomerid_account@odata.bind": f"/accounts({ACCOUNT})",
    }


@pytest.mark.parametrize("bad", ["not-a-guid", f"{ACCOUNT})/x", ""])
def test_row_ids_are_checked_before_going_into_a_url(make: Make, bad: str) -> None:
    h = make()
    with pytest.raises(ValueError, match="GUID"):
        h.client.update("accounts", bad, {"name": "x"})
    assert h.requests == []


# --- $batch ---------------------------------------------------------------------------------------


def test_batch_envelope_as_a_mime_parser_reads_it() -> None:
    items = [
        ChangeSet(
            (
                BatchRequest("POST", "accounts", {"name": "A"}),
                BatchRequest(
                    "POST",
                    "contacts",
                    {"lastname": "B", "parentcustomerid_account@odata.bind": "$1"},
                ),
            )
        ),
        BatchRequest("GET", "accounts?$select=name&$top=1"),
    ]
    content_type, body = encode_batch(items, api_path="/api/data/v9.2", boundary="batch_B1")
    assert content_type == 'multipart/mixed; boundary="batch_B1"'
    assert b"\r\n--batch_B1--\r\n" in body

    message = parse_request(content_type, body)
    changeset, get = message.get_payload()
    assert isinstance(changeset, Message) and isinstance(get, Message)
    assert changeset.get_content_type() == "multipart/mixed"
    first, second = changeset.get_payload()
    assert (first["Content-ID"], second["Content-ID"]) == ("1", "2")
    assert first["Content-Transfer-Encoding"] == "binary"
    line, headers, sent = inner_request(first)
    assert line == "POST /api/data/v9.2/accounts HTTP/1.1"
    assert headers["Content-Type"] == "application/json; type=entry"
    assert json.loads(sent) == {"name": "A"}
    assert json.loads(inner_request(second)[2])["parentcustomerid_account@odata.bind"] == "$1"
    assert inner_request(get)[0] == "GET /api/data/v9.2/accounts?$select=name&$top=1 HTTP/1.1"


RESPONSE = (
    "--batchresponse_f1\r\n"
    'Content-Type: multipart/mixed; boundary="changesetresponse_c1"\r\n'
    "\r\n"
    "--changesetresponse_c1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    "OData-Version: 4.0\r\n"
    f"OData-EntityId: {ROOT}/accounts({ACCOUNT})\r\n"
    "REQ_ID: r-1\r\n"
    "\r\n"
    "\r\n"
    "--changesetresponse_c1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    f"OData-EntityId: {ROOT}/contacts({CONTACT})\r\n"
    "\r\n"
    "\r\n"
    "--changesetresponse_c1--\r\n"
    "--batchresponse_f1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json; odata.metadata=minimal; odata.streaming=true\r\n"
    "\r\n"
    '{"value":[{"name":"Zoë \\u00e9","accountid":"' + ACCOUNT + '"}]}\r\n'
    "--batchresponse_f1--\r\n"
)
RESPONSE_TYPE = 'multipart/mixed; boundary="batchresponse_f1"'


def test_batch_answer_is_one_response_per_request_in_order() -> None:
    first, second, third = decode_batch(RESPONSE_TYPE, RESPONSE.encode())
    assert (first.status, first.content_id, first.request_id) == (204, "1", "r-1")
    assert first.headers["odata-entityid"].endswith(f"accounts({ACCOUNT})")
    assert (second.status, second.content_id) == (204, "2")
    assert third.status == 200 and third.ok
    assert third.body == {"value": [{"name": "Zoë é", "accountid": ACCOUNT}]}


def test_client_batch_sends_the_envelope_and_reads_the_answer(make: Make) -> None:
    h = make(httpx.Response(200, text=RESPONSE, headers={"Content-Type": RESPONSE_TYPE}))
    responses = h.client.batch(
        [
            ChangeSet(
                (
                    BatchRequest("POST", "accounts", {"name": "A"}),
                    BatchRequest("POST", "contacts", {"lastname": "B"}),
                )
            ),
            BatchRequest("GET", "accounts?$select=name"),
        ],
        continue_on_error=True,
    )
    request = h.requests[0]
    assert (request.method, str(request.url)) == ("POST", f"{ROOT}/$batch")
    assert request.headers["Content-Type"].startswith("multipart/mixed; boundary=")
    assert request.headers["Prefer"] == "odata.continue-on-error"
    assert len(parse_request(request.headers["Content-Type"], request.content).get_payload()) == 2
    assert [r.status for r in responses] == [204, 204, 200]


FAILED = (
    "--batchresponse_e1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 400 Bad Request\r\n"
    "REQ_ID: r-9\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "\r\n"
    '{"error":{"code":"0x80044331","message":"A validation error occurred."}}\r\n'
    "--batchresponse_e1--\r\n"
)


def test_a_batch_stopped_by_a_failure_gives_the_failing_response(make: Make) -> None:
    h = make(
        httpx.Response(
            400,
            text=FAILED,
            headers={"Content-Type": 'multipart/mixed; boundary="batchresponse_e1"'},
        )
    )
    (failed,) = h.client.batch([BatchRequest("POST", "accounts", {"name": "x" * 5000})])
    assert (failed.status, failed.ok, failed.request_id) == (400, False, "r-9")
    assert failed.body["error"]["code"] == "0x80044331"


def test_more_responses_than_requests_is_an_error(make: Make) -> None:
    h = make(httpx.Response(200, text=RESPONSE, headers={"Content-Type": RESPONSE_TYPE}))
    with pytest.raises(PowerPlatformError, match="more responses than requests"):
        h.client.batch([BatchRequest("GET", "accounts")])


def test_a_batch_refused_outright_is_an_error(make: Make) -> None:
    h = make(httpx.Response(400, json={"error": {"code": "0x0", "message": "Malformed batch"}}))
    with pytest.raises(PowerPlatformError, match="Malformed batch"):
        h.client.batch([BatchRequest("GET", "accounts")])


def test_a_read_only_batch_is_resent_and_a_writing_one_is_not(make: Make) -> None:
    one = FAILED.replace("400 Bad Request", "204 No Content")
    ok = httpx.Response(
        200, text=one, headers={"Content-Type": 'multipart/mixed; boundary="batchresponse_e1"'}
    )
    h = make(httpx.Response(503), ok)
    h.client.batch([BatchRequest("GET", "accounts")])
    assert len(h.requests) == 2

    h = make(httpx.Response(503), ok)
    with pytest.raises(OutcomeUnknown):
        h.client.batch([BatchRequest("PATCH", f"accounts({ACCOUNT})", {"name": "x"})])
    assert len(h.requests) == 1


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: BatchRequest("GET", "https://evil.example.com/x"), "relative"),
        (lambda: BatchRequest("GET", "accounts HTTP/1.1\r\nX: y"), "relative"),
        (lambda: BatchRequest("TRACE", "accounts"), "method"),
        (lambda: ChangeSet((BatchRequest("GET", "accounts"),)), "writes only"),
        (lambda: ChangeSet(()), "at least one"),
        (lambda: encode_batch([], api_path="/api/data/v9.2"), "1..1000"),
        (
            lambda: encode_batch(
                [BatchRequest("GET", "accounts")] * 1001, api_path="/api/data/v9.2"
            ),
            "1..1000",
        ),
    ],
    ids=["absolute-url", "smuggled-line", "method", "get-in-changeset", "empty", "none", "1001"],
)
def test_batches_the_service_would_refuse_are_refused_here(
    build: Callable[[], object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        build()


# Text as hostile as the rows a backup meets: any Unicode, line breaks, lookalike boundaries.
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["--batch_x", "\r\n--changeset_y--\r\n", "HTTP/1.1 200 OK", ""]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["name", "notes", "x"]), _text), max_size=5))
def test_any_row_bodies_survive_the_envelope(bodies: list[dict[str, str]]) -> None:
    items = [BatchRequest("PATCH", f"accounts({ACCOUNT})", body) for body in bodies] or [
        BatchRequest("GET", "accounts")
    ]
    content_type, encoded = encode_batch(items, api_path="/api/data/v9.2")
    parts = parse_request(content_type, encoded).get_payload()
    assert isinstance(parts, list)
    assert [json.loads(inner_request(p)[2]) for p in parts if inner_request(p)[2]] == bodies

    # And an answer echoing them comes back intact through our decoder.
    answer = (
        "".join(
            "--batchresponse_z\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 200 OK\r\n"
            f"Content-Type: application/json\r\n\r\n{json.dumps(body)}\r\n"
            for body in bodies
        )
        + "--batchresponse_z--\r\n"
    )
    decoded = decode_batch('multipart/mixed; boundary="batchresponse_z"', answer.encode())
    assert [r.body for r in decoded] == bodies


def test_api_root_is_under_the_instance_api_url() -> None:
    assert f"{API}/api/data/v9.2" == ROOT
