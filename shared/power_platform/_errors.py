"""Every failed platform answer (or lack of one) becomes an exception here, in one function.

The table is docs/platform-wire.md "Errors"; keep the two in step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import (
    AuthenticationFailed,
    Busy,
    Forbidden,
    NotFound,
    OutcomeUnknown,
    PowerPlatformError,
    Throttled,
    Transient,
    ValidationFailed,
)
from shared.power_platform._retry import is_retryable_status

# Checked in this order; the first present is the platform's id for the call.
REQUEST_ID_HEADERS = (
    "x-ms-service-request-id",
    "req_id",  # Dataverse (reference §1.5)
    "x-ms-request-id",
    "request-id",
    "x-ms-correlation-request-id",
)

NOT_REGISTERED_MARKER = "does not have permission to access the path"
BUSY_CODE = "OperationNotStartable"
_MAX_MESSAGE_CHARS = 1000


def request_id_from(headers: Mapping[str, str], client_request_id: str) -> str:
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return client_request_id


@dataclass(frozen=True, slots=True)
class ErrorBody:
    code: str | None
    message: str | None


def parse_error_body(text: str) -> ErrorBody:
    """Read BAP `{"error": {code, message}}`, PP `{"errorDetail": {...}}` or `{"error": {code}}`."""
    try:
        body: Any = json.loads(text) if text.strip() else None
    except ValueError:
        return ErrorBody(None, _clip(text.strip()) or None)
    if not isinstance(body, Mapping):
        return ErrorBody(None, None)
    detail = body.get("errorDetail")
    if not isinstance(detail, Mapping):
        detail = body.get("error")
    if not isinstance(detail, Mapping):
        # Some gateways answer with a flat {"code", "message"}.
        detail = body
    code = detail.get("code")
    message = detail.get("message")
    if not isinstance(message, str) or not message:
        message = _field_errors(detail.get("fieldErrors"))
    return ErrorBody(
        code if isinstance(code, str) and code else None,
        _clip(message) if message else None,
    )


def _field_errors(value: object) -> str | None:
    if not isinstance(value, Mapping):
        return None
    parts: list[str] = []
    for name, detail in value.items():
        messages = detail.get("errorMessages") if isinstance(detail, Mapping) else None
        if isinstance(messages, list):
            words = " ".join(m for m in messages if isinstance(m, str))
            if words:
                parts.append(f"{name}: {words}")
    return "; ".join(parts) or None


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE_CHARS else text[: _MAX_MESSAGE_CHARS - 3] + "..."


@dataclass(frozen=True, slots=True)
class CallContext:
    """What the mapping needs to know about the call besides the answer."""

    what: str  # "METHOD /path", for messages
    idempotent: bool
    app_id: str | None = None
    bap_url: str = "https://api.bap.microsoft.com"


def registration_hint(app_id: str | None, bap_url: str) -> str:
    client = app_id or "<clientId>"
    return (
        "The Power Platform refused the call because this app's identity is not registered as a "
        "Power Platform management application. A Power Platform administrator must register it "
        f"once: run `pac admin application register --application-id {client}`, or send "
        f"PUT {bap_url}/providers/Microsoft.BusinessAppPlatform/adminApplications/{client}"
        "?api-version=2020-10-01 with an administrator's token (reference §2.2). For a managed "
        "identity, register its client (application) id."
    )


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed exchange: the answer, or for `status=None` the lack of one."""

    status: int | None
    request_id: str | None
    body_text: str = ""
    retry_after: float | None = None
    may_have_reached_server: bool = True
    cause: str | None = None


# Turns one failed exchange into the exception the caller handles (`platform_error`, or the
# Dataverse client's own mapping, which falls back to it).
ErrorMapper = Callable[[CallContext, Failure], PowerPlatformError]


def platform_error(context: CallContext, failure: Failure) -> PowerPlatformError:
    """Map one failed exchange to the exception the caller handles.

    `status=None` is a transport failure (timeout, connection error); `may_have_reached_server`
    says whether the request could have been acted on, which decides OutcomeUnknown for calls
    that must not be resent.
    """
    status, body_text = failure.status, failure.body_text
    common: dict[str, Any] = {"request_id": failure.request_id, "retry_after": failure.retry_after}

    if status is None:
        reason = failure.cause or "no answer"
        if not context.idempotent and failure.may_have_reached_server:
            return OutcomeUnknown(
                f"{context.what}: the answer was lost ({reason}); the platform may or may not "
                "have acted on the request, which is not resent. Check what it did.",
                **common,
            )
        return Transient(f"{context.what}: {reason}", **common)

    body = parse_error_body(body_text)
    said = body.message or body.code
    fallback = f"{context.what} answered HTTP {status}"
    common.update(status=status, error_code=body.code)

    if status == 400:
        return ValidationFailed(said or fallback, **common)
    if status == 401:
        return AuthenticationFailed(
            f"The platform refused the access token (HTTP 401) even after a refresh"
            f"{': ' + said if said else ''}. Check the tenant, client id and credentials.",
            **common,
        )
    if status == 403:
        if NOT_REGISTERED_MARKER in body_text.lower():
            message = registration_hint(context.app_id, context.bap_url)
            return Forbidden(f"{message} Platform said: {said or fallback}", **common)
        return Forbidden(said or fallback, **common)
    if status in (404, 410):
        return NotFound(said or fallback, **common)
    if status == 409:
        if body.code == BUSY_CODE or not body_text.strip():
            return Busy(
                said or f"{context.what}: another lifecycle operation runs on the environment",
                **common,
            )
        return ValidationFailed(said or fallback, **common)
    if status == 429:
        return Throttled(said or f"{context.what}: throttled by the platform", **common)
    if is_retryable_status(status):
        if not context.idempotent:
            return OutcomeUnknown(
                f"{context.what} answered HTTP {status}"
                f"{' (' + said + ')' if said else ''}; the platform may or may not have acted "
                "on the request, which is not resent. Check what it did.",
                **common,
            )
        return Transient(said or fallback, **common)
    if 400 <= status < 500:
        return ValidationFailed(said or fallback, **common)
    return PowerPlatformError(said or fallback, **common)
