"""Hostile input to every HTTP route, through the decorated functions on Azurite.

The property for each route: the answer is one of the route's documented statuses (never a
500), a refusal is a 400 (413 past the size limit) with `{"error": {"code", "message"}}` and no
trace, a valid request is accepted, and after all of it a valid request still succeeds.
"""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import RequestInvalid
from shared.inputs import decode_json
from shared.runtime import AppContext
from shared.validation import parse_backup_request, parse_restore_request
from tests.fuzz import hostile
from tests.fuzz.budget import counted, fuzz
from tests.fuzz.hostile import Hostile

BASE = "http://localhost:7071/api"


def request(
    method: str, path: str, body: bytes = b"", *, params: dict[str, str] | None = None,
    route_params: dict[str, str] | None = None,
) -> func.HttpRequest:
    return func.HttpRequest(
        method=method, url=f"{BASE}/{path}", body=body, params=params or {},
        route_params=route_params or {}, headers={"content-type": "application/json"},
    )


def decided(answer: func.HttpResponse, allowed: set[int]) -> dict[str, Any]:
    """The answer's JSON document, after checking it is a decision and not a crash."""
    assert answer.status_code in allowed, (answer.status_code, answer.get_body()[:500])
    raw = answer.get_body()
    assert b"Traceback" not in raw
    document = json.loads(raw)
    if answer.status_code >= 400:
        error = document["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error.get("fields", {}), dict)
    assert isinstance(document, dict)
    return document


def is_valid(body: bytes, parse: Any) -> bool:
    try:
        parse(decode_json(body))
    except RequestInvalid:
        return False
    return True


def check_intake(
    ctx: AppContext, answer: func.HttpResponse, sent: Hostile, parse: Any
) -> None:
    valid = is_valid(sent.value, parse)
    assert not (valid and sent.must_reject), f"accepted what must be refused: {sent.what}"
    document = decided(answer, {202} if valid else {400, 413})
    if valid:
        # Accepted means on record (the statusUrl leads to it).
        assert ctx.history.get(document["operationId"]).operation.status.value != "Rejected"
    elif answer.status_code == 413:
        assert len(sent.value) > 64 * 1024


# ------------------------------------------------------------------------------------- intakes


@fuzz(1800)
@given(hostile.bodies(hostile.BACKUP_FIELDS, hostile.backup_objects()))
def test_post_backups(ctx: AppContext, sent: Hostile) -> None:
    from backup_triggers.blueprint import post_backup

    counted("POST /api/backups")
    answer = post_backup(request("POST", "backups", sent.value))
    check_intake(ctx, answer, sent, parse_backup_request)


@fuzz(1800)
@given(hostile.bodies(
    hostile.RESTORE_FIELDS, hostile.restore_objects(),
    extra=(hostile.restore_dates().map(
        lambda h: Hostile(json.dumps(h.value).encode(), h.must_reject, h.what)
    ),),
))
def test_post_restores(ctx: AppContext, sent: Hostile) -> None:
    from restore_orchestrator.blueprint import post_restore

    counted("POST /api/restores")
    answer = post_restore(request("POST", "restores", sent.value))
    check_intake(ctx, answer, sent, parse_restore_request)


# ------------------------------------------------------------------------------ operation routes


@fuzz(1000)
@given(hostile.queries)
def test_get_operations(ctx: AppContext, params: dict[str, str]) -> None:
    from operations_api.blueprint import list_operations

    counted("GET /api/operations")
    decided(list_operations(request("GET", "operations", params=params)), {200, 400})


@fuzz(800)
@given(hostile.path_segments)
def test_get_operation(ctx: AppContext, operation_id: str) -> None:
    from operations_api.blueprint import get_operation

    counted("GET /api/operations/{id}")
    answer = get_operation(request(
        "GET", "operations/x", route_params={"operationId": operation_id}
    ))
    decided(answer, {200, 400, 404})


@fuzz(800)
@given(
    hostile.path_segments,
    st.one_of(
        st.just(b""),
        hostile.bodies(("requestedBy",), st.builds(
            lambda v: Hostile({"requestedBy": v}), hostile.json_values
        )),
    ),
)
def test_cancel_operation(ctx: AppContext, operation_id: str, body: bytes | Hostile) -> None:
    from operations_api.blueprint import cancel_operation

    counted("POST /api/operations/{id}/cancel")
    raw = body.value if isinstance(body, Hostile) else body
    answer = cancel_operation(request(
        "POST", "operations/x/cancel", raw, route_params={"operationId": operation_id}
    ))
    decided(answer, {202, 400, 404, 409, 413})
