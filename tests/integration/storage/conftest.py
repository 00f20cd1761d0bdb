"""Fixtures for the storage layer's tests: stores bound to a freshly wiped Azurite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.operations import Operation, OperationKind, OperationStatus, new_operation
from shared.storage.history import HistoryStore
from shared.storage.queues import QueueSender

ENV_A = "0a1b2c3d-0000-4000-8000-00000000000a"
ENV_B = "0a1b2c3d-0000-4000-8000-00000000000b"
BASE = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


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
