"""JSON responses for the HTTP triggers, and the one place errors become status codes.

Contract section 4: bad input is a 400 with `{"error": {"code", "message", "fields"?}}`; nothing
ever answers with a stack trace. Unexpected errors are logged with their trace and answered with a
generic 500 that names an incident id to find that log line.
"""

from __future__ import annotations

import functools
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import azure.functions as func

from shared.errors import ConcurrencyConflict, ConfigError, OperationNotFound, RequestInvalid

log = logging.getLogger(__name__)

Handler = Callable[[func.HttpRequest], func.HttpResponse]


def json_response(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, ensure_ascii=False),
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
    body = req.get_body()
    if not body:
        raise RequestInvalid("InvalidJson", "The request body is empty; send a JSON object.")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestInvalid(
            "InvalidJson", f"The request body is not valid JSON: {error}"
        ) from error


def handles_errors(handler: Handler) -> Handler:
    """Map the app's errors to HTTP answers; nothing escapes as a 500 with a trace."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except RequestInvalid as error:
            return error_response(400, error.code, error.message, error.fields)
        except OperationNotFound as error:
            return error_response(404, error.code, error.message)
        except ConcurrencyConflict as error:
            # Lost an ETag race with another writer even after re-reading: the caller may retry.
            return error_response(409, error.code, error.message)
        except ConfigError as error:
            log.error("http.config_error", extra={"problems": list(error.problems)})
            return error_response(
                500, "ConfigError", "The app is misconfigured; its log names the settings to fix."
            )
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("http.unhandled", extra={"incident": incident, "url": req.url})
            return error_response(
                500, "InternalError", f"Something went wrong on our side (incident {incident})."
            )

    return wrapper


def status_url(req: func.HttpRequest, operation_id: str) -> str:
    base = req.url.split("/api/", 1)[0]
    return f"{base}/api/operations/{operation_id}"
