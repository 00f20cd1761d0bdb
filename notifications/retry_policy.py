"""What a delivery attempt's answer means, and when to try again. Pure: no I/O, no clock.

Teams (Workflows) answers 202 when it accepts a message, and runs the flow afterwards; legacy
connector URLs answer 200, sometimes with the real error in the body. Generic webhook receivers
answer any 2xx. Throttling (429), timeouts (408) and server errors (5xx) are worth another try,
honouring Retry-After; any other 4xx means the request itself is wrong (a deleted flow, a bad
secret) and repeating it would only repeat the refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeAlias

from shared.policy.backoff import Backoff
from shared.policy.retry_after import parse_retry_after

# Bounds of one event's delivery to one target: whichever is reached first ends the retries.
MAX_ATTEMPTS = 12
MAX_AGE = timedelta(hours=24)
# 30 s, 1, 2, 4, ... min, capped at 4 h: 12 attempts span about 12 hours, inside MAX_AGE.
BASE_DELAY_SECONDS = 30.0
MAX_DELAY_SECONDS = 4 * 3600.0
# Jitter (+-20 %) spreads retries of many events that failed together (an outage) so they do not
# return together and trip Teams' four-requests-a-second throttle.
DELIVERY_BACKOFF = Backoff(
    base_seconds=BASE_DELAY_SECONDS,
    cap_seconds=MAX_DELAY_SECONDS,
    max_attempts=MAX_ATTEMPTS,
    jitter=(0.8, 1.2),
)
# How much of a response body is kept for a person to read (never the URL, never headers).
MAX_REASON_CHARS = 200

_LEGACY_FAILURE = re.compile(r"Webhook message delivery failed with error: .*?HTTP error (\d{3})")
# An error body may echo the request URL, whose query carries the Workflows signature; such
# text is kept out of history and logs.
_URL_LIKE = re.compile(r"[a-z][a-z0-9+.-]*://\S+|\bsig=[^&\s\"']+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Accepted:
    status: int


@dataclass(frozen=True, slots=True)
class Retryable:
    reason: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Permanent:
    reason: str
    status: int | None = None


Verdict: TypeAlias = Accepted | Retryable | Permanent


def classify_response(
    status: int, retry_after: str | None, body: str, *, now: datetime
) -> Verdict:
    """The verdict on one HTTP answer. `body` only matters for a legacy connector's 200."""
    hint = parse_retry_after(retry_after, now=now)
    if 200 <= status < 300:
        legacy = _LEGACY_FAILURE.search(body[:2000]) if status == 200 else None
        if legacy is None:
            return Accepted(status)
        # A connector URL wraps Teams' refusal in a 200; judge the status it reports instead.
        inner = int(legacy.group(1))
        reason = f"Teams refused the message (HTTP {inner}, reported inside a 200 answer)"
        if _retryable_status(inner):
            return Retryable(reason, status, hint)
        return Permanent(reason, status)
    reason = f"HTTP {status}" + (f": {_excerpt(body)}" if body.strip() else "")
    if _retryable_status(status):
        return Retryable(reason, status, hint)
    if 300 <= status < 400:
        return Permanent(f"HTTP {status}: redirects are not followed; use the final URL", status)
    return Permanent(reason, status)


def classify_transport_error(kind: str) -> Retryable:
    """A connection error or timeout: the receiver may be down for a moment."""
    return Retryable(f"no answer ({kind})")


def backoff_seconds(attempts: int, *, jitter: float = 0.0) -> float:
    """The wait after `attempts` failed attempts (1 → 30 s), capped; `jitter` in [-1, 1]."""
    return DELIVERY_BACKOFF.backoff(attempts, draw=_draw(jitter))


def next_delay(
    verdict: Retryable,
    *,
    attempts: int,
    first_attempt_at: datetime,
    now: datetime,
    jitter: float = 0.0,
) -> float | None:
    """Seconds until the next attempt, or None to give up (attempts or age exhausted).

    A receiver's Retry-After wins over our own backoff (it knows when it will take requests
    again) but cannot stretch the delivery past MAX_AGE: a card about a restore that ended
    yesterday helps nobody, and the failure is then recorded instead.
    """
    if attempts >= MAX_ATTEMPTS:
        return None
    delay = DELIVERY_BACKOFF.delay(attempts, verdict.retry_after, draw=_draw(jitter))
    # Compared in seconds: a receiver's Retry-After can be too large for any datetime, and an
    # OverflowError here would leave the delivery leased and retried forever, never recorded.
    if delay > (first_attempt_at + MAX_AGE - now).total_seconds():
        return None
    return delay


def _draw(jitter: float) -> float:
    """This module's jitter in [-1, 1] as the backoff's draw in [0, 1]."""
    return (jitter + 1.0) / 2.0


def _retryable_status(status: int) -> bool:
    return status in (408, 429) or 500 <= status < 600


def _excerpt(body: str) -> str:
    text = _URL_LIKE.sub("<redacted>", " ".join(body[:4000].split()))
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"
