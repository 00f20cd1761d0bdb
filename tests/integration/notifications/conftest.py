"""Fixtures: an app context on a wiped Azurite, a local receiver that can be told to fail, and a
pump that runs the `notifications` queue through the delivery function."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from notifications.delivery import Result, handle_notification
from notifications.transport import use_http_client
from ppbackup.receiver import Receiver, running_receiver
from ppbackup.simulator import Simulator, run_simulator
from shared.power_platform import PowerPlatformClient
from shared.power_platform.auth import token_provider_from_settings
from shared.queue_names import NOTIFICATIONS
from shared.runtime import AppContext
from shared.settings import Settings
from shared.storage.connection import queue_service, table_service
from shared.storage.history import HistoryStore
from shared.storage.queues import QueueSender

SECRET = "a-webhook-secret-of-some-length"
T0 = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
# Short enough that a receiver told to sleep 1 s makes the sender time out.
TEST_TIMEOUT = httpx.Timeout(0.5, connect=0.5)


class Clock:
    """The app's clock in tests: moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Sent:
    queue: str
    payload: dict[str, Any]
    delay_seconds: float


class RecordingQueues(QueueSender):
    """A real queue sender that also remembers what it sent (and can be told to fail)."""

    def __init__(self, connection: str) -> None:
        super().__init__(queue_service(connection))
        self.sent: list[Sent] = []
        self.broken: set[str] = set()

    def send(
        self, queue: str, payload: Mapping[str, Any], *, delay_seconds: float = 0, **options: Any
    ) -> None:
        if queue in self.broken:
            raise ConnectionError(f"queue {queue} is unavailable (test)")
        super().send(queue, payload, delay_seconds=delay_seconds, **options)
        self.sent.append(Sent(queue, dict(payload), delay_seconds))

    def notifications(self) -> list[Sent]:
        return [s for s in self.sent if s.queue == NOTIFICATIONS]


@dataclass
class Harness:
    ctx: AppContext
    clock: Clock
    queues: RecordingQueues
    receiver: Receiver
    storage: str
    results: list[Result] = field(default_factory=list)

    def pump(self, *, settle: float = 0.5, timeout: float = 15.0,
             until: Callable[[], bool] | None = None) -> int:
        """Run `notifications` messages through the delivery function until the queue has
        been empty for `settle` seconds (delayed messages included) or `until()` holds."""
        client = queue_service(self.storage).get_queue_client(NOTIFICATIONS)
        handled, quiet_since = 0, time.monotonic()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until is not None and until():
                return handled
            try:
                batch = list(client.receive_messages(max_messages=16, visibility_timeout=30))
            except Exception:  # the queue does not exist yet
                batch = []
            for message in batch:
                self.results += handle_notification(self.ctx, str(message.content))
                client.delete_message(message)
                handled += 1
            if batch:
                quiet_since = time.monotonic()
            elif until is None and time.monotonic() - quiet_since >= settle and not self.waiting():
                return handled
            time.sleep(0.05)
        return handled

    def take(self) -> str:
        """The one visible `notifications` message, removed from the queue (to handle by hand)."""
        client = queue_service(self.storage).get_queue_client(NOTIFICATIONS)
        [message] = list(client.receive_messages(max_messages=32, visibility_timeout=30))
        client.delete_message(message)
        return str(message.content)

    def waiting(self) -> int:
        """Messages still in the queue, delayed ones included."""
        return self.queues.approximate_count(NOTIFICATIONS)


def build_settings(storage: str, receiver: Receiver | None, sim_url: str | None = None,
                   **extra: str) -> Settings:
    platform = sim_url or "http://127.0.0.1:9"  # nothing listens there: no test reaches it
    env = {"AzureWebJobsStorage": storage, "PP_AUTH": "none", "PP_API_URL": platform,
           "PP_BAP_URL": platform}
    if receiver is not None:
        env.update(TEAMS_WEBHOOK_URL=receiver.teams_url, NOTIFY_WEBHOOK_URL=receiver.webhook_url,
                   NOTIFY_WEBHOOK_SECRET=SECRET)
    env.update(extra)
    return Settings.from_env(env)


def build_harness(storage: str, receiver: Receiver, *, sim: Simulator | None = None,
                  clock: Clock | None = None, time_scale: float = 1.0,
                  settings: Settings | None = None) -> Harness:
    clock = clock or Clock()
    settings = settings or build_settings(storage, receiver, sim.url if sim else None)
    queues = RecordingQueues(storage)
    ctx = AppContext(
        settings=settings,
        # No sleeping between the client's own retries: a test of an outage need not wait.
        platform=PowerPlatformClient(
            settings.pp_api_url, settings.pp_bap_url,
            token_provider=token_provider_from_settings(settings), sleep=lambda _: None,
        ),
        history=HistoryStore(table_service(storage), clock=clock),
        queues=queues,
        clock=clock,
        time_scale=time_scale,
    )
    return Harness(ctx, clock, queues, receiver, storage)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with use_http_client(httpx.Client(timeout=TEST_TIMEOUT, follow_redirects=False)) as client:
        with running_receiver(secret=SECRET, out=None) as found:
            yield found
        client.close()


@pytest.fixture
def harness(storage: str, receiver: Receiver) -> Harness:
    return build_harness(storage, receiver)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with run_simulator(speed=0) as found:
        yield found
