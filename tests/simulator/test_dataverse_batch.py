"""`$batch` (reference §6): multipart request and response envelopes, change sets that are
atomic, Content-ID references, stop-on-first-error and continue-on-error, the 1,000 cap."""

from __future__ import annotations

import json
import re
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

from ppbackup.simulator import Simulator

from .conftest import Dataverse

ROOT = "/api/data/v9.2/"


def http_part(method: str, url: str, body: dict[str, Any] | None = None,
              content_id: int | None = None, headers: dict[str, str] | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += ["Accept: application/json", ""]
    return "\r\n".join(lines) + "\r\n"


def change_set(parts: list[str], name: str = "changeset_C1") -> str:
    inner = "".join(f"--{name}\r\n{p}" for p in parts) + f"--{name}--\r\n"
    return f"Content-Type: multipart/mixed; boundary=\"{name}\"\r\n\r\n{inner}"


def batch(dv: Dataverse, items: list[str], prefer: str | None = None) -> httpx.Response:
    body = "".join(f"--batch_B1\r\n{item}" for item in items) + "--batch_B1--\r\n"
    headers = {"Content-Type": 'multipart/mixed; boundary="batch_B1"'}
    if prefer:
        headers["Prefer"] = prefer
    return dv.http.post("$batch", content=body.encode(), headers=headers)


def responses(response: httpx.Response) -> list[tuple[int, dict[str, str], str]]:
    """(status, headers, body) of every inner response, change sets flattened, in order."""
    raw = (f"Content-Type: {response.headers['content-type']}\r\n\r\n").encode() + \
        response.content
    message = BytesParser(policy=HTTP).parsebytes(raw)
    out = []
    for part in message.walk():
        if part.get_content_type() != "application/http":
            continue
        text = part.get_payload(decode=True).decode()
        head, _, body = text.partition("\r\n\r\n")
        status_line, *header_lines = head.split("\r\n")
        headers = dict(h.split(": ", 1) for h in header_lines)
        if part["Content-ID"]:
            headers["Content-ID"] = part["Content-ID"]
        out.append((int(status_line.split(" ")[1]), headers, body.strip()))
    return out


def test_change_set_with_content_id_reference_and_a_get(sim: Simulator, dv: Dataverse) -> None:
    items = [
        change_set([
            http_part("POST", f"{ROOT}accounts", {"name": "Batch Co"}, 1),
            http_part("POST", f"{ROOT}contacts",
                      {"lastname": "B", "parentcustomerid_account@odata.bind": "$1"}, 2),
            http_part("PATCH", "$1", {"telephone1": "555"}, 3),
        ]),
        http_part("GET", f"{ROOT}accounts?$select=name&$filter=name eq 'Batch Co'"),
    ]
    response = batch(dv, items)
    assert response.status_code == 200
    assert re.match(r"multipart/mixed; boundary=batchresponse_", response.headers[
        "content-type"])
    assert "changesetresponse_" in response.text
    parts = responses(response)
    assert [p[0] for p in parts] == [204, 204, 204, 200]
    assert [p[1].get("Content-ID") for p in parts[:3]] == ["1", "2", "3"]
    account_url = parts[0][1]["OData-EntityId"]
    account = dv.http.get(account_url).json()
    assert account["telephone1"] == "555"
    contact = dv.http.get(parts[1][1]["OData-EntityId"]).json()
    assert contact["_parentcustomerid_value"] == account["accountid"]
    found = json.loads(parts[3][2])["value"]
    assert [r["name"] for r in found] == ["Batch Co"]
    assert [w["action"] for w in sim.dataverse_writes(dv.env)] == ["create", "create", "update"]


def test_failed_change_set_rolls_back_everything(sim: Simulator, dv: Dataverse) -> None:
    synced = dv.http.get("accounts?$select=name", headers={"Prefer": "odata.track-changes"})
    delta = synced.json()["@odata.deltaLink"]
    before = len(synced.json()["value"])
    existing = dv.http.get("accounts", params={"$top": "1"}).json()["value"][0]
    items = [change_set([
        http_part("POST", f"{ROOT}accounts", {"name": "Will vanish"}, 1),
        http_part("PATCH", f"{ROOT}accounts({existing['accountid']})", {"name": "Nope"}, 2),
        http_part("POST", f"{ROOT}accounts", {"name": "bad", "nosuch": 1}, 3),
    ])]
    response = batch(dv, items)
    assert response.status_code == 400
    parts = responses(response)
    assert len(parts) == 1
    status, headers, body = parts[0]
    assert status == 400 and headers["Content-ID"] == "3" and "REQ_ID" in headers
    assert "nosuch" in json.loads(body)["error"]["message"]
    assert len(dv.http.get("accounts").json()["value"]) == before
    assert dv.http.get(f"accounts({existing['accountid']})").json()["name"] == existing["name"]
    assert sim.dataverse_writes(dv.env) == []
    assert dv.http.get(delta).json()["value"] == [], "change tracking saw nothing either"


def test_stop_on_first_error_versus_continue_on_error(dv: Dataverse) -> None:
    missing = uuid.uuid4()
    items = [
        http_part("POST", f"{ROOT}accounts", {"name": "first"}),
        http_part("DELETE", f"{ROOT}accounts({missing})"),
        http_part("POST", f"{ROOT}accounts", {"name": "third"}),
    ]
    stopped = batch(dv, items)
    assert stopped.status_code == 404
    assert [p[0] for p in responses(stopped)] == [404]
    names = {r["name"] for r in dv.http.get("accounts?$select=name").json()["value"]}
    assert "first" in names and "third" not in names
    went_on = batch(dv, items, prefer="odata.continue-on-error")
    assert went_on.status_code == 200
    assert [p[0] for p in responses(went_on)] == [204, 404, 204]
    names = {r["name"] for r in dv.http.get("accounts?$select=name").json()["value"]}
    assert "third" in names


def test_bad_batches_are_refused_whole(dv: Dataverse) -> None:
    no_boundary = dv.http.post("$batch", content=b"x", headers={"Content-Type": "text/plain"})
    assert no_boundary.status_code == 400
    get_in_change_set = batch(dv, [change_set([http_part("GET", f"{ROOT}accounts", None, 1)])])
    assert get_in_change_set.status_code == 400
    unknown_ref = batch(dv, [change_set([http_part("PATCH", "$9", {"name": "x"}, 1)])])
    assert unknown_ref.status_code == 400
    assert "Content-ID Reference: '$9' does not exist" in unknown_ref.text
    too_many = batch(dv, [http_part("GET", f"{ROOT}WhoAmI")] * 1001)
    assert too_many.status_code == 400
    assert "1000" in too_many.json()["error"]["message"]
