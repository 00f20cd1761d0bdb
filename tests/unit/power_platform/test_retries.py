"""What is resent, how often, and how long the client waits (wire page: idempotency)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from shared.errors import AuthenticationFailed, Busy, OutcomeUnknown, Throttled, Transient
from shared.power_platform import RetryPolicy
from tests.unit.power_platform.conftest import ENV, NOW, SOURCE, Harness, bap_environment

Make = Callable[..., Harness]
BACKUP = {"id": "b1", "label": "x", "backupPointDateTime": "2026-11-21T11:59:00Z"}
POINT = datetime(2026, 11, 21, 10, tzinfo=UTC)


# --- non-idempotent starts are never resent once they may have arrived ----------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("connection reset"),
        httpx.WriteTimeout("stalled"),
    ],
    ids=["500", "503", "read-timeout", "dropped", "reset", "write-timeout"],
)
@pytest.mark.parametrize(
    "start",
    [
        lambda c: c.create_backup(ENV, "label"),
        lambda c: c.begin_restore(ENV, SOURCE, POINT),
        lambda c: c.begin_change_type(ENV, "Sandbox"),
    ],
    ids=["create_backup", "begin_restore", "begin_change_type"],
)
def test_non_idempotent_start_is_sent_exactly_once(
    make: Make, failure: httpx.Response | Exception, start: Callable[..., object]
) -> None:
    h = make(failure, httpx.Response(202))
    with pytest.raises(OutcomeUnknown) as caught:
        start(h.client)
    assert len(h.requests) == 1
    assert h.time.sleeps == []
    assert caught.value.request_id is not None


def test_connect_error_before_sending_is_resent_even_for_a_post(make: Make) -> None:
    h = make(httpx.ConnectError("refused"), httpx.Response(201, json=BACKUP))
    assert h.client.create_backup(ENV, "x").id == "b1"
    assert len(h.requests) == 2


def test_connect_errors_for_a_post_end_as_transient_not_outcome_unknown(make: Make) -> None:
    h = make(route=lambda _: (_ for _ in ()).throw(httpx.ConnectTimeout("no route")))
    with pytest.raises(Transient):
        h.client.create_backup(ENV, "x")
    assert len(h.requests) == 4


def test_429_is_resent_for_a_post(make: Make) -> None:
    h = make(
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(201, json=BACKUP),
    )
    assert h.client.create_backup(ENV, "x").id == "b1"
    assert len(h.requests) == 2
    assert h.time.sleeps == [3.0]
    # A resend is a new request with its own id.
    ids = {r.headers["x-ms-client-request-id"] for r in h.requests}
    assert len(ids) == 2


def test_429_then_500_on_a_post_is_outcome_unknown(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(500))
    with pytest.raises(OutcomeUnknown):
        h.client.begin_restore(ENV, SOURCE, POINT)
    assert len(h.requests) == 2


# --- idempotent calls are retried, within bounds -------------------------------------------------


def test_get_is_retried_on_5xx_with_jittered_backoff(make: Make) -> None:
    h = make(
        httpx.Response(503),
        httpx.Response(502),
        httpx.Response(200, json=bap_environment()),
    )
    assert h.client.get_environment(ENV).id == ENV
    assert len(h.requests) == 3
    first, second = h.time.sleeps
    assert 0.5 <= first <= 1.0
    assert 1.0 <= second <= 2.0


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.Response(408),
        httpx.Response(425),
    ],
    ids=["timeout", "dropped", "408", "425"],
)
def test_idempotent_calls_are_retried_on_timeouts_and_408_425(
    make: Make, failure: httpx.Response | Exception
) -> None:
    h = make(failure, httpx.Response(204))
    h.client.delete_backup(ENV, "b1")
    assert len(h.requests) == 2


def test_runtime_state_patch_is_retried(make: Make) -> None:
    h = make(
        httpx.Response(500),
        httpx.Response(202, headers={"Location": "https://api.bap.microsoft.com/op"}),
    )
    handle = h.client.begin_set_runtime_state(ENV, admin_mode=False)
    assert handle.status_url == "https://api.bap.microsoft.com/op"
    assert len(h.requests) == 2


def test_validate_only_restore_is_retried(make: Make) -> None:
    h = make(httpx.Response(503), httpx.Response(200, json={"status": "ValidationPassed"}))
    h.client.validate_restore(ENV, SOURCE, POINT)
    assert len(h.requests) == 2


def test_retries_are_bounded_by_attempts(make: Make) -> None:
    h = make(route=lambda _: httpx.Response(500), retry=RetryPolicy(max_attempts=4))
    with pytest.raises(Transient) as caught:
        h.client.get_environment(ENV)
    assert len(h.requests) == 4
    assert len(h.time.sleeps) == 3
    assert caught.value.retry_after is not None


def test_retries_are_bounded_by_total_time(make: Make) -> None:
    h = make(
        route=lambda _: httpx.Response(503, headers={"Retry-After": "8"}),
        retry=RetryPolicy(max_attempts=10, max_total_seconds=20),
    )
    with pytest.raises(Transient) as caught:
        h.client.get_environment(ENV)
    # 0 s: fail, wait 8; 8 s: fail, wait 8; 16 s: fail, and 16 + 8 > 20: give up.
    assert h.time.sleeps == [8.0, 8.0]
    assert len(h.requests) == 3
    assert caught.value.retry_after == 8.0


def test_slow_answers_use_up_the_time_budget(make: Make) -> None:
    holder: dict[str, Harness] = {}

    def slow(_: httpx.Request) -> httpx.Response:
        holder["h"].time.advance(15)
        return httpx.Response(500)

    h = make(route=slow, retry=RetryPolicy(max_attempts=10, max_total_seconds=20))
    holder["h"] = h
    with pytest.raises(Transient):
        h.client.list_backups(ENV)
    assert len(h.requests) == 2


def test_retry_after_beyond_the_budget_is_handed_back_without_sleeping(make: Make) -> None:
    h = make(httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(Throttled) as caught:
        h.client.list_environments()
    assert caught.value.retry_after == 120.0
    assert h.time.sleeps == []
    assert len(h.requests) == 1


def test_retry_after_as_http_date(make: Make) -> None:
    when = format_datetime(NOW + timedelta(seconds=5), usegmt=True)
    h = make(
        httpx.Response(429, headers={"Retry-After": when}),
        httpx.Response(200, json={"value": []}),
    )
    assert h.client.list_environments() == []
    assert h.time.sleeps == [5.0]


def test_throttled_without_retry_after_suggests_a_wait(make: Make) -> None:
    h = make(route=lambda _: httpx.Response(429), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(Throttled) as caught:
        h.client.get_environment(ENV)
    assert len(h.requests) == 2
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0


def test_busy_is_not_retried_and_carries_retry_after(make: Make) -> None:
    h = make(
        httpx.Response(
            409,
            json={"error": {"code": "OperationNotStartable"}},
            headers={"Retry-After": "30"},
        )
    )
    with pytest.raises(Busy) as caught:
        h.client.begin_change_type(ENV, "Sandbox")
    assert caught.value.retry_after == 30.0
    assert len(h.requests) == 1
    assert h.time.sleeps == []


# --- 401: one fresh token ------------------------------------------------------------------------


def test_401_refreshes_the_token_once_and_resends(make: Make) -> None:
    h = make(httpx.Response(401), httpx.Response(201, json=BACKUP))
    assert h.client.create_backup(ENV, "x").id == "b1"
    assert [r.headers["Authorization"] for r in h.requests] == ["Bearer token-0", "Bearer token-1"]
    assert [force for _, force in h.tokens.calls] == [False, True]
    assert h.time.sleeps == []


def test_401_after_refresh_gives_up(make: Make) -> None:
    h = make(route=lambda _: httpx.Response(401))
    with pytest.raises(AuthenticationFailed):
        h.client.get_environment(ENV)
    assert len(h.requests) == 2
    assert [force for _, force in h.tokens.calls] == [False, True]


def test_refresh_does_not_use_up_an_attempt(make: Make) -> None:
    h = make(
        httpx.Response(401),
        httpx.Response(500),
        httpx.Response(200, json=bap_environment()),
        retry=RetryPolicy(max_attempts=2),
    )
    assert h.client.get_environment(ENV).id == ENV
    assert len(h.requests) == 3


def test_401_without_a_token_is_not_resent(make: Make) -> None:
    h = make(httpx.Response(401), api="http://127.0.0.1:1", bap="http://127.0.0.1:2")
    with pytest.raises(AuthenticationFailed):
        h.client.get_environment(ENV)
    assert len(h.requests) == 1
