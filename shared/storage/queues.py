"""Sending queue messages the way the function app's triggers read them.

Plain-text JSON (host.json sets `messageEncoding: none`), sent with the SDK rather than an output
binding because bindings can neither delay a message nor set its time-to-live (reference 1.6).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from shared.policy.clock_skew import CLOCK_SKEW

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient, QueueServiceClient

# The service allows 64 KiB of message text; 4 KiB of headroom keeps us clear of it whatever the
# SDK adds, and anything near the limit should have been a table row with an id in the message.
MAX_MESSAGE_BYTES = 60 * 1024
# Put Message accepts a visibility delay of at most 7 days; the clock-skew allowance less keeps
# us clear of the limit. Longer waits are re-sent by whoever receives the message.
MAX_DELAY_SECONDS = 7 * 24 * 3600 - int(CLOCK_SKEW.total_seconds())
# -1 = never expires. The default TTL is 7 days, and a delayed or stuck message that silently
# expires is a restore nobody drives any more.
NEVER_EXPIRE = -1


@dataclass(frozen=True, slots=True)
class PeekedMessage:
    """A message as `peek` saw it: `payload` is the decoded JSON, None if `text` is not JSON."""

    message_id: str
    inserted_on: datetime | None
    expires_on: datetime | None
    dequeue_count: int
    text: str
    payload: Any


class QueueSender:
    def __init__(self, queue_service: QueueServiceClient) -> None:
        self._service = queue_service
        self._clients: dict[str, QueueClient] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_connection(cls, connection: str) -> QueueSender:
        from shared.storage.connection import queue_service

        return cls(queue_service(connection))

    def send(
        self,
        queue: str,
        payload: Mapping[str, Any],
        *,
        delay_seconds: float = 0,
        fail_fast: bool = False,
    ) -> None:
        """Send `payload` as JSON; visible after `delay_seconds` (rounded up, at most ~7 days).

        `fail_fast`: one try with short timeouts instead of the SDK's retries (minutes in an
        outage), for sends a caller must never wait on, such as a notification.
        """
        text = encode_message(payload)
        options: dict[str, Any] = (
            {"retry_total": 0, "connection_timeout": 5, "read_timeout": 10} if fail_fast else {}
        )
        self._client(queue).send_message(
            text, visibility_timeout=_delay(delay_seconds), time_to_live=NEVER_EXPIRE, **options
        )

    def approximate_count(self, queue: str) -> int:
        """Visible and delayed messages together; 0 for a queue that does not exist yet."""
        client = self._service.get_queue_client(queue)
        try:
            return int(client.get_queue_properties().approximate_message_count or 0)
        except ResourceNotFoundError:
            return 0

    def peek(self, queue: str, max: int = 32) -> list[PeekedMessage]:
        """Up to `max` (1..32) visible messages, without dequeuing them. For tests and the CLI."""
        client = self._service.get_queue_client(queue)
        try:
            # `max` (the public keyword) shadows the builtin here, hence `builtins.`.
            messages = client.peek_messages(max_messages=builtins.min(builtins.max(1, max), 32))
        except ResourceNotFoundError:
            return []
        return [
            PeekedMessage(
                message_id=str(m.id),
                inserted_on=m.inserted_on,
                expires_on=m.expires_on,
                dequeue_count=int(m.dequeue_count or 0),
                text=str(m.content),
                payload=_lenient_decode(m.content),
            )
            for m in messages
        ]

    def _client(self, queue: str) -> QueueClient:
        client = self._clients.get(queue)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(queue)
            if client is None:
                client = self._service.get_queue_client(queue)
                with contextlib.suppress(ResourceExistsError):  # an earlier run made it
                    client.create_queue()
                self._clients[queue] = client
        return client


def encode_message(payload: Mapping[str, Any]) -> str:
    """Compact ASCII JSON; ValueError when it is not JSON or too large for a queue message.

    ASCII-only (non-ASCII as `\\uXXXX`) so the text means the same whatever encoding a reader
    assumes, and so characters equal bytes for the size check.
    """
    try:
        text = json.dumps(dict(payload), ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"queue message payload is not JSON-serialisable: {exc}") from exc
    if len(text) > MAX_MESSAGE_BYTES:
        raise ValueError(
            f"queue message is {len(text)} bytes; the limit here is {MAX_MESSAGE_BYTES}. "
            "Store the data in a table and send its id instead"
        )
    return text


def decode_message_body(body: bytes | str) -> Any:
    """The JSON document in a message body, sent as plain text or (Azure portal's default
    "Encode the message body in Base64") as base64 of the JSON text; ValueError otherwise.

    The app's own queues; the intake queues read their messages with `shared.intake`. Both
    parse with `shared.inputs.decode_json`, within the same limits.
    """
    from shared.errors import RequestInvalid
    from shared.inputs import decode_json

    try:
        return decode_json(body, what="message body", base64_fallback=True)
    except RequestInvalid as error:
        raise ValueError(error.message) from None


def _lenient_decode(body: object) -> Any:
    try:
        return decode_message_body(body if isinstance(body, bytes | str) else str(body))
    except ValueError:
        return None  # a person inspecting a queue wants to see the bad message, not an error


def _delay(seconds: float) -> int:
    if not isinstance(seconds, int | float) or math.isnan(seconds):
        raise ValueError(f"delay_seconds must be a number, got {seconds!r}")
    if seconds <= 0:
        return 0
    if math.isinf(seconds):
        return MAX_DELAY_SECONDS
    return min(math.ceil(seconds), MAX_DELAY_SECONDS)
