"""Helpers for the local host tests: queue clients and polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from shared.storage.connection import queue_service

# Fast settings so retries and polls take fractions of a second.
FAST_QUEUES: dict[str, Any] = {
    "messageEncoding": "none",
    "maxDequeueCount": 3,
    "visibilityTimeout": "00:00:00",
    "maxPollingInterval": "00:00:00.200",
    "batchSize": 4,
    "newBatchThreshold": 2,
}


def queue(storage: str, name: str) -> QueueClient:
    return queue_service(storage).get_queue_client(name)


def send(storage: str, name: str, *texts: str, **options: Any) -> None:
    client = queue(storage, name)
    for text in texts:
        client.send_message(text, **options)


def stored_texts(storage: str, name: str) -> list[str]:
    """Texts of the visible messages of a queue, without taking them ([] if no queue)."""
    try:
        return [str(m.content) for m in queue(storage, name).peek_messages(max_messages=32)]
    except ResourceNotFoundError:
        return []


def message_count(storage: str, name: str) -> int:
    """Approximate count, invisible (delayed or leased) messages included."""
    try:
        properties = queue(storage, name).get_queue_properties()
    except ResourceNotFoundError:
        return 0
    return int(properties.approximate_message_count or 0)


def wait_for(condition: Callable[[], bool], *, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()
