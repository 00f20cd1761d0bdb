"""The per-process application context: settings and the clients built from them.

Built lazily on the first invocation (not at import, so the function app starts fast and a bad
setting is reported by the first function that runs, with every problem named), then reused by
every invocation in the process, as Microsoft's "manage connections" guidance asks. Tests and the
local host install their own context with `use_context`.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from shared.operations import utcnow
from shared.policy.backoff import Backoff
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.power_platform import PowerPlatformClient
    from shared.storage.history import HistoryStore
    from shared.storage.queues import QueueSender


@dataclass(frozen=True, slots=True)
class AppContext:
    settings: Settings
    platform: PowerPlatformClient
    history: HistoryStore
    queues: QueueSender
    clock: Callable[[], datetime] = utcnow
    # Waits for work the platform refused for now (busy environment, throttling, outages).
    backoff: Backoff = field(default_factory=Backoff)
    # Simulated seconds per real second. The app's logic reasons in its own clock's seconds;
    # only delayed queue messages are converted to real time. 1.0 everywhere but in tests and
    # benchmarks that run the simulator (and `clock`) faster than real time.
    time_scale: float = 1.0

    def real_delay(self, seconds: float) -> float:
        return max(0.0, seconds / self.time_scale)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> AppContext:
        from shared.power_platform import PowerPlatformClient
        from shared.storage.connection import queue_service
        from shared.storage.history import HistoryStore
        from shared.storage.queues import QueueSender

        connection = settings.storage_connection.reveal()
        values: dict[str, object] = {
            "settings": settings,
            "platform": PowerPlatformClient.from_settings(settings),
            "history": HistoryStore.from_connection(connection),
            "queues": QueueSender(queue_service(connection)),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


_lock = threading.Lock()
_context: AppContext | None = None


def get_context() -> AppContext:
    global _context
    current = _context
    if current is not None:
        return current
    with _lock:
        if _context is None:
            _context = AppContext.from_settings(Settings.from_env(os.environ))
        return _context


def set_context(context: AppContext | None) -> None:
    global _context
    with _lock:
        _context = context


@contextmanager
def use_context(context: AppContext) -> Iterator[AppContext]:
    previous = _context
    set_context(context)
    try:
        yield context
    finally:
        set_context(previous)
