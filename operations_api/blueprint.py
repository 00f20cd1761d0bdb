"""HTTP routes on operations: get one, list, cancel.

Each function parses its input and calls one use case. As in the other blueprints, the use cases
are imported on first invocation, not here: the worker imports this file only to index the
functions, and that must stay fast (bench/coldstart_bench.py).
"""

from __future__ import annotations

import azure.functions as func

from shared.errors import RequestInvalid
from shared.http_api import error_response, handles_errors, json_response, read_json, status_url

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)


@bp.function_name("get_operation")
@bp.route(route="operations/{operationId}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def get_operation(req: func.HttpRequest) -> func.HttpResponse:
    from shared import history_api
    from shared.runtime import get_context

    record = history_api.get_record(get_context(), req.route_params.get("operationId", ""))
    return json_response(200, record)


@bp.function_name("list_operations")
@bp.route(route="operations", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def list_operations(req: func.HttpRequest) -> func.HttpResponse:
    from shared import history_api
    from shared.runtime import get_context

    query = history_api.parse_listing_query(dict(req.params))
    return json_response(200, history_api.list_records(get_context(), query))


@bp.function_name("cancel_operation")
@bp.route(
    route="operations/{operationId}/cancel", methods=["POST"], auth_level=func.AuthLevel.FUNCTION
)
@handles_errors
def cancel_operation(req: func.HttpRequest) -> func.HttpResponse:
    from restore_orchestrator.intake import cancel_restore
    from shared.runtime import get_context

    operation_id = req.route_params.get("operationId", "")
    outcome = cancel_restore(get_context(), operation_id, requested_by=_requested_by(req))
    if not outcome.accepted:
        return error_response(409, "CannotCancel", outcome.message)
    return json_response(
        202,
        {"operationId": operation_id, "status": outcome.operation.status.value,
         "message": outcome.message, "statusUrl": status_url(req, operation_id)},
    )


def _requested_by(req: func.HttpRequest) -> str | None:
    """The optional body `{"requestedBy": "..."}`; as everywhere, unknown fields are refused."""
    if not req.get_body():
        return None
    body = read_json(req)
    if not isinstance(body, dict) or set(body) - {"requestedBy"}:
        raise RequestInvalid(
            "InvalidRequest", 'The cancel body is optional; if sent, it is {"requestedBy": "..."}.',
            {"body": "only requestedBy is allowed"},
        )
    value = body.get("requestedBy")
    if value is not None and not isinstance(value, str):
        raise RequestInvalid("InvalidRequest", "requestedBy must be a string.",
                             {"requestedBy": "must be a string"})
    return value.strip()[:256] if value and value.strip() else None
