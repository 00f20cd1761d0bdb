"""Hostile input to the record restore intake (contract section 10): the `data-restore-requests`
queue and `POST /api/data-restores` (the same request), through the decorated functions on
Azurite. The properties are those of the other intakes (test_queue_fuzz.py, test_http_fuzz.py):
a valid request is admitted, anything else is Rejected on record (queue) or a 400 (HTTP), one
record per requestId, never an exception, a 500 or a poisoned message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.operations import OperationKind, OperationStatus
from shared.queue_names import DATA_RESTORE_REQUESTS
from shared.runtime import AppContext
from tests.fuzz import hostile
from tests.fuzz.budget import counted, fuzz
from tests.fuzz.hostile import Hostile
from tests.fuzz.test_http_fuzz import check_intake, request
from tests.fuzz.test_queue_fuzz import Ledger, deliver, owner_of

FIELDS = ("sourceEnvironmentId", "targetEnvironmentId", "tables", "pointId", "at", "recordIds",
          "mode", "withRelated", "apply", "confirmProduction", "requestedBy", "reason",
          "requestId")
POINT = "20261203T020000123Z-1a2b3c4d"


def valid_data_restore(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sourceEnvironmentId": hostile.ENV,
        "tables": draw(st.lists(st.sampled_from(["account", "contact", "annotation"]),
                                min_size=1, max_size=3)),
    }
    if draw(st.booleans()):
        body["pointId"] = POINT
    else:
        body["at"] = "2026-12-01T09:30:00+01:00"
    if draw(st.booleans()):
        body["targetEnvironmentId"] = hostile.OTHER_ENV
    if draw(st.booleans()):
        body["recordIds"] = draw(st.lists(st.uuids().map(str), min_size=1, max_size=5))
    if draw(st.booleans()):
        body["mode"] = draw(st.sampled_from(["missing", "changed", "all"]))
    if draw(st.booleans()):
        body["requestId"] = draw(st.from_regex(r"[A-Za-z0-9._:@+=~-]{1,40}", fullmatch=True))
    return body


def _data_restore_object(draw: st.DrawFn) -> Hostile:
    sent = hostile.request_object(draw, FIELDS, valid_data_restore)
    shape = draw(st.integers(0, 3))
    if shape == 1:  # table lists of every shape: names, types, lengths
        tables = draw(st.lists(hostile.json_scalars, max_size=5) | st.just(["account"] * 600))
        return Hostile({**sent.value, "tables": tables}, sent.must_reject, "tables")
    if shape == 2:  # record id lists: GUID-like text, types, empty, too long
        ids = draw(st.lists(hostile.guid_like | hostile.json_scalars, max_size=5)
                   | st.just([hostile.ENV] * 1001) | st.just([]))
        return Hostile({**sent.value, "recordIds": ids}, sent.must_reject, "recordIds")
    if shape == 3:  # both ways of naming the point, or neither
        both = {**sent.value, "pointId": POINT, "at": "2026-12-01T09:30:00Z"}
        neither = {k: v for k, v in sent.value.items() if k not in ("pointId", "at")}
        return Hostile(draw(st.sampled_from([both, neither])), True, "point")
    return sent


bodies = hostile.bodies(FIELDS, st.composite(_data_restore_object)())


def parse(raw: object) -> object:
    from data_restores.request import parse_data_restore_request

    return parse_data_restore_request(raw)


@pytest.fixture
def ledger(ctx: AppContext) -> Iterator[Ledger]:
    yield Ledger()
    # After all of it, a valid record restore request is still admitted.
    body = {"sourceEnvironmentId": hostile.ENV, "tables": ["account"], "pointId": POINT,
            "requestId": "after-the-fuzz"}
    deliver(DATA_RESTORE_REQUESTS, json.dumps(body).encode(), "after")
    owner = owner_of(ctx, OperationKind.DATA_RESTORE, "data_restore:after-the-fuzz")
    assert owner is not None
    assert ctx.history.get(owner).operation.status is not OperationStatus.REJECTED


@fuzz(f"queue {DATA_RESTORE_REQUESTS}")
@given(bodies, st.booleans())
def test_data_restore_requests_queue(
    ctx: AppContext, ledger: Ledger, sent: Hostile, b64: bool
) -> None:
    counted(f"queue {DATA_RESTORE_REQUESTS}")
    message = hostile.as_queue_message(sent.value, b64)
    ledger.check(ctx, OperationKind.DATA_RESTORE, DATA_RESTORE_REQUESTS, message, parse, sent)


@fuzz("POST /api/data-restores")
@given(bodies)
def test_post_data_restores(ctx: AppContext, sent: Hostile) -> None:
    from data_restores.blueprint import post_data_restore

    counted("POST /api/data-restores")
    answer = post_data_restore(request("POST", "data-restores", sent.value))
    check_intake(ctx, answer, sent, parse)
