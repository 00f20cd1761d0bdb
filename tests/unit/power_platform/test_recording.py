"""Every HTTP exchange is recorded for the operation history, per thread/context."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import httpx
import pytest

from shared.errors import NotFound, OutcomeUnknown
from shared.power_platform import PlatformCall, recording_calls
from tests.unit.power_platform.conftest import ENV, Harness, bap_environment

Make = Callable[..., Harness]


def test_every_exchange_is_recorded_with_its_request_id(make: Make) -> None:
    h = make(
        httpx.Response(503, headers={"x-ms-request-id": "r1"}),
        httpx.Response(200, json=bap_environment(), headers={"x-ms-service-request-id": "r2"}),
    )
    with recording_calls() as calls:
        h.client.get_environment(ENV)
    path = f"/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/{ENV}"
    assert [(c.method, c.path, c.status, c.request_id) for c in calls] == [
        ("GET", path, 503, "r1"),
        ("GET", path, 200, "r2"),
    ]
    assert all(isinstance(c, PlatformCall) and c.duration_ms >= 0 for c in calls)


def test_failed_calls_are_recorded_too(make: Make) -> None:
    h = make(httpx.Response(404, headers={"x-ms-request-id": "gone"}), httpx.ReadTimeout("x"))
    with recording_calls() as calls:
        with pytest.raises(NotFound):
            h.client.get_environment(ENV)
        with pytest.raises(OutcomeUnknown) as caught:
            h.client.create_backup(ENV, "x")
    assert [(c.status, c.request_id) for c in calls] == [
        (404, "gone"),
        # No answer: the client's own request id, which the exception carries as well.
        (None, h.requests[1].headers["x-ms-client-request-id"]),
    ]
    assert caught.value.request_id == calls[1].request_id


def test_paths_never_include_the_query_string(make: Make) -> None:
    h = make(httpx.Response(200, json={"collection": [], "continuationToken": None}))
    with recording_calls() as calls:
        h.client.list_backups(ENV)
    assert calls[0].path == f"/environmentmanagement/environments/{ENV}/backups"


def test_duration_comes_from_the_injected_clock(make: Make) -> None:
    holder: dict[str, Harness] = {}

    def slow(_: httpx.Request) -> httpx.Response:
        holder["h"].time.advance(0.25)
        return httpx.Response(204)

    h = make(route=slow)
    holder["h"] = h
    with recording_calls() as calls:
        h.client.delete_backup(ENV, "b1")
    assert calls[0].duration_ms == pytest.approx(250.0)


def test_nothing_is_recorded_outside_a_block(make: Make) -> None:
    h = make(httpx.Response(204), httpx.Response(204))
    h.client.delete_backup(ENV, "b1")
    with recording_calls() as calls:
        h.client.delete_backup(ENV, "b2")
    assert len(calls) == 1
    assert calls[0].path.endswith("/b2")


def test_nested_blocks_both_see_inner_calls(make: Make) -> None:
    h = make(httpx.Response(204), httpx.Response(204))
    with recording_calls() as outer:
        h.client.delete_backup(ENV, "b1")
        with recording_calls() as inner:
            h.client.delete_backup(ENV, "b2")
    assert [c.path[-2:] for c in outer] == ["b1", "b2"]
    assert [c.path[-2:] for c in inner] == ["b2"]


def test_threads_sharing_one_client_keep_their_own_records(make: Make) -> None:
    barrier = threading.Barrier(8)

    def route(request: httpx.Request) -> httpx.Response:
        return httpx.Response(204, headers={"x-ms-request-id": request.url.path.rsplit("/", 1)[1]})

    h = make(route=route)
    results: dict[int, list[PlatformCall]] = {}

    def worker(n: int) -> None:
        with recording_calls() as calls:
            barrier.wait()
            for i in range(5):
                h.client.delete_backup(ENV, f"t{n}-{i}")
        results[n] = calls

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, calls in results.items():
        assert [c.request_id for c in calls] == [f"t{n}-{i}" for i in range(5)]


def test_logs_name_the_event_and_never_the_token(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    h = make(
        httpx.Response(500),
        httpx.Response(202, headers={"Location": "https://api.bap.microsoft.com/op?sig=secret"}),
    )
    with caplog.at_level(logging.DEBUG, logger="shared.power_platform"):
        h.client.begin_set_runtime_state(ENV, admin_mode=False)
    events = [r.getMessage() for r in caplog.records]
    assert "pp.request" in events
    assert "pp.retry" in events
    request_logs = [r for r in caplog.records if r.getMessage() == "pp.request"]
    assert request_logs[0].pp_status == 500  # type: ignore[attr-defined]
    # Server trouble warns; an answered call is routine.
    assert [r.levelno for r in request_logs] == [logging.WARNING, logging.INFO]
    assert request_logs[0].pp_path.endswith(ENV)  # type: ignore[attr-defined]
    for record in caplog.records:
        text = repr(record.__dict__)
        assert "token-0" not in text
        assert "Bearer" not in text
        assert "sig=secret" not in text
        assert "api-version" not in text
