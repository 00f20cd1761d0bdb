"""Hostile input to the data backup surfaces (contract section 9): the `data-backup-requests`
queue and `POST /api/data-backups` (the same request), the points listing's query, and the
record route's path, through the decorated functions on Azurite. The properties are those of
the other intakes (test_queue_fuzz.py, test_http_fuzz.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_BACKUP_REQUESTS
from shared.runtime import AppContext
from tests.fuzz import hostile
from tests.fuzz.budget import counted, fuzz
from tests.fuzz.hostile import Hostile
from tests.fuzz.test_http_fuzz import check_intake, decided, request
from tests.fuzz.test_queue_fuzz import Ledger, deliver, owner_of

FIELDS = ("environmentId", "tables", "full", "label", "requestedBy", "requestId")


def valid_data_backup(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"environmentId": hostile.ENV}
    if draw(st.booleans()):
        body["tables"] = draw(
            st.lists(st.sampled_from(["account", "contact", "task"]), min_size=1, max_size=3)
        )
    if draw(st.booleans()):
        body["requestId"] = draw(st.from_regex(r"[A-Za-z0-9._:@+=~-]{1,40}", fullmatch=True))
    return body


def _data_backup_object(draw: st.DrawFn) -> Hostile:
    sent = hostile.request_object(draw, FIELDS, valid_data_backup)
    if draw(st.booleans()):  # table lists of every shape: names, types, lengths
        tables = draw(st.lists(hostile.json_scalars, max_size=5) | st.just(["account"] * 600))
        return Hostile({**sent.value, "tables": tables}, sent.must_reject, "tables")
    return sent


bodies = hostile.bodies(FIELDS, st.composite(_data_backup_object)())


def parse(raw: object) -> object:
    from data_backups.request import parse_data_backup_request

    return parse_data_backup_request(raw)


@pytest.fixture
def ledger(ctx: AppContext) -> Iterator[Ledger]:
    yield Ledger()
    # After all of it, a valid data backup request is still admitted.
    body = {"environmentId": hostile.ENV, "requestId": "after-the-fuzz"}
    deliver(DATA_BACKUP_REQUESTS, json.dumps(body).encode(), "after")
    owner = owner_of(ctx, OperationKind.DATA_BACKUP, "data_backup:after-the-fuzz")
    assert owner is not None
    assert ctx.history.get(owner).operation.status is not OperationStatus.REJECTED


@fuzz(f"queue {DATA_BACKUP_REQUESTS}")
@given(bodies, st.booleans())
def test_data_backup_requests_queue(
    ctx: AppContext, ledger: Ledger, sent: Hostile, b64: bool
) -> None:
    counted(f"queue {DATA_BACKUP_REQUESTS}")
    message = hostile.as_queue_message(sent.value, b64)
    ledger.check(ctx, OperationKind.DATA_BACKUP, DATA_BACKUP_REQUESTS, message, parse, sent)


@fuzz("POST /api/data-backups")
@given(bodies)
def test_post_data_backups(ctx: AppContext, sent: Hostile) -> None:
    from data_backups.blueprint import post_data_backup

    counted("POST /api/data-backups")
    answer = post_data_backup(request("POST", "data-backups", sent.value))
    check_intake(ctx, answer, sent, parse)


@fuzz("GET /api/data-backups")
@given(st.dictionaries(
    st.sampled_from(["environmentId", "table", "continuationToken", "code"]) | hostile.nasty_text,
    hostile.query_values | hostile.path_segments, max_size=4,
))
def test_get_data_backups(ctx: AppContext, params: dict[str, str]) -> None:
    from data_backups.blueprint import list_data_backups

    counted("GET /api/data-backups")
    decided(list_data_backups(request("GET", "data-backups", params=params)), {200, 400, 404})


@fuzz("GET /api/records/{environmentId}/{table}/{recordId}")
@given(hostile.path_segments | hostile.guid_like, hostile.path_segments | st.just("account"),
       hostile.path_segments | hostile.guid_like)
def test_get_record_versions(
    ctx: AppContext, environment_id: str, table: str, record_id: str
) -> None:
    from data_backups.blueprint import record_versions

    counted("GET /api/records/{environmentId}/{table}/{recordId}")
    answer = record_versions(request("GET", "records/x/y/z", route_params={
        "environmentId": environment_id, "table": table, "recordId": record_id,
    }))
    decided(answer, {200, 400, 404})
