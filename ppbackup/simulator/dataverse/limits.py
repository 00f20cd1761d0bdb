"""Service protection limits of the Dataverse Web API (reference §7.1): per user, a sliding window
on the number of requests and on their combined execution time, and an instantaneous cap on
concurrent requests; each refusal is a 429 with `Retry-After` and the documented hex code.

The window runs on real time (it paces the client) and every limit is a `SimOptions` knob, so a
test can trip them in seconds (`dataverse_window_seconds=2`) and a benchmark can run at the
platform's defaults. `dataverse_row_cost_ms` charges simulated execution time per row read or
written, so the time limit can be reached without slowing the machine down.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ppbackup.simulator.dataverse import errors as dverr
from ppbackup.simulator.errors import SimError
from ppbackup.simulator.options import SimOptions


@dataclass(slots=True)
class _User:
    requests: deque[float] = field(default_factory=deque)
    """Start times of the requests in the window."""
    spent: deque[tuple[float, float]] = field(default_factory=deque)
    """(end time, execution seconds) of finished requests in the window."""
    in_flight: int = 0


class ServiceProtection:
    def __init__(self, options: SimOptions,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._options = options
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._users: dict[str, _User] = {}

    def reset(self) -> None:
        with self._lock:
            self._users.clear()

    def _prune(self, user: _User, now: float, window: float) -> None:
        while user.requests and user.requests[0] <= now - window:
            user.requests.popleft()
        while user.spent and user.spent[0][0] <= now - window:
            user.spent.popleft()

    def enter(self, user_key: str) -> None:
        """Admit a request of `user_key` or raise the 429 the platform would answer."""
        o = self._options
        with self._lock:
            now = self._monotonic()
            window = o.dataverse_window_seconds
            user = self._users.setdefault(user_key, _User())
            self._prune(user, now, window)
            if user.in_flight >= o.dataverse_concurrent_requests:
                raise _throttled(dverr.CONCURRENCY_EXCEEDED,
                                 "Number of concurrent requests exceeded the limit of "
                                 f"{o.dataverse_concurrent_requests}.", 1)
            if len(user.requests) >= o.dataverse_requests_per_window:
                wait = user.requests[0] + window - now
                raise _throttled(
                    dverr.REQUESTS_EXCEEDED,
                    f"Number of requests exceeded the limit of {o.dataverse_requests_per_window}"
                    f" over time window of {window:g} seconds.", wait)
            spent = sum(s for _, s in user.spent)
            limit = o.dataverse_execution_seconds_per_window
            if spent >= limit:
                wait = user.spent[0][0] + window - now
                raise _throttled(
                    dverr.EXECUTION_TIME_EXCEEDED,
                    "Combined execution time of incoming requests exceeded limit of "
                    f"{limit * 1000:,.0f} milliseconds over time window of {window:g} seconds. "
                    "Decrease number of concurrent requests or reduce the duration of requests "
                    "and try again later.", wait)
            user.requests.append(now)
            user.in_flight += 1

    def leave(self, user_key: str, seconds: float) -> dict[str, str]:
        """Close a request; returns the informational `x-ms-ratelimit-*` headers (what is left
        in the window: requests, and execution time in milliseconds; reference §7.2)."""
        o = self._options
        with self._lock:
            user = self._users[user_key]
            user.in_flight -= 1
            user.spent.append((self._monotonic(), seconds))
            left = o.dataverse_requests_per_window - len(user.requests)
            spent = sum(s for _, s in user.spent)
        time_left = max(0.0, o.dataverse_execution_seconds_per_window - spent) * 1000
        return {"x-ms-ratelimit-burst-remaining-xrm-requests": str(max(0, left)),
                "x-ms-ratelimit-time-remaining-xrm-requests": f"{time_left:.2f}"}


class Throttled(SimError):
    """A service protection refusal: 429 plus the whole seconds to wait."""

    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(429, code, message)
        self.retry_after = retry_after


def _throttled(code: str, message: str, wait: float) -> Throttled:
    return Throttled(code, message, max(1, math.ceil(wait)))
