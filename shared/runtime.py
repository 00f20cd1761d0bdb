"""The per-process application context: settings and the clients built from them.

Built lazily on the first invocation (not at import, so the function app starts fast and a bad
setting is reported by the first function that runs, with every problem named), then reused by
every invocation in the process, as Microsoft's "manage connections" guidance asks. Tests and the
local host install their own context with `use_context`.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from shared.library_logs import quiet_library_logs
from shared.operations import utcnow
from shared.policy.backoff import Backoff
from shared.settings import Settings

if TYPE_CHECKING:
    from azure.data.tables import TableServiceClient

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
            # The deployed app's first use in this process (the local host and tests install
            # their own context): the moment to set its logging up.
            quiet_library_logs()
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


S = TypeVar("S")
# Keyed by the context's history store: one side store of each kind per context (so per process
# in the app), and a test's fresh context (on freshly wiped storage) gets fresh table clients.
_side_stores: weakref.WeakKeyDictionary[object, dict[object, object]] = (
    weakref.WeakKeyDictionary()
)
_side_lock = threading.Lock()


def side_store(
    ctx: AppContext, build: Callable[[TableServiceClient, str, Callable[[], datetime]], S]
) -> S:
    """The store `build` makes on the history's table service and prefix, once per context.

    Locks, idempotency claims and the environment directory live in tables of their own beside
    the history (shared/storage/locks.py, claims.py, directory.py); they share its connection
    pool and table prefix, and write times from the context's clock.
    """
    with _side_lock:
        stores = _side_stores.setdefault(ctx.history, {})
        store = stores.get(build)
        if store is None:
            store = stores[build] = build(ctx.history.table_service, ctx.history.prefix, ctx.clock)
    return store  # type: ignore[return-value]
