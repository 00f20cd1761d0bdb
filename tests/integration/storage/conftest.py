"""Fixtures for the storage layer's tests: stores bound to a freshly wiped Azurite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.pipeline import PipelineResponse
from azure.data.tables import TableServiceClient

from shared.operations import Operation, OperationKind, OperationStatus, new_operation
from shared.storage.history import HistoryStore
from shared.storage.queues import QueueSender

ENV_A = "0a1b2c3d-0000-4000-8000-00000000000a"
ENV_B = "0a1b2c3d-0000-4000-8000-00000000000b"
BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


class Trips:
    """Counts the query round trips (not point reads) the store's table service makes."""

    def __init__(self) -> None:
        self.queries = 0
        self.rows = 0

    def __call__(self, response: PipelineResponse[Any, Any]) -> None:
        request = response.http_request
        # A query addresses `Table()`; a point read `Table(PartitionKey=...,RowKey=...)`.
        if request.method == "GET" and "()" in request.url:
            self.queries += 1
            body = response.http_response.text()
            self.rows += body.count('"RowKey"')

    def reset(self) -> None:
        self.queries = self.rows = 0


def counting_store(storage: str, trips: Trips) -> HistoryStore:
    """A history store on `storage` whose every response `trips` sees."""
    return HistoryStore(TableServiceClient.from_connection_string(storage, raw_response_hook=trips))


@pytest.fixture
def store(storage: str) -> HistoryStore:
    return HistoryStore.from_connection(storage)


@pytest.fixture
def sender(storage: str) -> QueueSender:
    return QueueSender.from_connection(storage)


def op_at(
    minutes: float,
    *,
    kind: OperationKind = OperationKind.BACKUP,
    environment_id: str = ENV_A,
    status: OperationStatus = OperationStatus.QUEUED,
    **fields: Any,
) -> Operation:
    """An operation created `minutes` after BASE (the id, and so the ordering, follow)."""
    return new_operation(
        kind, environment_id, BASE + timedelta(minutes=minutes), status=status, **fields
    )
