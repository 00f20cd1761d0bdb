"""The host's queue client: the shared factory with a connection pool sized for the host.

A host running `batchSize + newBatchThreshold` (24 by default) invocations per function, each
ending in a delete, plus pollers and lease renewals, needs more connections than azure-core's
default pool of 10 (otherwise: "Connection pool is full" warnings and reconnects).
"""

from __future__ import annotations

from azure.storage.queue import QueueServiceClient

from shared.storage.connection import queue_service


def host_queue_service(value: str, *, pool_size: int) -> QueueServiceClient:
    """A client for `AzureWebJobsStorage`-style `value`; `ValueError` if it is malformed."""
    return queue_service(value, pool_size=pool_size)
