"""Waits longer than a queue message can be delayed (7 days) are chained, never cut short."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.runner import run_steps
from restore_orchestrator.intake import submit_restore
from restore_orchestrator.phases import Phase
from restore_orchestrator.state import RestoreState
from shared.power_platform import NoTokenProvider, PowerPlatformClient
from shared.queue_names import RESTORE_STEPS
from shared.runtime import AppContext
from shared.settings import Settings
from shared.storage.connection import queue_service
from shared.storage.history import HistoryStore
from shared.storage.queues import MAX_DELAY_SECONDS, QueueSender
from shared.validation import parse_restore_request

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TARGET = "11111111-1111-4111-8111-111111111111"


class Recorder(QueueSender):
    def __init__(self, storage: str) -> None:
        super().__init__(queue_service(storage))
        self.sent: list[tuple[str, dict[str, Any], float]] = []

    def send(self, queue: str, payload: Any, *, delay_seconds: float = 0, **options: Any) -> None:
        self.sent.append((queue, dict(payload), delay_seconds))


def test_a_wait_of_ten_days_is_sent_on_in_links_the_queue_allows(storage: str) -> None:
    clock = [NOW]
    sender = Recorder(storage)
    ctx = AppContext(
        settings=Settings.from_env({"AzureWebJobsStorage": storage, "PP_AUTH": "none",
                                    "PP_API_URL": "http://127.0.0.1:9",
                                    "PP_BAP_URL": "http://127.0.0.1:9"}),
        platform=PowerPlatformClient("http://127.0.0.1:9", "http://127.0.0.1:9",
                                     token_provider=NoTokenProvider()),
        history=HistoryStore.from_connection(storage),
        queues=sender,
        clock=lambda: clock[0],
    )
    operation = submit_restore(ctx, parse_restore_request(
        {"targetEnvironmentId": TARGET, "latest": True}))
    stored = ctx.history.get(operation.operation_id)
    state = RestoreState.from_json(stored.internal)
    waiting = replace(state, seq=1, phase=Phase.WAITING_FOR_BACKUP,
                      wake_at=NOW + timedelta(days=10))
    ctx.history.update(stored, stored.operation, internal=waiting.to_json())
    sender.sent.clear()

    run_steps(ctx, operation.operation_id, 1)  # the message arrives at once (a duplicate)
    clock[0] = NOW + timedelta(days=7)
    run_steps(ctx, operation.operation_id, 1)  # the first link of the chain arrives

    (queue, payload, first), (_, _, second) = sender.sent
    assert queue == RESTORE_STEPS
    assert payload == {"operationId": operation.operation_id, "seq": 1}
    assert first == MAX_DELAY_SECONDS
    assert second == 3 * 24 * 3600
    assert RestoreState.from_json(ctx.history.get(operation.operation_id).internal) == waiting
