"""How long to wait before trying again: one exponential backoff, with jitter and a floor.

Every wait the app computes after a refused or failed call comes from a `Backoff`: the platform
client's in-process resends, the delayed messages of the backup attempts and of the restore
engine, and the notification deliveries. They differ only in their numbers (a resend inside one
invocation waits seconds; a delayed message minutes; a card to Teams up to hours).

A server's `Retry-After` is its word on when to come back, and is honoured, but only when it
names a wait: `Retry-After: 0` (or an HTTP-date already past) below the floor says nothing usable,
and honouring it literally turns a throttled server into an immediate retry loop. Our own backoff
then decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The shortest server-given wait honoured. Whole seconds are Retry-After's own unit.
MIN_WAIT_SECONDS = 1.0
# 2**64 already exceeds any cap; larger exponents would only overflow.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True)
class Backoff:
    """`base * 2**(attempt - 1)`, capped, scaled by a jitter factor; at most `max_attempts` tries.

    `jitter` is the range of that factor: each wait is drawn from `[low, high]` times the capped
    delay, so work that failed together (an outage, a throttled fan-out) does not come back
    together. `(1, 1)` is no jitter. The draw is an argument (a number in [0, 1]), never read
    here, so decisions built on a backoff stay pure and replayable.
    """

    base_seconds: float = 15.0
    cap_seconds: float = 600.0
    max_attempts: int = 40
    jitter: tuple[float, float] = (1.0, 1.0)
    floor_seconds: float = MIN_WAIT_SECONDS

    def __post_init__(self) -> None:
        low, high = self.jitter
        problems = [
            text
            for bad, text in (
                (not self.base_seconds > 0, "base_seconds must be positive"),
                (not self.cap_seconds >= self.base_seconds, "cap_seconds must be >= base_seconds"),
                (self.max_attempts < 1, "max_attempts must be at least 1"),
                (not 0 < low <= high, "jitter must be a range 0 < low <= high"),
                # 0 only for benchmarks whose simulated platform says "done, come back now".
                (not self.floor_seconds >= 0, "floor_seconds must not be negative"),
            )
            if bad
        ]
        if problems:
            raise ValueError("; ".join(problems))

    def backoff(self, attempt: int, *, draw: float = 0.5) -> float:
        """Our own wait after failed attempt `attempt` (1-based), at jitter position `draw`."""
        exponent = min(max(0, attempt - 1), _MAX_EXPONENT)
        full = min(self.cap_seconds, self.base_seconds * 2.0**exponent)
        low, high = self.jitter
        position = min(1.0, max(0.0, draw))
        return full * (low * (1.0 - position) + high * position)

    def server_wait(self, retry_after: float | None) -> float | None:
        """The server's Retry-After when it names a wait worth honouring (the floor or more)."""
        if retry_after is None or not math.isfinite(retry_after):
            return None
        return float(retry_after) if retry_after >= self.floor_seconds else None

    def delay(self, attempt: int, retry_after: float | None = None, *, draw: float = 0.5) -> float:
        """The server's Retry-After when usable (it knows when it takes requests again), else
        our backoff: for throttling, whose Retry-After is exact."""
        told = self.server_wait(retry_after)
        return told if told is not None else self.backoff(attempt, draw=draw)

    def delay_at_least(
        self, attempt: int, retry_after: float | None = None, *, draw: float = 0.5
    ) -> float:
        """The longer of our backoff and the server's Retry-After: for a busy or failing
        server, whose Retry-After is a hint, so our backoff still spaces the attempts out."""
        own = self.backoff(attempt, draw=draw)
        told = self.server_wait(retry_after)
        return own if told is None else max(own, told)
