"""HTTP routes on operations (get one, list, cancel, annotate a backup's) and on an
environment's platform backups (list, delete a manual one).

Each function parses its input and calls one use case. As in the other blueprints, the use cases
are imported on first invocation, not here: the worker imports this file only to index the
functions, and that must stay fast (bench/coldstart_bench.py).
"""

from __future__ import annotations

import os

import azure.functions as func

from shared.app_service import PRINCIPAL_NAME, principal_headers_trusted
from shared.errors import RequestInvalid
from shared.http_api import error_response, handles_errors, json_response, read_json, status_url
from shared.inputs import quote

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
    from restore_orchestrator.cancelling import cancel_restore
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
    from shared.validation import parse_cancel_request

    return parse_cancel_request(read_json(req)).requested_by


@bp.function_name("annotate_operation")
@bp.route(route="operations/{operationId}", methods=["PATCH"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def annotate_operation(req: func.HttpRequest) -> func.HttpResponse:
    from backup_admin.annotations import parse_annotation
    from backup_admin.service import annotate_backup
    from shared.runtime import get_context

    annotation = parse_annotation(read_json(req))
    operation = annotate_backup(
        get_context(), req.route_params.get("operationId", ""), annotation, by=_caller(req)
    )
    return json_response(200, operation.to_record())


@bp.function_name("list_environment_backups")
@bp.route(
    route="environments/{environmentId}/backups", methods=["GET"],
    auth_level=func.AuthLevel.FUNCTION,
)
@handles_errors
def list_environment_backups(req: func.HttpRequest) -> func.HttpResponse:
    from backup_admin.service import list_backups
    from shared.runtime import get_context

    _no_query(req)
    return json_response(
        200, list_backups(get_context(), req.route_params.get("environmentId", ""))
    )


@bp.function_name("delete_environment_backup")
@bp.route(
    route="environments/{environmentId}/backups/{backupId}", methods=["DELETE"],
    auth_level=func.AuthLevel.FUNCTION,
)
@handles_errors
def delete_environment_backup(req: func.HttpRequest) -> func.HttpResponse:
    from backup_admin.service import delete_backup
    from shared.operations import OperationStatus
    from shared.runtime import get_context

    _no_query(req)
    if req.get_body():
        raise RequestInvalid("InvalidRequest", "A DELETE takes no body.",
                             {"body": "send none"})
    operation = delete_backup(
        get_context(), req.route_params.get("environmentId", ""),
        req.route_params.get("backupId", ""), requested_by=_caller(req),
    )
    url = status_url(req, operation.operation_id)
    if operation.status is OperationStatus.SUCCEEDED:
        return json_response(200, operation.to_record(), {"Location": url})
    if operation.status is OperationStatus.RUNNING:
        return json_response(
            202,
            {"operationId": operation.operation_id, "status": operation.status.value,
             "message": "The platform did not answer; the app keeps trying. Follow the "
                        "operation for the outcome.", "statusUrl": url},
            {"Location": url},
        )
    error = operation.error
    return error_response(
        502, error.code if error else "DeleteFailed",
        f"{error.message if error else 'The deletion failed.'} (operation "
        f"{operation.operation_id})",
    )


def _caller(req: func.HttpRequest) -> str:
    """Who made the change, for the record's history: the signed-in name only where App Service
    Authentication set it; anywhere else the header is the client's word, so it is not taken."""
    trusted = principal_headers_trusted(os.environ)
    name = (req.headers.get(PRINCIPAL_NAME) or "").strip() if trusted else ""
    return name[:256] if name.isprintable() and name else "an API caller (function key)"


def _no_query(req: func.HttpRequest) -> None:
    """These routes take no query parameters; `code` is the function key Azure passes along."""
    unknown = sorted(set(req.params) - {"code"})
    if unknown:
        raise RequestInvalid(
            "InvalidQuery", "This route takes no query parameters.",
            {quote(name)[1:-1]: "unknown query parameter" for name in unknown[:5]},
        )

