"""The wire page's error table, row by row, through the client."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from shared.errors import (
    AuthenticationFailed,
    Busy,
    Forbidden,
    NotFound,
    OutcomeUnknown,
    PowerPlatformError,
    Throttled,
    Transient,
    ValidationFailed,
)
from shared.power_platform import RetryPolicy
from shared.power_platform._errors import parse_error_body
from tests.unit.power_platform.conftest import ENV, FakeTokens, Harness

Make = Callable[..., Harness]
ONCE = RetryPolicy(max_attempts=1)


def get_env(h: Harness) -> object:
    return h.client.get_environment(ENV)


def create_backup(h: Harness) -> object:
    return h.client.create_backup(ENV, "label")


@pytest.mark.parametrize(
    ("status", "body", "expected", "code", "message"),
    [
        (
            400,
            {"error": {"code": "Bad", "message": "BAP says no"}},
            ValidationFailed,
            "Bad",
            "BAP says no",
        ),
        (
            400,
            {
                "errorDetail": {
                    "code": "InvalidInput",
                    "fieldErrors": {"label": {"errorMessages": ["too long"]}},
                }
            },
            ValidationFailed,
            "InvalidInput",
            "label: too long",
        ),
        (
            400,
            {"error": {"code": "InputValidationError"}},
            ValidationFailed,
            "InputValidationError",
            "InputValidationError",
        ),
        (
            403,
            {"error": {"code": "UserMissingRequiredPermission", "message": "wait a bit"}},
            Forbidden,
            "UserMissingRequiredPermission",
            "wait a bit",
        ),
        (
            404,
            {"error": {"code": "EnvironmentNotFound", "message": "none"}},
            NotFound,
            "EnvironmentNotFound",
            "none",
        ),
        (
            409,
            {
                "error": {
                    "code": "OperationNotStartable",
                    "message": "there is an active lifecycle operation",
                }
            },
            Busy,
            "OperationNotStartable",
            "active lifecycle operation",
        ),
        (
            409,
            {"errorDetail": {"code": "OperationNotStartable"}},
            Busy,
            "OperationNotStartable",
            "OperationNotStartable",
        ),
        (409, None, Busy, None, "another lifecycle operation"),
        (
            409,
            {"error": {"code": "NameInUse", "message": "taken"}},
            ValidationFailed,
            "NameInUse",
            "taken",
        ),
        (422, {"error": {"code": "Weird", "message": "odd"}}, ValidationFailed, "Weird", "odd"),
    ],
)
@pytest.mark.parametrize("call", [get_env, create_backup])
def test_error_table(
    make: Make,
    call: Callable[[Harness], object],
    status: int,
    body: object,
    expected: type[PowerPlatformError],
    code: str | None,
    message: str,
) -> None:
    response = (
        httpx.Response(status, json=body, headers={"x-ms-request-id": "rid"})
        if body is not None
        else httpx.Response(status, headers={"x-ms-request-id": "rid"})
    )
    h = make(response)
    with pytest.raises(expected) as caught:
        call(h)
    error = caught.value
    assert type(error) is expected
    assert error.status == status
    assert error.error_code == code
    assert message in error.message
    assert error.request_id == "rid"
    assert len(h.requests) == 1  # none of these is resent


def test_unregistered_app_403_says_how_to_register(make: Make) -> None:
    h = make(
        httpx.Response(
            403,
            json={
                "error": {
                    "code": "Forbidden",
                    "message": (
                        "The service principal with id 'x' does not have permission to "
                        "access the path "
                        "'/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments'"
                    ),
                }
            },
        )
    )
    with pytest.raises(Forbidden) as caught:
        h.client.list_environments()
    message = caught.value.message
    assert f"pac admin application register --application-id {FakeTokens.client_id}" in message
    assert "adminApplications" in message
    assert "managed identity" in message
    assert "does not have permission to access the path" in message


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
def test_transient_statuses_for_idempotent_calls(make: Make, status: int) -> None:
    h = make(httpx.Response(status, json={"error": {"code": "Oops"}}), retry=ONCE)
    with pytest.raises(Transient) as caught:
        h.client.get_environment(ENV)
    assert caught.value.status == status


@pytest.mark.parametrize("status", [408, 425, 500, 502, 503, 504])
def test_transient_statuses_for_non_idempotent_calls_are_outcome_unknown(
    make: Make, status: int
) -> None:
    h = make(httpx.Response(status))
    with pytest.raises(OutcomeUnknown) as caught:
        h.client.begin_change_type(ENV, "Sandbox")
    assert caught.value.status == status
    assert len(h.requests) == 1


def test_throttled_once_retries_are_spent(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "2"}), retry=ONCE)
    with pytest.raises(Throttled) as caught:
        h.client.get_environment(ENV)
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("x")],
)
def test_transport_failures_of_idempotent_calls_are_transient(make: Make, exc: Exception) -> None:
    h = make(exc, retry=ONCE)
    with pytest.raises(Transient) as caught:
        h.client.list_backups(ENV)
    assert caught.value.status is None
    # No answer: the id is the one the client sent.
    assert caught.value.request_id == h.requests[0].headers["x-ms-client-request-id"]


def test_two_401s_are_authentication_failed(make: Make) -> None:
    h = make(httpx.Response(401), httpx.Response(401, json={"error": {"code": "InvalidToken"}}))
    with pytest.raises(AuthenticationFailed) as caught:
        h.client.get_environment(ENV)
    assert caught.value.status == 401
    assert caught.value.error_code == "InvalidToken"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            {
                "x-ms-service-request-id": "a",
                "x-ms-request-id": "b",
                "request-id": "c",
                "x-ms-correlation-request-id": "d",
            },
            "a",
        ),
        ({"x-ms-request-id": "b", "request-id": "c", "x-ms-correlation-request-id": "d"}, "b"),
        ({"request-id": "c", "x-ms-correlation-request-id": "d"}, "c"),
        ({"x-ms-correlation-request-id": "d"}, "d"),
    ],
)
def test_request_id_header_precedence(make: Make, headers: dict[str, str], expected: str) -> None:
    h = make(httpx.Response(404, headers=headers))
    with pytest.raises(NotFound) as caught:
        h.client.get_environment(ENV)
    assert caught.value.request_id == expected


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        ('{"error": {"code": "A", "message": "m"}}', "A", "m"),
        ('{"errorDetail": {"code": "B", "message": "n"}}', "B", "n"),
        ('{"error": {"code": "C"}}', "C", None),
        ("", None, None),
        ("plain words", None, "plain words"),
        ("[1, 2]", None, None),
    ],
)
def test_parse_error_body_shapes(text: str, code: str | None, message: str | None) -> None:
    parsed = parse_error_body(text)
    assert (parsed.code, parsed.message) == (code, message)
