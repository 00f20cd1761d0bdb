"""JSON responses for the HTTP triggers, and the one place errors become status codes.

Contract section 4: bad input is a 400 with `{"error": {"code", "message", "fields"?}}`; nothing
ever answers with a stack trace. Unexpected errors are logged with their trace and answered with a
generic 500 that names an incident id to find that log line.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from shared import json_text
from shared.errors import (
    BackupNotFound,
    Busy,
    ConcurrencyConflict,
    ConfigError,
    NotFound,
    OperationNotFound,
    OutcomeUnknown,
    PowerPlatformError,
    RequestInvalid,
    RequestRefused,
    Throttled,
    Transient,
    ValidationFailed,
)
from shared.inputs import TOO_LARGE_CODE, decode_json

log = logging.getLogger(__name__)

Handler = Callable[[func.HttpRequest], func.HttpResponse]


def json_response(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json_text.dumps(body),
        status_code=status,
        mimetype="application/json",
        charset="utf-8",
        headers=dict(headers or {}),
    )


def error_response(
    status: int, code: str, message: str, fields: Mapping[str, str] | None = None
) -> func.HttpResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = dict(fields)
    return json_response(status, {"error": error})


def read_json(req: func.HttpRequest) -> object:
    """The body's JSON document, within the limits of `shared.inputs` (413 past the size)."""
    return decode_json(req.get_body(), what="request body")


def handles_errors(handler: Handler) -> Handler:
    """Map the app's errors to HTTP answers; nothing escapes as a 500 with a trace."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except RequestInvalid as error:
            status = 413 if error.code == TOO_LARGE_CODE else 400
            return error_response(status, error.code, error.message, error.fields)
        except (OperationNotFound, BackupNotFound) as error:
            return error_response(404, error.code, error.message)
        except ConcurrencyConflict as error:
            # Lost an ETag race with another writer even after re-reading: the caller may retry.
            return error_response(409, error.code, error.message)
        except RequestRefused as error:
            return error_response(409, error.code, error.message)
        except PowerPlatformError as error:
            return platform_error_response(error)
        except ConfigError as error:
            log.error("http.config_error", extra={"problems": list(error.problems)})
            return error_response(
                500, "ConfigError", "The app is misconfigured; its log names the settings to fix."
            )
        except Exception:
            incident = uuid.uuid4().hex[:12]
            # The path only: the query may carry the function key (`?code=`).
            log.exception("http.unhandled", extra={"incident": incident,
                                                   "url": req.url.split("?", 1)[0]})
            return error_response(
                500, "InternalError", f"Something went wrong on our side (incident {incident})."
            )

    return wrapper


def platform_error_response(error: PowerPlatformError) -> func.HttpResponse:
    """A route that asks the platform synchronously: what it answered, as the caller can act on
    it (503 + Retry-After when waiting helps, 502 when the platform refused the app itself)."""
    log.warning("http.platform_error", extra={"code": error.code, "status": error.status,
                                               "requestId": error.request_id})
    if isinstance(error, NotFound):
        return error_response(404, error.code, error.message)
    if isinstance(error, ValidationFailed):
        return error_response(409, error.error_code or error.code, error.message)
    if isinstance(error, Throttled | Busy | Transient | OutcomeUnknown):
        answer = error_response(503, error.code, error.message)
        answer.headers["Retry-After"] = str(max(1, round(error.retry_after or 30)))
        return answer
    return error_response(502, error.code, error.message)


def status_url(req: func.HttpRequest, operation_id: str) -> str:
    base = req.url.split("/api/", 1)[0]
    return f"{base}/api/operations/{operation_id}"
