"""Counting storage round trips at the transport: every request the Azure SDKs send to Azurite,
by service and method. Shared by the benchmarks that report round trips per unit of work."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from azure.core.pipeline.transport import RequestsTransport


class RoundTrips:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.on = False
        self.queue_port = 0

    def add(self, kind: str) -> None:
        # The main thread only watches (polls for the end); its reads are not the engine's.
        if self.on and threading.current_thread() is not threading.main_thread():
            with self.lock:
                self.counts[kind] += 1

    def total(self) -> int:
        return sum(self.counts.values())

    def per(self, units: int) -> str:
        """`2.50 (queue POST 1.00, table GET 0.50, ...)`: round trips per unit of work."""
        parts = ", ".join(f"{k} {v / units:.2f}" for k, v in sorted(self.counts.items()))
        return f"{self.total() / units:.2f} ({parts})"


TRIPS = RoundTrips()
_original_send = RequestsTransport.send


def _counting_send(self: RequestsTransport, request: Any, **kwargs: Any) -> Any:
    url = urlsplit(request.url)
    service = "queue" if "/messages" in url.path or url.port == TRIPS.queue_port else "table"
    TRIPS.add(f"{service} {request.method}")
    return _original_send(self, request, **kwargs)


def count_round_trips(queue_port: int) -> RoundTrips:
    """Count from now on (in threads other than the main one, while `TRIPS.on`)."""
    TRIPS.queue_port = queue_port
    RequestsTransport.send = _counting_send  # type: ignore[method-assign]
    return TRIPS
