"""Hostile input to every HTTP route, through the decorated functions on Azurite.

The property for each route: the answer is one of the route's documented statuses (never a
500), a refusal is a 400 (413 past the size limit) with `{"error": {"code", "message"}}` and no
trace, a valid request is accepted, and after all of it a valid request still succeeds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
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
        # A refusal names the problem; it does not echo a hostile input back at length.
        assert len(raw) < 8 * 1024, raw[:300]
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


@pytest.fixture
def known_ids(ctx: AppContext) -> Iterator[list[str]]:
    """Real operations for the path-parameter routes to find (a queued restore, a backup), and
    after the fuzzing the check that the app still serves a valid request."""
    from backup_triggers.service import submit_backup
    from restore_orchestrator.intake import submit_restore

    backup = submit_backup(ctx, parse_backup_request({"environmentId": hostile.ENV, "label": "b"}))
    restore = submit_restore(ctx, parse_restore_request(
        {"targetEnvironmentId": hostile.OTHER_ENV, "latest": True, "dryRun": True}
    ))
    yield [backup.operation_id, restore.operation_id]
    still_serves(ctx)


def still_serves(ctx: AppContext) -> None:
    from backup_triggers.blueprint import post_backup
    from operations_api.blueprint import get_operation

    body = json.dumps({"environmentId": hostile.ENV, "label": "after the fuzz"}).encode()
    accepted = decided(post_backup(request("POST", "backups", body)), {202})
    found = get_operation(request(
        "GET", "operations/x", route_params={"operationId": accepted["operationId"]}
    ))
    assert decided(found, {200})["label"] == "after the fuzz"


# ------------------------------------------------------------------------------------- intakes


@fuzz("POST /api/backups")
@given(hostile.bodies(hostile.BACKUP_FIELDS, hostile.backup_objects()))
def test_post_backups(ctx: AppContext, known_ids: list[str], sent: Hostile) -> None:
    from backup_triggers.blueprint import post_backup

    counted("POST /api/backups")
    answer = post_backup(request("POST", "backups", sent.value))
    check_intake(ctx, answer, sent, parse_backup_request)


@fuzz("POST /api/restores")
@given(hostile.bodies(
    hostile.RESTORE_FIELDS, hostile.restore_objects(),
    extra=(hostile.restore_dates().map(
        lambda h: Hostile(json.dumps(h.value).encode(), h.must_reject, h.what)
    ),),
))
def test_post_restores(ctx: AppContext, known_ids: list[str], sent: Hostile) -> None:
    from restore_orchestrator.blueprint import post_restore

    counted("POST /api/restores")
    answer = post_restore(request("POST", "restores", sent.value))
    check_intake(ctx, answer, sent, parse_restore_request)


# ------------------------------------------------------------------------------ operation routes


@fuzz("GET /api/operations")
@given(hostile.queries)
def test_get_operations(ctx: AppContext, known_ids: list[str], params: dict[str, str]) -> None:
    from operations_api.blueprint import list_operations

    counted("GET /api/operations")
    decided(list_operations(request("GET", "operations", params=params)), {200, 400})


def operation_ids(data: st.DataObject, known: list[str]) -> str:
    return data.draw(st.sampled_from(known) | hostile.path_segments)


@fuzz("GET /api/operations/{id}")
@given(st.data())
def test_get_operation(ctx: AppContext, known_ids: list[str], data: st.DataObject) -> None:
    from operations_api.blueprint import get_operation

    counted("GET /api/operations/{id}")
    answer = get_operation(request(
        "GET", "operations/x", route_params={"operationId": operation_ids(data, known_ids)}
    ))
    decided(answer, {200, 400, 404})


cancel_bodies = st.one_of(
    st.just(Hostile(b"")),
    hostile.bodies(("requestedBy",), st.builds(
        lambda v: Hostile({"requestedBy": v}), hostile.json_values
    )),
)


@fuzz("POST /api/operations/{id}/cancel")
@given(st.data(), cancel_bodies)
def test_cancel_operation(
    ctx: AppContext, known_ids: list[str], data: st.DataObject, body: Hostile
) -> None:
    from operations_api.blueprint import cancel_operation

    counted("POST /api/operations/{id}/cancel")
    answer = cancel_operation(request(
        "POST", "operations/x/cancel", body.value,
        route_params={"operationId": operation_ids(data, known_ids)},
    ))
    decided(answer, {202, 400, 404, 409, 413})


annotation_bodies = hostile.bodies(("label", "notes"), st.builds(
    lambda d: Hostile(d),
    st.dictionaries(st.sampled_from(["label", "notes"]) | hostile.nasty_text,
                    hostile.json_values, max_size=3),
))


@fuzz("PATCH /api/operations/{id}")
@given(st.data(), annotation_bodies, hostile.queries)
def test_patch_operation(
    ctx: AppContext, known_ids: list[str], data: st.DataObject, body: Hostile,
    params: dict[str, str],
) -> None:
    from operations_api.blueprint import annotate_operation

    counted("PATCH /api/operations/{id}")
    answer = annotate_operation(request(
        "PATCH", "operations/x", body.value, params=params,
        route_params={"operationId": operation_ids(data, known_ids)},
    ))
    decided(answer, {200, 400, 404, 409, 413})


@fuzz("GET /api/environments/{id}/backups")
@given(hostile.path_segments | hostile.guid_like, hostile.queries)
def test_get_environment_backups(
    ctx: AppContext, known_ids: list[str], environment_id: str, params: dict[str, str]
) -> None:
    from operations_api.blueprint import list_environment_backups

    counted("GET /api/environments/{id}/backups")
    answer = list_environment_backups(request(
        "GET", "environments/x/backups", params=params,
        route_params={"environmentId": environment_id},
    ))
    decided(answer, {200, 400, 404})


@fuzz("DELETE /api/environments/{id}/backups/{backupId}")
@given(
    hostile.path_segments | hostile.guid_like, hostile.path_segments,
    st.sampled_from([b"", b"{}", b"x" * 70_000]), hostile.queries,
)
def test_delete_environment_backup(
    ctx: AppContext, known_ids: list[str], environment_id: str, backup_id: str, body: bytes,
    params: dict[str, str],
) -> None:
    from operations_api.blueprint import delete_environment_backup

    counted("DELETE /api/environments/{id}/backups/{backupId}")
    answer = delete_environment_backup(request(
        "DELETE", "environments/x/backups/y", body, params=params,
        route_params={"environmentId": environment_id, "backupId": backup_id},
    ))
    decided(answer, {200, 202, 400, 404, 409, 413, 502})
