"""Fault injection, switchable at runtime, reproducible with a seed.

Each switch is a field of `Faults`; `FaultInjector` answers the HTTP pipeline's questions ("delay
this request?", "answer it 5xx?", "drop it?", "fail this operation?"). A random draw is made only
when the matching switch is on, so enabling one fault does not shift the random sequence of
another between runs with the same seed.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ppbackup.simulator._config import apply_changes, as_json
from ppbackup.simulator.model import OperationKind

ANY_KIND = "*"


@dataclass(slots=True)
class Faults:
    latency_ms: float | tuple[float, float] = 0.0
    """Delay before answering each API request: fixed, or uniform in (low, high)."""

    error_rate: float = 0.0
    """Share of matching API requests answered `error_status` before anything is done."""
    error_next: int = 0
    """The next N matching requests get `error_status` regardless of the rate."""
    error_status: int = 503
    error_method: str | None = None
    error_path: str | None = None
    """Regex searched in the request path (no query)."""

    throttle_rate: float = 0.0
    """Share of API requests answered 429 at random (independent of the token bucket)."""
    throttle_retry_after: int = 1

    backup_conflict_rate: float = 0.0
    """Share of backup create/delete requests answered 409 before anything is done."""
    conflict_empty_body: bool = False
    """Those 409s come with an empty body (seen on delete, reference §5) instead of the
    OperationNotStartable envelope."""

    drop_rate: float = 0.0
    """Share of matching requests that are *performed* and then answered with a closed socket."""
    drop_next: int = 0
    drop_method: str | None = None
    drop_path: str | None = None

    fail_next: dict[str, int] = field(default_factory=dict)
    """Operation kind ("Restore", "ModifySku", "UpdateRuntimeState", or "*") -> how many of the
    next operations of that kind end Failed (at their Run stage)."""
    fail_environments: list[str] = field(default_factory=list)
    """Every lifecycle operation on these environments ends Failed."""

    early_404_seconds: float = 0.0
    """A status URL answers 404 for this many *real* seconds after its operation started."""
    early_404_in_list: bool = False
    """During that time the operation is also missing from the environment's operation list."""

    def validate(self) -> None:
        rates = ("error_rate", "throttle_rate", "backup_conflict_rate", "drop_rate")
        for name in rates:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        low, high = (
            self.latency_ms if isinstance(self.latency_ms, tuple)
            else (self.latency_ms, self.latency_ms)
        )
        if low < 0 or high < low:
            raise ValueError("latency_ms must be >= 0 (and a range must be low <= high)")
        if not 400 <= self.error_status <= 599:
            raise ValueError("error_status must be an HTTP error status")
        if self.throttle_retry_after < 1:
            raise ValueError("throttle_retry_after must be >= 1")
        if self.error_next < 0 or self.drop_next < 0 or self.early_404_seconds < 0:
            raise ValueError("counts and durations must be >= 0")
        kinds = {k.value for k in OperationKind} | {ANY_KIND}
        for kind, count in self.fail_next.items():
            if kind not in kinds or count < 0:
                raise ValueError(f"fail_next: bad entry {kind!r}: {count!r}")
        for pattern in (self.error_path, self.drop_path):
            if pattern is not None:
                re.compile(pattern)


def _matches(method: str, path: str, want_method: str | None, want_path: str | None) -> bool:
    if want_method is not None and want_method.upper() != method:
        return False
    return want_path is None or re.search(want_path, path) is not None


class FaultInjector:
    """Thread-safe decisions over the current `Faults`."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.config = Faults()

    def set(self, **changes: Any) -> None:
        seed = changes.pop("seed", None)
        with self._lock:
            apply_changes(self.config, changes)
            if seed is not None:
                self._rng.seed(seed)

    def clear(self) -> None:
        with self._lock:
            self.config = Faults()

    def reseed(self, seed: int | None) -> None:
        with self._lock:
            self._rng.seed(seed)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return as_json(self.config)

    def _hit(self, rate: float) -> bool:
        return rate > 0 and (rate >= 1.0 or self._rng.random() < rate)

    # -- questions from the HTTP pipeline -------------------------------------------------------

    def latency_seconds(self) -> float:
        with self._lock:
            latency = self.config.latency_ms
            if isinstance(latency, tuple):
                return self._rng.uniform(*latency) / 1000.0
            return latency / 1000.0

    def error_status(self, method: str, path: str) -> int | None:
        with self._lock:
            c = self.config
            if not _matches(method, path, c.error_method, c.error_path):
                return None
            if c.error_next > 0:
                c.error_next -= 1
                return c.error_status
            return c.error_status if self._hit(c.error_rate) else None

    def random_throttle(self) -> int | None:
        """Retry-After seconds of a random 429, or None."""
        with self._lock:
            hit = self._hit(self.config.throttle_rate)
            return self.config.throttle_retry_after if hit else None

    def backup_conflict(self) -> tuple[bool, bool]:
        """(answer 409?, with an empty body?)"""
        with self._lock:
            return self._hit(self.config.backup_conflict_rate), self.config.conflict_empty_body

    def should_drop(self, method: str, path: str) -> bool:
        with self._lock:
            c = self.config
            if not _matches(method, path, c.drop_method, c.drop_path):
                return False
            if c.drop_next > 0:
                c.drop_next -= 1
                return True
            return self._hit(c.drop_rate)

    def should_fail_operation(self, kind: OperationKind, env_id: str) -> bool:
        with self._lock:
            c = self.config
            if env_id in c.fail_environments:
                return True
            for key in (kind.value, ANY_KIND):
                if c.fail_next.get(key, 0) > 0:
                    c.fail_next[key] -= 1
                    return True
            return False

    def hidden_early(self, created_monotonic: float | None) -> bool:
        """Is an operation still inside its early-404 window?"""
        with self._lock:
            window = self.config.early_404_seconds
        if window <= 0 or created_monotonic is None:
            return False
        return time.monotonic() - created_monotonic < window

    def hide_in_list(self) -> bool:
        with self._lock:
            return self.config.early_404_in_list
