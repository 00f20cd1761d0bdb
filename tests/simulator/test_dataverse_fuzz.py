"""Bad input gets a clear answer, never a crash: random paths, query options, `Prefer` values,
bodies and batches against the Dataverse routes answer 2xx/3xx/4xx with the documented envelope,
never 500, and the organisation keeps working afterwards."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ppbackup.simulator import SimOptions, SimulatorApp
from ppbackup.simulator.dataverse.query import parse_filter
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.messages import Request

APP = SimulatorApp(options=SimOptions(dataverse_rows=5))
ENV = APP.add_environment("Fuzz", type="Sandbox")
ROOT = f"/orgs/{ENV}/api/data/v9.2/"

SEGMENTS = st.sampled_from([
    "accounts", "contacts", "new_project_contactset", "annotations", "Accounts", "nosuch",
    "EntityDefinitions", "EntityDefinitions(LogicalName='account')/Attributes",
    "EntityDefinitions(LogicalName='nope')", "WhoAmI", "$batch", "",
    "accounts(00000000-0000-0000-0000-000000000000)", "accounts(bad)", "accounts(name='x')",
    "new_projects(00000000-0000-0000-0000-000000000000)/new_project_contact/$ref",
])
QUERY_KEYS = st.sampled_from(["$select", "$filter", "$top", "$skiptoken", "$deltatoken",
                              "$orderby", "$expand", "$count", "$id"])
TEXT = st.text(max_size=40)
JSONISH: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=8,
)
BODY_KEYS = st.sampled_from(["name", "statecode", "statuscode", "createdon", "nosuch",
                             "_primarycontactid_value", "primarycontactid@odata.bind",
                             "parentaccountid", "ownerid@odata.bind", "@odata.id",
                             "accountid", "revenue", "overriddencreatedon"])


def answer(request: Request) -> tuple[int, Any]:
    response = APP.handle(request)
    assert response is not None
    return response.status, response.body


@settings(max_examples=400, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT"]), segment=SEGMENTS,
       query=st.dictionaries(QUERY_KEYS, TEXT, max_size=3),
       prefer=st.one_of(st.none(), TEXT, st.sampled_from([
           "odata.maxpagesize=0", "odata.maxpagesize=abc", "odata.track-changes",
           'odata.include-annotations="*"', "return=representation"])),
       body=st.one_of(st.none(), st.dictionaries(BODY_KEYS, JSONISH, max_size=4), JSONISH,
                      st.binary(max_size=30)),
       headers=st.dictionaries(st.sampled_from(["If-Match", "If-None-Match", "Content-Type"]),
                               TEXT, max_size=2))
def test_no_input_makes_a_500(method: str, segment: str, query: dict[str, str],
                              prefer: str | None, body: Any, headers: dict[str, str]) -> None:
    from urllib.parse import urlencode

    raw = body if isinstance(body, bytes) else (
        b"" if body is None else json.dumps(body).encode())
    if prefer is not None:
        headers = {**headers, "Prefer": prefer}
    status, payload = answer(Request(method, ROOT + segment, urlencode(query), headers, raw))
    assert status < 500, payload
    if status >= 400 and payload is not None:
        assert set(payload["error"]) == {"code", "message"} and payload["error"]["message"]
    # The organisation still answers normally.
    assert answer(Request("GET", ROOT + "accounts", "$top=1"))[0] == 200


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_filter_parser_refuses_garbage_with_a_400(text: str) -> None:
    try:
        predicate = parse_filter(text).predicate
    except SimError as error:
        assert error.status == 400 and error.message
        return
    predicate({"name": "x", "statecode": 0})  # whatever parsed can be evaluated


BATCH_LINES = st.sampled_from([
    "--batch_B1", "--batch_B1--", "--changeset_C1", "--changeset_C1--",
    "Content-Type: application/http", "Content-Transfer-Encoding: binary",
    'Content-Type: multipart/mixed; boundary="changeset_C1"', "Content-ID: 1", "",
    f"POST {ROOT}accounts HTTP/1.1", "PATCH $1 HTTP/1.1", f"GET {ROOT}accounts HTTP/1.1",
    "DELETE $2/x HTTP/1.1", "Content-Type: application/json", '{"name": "b"}', "{", "GET",
])


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(BATCH_LINES | TEXT, max_size=25), prefer=st.booleans())
def test_no_batch_makes_a_500(lines: list[str], prefer: bool) -> None:
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_B1"'}
    if prefer:
        headers["Prefer"] = "odata.continue-on-error"
    status, _ = answer(Request("POST", ROOT + "$batch", "", headers,
                               "\r\n".join(lines).encode()))
    assert status < 500
