"""What the host is doing right now (in-flight invocations) and has done (counters)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Counters:
    """Invocation counts of one queue or one function since the host started.

    `poisoned` counts messages moved to the poison queue, with or without an invocation (a
    message over maxDequeueCount or one that cannot be decoded is poisoned without one).
    """

    invocations: int = 0
    failures: int = 0
    poisoned: int = 0


class CounterBook:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0])

    def invoked(self, *keys: str) -> None:
        self._bump(0, keys)

    def failed(self, *keys: str) -> None:
        self._bump(1, keys)

    def poisoned(self, *keys: str) -> None:
        self._bump(2, keys)

    def _bump(self, index: int, keys: tuple[str, ...]) -> None:
        with self._lock:
            for key in keys:
                self._counts[key][index] += 1

    def snapshot(self, key: str) -> Counters:
        with self._lock:
            counts = self._counts.get(key, [0, 0, 0])
            return Counters(invocations=counts[0], failures=counts[1], poisoned=counts[2])

    def snapshot_all(self) -> dict[str, Counters]:
        with self._lock:
            names = list(self._counts)
        return {name: self.snapshot(name) for name in names}


class Activity:
    """Counts work in flight (queue messages being handled, timer and HTTP invocations).

    `started` only grows, so a caller can tell that nothing began between two observations.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._in_flight = 0
        self._started = 0

    def begin(self) -> None:
        with self._condition:
            self._in_flight += 1
            self._started += 1

    def end(self) -> None:
        with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    @property
    def in_flight(self) -> int:
        with self._condition:
            return self._in_flight

    @property
    def started(self) -> int:
        with self._condition:
            return self._started

    def wait_until_drained(self, timeout: float, *, abort: threading.Event | None = None) -> bool:
        """True once nothing is in flight; False after `timeout` or when `abort` is set."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (abort is not None and abort.is_set()):
                    return False
                # Short slices so `abort` (a second Ctrl-C) is noticed promptly.
                self._condition.wait(min(remaining, 0.2))
            return True
