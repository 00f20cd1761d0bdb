"""Conditional PATCHes in a `$batch` with `Prefer: odata.continue-on-error`, as a record restore
sends them (reference §5.3 and §6.3): each part answers for itself; and a `$batch` refused by
service protection is refused whole (429 + Retry-After), with nothing written."""

from __future__ import annotations

import json
import uuid

from ppbackup.simulator import Simulator

from .conftest import Dataverse
from .test_dataverse_batch import ROOT, batch, http_part, responses

REMAINING = "x-ms-ratelimit-burst-remaining-xrm-requests"


def test_each_conditional_patch_answers_for_itself(sim: Simulator, dv: Dataverse) -> None:
    rows = dv.http.get("accounts", params={"$top": "3", "$select": "name"}).json()["value"]
    fresh, stale_target, current = rows
    assert dv.http.patch(f"accounts({stale_target['accountid']})",
                         json={"name": "changed since read"}).status_code == 204
    new_id, gone_id = str(uuid.uuid4()), str(uuid.uuid4())
    parts = [
        http_part("PATCH", f"{ROOT}accounts({new_id})", {"name": "created"},
                  headers={"If-None-Match": "*"}),
        http_part("PATCH", f"{ROOT}accounts({fresh['accountid']})", {"name": "dup"},
                  headers={"If-None-Match": "*"}),
        http_part("PATCH", f"{ROOT}accounts({stale_target['accountid']})", {"name": "stale"},
                  headers={"If-Match": stale_target["@odata.etag"]}),
        http_part("PATCH", f"{ROOT}accounts({gone_id})", {"name": "ghost"},
                  headers={"If-Match": "*"}),
        http_part("PATCH", f"{ROOT}accounts({current['accountid']})", {"name": "updated"},
                  headers={"If-Match": current["@odata.etag"]}),
    ]
    answer = batch(dv, parts, prefer="odata.continue-on-error")
    assert answer.status_code == 200
    got = responses(answer)
    assert [status for status, _, _ in got] == [204, 412, 412, 404, 204]
    assert json.loads(got[1][2])["error"]["message"] == (
        "A record with matching key values already exists.")
    assert "RowVersion" in json.loads(got[2][2])["error"]["message"]
    assert "Does Not Exist" in json.loads(got[3][2])["error"]["message"]

    def name(row_id: str) -> str | None:
        found = dv.http.get(f"accounts({row_id})")
        return found.json()["name"] if found.status_code == 200 else None

    assert name(new_id) == "created"
    assert name(fresh["accountid"]) == fresh["name"]
    assert name(stale_target["accountid"]) == "changed since read"
    assert name(gone_id) is None
    assert name(current["accountid"]) == "updated"
    assert [(w["row_id"], w["action"]) for w in sim.dataverse_writes(dv.env)[1:]] == [
        (new_id, "create"), (current["accountid"], "update")]


def test_a_throttled_batch_is_refused_whole(sim: Simulator, dv: Dataverse) -> None:
    probe = dv.http.get("WhoAmI")
    used = sim.options.dataverse_requests_per_window - int(probe.headers[REMAINING])
    sim.set_options(dataverse_requests_per_window=used, dataverse_window_seconds=60)
    parts = [http_part("PATCH", f"{ROOT}accounts({uuid.uuid4()})", {"name": "x"},
                       headers={"If-None-Match": "*"}) for _ in range(100)]
    refused = batch(dv, parts, prefer="odata.continue-on-error")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "0x80072322"
    assert sim.dataverse_writes(dv.env) == []
