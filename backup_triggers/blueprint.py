"""Backup triggers: the pre-update timer, the `backup-requests` intake queue (and its poison
queue: a request the host gave up on before admission is taken from there), the internal
`backup-work` queue, and the HTTP route that requests a backup (operation routes: operations_api).

Each function parses its input and calls one use case: intake and the timer round in `service.py`;
`backup-work` carries the engine's step messages (engine/runner.py, backup_triggers/backing_up.py).
The service modules are imported on first invocation, not here: the worker imports this file only
to index the functions, and that must stay fast (bench/coldstart_bench.py).
"""

from __future__ import annotations

import os

import azure.functions as func

from shared.http_api import handles_errors, json_response, read_json, status_url
from shared.queue_names import BACKUP_REQUESTS, BACKUP_WORK, poison_queue
from shared.settings import DEFAULT_BACKUP_SCHEDULE

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)

STORAGE = "AzureWebJobsStorage"


@bp.function_name("backup_timer")
@bp.timer_trigger(
    arg_name="timer",
    # Read here because the decorator needs it at indexing time; Settings validates the same value
    # on the first invocation and names it if malformed.
    schedule=os.environ.get("BACKUP_SCHEDULE") or DEFAULT_BACKUP_SCHEDULE,
    run_on_startup=False,
    use_monitor=True,
)
def backup_timer(timer: func.TimerRequest) -> None:
    from backup_triggers import service
    from shared.operations import utcnow
    from shared.runtime import get_context

    service.run_backup_round(get_context(), fired_at=utcnow())


@bp.function_name("backup_request")
@bp.queue_trigger(arg_name="msg", queue_name=BACKUP_REQUESTS, connection=STORAGE)
def backup_request(msg: func.QueueMessage) -> None:
    from backup_triggers import service
    from shared.runtime import get_context

    service.handle_backup_message(
        get_context(), msg.get_body(), message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1
    )


@bp.function_name("backup_request_poison")
@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(BACKUP_REQUESTS), connection=STORAGE)
def backup_request_poison(msg: func.QueueMessage) -> None:
    from backup_triggers import service
    from shared.runtime import get_context

    service.handle_poisoned_backup_message(
        get_context(), msg.get_body(), message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1
    )


@bp.function_name("backup_work")
@bp.queue_trigger(arg_name="msg", queue_name=BACKUP_WORK, connection=STORAGE)
def backup_work(msg: func.QueueMessage) -> None:
    from engine.runner import handle_step_message
    from shared.runtime import get_context

    handle_step_message(get_context(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)


@bp.function_name("post_backup")
@bp.route(route="backups", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def post_backup(req: func.HttpRequest) -> func.HttpResponse:
    from backup_triggers import service
    from shared.runtime import get_context
    from shared.validation import parse_backup_request

    request = parse_backup_request(read_json(req))
    operation = service.submit_backup(get_context(), request)
    url = status_url(req, operation.operation_id)
    return json_response(
        202, {"operationId": operation.operation_id, "statusUrl": url}, {"Location": url}
    )
