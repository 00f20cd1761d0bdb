"""Contract tests: the decorated functions themselves, called as the Functions host calls them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from ppbackup.host.metadata import HttpTrigger, QueueTrigger, describe_app
from ppbackup.simulator import run_simulator
from shared.queue_names import (
    BACKUP_REQUESTS,
    DATA_BACKUP_REQUESTS,
    DATA_RESTORE_REQUESTS,
    MAX_DEQUEUE_COUNT,
    RESTORE_REQUESTS,
    poison_queue,
)
from shared.runtime import AppContext, use_context
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ENV = "11111111-2222-3333-4444-555555555555"


def functions() -> dict[str, Any]:
    import function_app

    return {spec.name: spec for spec in describe_app(function_app.app)}


def test_host_json_agrees_with_the_handlers() -> None:
    queues = json.loads((ROOT / "host.json").read_text())["extensions"]["queues"]
    assert queues["maxDequeueCount"] == MAX_DEQUEUE_COUNT
    assert queues["messageEncoding"] == "none"


def test_the_contract_routes_exist_and_need_a_function_key() -> None:
    http: dict[str, tuple[frozenset[str], str]] = {}
    for spec in functions().values():
        if isinstance(spec.trigger, HttpTrigger):
            # One route may be served by several functions, one per method (GET and PATCH).
            methods, level = http.get(spec.trigger.route, (frozenset(), ""))
            http[spec.trigger.route] = (
                methods | (spec.trigger.methods or frozenset()),
                level or (spec.trigger.auth_level or "").lower(),
            )
            assert (spec.trigger.auth_level or "").lower() == http[spec.trigger.route][1]
    assert http["backups"][0] == {"POST"}
    assert http["restores"][0] == {"POST"}
    assert http["operations/{operationId}"][0] == {"GET", "PATCH"}
    assert http["operations"][0] == {"GET"}
    assert http["operations/{operationId}/cancel"][0] == {"POST"}
    assert http["environments/{environmentId}/backups"][0] == {"GET"}
    assert http["environments/{environmentId}/backups/{backupId}"][0] == {"DELETE"}
    # The status page and the data it reads are anonymous-level (a browser has no function key)
    # and check the App Service Authentication principal themselves (status_page/access.py).
    assert {level for route, (_, level) in http.items() if route != "ui"
            and not route.startswith("ui/")} == {"function"}
    assert {level for route, (_, level) in http.items() if route == "ui"
            or route.startswith("ui/")} == {"anonymous"}


def test_the_public_queues_are_triggers() -> None:
    queues = {
        spec.trigger.queue_name
        for spec in functions().values()
        if isinstance(spec.trigger, QueueTrigger)
    }
    assert {BACKUP_REQUESTS, RESTORE_REQUESTS} <= queues


def test_every_intake_queue_and_its_poison_queue_have_a_function() -> None:
    """A request the host gave up on before admission is taken from `<queue>-poison`, by the
    same feature's blueprint (never left to expire there unread)."""
    triggers = {
        name: spec.trigger.queue_name
        for name, spec in functions().items()
        if isinstance(spec.trigger, QueueTrigger)
    }
    intake = {
        "backup_request": BACKUP_REQUESTS,
        "restore_request": RESTORE_REQUESTS,
        "data_backup_request": DATA_BACKUP_REQUESTS,
        "data_restore_request": DATA_RESTORE_REQUESTS,
    }
    for name, queue in intake.items():
        assert triggers[name] == queue
        assert triggers[f"{name}_poison"] == poison_queue(queue)
        # The host poisons a poison queue's message in turn: that name must be valid too.
        assert len(poison_queue(poison_queue(queue))) <= 63
    assert sorted(triggers) == sorted([
        *intake, *(f"{name}_poison" for name in intake),
        "backup_work", "restore_step", "data_backup_work", "data_restore_work",
        "notification_delivery",
    ])


@pytest.fixture
def ctx(storage: str) -> Iterator[AppContext]:
    with run_simulator(port=0, populate=False) as sim:
        settings = Settings.from_env(
            {
                "AzureWebJobsStorage": storage,
                "PP_API_URL": sim.url,
                "PP_BAP_URL": sim.url,
                "PP_AUTH": "none",
            }
        )
        context = AppContext.from_settings(settings)
        with use_context(context):
            yield context


def request(method: str, url: str, body: bytes = b"", **kwargs: Any) -> func.HttpRequest:
    return func.HttpRequest(method=method, url=url, body=body, **kwargs)


def test_post_backup_answers_202_with_a_status_url(ctx: AppContext) -> None:
    from backup_triggers.blueprint import post_backup

    body = json.dumps({"environmentId": ENV, "label": "Before 4.2"}).encode()
    answer = post_backup(request("POST", "http://localhost:7071/api/backups", body))
    assert answer.status_code == 202
    document = json.loads(answer.get_body())
    assert document["statusUrl"] == (
        f"http://localhost:7071/api/operations/{document['operationId']}"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", None),
        (b"{not json", None),
        (json.dumps({"environmentId": "x", "label": "y"}).encode(), "environmentId"),
        (json.dumps({"environmentId": ENV, "label": "y", "extra": 1}).encode(), "extra"),
    ],
)
def test_bad_input_is_a_400_with_a_clear_body(
    ctx: AppContext, body: bytes, field: str | None
) -> None:
    from backup_triggers.blueprint import post_backup

    answer = post_backup(request("POST", "http://localhost/api/backups", body))
    assert answer.status_code == 400
    error = json.loads(answer.get_body())["error"]
    assert error["code"] and error["message"]
    assert "Traceback" not in answer.get_body().decode()
    if field:
        assert field in error["fields"]


def test_unknown_operation_is_a_404(ctx: AppContext) -> None:
    from operations_api.blueprint import get_operation

    for operation_id in ("nope", "backup-20261121T010000000Z-abcdef"):
        answer = get_operation(
            request(
                "GET",
                f"http://localhost/api/operations/{operation_id}",
                route_params={"operationId": operation_id},
            )
        )
        assert answer.status_code == 404
        assert json.loads(answer.get_body())["error"]["code"] == "OperationNotFound"


def test_listing_validates_its_query(ctx: AppContext) -> None:
    from operations_api.blueprint import list_operations

    bad = list_operations(
        request(
            "GET",
            "http://localhost/api/operations",
            params={"kind": "copy", "limit": "0", "environmentId": "x"},
        )
    )
    assert bad.status_code == 400
    assert set(json.loads(bad.get_body())["error"]["fields"]) == {"kind", "limit", "environmentId"}
    good = list_operations(
        request("GET", "http://localhost/api/operations", params={"kind": "backup", "limit": "5"})
    )
    assert good.status_code == 200
    assert json.loads(good.get_body()) == {"operations": [], "continuationToken": None}


def test_an_unexpected_error_is_a_500_without_a_trace(
    ctx: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from operations_api.blueprint import list_operations

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(ctx.history, "list", broken)
    answer = list_operations(request("GET", "http://localhost/api/operations"))
    assert answer.status_code == 500
    text = answer.get_body().decode()
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert json.loads(text)["error"]["code"] == "InternalError"
