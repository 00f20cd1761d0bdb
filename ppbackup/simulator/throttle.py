"""A token bucket over real time: `rate` tokens per second, at most `burst` stored.

A refused request does not take a token, so a client that honours Retry-After is not punished
for having asked; Retry-After is the time until the next token, rounded up to whole seconds (at
least 1, as HTTP delta-seconds cannot say "0.2").
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = monotonic()

    def try_acquire(self) -> int | None:
        """Take a token and return None, or return the whole seconds to wait (>= 1)."""
        with self._lock:
            now = self._monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - self._tokens) / self.rate))
