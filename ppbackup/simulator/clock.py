"""Simulated time: `start + real elapsed * speed + manual advances`.

Every duration the simulator models (operation stages, retention, the backup settle time, the
403 window after a restore) is measured on this clock, so a test can make a 20-hour restore take
20 real seconds (`speed=3600`) or freeze time entirely (`speed=0`) and step it with `advance()` /
`advance_to()`. A test that counts what happens over simulated time (polls, retries) freezes it:
at any speed above 0 those counts depend on how fast the machine is. Only HTTP-level pacing
(Retry-After, throttling, latency, early 404s) uses real time, because that is what the client
experiences.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SimClock:
    """A monotonic simulated clock; thread-safe."""

    def __init__(self, *, start: datetime | None = None, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._lock = threading.Lock()
        # Simulated time never starts behind the wall clock: the client matches the restore
        # operation by `startTime >= send time - CLOCK_SKEW` using its own (real) clock.
        self._base_sim = (start or datetime.now(UTC)).astimezone(UTC)
        self._base_real = time.monotonic()
        self._speed = speed

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        with self._lock:
            return self._now_locked()

    def _now_locked(self) -> datetime:
        elapsed = (time.monotonic() - self._base_real) * self._speed
        return self._base_sim + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> datetime:
        """Jump forward by `seconds` of simulated time; returns the new now."""
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward")
        with self._lock:
            self._base_sim += timedelta(seconds=seconds)
            return self._now_locked()

    def set_speed(self, speed: float) -> None:
        """Change the rate; time already elapsed keeps its old rate (re-based, no jump)."""
        if speed < 0:
            raise ValueError("speed must be >= 0")
        with self._lock:
            self._base_sim = self._now_locked()
            self._base_real = time.monotonic()
            self._speed = speed

    def advance_to(self, moment: datetime) -> datetime:
        """Jump forward to `moment` if that is later (a test stepping a frozen clock to the next
        event; loading a saved state); returns the new now."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        with self._lock:
            if moment > self._now_locked():
                self._base_sim = moment.astimezone(UTC)
                self._base_real = time.monotonic()
            return self._now_locked()
