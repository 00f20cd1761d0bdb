"""The host's queue client: the shared factory's settings plus a connection pool sized for it.

azure-core's default requests pool keeps 10 connections per host; a host running
`batchSize + newBatchThreshold` (24 by default) invocations per function, each ending in a
delete, plus pollers and lease renewals, would keep discarding and reopening connections
("Connection pool is full" warnings). Only the pool differs from `shared.storage.connection`.
"""

from __future__ import annotations

import requests
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.queue import QueueServiceClient
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from shared.storage.connection import QUEUE_API_VERSION, StorageTarget, queue_service


def host_queue_service(value: str, *, pool_size: int) -> QueueServiceClient:
    """A client for `AzureWebJobsStorage`-style `value`; `ValueError` if it is malformed."""
    target = StorageTarget.parse(value)
    if target.connection_string is None:
        # Identity-based (a real account): the shared factory owns the credential logic.
        return queue_service(value)
    return QueueServiceClient.from_connection_string(
        target.connection_string,
        api_version=QUEUE_API_VERSION,
        transport=RequestsTransport(session=_session(pool_size), session_owner=True),
    )


def _session(pool_size: int) -> requests.Session:
    session = requests.Session()
    # As azure-core's own adapter: retries and redirects are the pipeline's business.
    adapter = HTTPAdapter(
        pool_maxsize=pool_size,
        max_retries=Retry(total=False, redirect=False, raise_on_status=False),
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
