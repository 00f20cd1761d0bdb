"""One platform request: token, headers, retries, call recording, logging, error mapping.

Idempotency decides what may be resent (wire page "Errors"):
* idempotent calls are resent on 408/425/429/5xx, timeouts and connection errors;
* every call is resent on 429 and on errors raised before the request left (connect errors),
  because the server cannot have acted on those;
* a non-idempotent call that may have reached the server is never resent: OutcomeUnknown.
Resends are bounded by attempts and by total time; a wait longer than the time left is handed to
the caller as `retry_after` instead of being slept.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, TypedDict, Unpack
from urllib.parse import urlsplit

import httpx

from shared.errors import ForeignHost, PowerPlatformError
from shared.policy.retry_after import parse_retry_after
from shared.power_platform._errors import (
    CallContext,
    ErrorMapper,
    Failure,
    platform_error,
    request_id_from,
)
from shared.power_platform._recording import PlatformCall, record_call
from shared.power_platform._retry import RetryPolicy, is_retryable_status
from shared.power_platform._time import utcnow
from shared.power_platform.auth import TokenProvider, scope_for_url

logger = logging.getLogger(__name__)

# Raised before any byte of the request reached the server, so resending is safe for any call.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@functools.cache
def user_agent() -> str:
    # Looked up on first use: importlib.metadata scans site-packages, too slow for import time.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"ppbackup/{version('ppbackup')}"
    except PackageNotFoundError:
        return "ppbackup/0+unknown"


DEFAULT_RETRY = RetryPolicy()


class Pacing(TypedDict, total=False):
    """How a client resends and tells time (tests pass their own sleep and clocks); each key has
    a default in `HttpCore`."""

    retry: RetryPolicy
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    now: Callable[[], datetime]


class OwnsHttpClient:
    """The httpx client a platform client sends through: its own one (closed with the client, or
    at the end of a `with` block) unless the caller passed one in, which the caller closes."""

    def __init__(
        self, http_client: httpx.Client | None, make_default: Callable[[], httpx.Client]
    ) -> None:
        self._owns_http = http_client is None
        self._http_client = http_client if http_client is not None else make_default()

    def close(self) -> None:
        if self._owns_http:
            self._http_client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _unbind_stream(response: httpx.Response) -> None:
    """Let refcounting free a read answer (and its body) as soon as the last reference goes.

    httpx's client wraps each answer's stream in a `BoundSyncStream` that points back at the
    answer: a reference cycle, left to the collector's oldest generation, which runs ever more
    rarely as a long step parses rows, so a record restore's plan held every `$batch` answer of
    its id lookups (a megabyte per thousand rows) and its memory grew with the table. The body
    is read and the stream closed by now (`send` without `stream=True`), so the stream is
    replaced by the bytes, as httpx itself does for a request read into memory.
    """
    response.stream = httpx.ByteStream(response.read())


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful (or passed-through) answer."""

    method: str
    url: str
    status: int
    headers: httpx.Headers
    content: bytes
    request_id: str
    retry_after: float | None
    charset: str = "utf-8"  # of `content`, as the answer names it

    @property
    def text(self) -> str:
        """The body as text (as httpx decodes it). A page read for a backup is parsed from
        `content` instead: decoding a page of megabytes only for the parser to encode it back
        to UTF-8 cost more than the parse."""
        return self.content.decode(self.charset, errors="replace")

    @property
    def what(self) -> str:
        return f"{self.method} {urlsplit(self.url).path}"

    def json(self) -> Any:
        """The body as JSON; {} for an empty body. ValueError if it is not JSON."""
        text = self.text
        return json.loads(text) if text.strip() else {}

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value.strip() if value and value.strip() else None


class HttpCore:
    def __init__(
        self,
        http_client: httpx.Client,
        *,
        token_provider: TokenProvider,
        bap_url: str,
        scope_for: Callable[[str], str | None] = scope_for_url,
        map_error: ErrorMapper = platform_error,
        resend_throttled: bool = True,
        **pacing: Unpack[Pacing],
    ) -> None:
        # `scope_for`, `map_error` and `resend_throttled` let the Dataverse client share this
        # loop: its token audience is the environment's own URL, its errors have their own
        # meanings, and its 429s go back to the caller at once (the caller reschedules).
        self._scope_for = scope_for
        self._map_error = map_error
        self._resend_throttled = resend_throttled
        self._http = http_client
        self._tokens = token_provider
        self._retry = pacing.get("retry", DEFAULT_RETRY)
        self._sleep = pacing.get("sleep", time.sleep)
        self._clock = pacing.get("clock", time.monotonic)
        self._now = pacing.get("now", utcnow)
        self._bap_url = bap_url
        # Only providers that know it expose client_id; used in the registration hint.
        app_id = getattr(token_provider, "client_id", None)
        self._app_id = app_id if isinstance(app_id, str) else None

    @property
    def now(self) -> Callable[[], datetime]:
        """The wall clock this core reads (the client's own time checks use the same one)."""
        return self._now

    def context(self, method: str, url: str, *, idempotent: bool) -> CallContext:
        return CallContext(
            what=f"{method} {urlsplit(url).path}",
            idempotent=idempotent,
            app_id=self._app_id,
            bap_url=self._bap_url,
        )

    def error_for(self, reply: Reply, *, idempotent: bool = True) -> PowerPlatformError:
        """The mapped exception for a passed-through answer the caller decided is a failure."""
        return self._map_error(
            self.context(reply.method, reply.url, idempotent=idempotent),
            Failure(
                status=reply.status,
                body_text=reply.text,
                request_id=reply.request_id,
                retry_after=reply.retry_after,
            ),
        )

    def send(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        passthrough: frozenset[int] = frozenset(),
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> Reply:
        """Send until a 2xx or `passthrough` status arrives; raise the mapped error otherwise.

        `headers` are added to (and override) the defaults; `content` is a raw body sent
        instead of `body` as JSON.
        """
        context = self.context(method, url, idempotent=idempotent)
        try:
            scope = self._scope_for(url)
        except ValueError as exc:
            raise ForeignHost(f"{context.what}: {exc}") from None
        path = urlsplit(url).path
        started = self._clock()
        attempt = 0
        refresh_token = False
        refreshed = False
        while True:
            attempt += 1
            token = self._tokens.get_token(scope, force_refresh=refresh_token) if scope else None
            refresh_token = False
            client_request_id = str(uuid.uuid4())
            request = self._http.build_request(
                method,
                url,
                params=params,
                json=body if content is None else None,
                content=content,
                headers={**self._headers(token, client_request_id), **(headers or {})},
            )
            sent_at = self._clock()
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                self._log_exchange(method, path, None, client_request_id, sent_at, attempt, exc)
                delay = self._after_transport_error(
                    context, exc, attempt, started, client_request_id
                )
                self._wait(context.what, attempt, delay, type(exc).__name__)
                continue
            _unbind_stream(response)

            status = response.status_code
            request_id = request_id_from(response.headers, client_request_id)
            self._log_exchange(method, path, status, request_id, sent_at, attempt, None)
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=self._now())
            if 200 <= status < 300 or status in passthrough:
                return Reply(
                    method=method,
                    url=str(request.url),
                    status=status,
                    headers=response.headers,
                    content=response.content,
                    request_id=request_id,
                    retry_after=retry_after,
                    charset=response.encoding or "utf-8",
                )
            if status == 401 and token is not None and not refreshed:
                # Tokens can be revoked or rotated early; one fresh token, then give up.
                refreshed = refresh_token = True
                attempt -= 1
                logger.info("pp.token_refresh", extra={"pp_call": context.what})
                continue

            retryable = status == 429 or (idempotent and is_retryable_status(status))
            wait, give_up = self._plan(attempt, started, retry_after)
            if status == 429 and not self._resend_throttled:
                wait, give_up = self._retry.wait(attempt, retry_after), True
            if not retryable or give_up:
                raise self._map_error(
                    context,
                    Failure(
                        status=status,
                        body_text=response.text,
                        request_id=request_id,
                        # Giving up on a retryable answer: tell the caller how long we would
                        # have waited, so it can reschedule instead of sleeping.
                        retry_after=wait if retryable else retry_after,
                    ),
                )
            self._wait(context.what, attempt, wait, f"HTTP {status}")

    def _after_transport_error(
        self,
        context: CallContext,
        exc: httpx.TransportError,
        attempt: int,
        started: float,
        client_request_id: str,
    ) -> float:
        """How long to wait before resending after a transport failure; raises to give up."""
        reached = not isinstance(exc, _NOT_SENT)
        # Resendable if the call is idempotent or the request never left; else OutcomeUnknown.
        resendable = context.idempotent or not reached
        wait, give_up = self._plan(attempt, started, None)
        if not resendable or give_up:
            raise self._map_error(
                context,
                Failure(
                    status=None,
                    request_id=client_request_id,
                    retry_after=wait if resendable else None,
                    may_have_reached_server=reached,
                    cause=f"{type(exc).__name__}: {str(exc)[:200]}",
                ),
            ) from exc
        return wait

    def _plan(self, attempt: int, started: float, retry_after: float | None) -> tuple[float, bool]:
        """(how long to wait before the next attempt, whether to give up instead)."""
        wait = self._retry.wait(attempt, retry_after)
        elapsed = self._clock() - started
        give_up = (
            attempt >= self._retry.max_attempts or elapsed + wait > self._retry.max_total_seconds
        )
        return wait, give_up

    def _wait(self, what: str, attempt: int, delay: float, reason: str) -> None:
        logger.warning(
            "pp.retry",
            extra={
                "pp_call": what,
                "pp_attempt": attempt,
                "pp_delay_s": delay,
                "pp_reason": reason,
            },
        )
        self._sleep(delay)

    def _headers(self, token: str | None, client_request_id: str) -> dict[str, str]:
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": user_agent(),
            "x-ms-client-request-id": client_request_id,
        }
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _log_exchange(
        self,
        method: str,
        path: str,
        status: int | None,
        request_id: str,
        sent_at: float,
        attempt: int,
        exc: Exception | None,
    ) -> None:
        duration_ms = (self._clock() - sent_at) * 1000.0
        record_call(PlatformCall(method, path, status, request_id, duration_ms))
        # Warn about trouble on the way (no answer, throttling, server errors); a 4xx is an
        # answer, and the exception the caller gets says what it means.
        trouble = status is None or status == 429 or status >= 500
        logger.log(
            logging.WARNING if trouble else logging.INFO,
            "pp.request",
            extra={
                "pp_method": method,
                "pp_path": path,
                "pp_status": status,
                "pp_request_id": request_id,
                "pp_duration_ms": round(duration_ms, 1),
                "pp_attempt": attempt,
                "pp_error": type(exc).__name__ if exc else None,
            },
        )
