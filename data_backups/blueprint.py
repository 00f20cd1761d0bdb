"""Data backup triggers (contract section 9): the timer over DATA_BACKUP_SCOPE, the
`data-backup-requests` intake queue (and its poison queue), the engine's `data-backup-work`
steps, and the routes `POST/GET /api/data-backups` and
`GET /api/records/{environmentId}/{table}/{recordId}`.

Use cases are imported inside the functions: indexing this file must stay fast (cold start).
"""

from __future__ import annotations

import os

import azure.functions as func

from shared.errors import RequestInvalid
from shared.http_api import handles_errors, json_response, read_json, status_url
from shared.inputs import is_table_name, parse_guid
from shared.queue_names import DATA_BACKUP_REQUESTS, DATA_BACKUP_WORK, poison_queue
from shared.settings import DEFAULT_DATA_BACKUP_SCHEDULE

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)

STORAGE = "AzureWebJobsStorage"


@bp.function_name("data_backup_timer")
@bp.timer_trigger(
    arg_name="timer",
    # Read here because the decorator needs it at indexing time; Settings validates the same value.
    schedule=os.environ.get("DATA_BACKUP_SCHEDULE") or DEFAULT_DATA_BACKUP_SCHEDULE,
    run_on_startup=False,
    use_monitor=True,
)
def data_backup_timer(timer: func.TimerRequest) -> None:
    from data_backups import rounds
    from shared.operations import utcnow
    from shared.runtime import get_context

    rounds.run_data_backup_round(get_context(), fired_at=utcnow())


@bp.function_name("data_backup_request")
@bp.queue_trigger(arg_name="msg", queue_name=DATA_BACKUP_REQUESTS, connection=STORAGE)
def data_backup_request(msg: func.QueueMessage) -> None:
    from data_backups import intake
    from shared.runtime import get_context

    intake.handle_data_backup_message(get_context(), msg.get_body(), message_id=msg.id or "",
                                      dequeue_count=msg.dequeue_count or 1)


@bp.function_name("data_backup_request_poison")
@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(DATA_BACKUP_REQUESTS),
                  connection=STORAGE)
def data_backup_request_poison(msg: func.QueueMessage) -> None:
    from data_backups import intake
    from shared.runtime import get_context

    intake.handle_poisoned_data_backup_message(
        get_context(), msg.get_body(), message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1
    )


@bp.function_name("data_backup_work")
@bp.queue_trigger(arg_name="msg", queue_name=DATA_BACKUP_WORK, connection=STORAGE)
def data_backup_work(msg: func.QueueMessage) -> None:
    from engine.runner import handle_step_message
    from shared.runtime import get_context

    handle_step_message(get_context(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)


@bp.function_name("post_data_backup")
@bp.route(route="data-backups", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def post_data_backup(req: func.HttpRequest) -> func.HttpResponse:
    from data_backups import intake
    from data_backups.request import parse_data_backup_request
    from shared.runtime import get_context

    request = parse_data_backup_request(read_json(req))
    operation = intake.submit_data_backup(get_context(), request)
    url = status_url(req, operation.operation_id)
    return json_response(
        202, {"operationId": operation.operation_id, "statusUrl": url}, {"Location": url}
    )


@bp.function_name("list_data_backups")
@bp.route(route="data-backups", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def list_data_backups(req: func.HttpRequest) -> func.HttpResponse:
    from data_backups import catalog
    from shared.runtime import get_context

    env = _guid(req.params.get("environmentId"), "environmentId")
    table = req.params.get("table")
    token = req.params.get("continuationToken")
    problems = {}
    if table is not None and not is_table_name(table):
        problems["table"] = "must be a table logical name (lowercase letters, digits and '_')"
    if token is not None and not _is_point(token):
        problems["continuationToken"] = "must be the token an earlier answer gave"
    if problems:
        raise RequestInvalid("InvalidQuery", "The query has invalid parameters.", problems)
    points, next_token = catalog.list_points(get_context(), env, table=table, after=token)
    return json_response(200, {"points": points, "continuationToken": next_token})


@bp.function_name("record_versions")
@bp.route(route="records/{environmentId}/{table}/{recordId}", methods=["GET"],
          auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def record_versions(req: func.HttpRequest) -> func.HttpResponse:
    from data_backups import catalog
    from shared.runtime import get_context

    env = _guid(req.route_params.get("environmentId"), "environmentId")
    record = _guid(req.route_params.get("recordId"), "recordId")
    table = req.route_params.get("table") or ""
    if not is_table_name(table):
        raise RequestInvalid("InvalidPath", "The table is not a logical name.", {
            "table": "must be a table logical name (lowercase letters, digits and '_')"})
    return json_response(200, catalog.record_history(get_context(), env, table, record))


def _guid(value: str | None, name: str) -> str:
    try:
        return parse_guid(value)
    except ValueError:
        raise RequestInvalid("InvalidRequest", f"{name} must be a GUID.", {
            name: "must be a GUID such as 00000000-0000-0000-0000-000000000000"}) from None


def _is_point(value: str) -> bool:
    from shared.data_store.layout import POINT_ID

    return POINT_ID.fullmatch(value) is not None
