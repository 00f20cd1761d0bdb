"""The cancel route when its ETag-guarded write keeps losing to another writer (real Azurite
ETags, not a fake): the caller gets a 409 with the error body, never a 500."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import azure.functions as func
import pytest

from ppbackup.simulator import run_simulator
from restore_orchestrator.intake import submit_restore
from shared.operations import Operation
from shared.runtime import AppContext, use_context
from shared.settings import Settings
from shared.storage.connection import table_service
from shared.storage.history import HistoryStore, StoredOperation
from shared.validation import parse_restore_request

TARGET = "51f48b59-205a-4945-aa35-a0d6a2fe05ea"


class RacingHistory(HistoryStore):
    """Before each guarded write to a raced operation, another writer rewrites the row first."""

    def __init__(self, storage: str) -> None:
        super().__init__(table_service(storage))
        self.raced: set[str] = set()
        self.races = 0

    def update(
        self, stored: StoredOperation, operation: Operation, *, internal: Any = None,
        beside: Sequence[Callable[[], object]] = (), keep_active: bool = False,
    ) -> StoredOperation:
        if operation.operation_id in self.raced:
            fresh = self.get(operation.operation_id)
            super().update(fresh, fresh.operation)  # the other writer: a new ETag
            self.races += 1
        return super().update(stored, operation, internal=internal, beside=beside,
                              keep_active=keep_active)


@pytest.fixture
def ctx(storage: str) -> Iterator[AppContext]:
    with run_simulator(port=0, populate=False) as sim:
        settings = Settings.from_env({
            "AzureWebJobsStorage": storage, "PP_API_URL": sim.url, "PP_BAP_URL": sim.url,
            "PP_AUTH": "none",
        })
        context = AppContext.from_settings(settings, history=RacingHistory(storage))
        with use_context(context):
            yield context


def test_a_cancel_that_keeps_losing_the_etag_race_is_a_409(ctx: AppContext) -> None:
    from operations_api.blueprint import cancel_operation

    queued = submit_restore(ctx, parse_restore_request({
        "targetEnvironmentId": TARGET, "latest": True, "requestId": "race-1",
    }))
    history = ctx.history
    assert isinstance(history, RacingHistory)
    history.raced.add(queued.operation_id)

    answer = cancel_operation(func.HttpRequest(
        method="POST", url=f"http://localhost/api/operations/{queued.operation_id}/cancel",
        body=b"", route_params={"operationId": queued.operation_id},
    ))

    assert history.races >= 1
    assert answer.status_code == 409, answer.get_body()
    error = json.loads(answer.get_body())["error"]
    assert error["code"] == "ConcurrencyConflict"
    assert "try again" in error["message"]
    # Nothing was half-done: the restore is still Queued, with no cancel noted.
    assert ctx.history.get(queued.operation_id).operation.status.value == "Queued"
