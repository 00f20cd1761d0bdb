"""Service protection, resends and what each failed answer becomes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from email.utils import format_datetime

import httpx
import pytest

from engine import answers as a
from shared.dataverse import ChangeTokenExpired, Page, PreconditionFailed, TableNotFound
from shared.errors import (
    AuthenticationFailed,
    Forbidden,
    NotFound,
    OutcomeUnknown,
    Throttled,
    Transient,
    ValidationFailed,
)
from shared.power_platform import recording_calls
from tests.unit.dataverse.conftest import ACCOUNT, ROOT, Harness
from tests.unit.power_platform.conftest import NOW

Make = Callable[..., Harness]
DELTA = f"{ROOT}/accounts?$deltatoken=919042%2108%2f22%2f2017"
OK = httpx.Response(200, json={"value": []})


def error(status: int, code: str, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": code, "message": message}}, headers=headers
    )


def read(h: Harness) -> Page:
    return h.client.read_page(h.client.first_page("accounts"))


# --- service protection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("37", 37.0), (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0)],
    ids=["seconds", "http-date"],
)
def test_429_is_handed_to_the_caller_with_its_wait_and_never_slept(
    make: Make, retry_after: str, expected: float
) -> None:
    h = make(
        error(
            429,
            "0x80072322",
            "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            **{"Retry-After": retry_after, "x-ms-service-request-id": "svc-429"},
        )
    )
    with pytest.raises(Throttled) as caught:
        read(h)
    assert caught.value.retry_after == pytest.approx(expected)
    assert caught.value.error_code == "0x80072322"
    assert caught.value.request_id == "svc-429"
    assert h.time.sleeps == []
    assert len(h.requests) == 1


def test_429_without_retry_after_still_names_a_wait(make: Make) -> None:
    h = make(error(429, "0x80072326", "Number of concurrent requests exceeded the limit of 52."))
    with pytest.raises(Throttled) as caught:
        read(h)
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    assert h.time.sleeps == []


@pytest.mark.parametrize(
    ("code", "fewer"),
    [("0x80072321", True), ("0x80072326", True), ("0X80072321", True), ("0x80072322", False)],
    ids=["execution-time", "concurrency", "upper-case", "request-count"],
)
def test_a_refusal_for_execution_time_or_concurrency_asks_for_fewer_requests_at_once(
    make: Make, code: str, fewer: bool
) -> None:
    from engine.execute import fault_answer

    h = make(error(429, code, "refused", **{"Retry-After": "2"}))
    with pytest.raises(Throttled) as caught:
        read(h)
    answer = fault_answer(caught.value)
    assert isinstance(answer, a.Throttled)
    assert (answer.fewer, answer.retry_after) == (fewer, 2.0)


def test_a_write_refused_by_service_protection_is_throttled_not_unknown(make: Make) -> None:
    h = make(error(429, "0x80072321", "Combined execution time ...", **{"Retry-After": "5"}))
    with pytest.raises(Throttled):
        h.client.create("accounts", {"name": "x"})
    assert len(h.requests) == 1


def test_transient_read_failures_are_resent_within_the_policy(make: Make) -> None:
    h = make(httpx.Response(503), httpx.ReadTimeout("slow"), OK)
    read(h)
    assert len(h.requests) == 3
    assert len(h.time.sleeps) == 2


def test_transient_read_failures_end_as_transient_when_the_policy_runs_out(make: Make) -> None:
    h = make(route=lambda request: httpx.Response(503))
    with pytest.raises(Transient) as caught:
        read(h)
    assert caught.value.retry_after is not None
    assert len(h.requests) == 4  # RetryPolicy().max_attempts


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(500), httpx.ReadTimeout("no answer")],
    ids=["500", "timeout"],
)
def test_a_create_whose_answer_is_lost_is_not_resent(
    make: Make, failure: httpx.Response | Exception
) -> None:
    h = make(failure, httpx.Response(204))
    with pytest.raises(OutcomeUnknown):
        h.client.create("accounts", {"name": "x"})
    assert len(h.requests) == 1


def test_dop_hint_is_recorded_on_the_page_and_the_client(make: Make) -> None:
    h = make(httpx.Response(200, json={"value": []}, headers={"x-ms-dop-hint": "8"}), OK)
    assert h.client.recommended_concurrency is None
    first = h.client.read_page(h.client.first_page("accounts"))
    assert first.dop_hint == 8
    assert h.client.recommended_concurrency == 8
    second = read(h)
    assert second.dop_hint is None
    assert h.client.recommended_concurrency == 8  # kept until the server says otherwise


# --- error mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 403, 410])
def test_an_expired_change_token_is_typed_whatever_the_status(make: Make, status: int) -> None:
    h = make(
        error(
            status,
            "0x80044352",
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
    )
    with pytest.raises(ChangeTokenExpired, match="full copy"):
        h.client.read_page(h.client.delta_page(DELTA))


@pytest.mark.parametrize("code", ["0x80044352", "-2147204270", "ExpiredVersionStamp"])
def test_an_expired_change_token_is_recognised_by_each_form_of_its_code(
    make: Make, code: str
) -> None:
    # The reference (§4.5, §5.9) names the fault by hex, decimal (the SDK's) and name; the text
    # a server sends with it is not promised.
    h = make(error(400, code, "Sync cannot continue."))
    with pytest.raises(ChangeTokenExpired, match="full copy"):
        h.client.read_page(h.client.delta_page(DELTA))


def test_a_token_that_is_not_valid_is_no_expiry(make: Make) -> None:
    # A restored environment's answer: the backup decides (a full copy), the client only says.
    h = make(error(400, "0x0", "The $deltatoken value is not valid."))
    with pytest.raises(ValidationFailed, match="not valid") as raised:
        h.client.read_page(h.client.delta_page(DELTA))
    assert not isinstance(raised.value, ChangeTokenExpired)


def test_an_expired_change_token_is_recognised_by_its_text_too(make: Make) -> None:
    h = make(
        error(400, "", "Version stamp associated with the client has expired. Please perform...")
    )
    with pytest.raises(ChangeTokenExpired):
        h.client.read_page(h.client.delta_page(DELTA))


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "0x80040220"), (403, "0x80048306"), (400, "0x80040220")],
)
def test_missing_privilege_names_the_fix(make: Make, status: int, code: str) -> None:
    h = make(
        error(
            status,
            code,
            "Principal user (Id=..., type=8) is missing prvReadAccount privilege",
            **{"x-ms-service-request-id": "svc-403"},
        )
    )
    with pytest.raises(Forbidden) as caught:
        read(h)
    message = caught.value.message
    assert "security role" in message
    assert "application user" in message
    assert h.tokens.client_id in message
    assert "prvReadAccount" in message
    assert caught.value.request_id == "svc-403"


def test_unknown_entity_set_is_table_not_found(make: Make) -> None:
    h = make(error(404, "0x8006088a", "Resource not found for the segment 'acounts'."))
    with pytest.raises(TableNotFound, match="acounts"):
        h.client.read_page(h.client.first_page("acounts"))


def test_unknown_table_in_metadata_is_table_not_found(make: Make) -> None:
    h = make(error(404, "0x80040217", "Could not find entity with name nosuch"))
    with pytest.raises(TableNotFound, match="nosuch"):
        h.client.table("nosuch")


def test_a_missing_row_is_plain_not_found(make: Make) -> None:
    h = make(error(404, "", f"account With Id = {ACCOUNT} Does Not Exist"))
    with pytest.raises(NotFound) as caught:
        h.client.update("accounts", ACCOUNT, {"name": "x"})
    assert not isinstance(caught.value, TableNotFound)


def test_412_is_precondition_failed(make: Make) -> None:
    h = make(error(412, "", "A record with matching key values already exists."))
    with pytest.raises(PreconditionFailed, match="already exists"):
        h.client.upsert("accounts", ACCOUNT, {"name": "x"}, only="create")


def test_401_is_refreshed_once_then_explains_the_application_user(make: Make) -> None:
    h = make(httpx.Response(401), httpx.Response(401))
    with pytest.raises(AuthenticationFailed, match="application user"):
        read(h)
    assert [force for _, force in h.tokens.calls] == [False, True]


def test_an_unknown_column_is_validation_failed(make: Make) -> None:
    h = make(error(400, "0x0", "Could not find a property named 'nosuch' on type 'account'."))
    with pytest.raises(ValidationFailed, match="nosuch"):
        h.client.read_page(h.client.first_page("accounts", select=["nosuch"]))


def test_a_non_json_answer_is_a_clear_error(make: Make) -> None:
    h = make(httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(Exception, match="JSON object"):
        read(h)


# --- what is kept, what is not logged -------------------------------------------------------------


def test_calls_are_recorded_with_request_ids_and_the_token_never_logged(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    h = make(
        httpx.Response(200, json={"value": []}, headers={"x-ms-service-request-id": "svc-1"}),
        httpx.Response(200, json={"value": []}, headers={"REQ_ID": "req-2"}),
    )
    caplog.set_level(logging.DEBUG)
    with recording_calls() as calls:
        read(h)
        read(h)
    assert [c.request_id for c in calls] == ["svc-1", "req-2"]
    assert all(c.path == "/api/data/v9.2/accounts" for c in calls)
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert "token-0" not in logged
    assert "Bearer" not in logged
