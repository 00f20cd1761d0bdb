"""QueueSender and message decoding, against Azurite's queue service."""

from __future__ import annotations

import base64
import json
import re
import threading
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from azure.storage.queue import QueueServiceClient, TextBase64EncodePolicy
from hypothesis import given
from hypothesis import strategies as st

from shared.storage.connection import QUEUE_API_VERSION, StorageTarget, queue_service
from shared.storage.queues import (
    MAX_DELAY_SECONDS,
    MAX_MESSAGE_BYTES,
    QueueSender,
    decode_message_body,
    encode_message,
)
from tests.integration.host.helpers import wait_for

pytestmark = pytest.mark.azurite

QUEUE = "restore-steps"


def test_send_creates_the_queue_and_sends_plain_ascii_json(
    sender: QueueSender, storage: str
) -> None:
    sender.send(QUEUE, {"operationId": "restore-1", "note": "Zürich 😀"})

    [message] = sender.peek(QUEUE)
    assert message.payload == {"operationId": "restore-1", "note": "Zürich 😀"}
    assert message.text.isascii()
    assert json.loads(message.text) == message.payload  # plain text, not base64
    # Never expires: the service reports the maximum expiry time for TTL -1.
    assert message.expires_on is not None
    assert message.expires_on.year == 9999
    assert sender.approximate_count(QUEUE) == 1


def _visible_after(put_answer: str) -> timedelta:
    """The delay the queue service itself recorded for a message it accepted."""

    def stamp(field: str) -> datetime:
        found = re.search(f"<{field}>([^<]+)</{field}>", put_answer)
        assert found is not None, put_answer
        return parsedate_to_datetime(found[1])

    return stamp("TimeNextVisible") - stamp("InsertionTime")


def test_delayed_message_stays_invisible_until_due(storage: str) -> None:
    target = StorageTarget.parse(storage)
    assert target.connection_string is not None
    answers: list[str] = []
    sender = QueueSender(
        QueueServiceClient.from_connection_string(
            target.connection_string,
            api_version=QUEUE_API_VERSION,
            raw_response_hook=lambda r: (
                answers.append(r.http_response.text())
                if r.http_request.method == "POST"
                else None
            ),
        )
    )
    sender.send(QUEUE, {"n": 1}, delay_seconds=1.2)  # rounded up to 2 s
    sender.send(QUEUE, {"n": 2}, delay_seconds=3600)

    # The service's own times say how long each stays invisible; no clock of ours is read.
    assert [_visible_after(answer) for answer in answers] == [
        timedelta(seconds=2),
        timedelta(hours=1),
    ]
    assert sender.approximate_count(QUEUE) == 2  # counted, whether visible or not
    assert wait_for(lambda: sender.peek(QUEUE) != [], timeout=30), "never became visible"
    # The first came due; the one delayed an hour is still invisible.
    assert [m.payload for m in sender.peek(QUEUE)] == [{"n": 1}]


def test_delays_beyond_seven_days_are_capped_not_refused(sender: QueueSender) -> None:
    sender.send(QUEUE, {"n": 1}, delay_seconds=30 * 24 * 3600)  # the service refuses > 7 days
    sender.send(QUEUE, {"n": 2}, delay_seconds=float("inf"))
    sender.send(QUEUE, {"n": 3}, delay_seconds=-5)  # in the past: now
    assert sender.approximate_count(QUEUE) == 3
    assert [m.payload for m in sender.peek(QUEUE)] == [{"n": 3}]
    with pytest.raises(ValueError, match="number"):
        sender.send(QUEUE, {"n": 4}, delay_seconds=float("nan"))


def test_oversized_message_is_refused_before_sending(sender: QueueSender) -> None:
    overhead = len(encode_message({"x": ""}))
    sender.send(QUEUE, {"x": "a" * (MAX_MESSAGE_BYTES - overhead)})  # exactly at the limit
    with pytest.raises(ValueError, match="bytes; the limit here is"):
        sender.send(QUEUE, {"x": "a" * (MAX_MESSAGE_BYTES - overhead + 1)})
    # Non-ASCII is escaped, so it is measured escaped: 6 bytes per character.
    with pytest.raises(ValueError, match="bytes"):
        sender.send(QUEUE, {"x": "é" * (MAX_MESSAGE_BYTES // 6 + 1)})
    assert sender.approximate_count(QUEUE) == 1


def test_unserialisable_payload_is_a_value_error(sender: QueueSender) -> None:
    with pytest.raises(ValueError, match="JSON"):
        sender.send(QUEUE, {"x": object()})


def test_peek_and_count_on_a_missing_queue(sender: QueueSender) -> None:
    assert sender.peek("never-made") == []
    assert sender.approximate_count("never-made") == 0


def test_queue_is_created_once_across_threads(storage: str) -> None:
    target = StorageTarget.parse(storage)
    assert target.connection_string is not None
    creates: list[str] = []
    service = QueueServiceClient.from_connection_string(
        target.connection_string,
        api_version=QUEUE_API_VERSION,
        raw_request_hook=lambda r: (
            creates.append(r.http_request.url) if r.http_request.method == "PUT" else None
        ),
    )
    sender = QueueSender(service)
    barrier = threading.Barrier(6)

    def send(n: int) -> None:
        barrier.wait()
        sender.send(QUEUE, {"n": n})

    threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(creates) == 1
    assert sender.approximate_count(QUEUE) == 6


def test_portal_style_base64_messages_are_read(sender: QueueSender, storage: str) -> None:
    encoded = queue_service(storage).get_queue_client(
        "backup-requests", message_encode_policy=TextBase64EncodePolicy()
    )
    encoded.create_queue()
    encoded.send_message(json.dumps({"environmentId": "abc", "label": "Ünïcode"}))
    [message] = sender.peek("backup-requests")
    assert message.payload == {"environmentId": "abc", "label": "Ünïcode"}


def test_decode_message_body() -> None:
    doc = {"environmentId": "abc", "label": "x"}
    text = json.dumps(doc)
    assert decode_message_body(text) == doc
    assert decode_message_body(text.encode()) == doc
    assert decode_message_body("  " + text + "\n") == doc
    assert decode_message_body(base64.b64encode(text.encode())) == doc
    assert decode_message_body(base64.b64encode(text.encode()).decode()) == doc
    for bad in ("", "   ", "not json", base64.b64encode(b"not json"), b"\xff\xfe", "eyJh"):
        with pytest.raises(ValueError, match=r"JSON|UTF-8|empty"):
            decode_message_body(bad)


def test_peek_shows_undecodable_messages_instead_of_failing(
    sender: QueueSender, storage: str
) -> None:
    raw = queue_service(storage).get_queue_client(QUEUE)
    raw.create_queue()
    raw.send_message("<not json>")
    [message] = sender.peek(QUEUE)
    assert (message.text, message.payload) == ("<not json>", None)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_encode_decode_round_trip_plain_and_base64(payload: dict[str, object]) -> None:
    text = encode_message(payload)
    assert text.isascii()
    assert decode_message_body(text) == payload
    assert decode_message_body(base64.b64encode(text.encode())) == payload


def test_delay_constant_respects_the_service_cap() -> None:
    assert MAX_DELAY_SECONDS < 7 * 24 * 3600


def test_a_fail_fast_send_tries_once() -> None:
    """A notification send must not hold an operation through the SDK's retries in an outage."""
    import socket
    import threading

    from azure.core.exceptions import AzureError

    from shared.storage.connection import DEV_ACCOUNT_KEY

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    connections = []

    def refuse() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)
            conn.close()  # an unavailable service: the connection dies without an answer

    threading.Thread(target=refuse, daemon=True).start()
    port = listener.getsockname()[1]
    sender = QueueSender.from_connection(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        f"AccountKey={DEV_ACCOUNT_KEY};QueueEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
    )
    client = sender._service.get_queue_client("notifications")
    sender._clients["notifications"] = client  # the queue exists; only the send is under test
    with pytest.raises(AzureError):
        sender.send("notifications", {"eventId": "e"}, fail_fast=True)
    listener.close()
    assert len(connections) == 1
