"""Restore triggers: the `restore-requests` intake queue (and its poison queue: a request the
host gave up on before admission is taken from there), the internal `restore-steps` queue, the
watchdog timer, and the HTTP route that starts a restore (cancel: operations_api).

Each function parses its input and calls one service function (intake, runner, watchdog). As in
the backup triggers, the service modules are imported on first invocation, not here: the worker
imports this file only to index the functions, and that must stay fast.
"""

from __future__ import annotations

import azure.functions as func

from shared.http_api import handles_errors, json_response, read_json, status_url
from shared.queue_names import RESTORE_REQUESTS, RESTORE_STEPS, poison_queue

bp = func.Blueprint()  # type: ignore[no-untyped-call]  # (azure-functions is unannotated)

STORAGE = "AzureWebJobsStorage"
WATCHDOG_SCHEDULE = "0 * * * * *"  # every minute


@bp.function_name("restore_request")
@bp.queue_trigger(arg_name="msg", queue_name=RESTORE_REQUESTS, connection=STORAGE)
def restore_request(msg: func.QueueMessage) -> None:
    from restore_orchestrator.intake import handle_restore_message
    from shared.runtime import get_context

    handle_restore_message(get_context(), msg.get_body(), message_id=msg.id or "")


@bp.function_name("restore_request_poison")
@bp.queue_trigger(arg_name="msg", queue_name=poison_queue(RESTORE_REQUESTS), connection=STORAGE)
def restore_request_poison(msg: func.QueueMessage) -> None:
    from restore_orchestrator.intake import handle_poisoned_restore_message
    from shared.runtime import get_context

    handle_poisoned_restore_message(
        get_context(), msg.get_body(), message_id=msg.id or "", dequeue_count=msg.dequeue_count or 1
    )


@bp.function_name("restore_step")
@bp.queue_trigger(arg_name="msg", queue_name=RESTORE_STEPS, connection=STORAGE)
def restore_step(msg: func.QueueMessage) -> None:
    from engine.runner import handle_step_message
    from shared.runtime import get_context

    handle_step_message(get_context(), msg.get_body(), dequeue_count=msg.dequeue_count or 1)


@bp.function_name("restore_watchdog")
@bp.timer_trigger(
    arg_name="timer", schedule=WATCHDOG_SCHEDULE, run_on_startup=False, use_monitor=True
)
def restore_watchdog(timer: func.TimerRequest) -> None:
    from engine.watchdog import run_watchdog
    from shared.runtime import get_context

    run_watchdog(get_context())


@bp.function_name("post_restore")
@bp.route(route="restores", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@handles_errors
def post_restore(req: func.HttpRequest) -> func.HttpResponse:
    from restore_orchestrator.intake import submit_restore
    from shared.runtime import get_context
    from shared.validation import parse_restore_request

    request = parse_restore_request(read_json(req))
    operation = submit_restore(get_context(), request)
    url = status_url(req, operation.operation_id)
    return json_response(
        202, {"operationId": operation.operation_id, "statusUrl": url}, {"Location": url}
    )
