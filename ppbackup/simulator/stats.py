"""Request counters for tests and benchmarks: per endpoint and status, 429s, 5xx, drops, and the
highest number of requests in flight at once."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._by_endpoint: defaultdict[str, Counter[int]] = defaultdict(Counter)
            self._requests = 0
            self._throttled = 0
            self._server_errors = 0
            self._dropped = 0
            self._in_flight = 0
            self._max_concurrent = 0

    def enter(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._max_concurrent = max(self._max_concurrent, self._in_flight)

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def record(self, endpoint: str, status: int | None) -> None:
        """`status` None = the response was dropped on purpose."""
        with self._lock:
            self._requests += 1
            if status is None:
                self._dropped += 1
                self._by_endpoint[endpoint][0] += 1
                return
            self._by_endpoint[endpoint][status] += 1
            if status == 429:
                self._throttled += 1
            elif status >= 500:
                self._server_errors += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            endpoints = {
                name: {
                    "count": sum(counts.values()),
                    "statuses": {
                        ("dropped" if code == 0 else str(code)): n
                        for code, n in sorted(counts.items())
                    },
                }
                for name, counts in sorted(self._by_endpoint.items())
            }
            return {
                "requests": self._requests,
                "throttled": self._throttled,
                "server_errors": self._server_errors,
                "dropped": self._dropped,
                "in_flight": self._in_flight,
                "max_concurrent": self._max_concurrent,
                "endpoints": endpoints,
            }
