"""Hostile messages on the intake queues, through the decorated queue functions on Azurite.

The property for every message: the function returns (an exception would be a retry and, five
deliveries later, a poisoned message); an invalid request is on record as `Rejected`, under its
requestId when it carries a usable one and under the message id otherwise; the same requestId is
always the same record; a valid request is admitted.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.functions.queue import QueueMessage
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import RequestInvalid
from shared.history_api import find_request
from shared.inputs import decode_json, usable_request_id
from shared.operations import OperationKind, OperationStatus
from shared.queue_names import (
    BACKUP_REQUESTS,
    DATA_BACKUP_REQUESTS,
    DATA_RESTORE_REQUESTS,
    RESTORE_REQUESTS,
)
from shared.runtime import AppContext
from shared.validation import parse_backup_request, parse_restore_request
from tests.fuzz import hostile
from tests.fuzz.budget import counted, fuzz
from tests.fuzz.hostile import Hostile

_message_ids = itertools.count()


def owner_of(ctx: AppContext, kind: OperationKind, key: str) -> str | None:
    """The operation admitted under an idempotency key, if any."""
    found = find_request(ctx, key)
    return found.operation.operation_id if found else None


class Ledger:
    """What the test saw: the owner of every requestId, to hold the intake to one record."""

    def __init__(self) -> None:
        self.owners: dict[str, str] = {}

    def check(
        self, ctx: AppContext, kind: OperationKind, queue: str, message: bytes, parse: Any,
        sent: Hostile,
    ) -> None:
        message_id = f"fuzz-{next(_message_ids)}"
        deliver(queue, message, message_id)  # must not raise
        raw: object = None
        try:
            raw = decode_json(message, base64_fallback=True)
            parse(raw)
            valid = True
        except RequestInvalid:
            valid = False
        assert not (valid and sent.must_reject), f"accepted what must be refused: {sent.what}"
        request_id = usable_request_id(raw)
        key = f"{kind.value}:{request_id}" if request_id else f"queue:{queue}:{message_id}"
        owner = owner_of(ctx, kind, key)
        assert owner is not None, "the message left no record"
        if key in self.owners:
            # Only the first message of a key decides its record; later ones find it.
            assert owner == self.owners[key], "the same requestId made a second record"
            return
        self.owners[key] = owner
        record = ctx.history.get(owner).operation
        if valid:
            assert record.status is not OperationStatus.REJECTED
        else:
            assert record.status is OperationStatus.REJECTED
            assert record.error is not None and record.error.message
            assert record.request_id == request_id


@pytest.fixture
def ledger(ctx: AppContext) -> Iterator[Ledger]:
    yield Ledger()
    # After all of it, a valid request on each queue is still admitted.
    for queue, kind, body in (
        (BACKUP_REQUESTS, OperationKind.BACKUP, {"environmentId": hostile.ENV, "label": "after"}),
        (RESTORE_REQUESTS, OperationKind.RESTORE,
         {"targetEnvironmentId": hostile.OTHER_ENV, "latest": True}),
    ):
        deliver(queue, json.dumps({**body, "requestId": "after-the-fuzz"}).encode(), "after")
        owner = owner_of(ctx, kind, f"{kind.value}:after-the-fuzz")
        assert owner is not None
        assert ctx.history.get(owner).operation.status is not OperationStatus.REJECTED


def trigger_of(queue: str) -> Callable[[QueueMessage], None]:
    """The decorated function the host calls for a message on `queue`."""
    from backup_triggers.blueprint import backup_request
    from data_backups.blueprint import data_backup_request
    from data_restores.blueprint import data_restore_request
    from restore_orchestrator.blueprint import restore_request

    triggers: dict[str, Callable[[QueueMessage], None]] = {
        BACKUP_REQUESTS: backup_request, RESTORE_REQUESTS: restore_request,
        DATA_BACKUP_REQUESTS: data_backup_request, DATA_RESTORE_REQUESTS: data_restore_request,
    }
    return triggers[queue]


def deliver(queue: str, body: bytes, message_id: str) -> None:
    # The worker's own message type: it carries the dequeue count the handlers read.
    message = QueueMessage(id=message_id, body=body, dequeue_count=1)  # type: ignore[no-untyped-call]
    trigger_of(queue)(message)


@fuzz(f"queue {BACKUP_REQUESTS}")
@given(hostile.bodies(hostile.BACKUP_FIELDS, hostile.backup_objects()), st.booleans())
def test_backup_requests_queue(ctx: AppContext, ledger: Ledger, sent: Hostile, b64: bool) -> None:
    counted(f"queue {BACKUP_REQUESTS}")
    message = hostile.as_queue_message(sent.value, b64)
    ledger.check(ctx, OperationKind.BACKUP, BACKUP_REQUESTS, message, parse_backup_request, sent)


@fuzz(f"queue {RESTORE_REQUESTS}")
@given(
    hostile.bodies(
        hostile.RESTORE_FIELDS, hostile.restore_objects(),
        extra=(hostile.restore_dates().map(
            lambda h: Hostile(json.dumps(h.value).encode(), h.must_reject, h.what)
        ),),
    ),
    st.booleans(),
)
def test_restore_requests_queue(
    ctx: AppContext, ledger: Ledger, sent: Hostile, b64: bool
) -> None:
    counted(f"queue {RESTORE_REQUESTS}")
    message = hostile.as_queue_message(sent.value, b64)
    ledger.check(
        ctx, OperationKind.RESTORE, RESTORE_REQUESTS, message, parse_restore_request, sent
    )
