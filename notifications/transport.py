"""POSTing a rendered notification to Teams or the webhook: targets, URL rules, one HTTP client.

The URLs are secrets (a Workflows URL carries its signature in the query string), so nothing here
logs, raises or returns them; errors are described by their type only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from notifications.messages import Target
from shared.settings import Settings, is_loopback_url

# Connect fast or not at all; a receiver that takes longer than this to answer a small POST is
# treated as down and retried later (by a delayed message, never by waiting here).
TIMEOUT = httpx.Timeout(10.0, connect=5.0, pool=5.0)
USER_AGENT = "ppbackup-notifications/1"
_MAX_BODY_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Destination:
    target: Target
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    retry_after: str | None
    body: str


class TransportError(Exception):
    """No HTTP answer (connection refused, timeout, TLS); `kind` names what, never where."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class UrlRefusedError(Exception):
    """The URL is not https (nor loopback http): nothing is sent to it."""


def destinations(settings: Settings) -> tuple[Destination, ...]:
    """The configured targets; empty when notifications are off (the outbox then sends nothing)."""
    found = []
    if settings.teams_webhook_url is not None:
        found.append(Destination(Target.TEAMS, settings.teams_webhook_url.reveal()))
    if settings.notify_webhook_url is not None and settings.notify_webhook_secret is not None:
        found.append(Destination(
            Target.WEBHOOK, settings.notify_webhook_url.reveal(),
            settings.notify_webhook_secret.reveal(),
        ))
    return tuple(found)


def url_allowed(url: str) -> bool:
    """https anywhere, plain http only to loopback (the local receiver). Settings check this at
    start-up; it is checked again before every send because a context can be built in code."""
    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_url(url))


def post(destination: Destination, body: bytes, headers: Mapping[str, str]) -> Answer:
    """One POST; raises TransportError when there is no answer, UrlRefusedError for a bad URL."""
    if not url_allowed(destination.url):
        raise UrlRefusedError(f"the {destination.target.value} URL is not https (or loopback http)")
    _hide_in_logs(destination.url)
    try:
        response = http_client().post(
            destination.url, content=body, headers={"User-Agent": USER_AGENT, **headers}
        )
    except httpx.TimeoutException as error:
        raise TransportError(f"timeout: {type(error).__name__}") from None
    except httpx.HTTPError as error:
        # Any other httpx failure (connection, a broken answer's decoding, redirects) is one
        # attempt that got no usable answer: counted and retried like the rest, never looping.
        # `from None`: httpx errors can carry the request, whose URL is a secret.
        raise TransportError(type(error).__name__) from None
    return Answer(
        status=response.status_code,
        retry_after=response.headers.get("Retry-After"),
        body=response.text[:_MAX_BODY_CHARS],
    )


def signing_time() -> int:
    """Unix seconds for the signature header: the real wall clock, whatever clock the app's
    logic runs on, because the receiver compares it with its own real clock."""
    return int(time.time())


# --------------------------------------------------------------------------- logs

_REDACTED = "<notification URL, redacted>"
_secret_urls: set[str] = set()


class _RedactSecretUrls(logging.Filter):
    """httpx logs every request's full URL at INFO, which the Functions host ships to
    Application Insights; for our targets that URL is the credential, so it is replaced."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(str(a) in _secret_urls for a in args):
            record.args = tuple(_REDACTED if str(a) in _secret_urls else a for a in args)
        return True


def _hide_in_logs(url: str) -> None:
    if url not in _secret_urls:
        # Both spellings: httpx may normalise the URL it logs (encoding, default port).
        _secret_urls.update({url, str(httpx.URL(url))})


logging.getLogger("httpx").addFilter(_RedactSecretUrls())


# --------------------------------------------------------------------------- the HTTP client

_lock = threading.Lock()
_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One client (and connection pool) per process, as for every other outbound client here."""
    global _client
    current = _client
    if current is not None:
        return current
    with _lock:
        if _client is None:
            # Redirects are not followed: a redirect could carry the body to another host, and
            # a configured URL that redirects is a misconfiguration worth reporting.
            _client = httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        return _client


@contextmanager
def use_http_client(client: httpx.Client) -> Iterator[httpx.Client]:
    """Install `client` (e.g. with short timeouts, in tests) for the duration of the block."""
    global _client
    with _lock:
        previous, _client = _client, client
    try:
        yield client
    finally:
        with _lock:
            _client = previous
